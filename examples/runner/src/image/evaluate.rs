//! Evaluation of a finished image run and its report: `samples.npy` (uint8 `[N, 32, 32, 3]`),
//! `samples.png`, the cluster figure, Stacked-MNIST's mode count and the clusters' agreement
//! with the true modes, in `metrics.json`.

use std::path::Path;

use burn::prelude::*;
use selfcond_gan::LabelMode;
use selfcond_gan::cluster::cluster_agreement;
use selfcond_gan::data::mnist::STACKED_MODES;
use selfcond_gan::metrics::{MnistClassifier, StackedModes, count_stacked_modes};
use selfcond_gan::viz;
use serde::Serialize;

use super::figures::{cluster_figure, progress_grid};
use super::{ImageArgs, ImageTrainer};
use crate::{RunResult, write_json};

/// What the report says besides the metrics.
pub(super) struct Report<'a> {
    pub name: &'a str,
    pub args: &'a ImageArgs,
    pub k: usize,
    pub seconds: f64,
    pub resumed_from: Option<usize>,
    pub backend: String,
    pub peak_rss_mib: Option<f64>,
}

/// The run's clustering set with the true mode of each image.
pub(super) struct ClusteringSet {
    pub images: Tensor<4>,
    pub modes: Vec<u16>,
}

#[derive(Serialize)]
struct RunMetrics {
    dataset: String,
    labels: LabelMode,
    ema_decay: Option<f64>,
    k: usize,
    width: usize,
    seed: u64,
    iterations: usize,
    seconds: f64,
    seconds_per_iteration: f64,
    eval_samples: usize,
    /// Stacked-MNIST: modes of the evaluation samples covered, out of 1,000 (MNIST classifier
    /// per channel).
    modes: Option<usize>,
    /// Stacked-MNIST: reverse KL from the uniform mode distribution, natural log.
    reverse_kl: Option<f64>,
    /// The same in log base 10, as the reference code reported it.
    reverse_kl_log10: Option<f64>,
    /// Test accuracy of the classifier that counted the modes.
    classifier_accuracy: Option<f64>,
    /// Agreement of the final clusters with the true modes of the clustering set.
    cluster_nmi: Option<f64>,
    cluster_purity: Option<f64>,
    cluster_ari: Option<f64>,
    non_empty_clusters: Option<usize>,
    backend: String,
    resumed_from: Option<usize>,
    peak_rss_mib: Option<f64>,
}

/// Samples `--eval-samples` images by the empirical cluster distribution (classified channel
/// by channel for the mode count when a classifier is given), writes the run's files to `out`
/// and prints a one-line summary.
pub(super) fn evaluate_and_report(
    trainer: &mut ImageTrainer,
    classifier: Option<(MnistClassifier, Option<f64>)>,
    clustering_set: &ClusteringSet,
    out: &Path,
    report: Report,
) -> RunResult {
    let Report { name, args, k, .. } = report;
    let classes = trainer.sample_classes(args.eval_samples);
    let mut samples = Vec::with_capacity(args.eval_samples * 3 * 32 * 32);
    let mut counts = vec![0u32; STACKED_MODES];
    for part in classes.chunks(500) {
        let images = trainer.generate(part, 500)?;
        if let Some((classifier, _)) = &classifier {
            let found = count_stacked_modes(classifier, &images, 500)?;
            counts
                .iter_mut()
                .zip(&found.counts)
                .for_each(|(c, f)| *c += f);
        }
        let bytes = viz::to_bytes(images)?;
        for image in bytes.chunks_exact(3 * 32 * 32) {
            for pixel in 0..32 * 32 {
                samples.extend((0..3).map(|c| image[c * 32 * 32 + pixel]));
            }
        }
    }
    let modes = match &classifier {
        Some(_) => Some(StackedModes::from_counts(counts)?),
        None => None,
    };
    selfcond_gan::npy::write(
        &out.join("samples.npy"),
        &samples,
        &[classes.len(), 32, 32, 3],
    )?;
    progress_grid(trainer, args.seed, &out.join("samples.png"))?;

    let mut metrics = RunMetrics {
        dataset: name.into(),
        labels: args.labels,
        ema_decay: args.ema_decay,
        k,
        width: args.width,
        seed: args.seed,
        iterations: args.iters,
        seconds: report.seconds,
        seconds_per_iteration: report.seconds / args.iters.max(1) as f64,
        eval_samples: classes.len(),
        modes: modes.as_ref().map(|m| m.modes),
        reverse_kl: modes.as_ref().map(|m| m.reverse_kl),
        reverse_kl_log10: modes.as_ref().map(|m| m.reverse_kl_log10),
        classifier_accuracy: classifier.as_ref().and_then(|(_, a)| *a),
        cluster_nmi: None,
        cluster_purity: None,
        cluster_ari: None,
        non_empty_clusters: None,
        backend: report.backend,
        resumed_from: report.resumed_from,
        peak_rss_mib: report.peak_rss_mib,
    };
    if let Some(conditioner) = trainer.conditioner() {
        let found = conditioner.clustering_labels();
        let truth: Vec<i64> = clustering_set.modes.iter().map(|&m| m as i64).collect();
        let agreement = cluster_agreement(found, &truth)?;
        metrics.cluster_nmi = Some(agreement.nmi);
        metrics.cluster_purity = Some(agreement.purity);
        metrics.cluster_ari = Some(agreement.ari);
        metrics.non_empty_clusters = Some(
            conditioner
                .cluster_sizes()
                .iter()
                .filter(|&&s| s > 0)
                .count(),
        );
        cluster_figure(
            trainer,
            &clustering_set.images,
            args.seed,
            &out.join("clusters.png"),
        )?;
    }
    write_json(&out.join("metrics.json"), &metrics)?;
    println!(
        "{name} {:?} seed {}: {}{} iterations in {:.0}s ({:.2} s/iter), cluster NMI {}",
        args.labels,
        args.seed,
        modes.as_ref().map_or(String::new(), |m| format!(
            "modes {}/1000, reverse KL {:.3}, ",
            m.modes, m.reverse_kl
        )),
        args.iters,
        report.seconds,
        metrics.seconds_per_iteration,
        metrics
            .cluster_nmi
            .map_or("-".into(), |v| format!("{v:.3}"))
    );
    Ok(())
}
