//! Times one self-conditioned training iteration of a DCGAN (label a batch with the snapshot,
//! one D step, one G step) and prints JSON with the median and the peak resident memory;
//! `tools/compare_image_speed.sh` runs it beside `scripts/pytorch_dcgan_step.py`.
//!
//! With `--phases` it times the three parts of an iteration apart instead, as the official
//! code runs them (G runs once in the D step without a graph and once in the G step): label the
//! batch, the D step, the G step.
//!
//! `cargo run --release -p selfcond-gan-tools --bin image_step_speed -- --depth shallow [--phases]`

use std::hint::black_box;
use std::time::Instant;

use burn::prelude::*;
use clap::{Parser, ValueEnum};
use selfcond_gan::model::{ConditionalGenerator, DcganConfig, DcganDepth, Discriminator};
use selfcond_gan::rng::{SeededRng, stream, uniform_tensor};
use selfcond_gan::{Batch, SelfCondConfig, TrainConfig, Trainer};

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
    /// Time labelling, the D step and the G step apart (official-code structure).
    #[arg(long)]
    phases: bool,
}

/// Peak resident memory of this process in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    selfcond_gan_runner::alloc::keep_freed_memory();
    let args = Args::parse();
    if args.iterations == 0 {
        return Err("--iterations must be at least 1: the medians need a timed iteration".into());
    }
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
    if args.phases {
        return time_phases(&mut trainer, &mut rng, &device, &args);
    }
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
    println!(
        "{{\"framework\": \"burn {device:?}\", \"ms_per_iteration_median\": {}, \"ms_per_iteration\": {times:?}, \"peak_rss_mib\": {}}}",
        median(&times),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Median milliseconds of labelling a batch, the D step (with G's forward pass without a
/// graph) and the G step (G's forward pass with one), each timed alone.
fn time_phases<G, M>(
    trainer: &mut Trainer<G, M, 4>,
    rng: &mut SeededRng,
    device: &Device,
    args: &Args,
) -> Result<(), Box<dyn std::error::Error>>
where
    G: ConditionalGenerator<4>,
    M: Discriminator<4>,
{
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..args.warmup + args.iterations {
        let batch = Batch {
            samples: uniform_tensor(rng, [args.batch, 3, 32, 32], 1.0, device),
            labels: None,
        };
        device.sync()?;
        let started = Instant::now();
        let classes = trainer.classes_for(&batch)?;
        device.sync()?;
        let labelled = Instant::now();
        let z = trainer.sample_latents(args.batch, device);
        black_box(trainer.discriminator_step(batch.samples, z.clone(), classes.clone()));
        device.sync()?;
        let d_stepped = Instant::now();
        black_box(trainer.generator_step(z, classes));
        device.sync()?;
        let g_stepped = Instant::now();
        if i >= args.warmup {
            let spans = [
                (started, labelled),
                (labelled, d_stepped),
                (d_stepped, g_stepped),
            ];
            for (times, (from, to)) in phases.iter_mut().zip(spans) {
                times.push(1e3 * (to - from).as_secs_f64());
            }
        }
    }
    println!(
        "{{\"framework\": \"burn {device:?}\", \"label_ms_median\": {}, \"d_step_ms_median\": {}, \"g_step_ms_median\": {}}}",
        median(&phases[0]),
        median(&phases[1]),
        median(&phases[2])
    );
    Ok(())
}
