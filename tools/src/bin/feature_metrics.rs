//! KID, precision / recall and density / coverage between two feature files (`.npy`, float32
//! `[N, D]`), and the Inception Score of a logits file, printed as one JSON line.
//! `scripts/check_feature_metrics.py` runs it beside torch-fidelity's KID and Inception Score
//! and the `prdc` package on the same numbers.
//!
//! `cargo run --release -p selfcond-gan-tools --bin feature_metrics -- --real r.npy --fake f.npy`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use selfcond_gan::metrics::{
    Features, InceptionScoreConfig, KidConfig, inception_score, kernel_inception_distance,
    nearest_neighbour_metrics,
};
use selfcond_gan::npy;
use serde_json::json;

/// Sample-based metrics between two sets of feature vectors.
#[derive(Parser)]
struct Args {
    /// Real features, float32 `[N, D]`.
    #[arg(long)]
    real: PathBuf,
    /// Generated features, float32 `[M, D]`.
    #[arg(long)]
    fake: PathBuf,
    /// KID subsets.
    #[arg(long, default_value_t = 100)]
    kid_subsets: usize,
    /// KID subset size.
    #[arg(long, default_value_t = 1000)]
    kid_subset_size: usize,
    /// Neighbours for precision and recall.
    #[arg(long, default_value_t = 3)]
    k_pr: usize,
    /// Neighbours for density and coverage.
    #[arg(long, default_value_t = 5)]
    k_dc: usize,
    /// Logits, float32 `[N, C]`, to take the Inception Score of (10 splits, torch-fidelity's
    /// permutation).
    #[arg(long)]
    is_logits: Option<PathBuf>,
}

/// The values and width of a float32 `[N, D]` file.
fn read_features(path: &Path) -> selfcond_gan::Result<(Vec<f32>, usize)> {
    let (values, [_, dim]) = npy::read_f32_matrix(path, None)?;
    Ok((values, dim))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default();
    let (real, real_dim) = read_features(&args.real)?;
    let (fake, fake_dim) = read_features(&args.fake)?;
    let (real, fake) = (
        Features::new(&real, real_dim)?,
        Features::new(&fake, fake_dim)?,
    );
    let kid_config = KidConfig::new()
        .with_subsets(args.kid_subsets)
        .with_subset_size(args.kid_subset_size);
    let started = Instant::now();
    let kid = kernel_inception_distance(&real, &fake, &kid_config, &device)?;
    let kid_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let pr = nearest_neighbour_metrics(&real, &fake, args.k_pr, &device)?;
    let pr_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let dc = nearest_neighbour_metrics(&real, &fake, args.k_dc, &device)?;
    let dc_seconds = started.elapsed().as_secs_f64();
    let is = match &args.is_logits {
        Some(path) => {
            let (logits, classes) = read_features(path)?;
            let score = inception_score(&logits, classes, &InceptionScoreConfig::new())?;
            json!({"is_mean": score.mean, "is_std": score.std})
        }
        None => json!(null),
    };
    let report = json!({
        "inception_score": is,
        "kid_mean": kid.mean,
        "kid_std": kid.std,
        "precision": pr.precision,
        "recall": pr.recall,
        "density": dc.density,
        "coverage": dc.coverage,
        "k_pr": args.k_pr,
        "k_dc": args.k_dc,
        "seconds": {"kid": kid_seconds, "precision_recall": pr_seconds, "density_coverage": dc_seconds},
    });
    println!("{report}");
    Ok(())
}

fn main() -> ExitCode {
    selfcond_gan_runner::report(run(Args::parse()))
}
