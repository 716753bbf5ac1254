//! The `evaluate` example: every metric that applies to finished runs of one setting (its
//! seeds), an `evaluation.json` in each run directory and one Markdown table row with mean +-
//! standard deviation over the runs.
//!
//! - 2D (`ring`, `grid`): modes, high-quality fraction, reverse KL of `samples.npy`;
//! - Stacked-MNIST: modes and reverse KL with the MNIST classifier, and the image metrics
//!   against seeded triples of MNIST training digits;
//! - CIFAR-10 or any image run: FID, IS (with pytorch-fid's weights), KID, precision / recall,
//!   density / coverage on the 2048-d Inception features, against `--real`;
//! - clustering (every self-conditioned run): NMI, purity and ARI of the final clusters
//!   against the true classes, as the training example recorded them.

pub mod features;
mod image;
pub mod runs;
pub mod sources;
pub mod table;

use std::path::{Path, PathBuf};

use clap::Parser;
use selfcond_gan::data::GaussianMixture2d;
use selfcond_gan::npy;
use serde_json::{Map, Value, json};

use crate::options::{OptionError, at_least, require};
use crate::{RunResult, write_json};
use runs::{Run, read_setting};

/// Every metric that applies to finished runs of one setting.
#[derive(Parser, Debug, Clone)]
#[command(
    about = "Evaluates finished runs (seeds of one setting): evaluation.json per run and a \
                   Markdown table row with mean +- std"
)]
pub struct EvaluateArgs {
    /// Run directories, each with the metrics.json and samples.npy of a training example.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Real images for the image metrics: cifar10-train, cifar10-test, stacked-mnist, an image
    /// folder, a .npy of uint8 images or a run directory (default: cifar10-train for CIFAR-10
    /// runs, stacked-mnist for Stacked-MNIST runs).
    #[arg(long, value_name = "DATASET|DIR")]
    pub real: Option<String>,
    /// Where the named data sets live (default data/cifar10, or data/mnist for Stacked-MNIST,
    /// which the MNIST classifier also trains on).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Real Stacked-MNIST triples to draw.
    #[arg(long, default_value_t = 10_000)]
    pub real_count: usize,
    /// Use at most this many images of the real set (spread over its classes).
    #[arg(long)]
    pub real_limit: Option<usize>,
    /// Use at most this many of each run's samples.
    #[arg(long)]
    pub samples: Option<usize>,
    /// The FID Inception weights (scripts/fetch-fid-weights.sh; default its cache path).
    #[arg(long, value_name = "FILE")]
    pub fid_weights: Option<PathBuf>,
    /// pytorch-fid's pt_inception-2015-12-05-6726825d.pth, for the Inception Score (default
    /// $SELFCOND_IS_WEIGHTS or beside the FID weights; IS is left out when it is absent).
    #[arg(long, value_name = "FILE")]
    pub is_weights: Option<PathBuf>,
    /// Splits of the Inception Score.
    #[arg(long, default_value_t = 10)]
    pub is_splits: usize,
    /// KID subsets.
    #[arg(long, default_value_t = 100)]
    pub kid_subsets: usize,
    /// Samples of each set per KID subset.
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Precision, recall, density and coverage compare at most this many samples of each set
    /// (a seeded subset).
    #[arg(long, default_value_t = 10_000)]
    pub nn_samples: usize,
    /// Neighbours for precision and recall.
    #[arg(long, default_value_t = 3)]
    pub k_pr: usize,
    /// Neighbours for density and coverage.
    #[arg(long, default_value_t = 5)]
    pub k_dc: usize,
    /// Seed of the KID subsets and of the nearest-neighbour subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per Inception forward pass (10 ran fastest on 2 CPU cores; larger on a GPU).
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    /// A cached set's features are saved every this many images, so an interrupted pass
    /// goes on where it stopped.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_images: usize,
    /// Write the features compared: DIR/real.npy and DIR/fake.npy (DIR/<run>/fake.npy for
    /// several runs), float32 [N, 2048].
    #[arg(long, value_name = "DIR")]
    pub save_features: Option<PathBuf>,
    /// Also write the Markdown table here.
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// The MNIST classifier that counts Stacked-MNIST modes (trained and cached if absent).
    #[arg(long, default_value = "data/mnist-classifier.bpk")]
    pub classifier: PathBuf,
    /// Neither read nor write cached real features.
    #[arg(long)]
    pub no_cache: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl EvaluateArgs {
    /// Rejects settings no evaluation can use, naming the flag, before any work.
    pub fn check(&self) -> Result<(), OptionError> {
        at_least("batch-size", self.batch_size, 1)?;
        at_least("checkpoint-images", self.checkpoint_images, 1)?;
        at_least("real-count", self.real_count, 1)?;
        at_least("is-splits", self.is_splits, 1)?;
        at_least("kid-subsets", self.kid_subsets, 1)?;
        at_least("kid-subset-size", self.kid_subset_size, 2)?;
        at_least("k-pr", self.k_pr, 1)?;
        at_least("k-dc", self.k_dc, 1)?;
        let largest_k = self.k_pr.max(self.k_dc);
        require(
            self.nn_samples > largest_k,
            "nn-samples",
            format!(
                "must exceed the neighbour count ({largest_k}), got {}",
                self.nn_samples
            ),
        )?;
        for (flag, value) in [("samples", self.samples), ("real-limit", self.real_limit)] {
            if let Some(value) = value {
                at_least(flag, value, 1)?;
            }
        }
        if let Some(path) = &self.is_weights {
            require(
                path.is_file(),
                "is-weights",
                format!(
                    "{} is not a file (pytorch-fid's pt_inception-2015-12-05-6726825d.pth, from {})",
                    path.display(),
                    selfcond_gan::metrics::inception_score::WEIGHTS_URL
                ),
            )?;
        }
        Ok(())
    }
}

/// Evaluates the runs, writes `evaluation.json` into each and prints the table row.
pub fn run(args: EvaluateArgs) -> RunResult {
    args.check()?;
    let runs = read_setting(&args.runs)?;
    let dataset = runs[0].dataset.clone();
    let mut evaluations = match dataset.as_str() {
        "ring" | "grid" => runs
            .iter()
            .map(evaluate_2d)
            .collect::<Result<Vec<_>, _>>()?,
        "stacked_mnist" | "cifar10" => image::evaluate(&runs, &args)?,
        other => {
            return Err(format!(
                "{}: data set `{other}` has no evaluation (ring, grid, stacked_mnist, cifar10)",
                runs[0].dir.display()
            )
            .into());
        }
    };
    for (run, evaluation) in runs.iter().zip(&mut evaluations) {
        for key in ["cluster_nmi", "cluster_purity", "cluster_ari"] {
            if let Some(value) = run.recorded(key) {
                evaluation.insert(key.into(), json!(value));
            }
        }
        let mut report = Map::new();
        report.insert("run".into(), json!(run.dir));
        report.insert("dataset".into(), json!(run.dataset));
        report.insert("labels".into(), json!(run.labels));
        report.insert("k".into(), json!(run.k));
        report.insert("seed".into(), json!(run.seed));
        report.insert("iterations".into(), json!(run.iterations));
        report.append(evaluation);
        *evaluation = report;
        write_json(&run.dir.join("evaluation.json"), evaluation)?;
    }
    let seeds: Vec<String> = runs.iter().map(|r| r.seed.to_string()).collect();
    let setting = format!(
        "{dataset} {} k={} {} iters, seeds {}",
        runs[0].labels,
        runs[0].k,
        runs[0].iterations,
        seeds.join(",")
    );
    let table = table::markdown(&setting, &evaluations);
    print!("{table}");
    if let Some(path) = &args.table {
        std::fs::write(path, &table).map_err(|source| crate::PathError {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The paper's Table 1 metrics of a 2D run's `samples.npy` (float32 `[n, 2]`).
fn evaluate_2d(run: &Run) -> Result<Map<String, Value>, Box<dyn std::error::Error>> {
    let mixture = match run.dataset.as_str() {
        // Runs record their radius; the reference code's 2 before they did.
        "ring" => GaussianMixture2d::ring(run.recorded("radius").unwrap_or(2.0) as f32)?,
        _ => GaussianMixture2d::grid(),
    };
    let path = run.dir.join("samples.npy");
    let points = read_points(&path)?;
    let metrics = mixture.evaluate(&points)?;
    let mut evaluation = Map::new();
    evaluation.insert("samples".into(), json!(points.len()));
    evaluation.insert("modes".into(), json!(metrics.modes));
    evaluation.insert("total_modes".into(), json!(metrics.total_modes));
    evaluation.insert(
        "high_quality_fraction".into(),
        json!(metrics.high_quality_fraction),
    );
    evaluation.insert("reverse_kl".into(), json!(metrics.reverse_kl));
    Ok(evaluation)
}

fn read_points(path: &Path) -> Result<Vec<[f32; 2]>, Box<dyn std::error::Error>> {
    let (values, _) = npy::read_f32_matrix(path, Some(2))?;
    Ok(values.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}
