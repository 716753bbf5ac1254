//! FID between a real image set and generated samples, with the standard Inception weights.
//!
//! ```text
//! ./scripts/fetch-fid-weights.sh
//! cargo run --release --example fid -- --real cifar10-train --fake runs/cifar10/samples.npy
//! ```
//!
//! `--real` and `--fake` each take an image folder (`<root>/<class>/*.png|jpg`), a `.npy` of
//! uint8 images `[n, h, w, 3]` (the examples' `samples.npy`), a run directory holding one, a
//! `.npz` of statistics (ours or pytorch-fid's), or a data set name: `cifar10-train`,
//! `cifar10-test` (under `--data-dir`, default `data/cifar10`: the official binary batches, or
//! the folders `train/` and `test/`) or `stacked-mnist` (seeded triples of MNIST training
//! digits, `--real-count` of them, from `data/mnist`). Statistics of
//! folders and data sets are cached under `~/.cache/selfcond-gan/fid/stats` (`--no-cache`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use selfcond_gan::metrics::fid::{
    FID_FEATURE_DIM, FeatureStatistics, FidExtractor, Gaussian, default_weights_path,
    frechet_distance,
};
use selfcond_gan_runner::evaluation::sources::{ImageSet, Source, SourceOptions, open};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Fréchet Inception Distance between real images and generated samples")]
struct Args {
    /// Real images: folder, .npy, run dir, .npz statistics, or cifar10-train|cifar10-test|stacked-mnist.
    #[arg(long)]
    real: String,
    /// Generated images: same choices as --real.
    #[arg(long)]
    fake: String,
    /// The FID Inception weights (scripts/fetch-fid-weights.sh).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Images per forward pass (10 ran fastest on 2 CPU cores).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Use at most this many images of each set (all when absent).
    #[arg(long)]
    limit: Option<usize>,
    /// Where the named data sets live (default data/cifar10 or data/mnist).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Stacked-MNIST images to draw for `--real stacked-mnist`.
    #[arg(long, default_value_t = 10_000)]
    real_count: usize,
    /// Side images of folders are resized to before the Inception's own resize.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Save running statistics of a cached set every this many images, so an interrupted
    /// pass goes on where it stopped.
    #[arg(long, default_value_t = 1000)]
    checkpoint_images: usize,
    /// Do not read or write cached statistics.
    #[arg(long)]
    no_cache: bool,
    /// Also save the generated set's statistics here (.npz).
    #[arg(long)]
    save_fake_stats: Option<PathBuf>,
    /// Write the result as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    selfcond_gan_runner::alloc::keep_freed_memory();
    selfcond_gan_runner::report(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default();
    let weights = args.weights.clone().unwrap_or_else(default_weights_path);
    let options = SourceOptions {
        data_dir: args.data_dir.clone(),
        size: args.size,
        limit: args.limit,
        real_count: args.real_count,
    };
    let mut extractor = None;
    let mut timing = Vec::new();
    let mut gaussian_of =
        |spec: &str, role: &str| -> Result<Gaussian, Box<dyn std::error::Error>> {
            let ImageSet {
                pixels,
                side,
                cache_key,
            } = match open(spec, &options)? {
                Source::Statistics(path) => return Ok(Gaussian::load_npz(&path)?),
                Source::Images(set) => set,
            };
            let cache = cache_key
                .filter(|_| !args.no_cache)
                .map(|key| stats_cache_dir().join(format!("{key}.npz")));
            if let Some(path) = cache.as_ref().filter(|p| p.is_file()) {
                eprintln!("{role}: cached statistics {}", path.display());
                return Ok(Gaussian::load_npz(path)?);
            }
            if extractor.is_none() {
                extractor = Some(FidExtractor::load(&weights, &device)?);
            }
            let fid = extractor.as_ref().ok_or("the network did not load")?;
            let count = pixels.len() / (3 * side * side);
            let bar = ProgressBar::new(count as u64);
            bar.set_style(ProgressStyle::with_template(
                "{msg} {elapsed_precise} [{bar:40}] {pos}/{len} images ({per_sec}, eta {eta})",
            )?);
            bar.set_message(role.to_string());
            // Running sums of an interrupted pass over a cached set pick up where they stopped.
            let partial = cache
                .as_ref()
                .map(|path| path.with_extension("partial.npz"));
            let mut statistics = match partial.as_ref().filter(|p| p.is_file()) {
                Some(path) => {
                    let saved = FeatureStatistics::load_npz(path)?;
                    bar.println(format!(
                        "{role}: resuming after {} images ({})",
                        saved.count(),
                        path.display()
                    ));
                    saved
                }
                None => FeatureStatistics::new(FID_FEATURE_DIM),
            };
            let done = statistics.count();
            if done > count {
                return Err(format!(
                    "{role}: saved statistics cover {done} images, the set has {count}"
                )
                .into());
            }
            bar.set_position(done as u64);
            bar.reset_eta();
            let per_image = 3 * side * side;
            let chunk = args.checkpoint_images.max(1) * per_image;
            let started = Instant::now();
            for part in pixels[done * per_image..].chunks(chunk) {
                fid.accumulate(
                    &mut statistics,
                    part,
                    [side, side],
                    args.batch_size,
                    |done| bar.set_position(done as u64),
                )?;
                if let Some(path) = &partial {
                    std::fs::create_dir_all(stats_cache_dir())?;
                    statistics.save_npz(path)?;
                }
            }
            let gaussian = statistics.gaussian()?;
            let seconds = started.elapsed().as_secs_f64();
            bar.finish();
            if count > done {
                timing.push((role.to_string(), count - done, seconds));
            }
            if let Some(path) = cache {
                std::fs::create_dir_all(stats_cache_dir())?;
                gaussian.save_npz(&path)?;
                if let Some(partial) = &partial {
                    std::fs::remove_file(partial).ok();
                }
                eprintln!("{role}: statistics cached in {}", path.display());
            }
            Ok(gaussian)
        };
    let real = gaussian_of(&args.real, "real")?;
    let fake = gaussian_of(&args.fake, "fake")?;
    if let Some(path) = &args.save_fake_stats {
        fake.save_npz(path)?;
    }
    let started = Instant::now();
    let fid = frechet_distance(&real, &fake)?;
    let distance_seconds = started.elapsed().as_secs_f64();
    println!(
        "FID {fid:.4}  (real {} images, fake {} images)",
        real.count, fake.count
    );
    for (role, count, seconds) in &timing {
        println!(
            "{role}: {count} images in {seconds:.1} s = {:.1} s per 1,000 images",
            1000.0 * seconds / *count as f64
        );
    }
    if let Some(out) = &args.out {
        let timing: Vec<_> = timing
            .iter()
            .map(|(role, count, seconds)| json!({"set": role, "images": count, "seconds": seconds}))
            .collect();
        let report = json!({
            "fid": fid,
            "real": args.real,
            "fake": args.fake,
            "real_count": real.count,
            "fake_count": fake.count,
            "feature_seconds": timing,
            "distance_seconds": distance_seconds,
        });
        std::fs::write(out, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

fn stats_cache_dir() -> PathBuf {
    selfcond_gan::metrics::fid::cache_dir().join("stats")
}
