//! Times one self-conditioned training iteration of a DCGAN (label a batch with the snapshot,
//! one D step, one G step) and prints JSON with the median and the peak resident memory;
//! `scripts/compare_image_speed.sh` runs it beside `scripts/pytorch_dcgan_step.py`.
//!
//! `cargo run --release --example image_step_speed -- --depth shallow`

use std::hint::black_box;
use std::time::Instant;

use burn::prelude::*;
use clap::{Parser, ValueEnum};
use selfcond_gan::model::{DcganConfig, DcganDepth};
use selfcond_gan::rng::{stream, uniform_tensor};
use selfcond_gan::{Batch, SelfCondConfig, TrainConfig, Trainer};

#[path = "common/alloc.rs"]
mod alloc;

#[derive(Clone, Copy, ValueEnum)]
enum Depth {
    Shallow,
    Deep,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "shallow")]
    depth: Depth,
    #[arg(long, default_value_t = 100)]
    k: usize,
    #[arg(long, default_value_t = 64)]
    width: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 10)]
    iterations: usize,
}

/// Peak resident memory of this process in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    alloc::keep_freed_memory();
    let args = Args::parse();
    let device = Device::default().autodiff();
    let depth = match args.depth {
        Depth::Shallow => DcganDepth::Shallow,
        Depth::Deep => DcganDepth::Deep,
    };
    let models = DcganConfig::new(args.k)
        .with_depth(depth)
        .with_width(args.width);
    let mut init = stream(0, 2);
    let g = models.init_generator(&mut init, &device)?;
    let d = models.init_discriminator(&mut init, &device)?;
    let mut rng = stream(0, 0);
    let set = uniform_tensor(&mut rng, [args.k * 2, 3, 32, 32], 1.0, &device);
    let config = TrainConfig::new(
        SelfCondConfig::new(args.k)
            .with_recluster_every(usize::MAX / 2)
            .with_initial_restarts(1),
    )
    .with_beta1(0.0)
    .with_beta2(0.99)
    .with_log_every(usize::MAX / 2);
    let (mut trainer, _) = Trainer::new(config, g, d, Some(set))?;
    let mut times = Vec::new();
    for i in 0..args.warmup + args.iterations {
        let batch = Batch {
            samples: uniform_tensor(&mut rng, [args.batch, 3, 32, 32], 1.0, &device),
            labels: None,
        };
        device.sync()?;
        let started = Instant::now();
        black_box(trainer.step(batch)?);
        device.sync()?;
        if i >= args.warmup {
            times.push(1e3 * started.elapsed().as_secs_f64());
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"framework\": \"burn {device:?}\", \"ms_per_iteration_median\": {}, \"ms_per_iteration\": {times:?}, \"peak_rss_mib\": {}}}",
        sorted[sorted.len() / 2],
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
