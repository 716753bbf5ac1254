//! Times our k-means (k-means++ with restarts, then Lloyd) on synthetic blobs and prints JSON;
//! `tools/compare_kmeans_speed.sh` runs it beside scikit-learn's `KMeans` on the same data
//! (written with `--save-data`).
//!
//! `cargo run --release -p selfcond-gan-tools --bin kmeans_speed -- --n 25000 --d 2048 --k 100 --restarts 10`

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::TensorData;
use clap::Parser;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use selfcond_gan::cluster::{KMeansConfig, KMeansInit};
use selfcond_gan::rng::seeded;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 25_000)]
    n: usize,
    #[arg(long, default_value_t = 2048)]
    d: usize,
    #[arg(long, default_value_t = 100)]
    k: usize,
    #[arg(long, default_value_t = 10)]
    restarts: usize,
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Also write the points as float32 .npy, so another implementation can cluster the same data.
    #[arg(long)]
    save_data: Option<std::path::PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = Device::default();
    // Same recipe as scripts/sklearn_kmeans.py: k centres uniform in [-1, 1]^d, noise std 0.3.
    let mut rng = seeded(1);
    let centres: Vec<f32> = (0..args.k * args.d)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut values = Vec::with_capacity(args.n * args.d);
    for i in 0..args.n {
        let c = i % args.k;
        for j in 0..args.d {
            let noise: f32 = StandardNormal.sample(&mut rng);
            values.push(centres[c * args.d + j] + 0.3 * noise);
        }
    }
    if let Some(path) = &args.save_data {
        selfcond_gan::npy::write(path, &values, &[args.n, args.d])?;
    }
    let x = Tensor::<2>::from_data(TensorData::new(values, [args.n, args.d]), &device);
    device.sync()?;

    let mut seconds = Vec::new();
    let mut last = None;
    for repeat in 0..args.repeats {
        let started = Instant::now();
        let fit = KMeansConfig::new(args.k).with_restarts(args.restarts).fit(
            &x,
            KMeansInit::PlusPlus,
            &mut seeded(repeat as u64),
        )?;
        device.sync()?;
        seconds.push(started.elapsed().as_secs_f64());
        last = Some(fit);
    }
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let fit = last.ok_or("no repeats")?;
    println!(
        "{{\"ours_seconds_median\": {}, \"seconds\": {:?}, \"restarts\": {}, \"inertia\": {}, \"n_iter\": {}}}",
        sorted[sorted.len() / 2],
        seconds,
        args.restarts,
        fit.inertia,
        fit.iterations
    );
    Ok(())
}
