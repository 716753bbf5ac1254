//! Evaluation of a finished 2D run (the paper's Table 1 metrics) and its report: metrics.json,
//! samples.npy and the two scatter plots.

use std::path::Path;

use selfcond_gan::LabelMode;
use selfcond_gan::data::toy2d::tensor_points;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};
use serde::Serialize;

use super::{Toy2dArgs, Toy2dTrainer};
use crate::{RunResult, plot, write_json};

/// What the report says besides the metrics.
pub(super) struct Report<'a> {
    pub name: &'a str,
    pub args: &'a Toy2dArgs,
    pub k: usize,
    pub seconds: f64,
    pub resumed_from: Option<usize>,
    pub backend: String,
    pub rss_mib: Vec<(usize, f64)>,
}

#[derive(Serialize)]
struct RunMetrics {
    dataset: String,
    labels: LabelMode,
    ema_decay: Option<f64>,
    k: usize,
    /// The ring's radius (`evaluate` rebuilds the mixture from it); none for the grid.
    radius: Option<f32>,
    seed: u64,
    iterations: usize,
    seconds: f64,
    ms_per_iteration: f64,
    modes: usize,
    total_modes: usize,
    high_quality_fraction: f64,
    reverse_kl: f64,
    eval_samples: usize,
    backend: String,
    resumed_from: Option<usize>,
    /// Resident memory (MiB) every 1,000 iterations of this process (Linux only).
    rss_mib: Vec<(usize, f64)>,
}

/// Samples `--eval-samples` points by the empirical cluster distribution, scores them, writes
/// the run's files to `out` and prints a one-line summary.
pub(super) fn evaluate_and_report(
    trainer: &mut Toy2dTrainer,
    mixture: &GaussianMixture2d,
    data: &Toy2dDataset,
    out: &Path,
    report: Report,
) -> RunResult {
    let Report { name, args, k, .. } = report;
    let classes = trainer.sample_classes(args.eval_samples);
    let samples = tensor_points(trainer.generate(&classes, 10_000)?)?;
    let Toy2dMetrics {
        modes,
        total_modes,
        high_quality_fraction,
        reverse_kl,
    } = mixture.evaluate(&samples)?;
    let metrics = RunMetrics {
        dataset: name.to_string(),
        labels: args.labels,
        ema_decay: args.ema_decay,
        k,
        radius: (name == "ring").then_some(args.radius),
        seed: args.seed,
        iterations: args.iters,
        seconds: report.seconds,
        ms_per_iteration: 1e3 * report.seconds / args.iters.max(1) as f64,
        modes,
        total_modes,
        high_quality_fraction,
        reverse_kl,
        eval_samples: samples.len(),
        backend: report.backend,
        resumed_from: report.resumed_from,
        rss_mib: report.rss_mib,
    };
    write_json(&out.join("metrics.json"), &metrics)?;
    let flat: Vec<f32> = samples.iter().flatten().copied().collect();
    selfcond_gan::npy::write(&out.join("samples.npy"), &flat, &[samples.len(), 2])?;

    let extent = mixture
        .means
        .iter()
        .flatten()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        * 1.25
        + 0.5;
    let scatter = |file: &str, points: &[[f32; 2]], classes: &[i64]| {
        plot::scatter(&out.join(file), points, classes, k, &mixture.means, extent)
    };
    scatter("samples.png", &samples, &classes)?;
    let (real, real_classes) = match trainer.conditioner() {
        Some(c) => (
            tensor_points(c.clustering_set().clone())?,
            c.clustering_labels().to_vec(),
        ),
        None => {
            let n = args.cluster_points.min(data.points.len());
            (data.points[..n].to_vec(), vec![0; n])
        }
    };
    scatter("clusters.png", &real, &real_classes)?;

    println!(
        "{name} {:?} seed {}: modes {modes}/{total_modes}, high quality {:.2}%, reverse KL {:.4}, {:.1} ms/iter",
        args.labels,
        args.seed,
        100.0 * high_quality_fraction,
        reverse_kl,
        metrics.ms_per_iteration
    );
    Ok(())
}
