//! The 2D experiment behind the `ring` and `grid` examples.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use selfcond_gan::data::toy2d::tensor_points;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};
use selfcond_gan::model::Toy2dModelConfig;
use selfcond_gan::rng::stream;
use selfcond_gan::{LabelMode, SelfCondConfig, StepStats, TrainConfig, TrainObserver, Trainer};
use serde::Serialize;

use super::plot;

/// Train a self-conditioned GAN on a 2D mixture and evaluate it as in Table 1 of the paper.
#[derive(Parser, Debug)]
pub struct Toy2dArgs {
    /// Training iterations (one D step and one G step each).
    #[arg(long, default_value_t = 100_000)]
    pub iters: usize,
    /// Seed of every random stream of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of clusters (forced to 1 for `unconditional`, to the mode count for `supervised`).
    #[arg(long, default_value_t = 50)]
    pub k: usize,
    /// Iterations between reclusterings.
    #[arg(long, default_value_t = 5000)]
    pub recluster_every: usize,
    /// Label source: selfcond, unconditional, supervised or random.
    #[arg(long, default_value = "selfcond")]
    pub labels: LabelMode,
    /// Generated points to evaluate.
    #[arg(long, default_value_t = 50_000)]
    pub eval_samples: usize,
    /// Output directory (metrics.json, samples.npy, samples.png, clusters.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ring radius (ring only; the reference code uses 2, the paper's text 1).
    #[arg(long, default_value_t = 2.0)]
    pub radius: f32,
    /// Batch size.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Size of the fixed training set.
    #[arg(long, default_value_t = 100_000)]
    pub train_points: usize,
    /// Size of the fixed clustering set.
    #[arg(long, default_value_t = 10_000)]
    pub cluster_points: usize,
    /// Hide the progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Serialize)]
struct RunMetrics {
    dataset: String,
    labels: LabelMode,
    k: usize,
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
}

/// Draws progress and refit events; the library itself never prints.
struct Progress {
    bar: ProgressBar,
}

impl TrainObserver for Progress {
    fn on_step(&mut self, stats: &StepStats) {
        self.bar.inc(1);
        if let Some(l) = stats.losses {
            self.bar
                .set_message(format!("D {:.3}  G {:.3}", l.discriminator, l.generator));
        }
        if let Some(r) = &stats.recluster {
            let nonempty = r.sizes.iter().filter(|&&s| s > 0).count();
            let line = format!(
                "recluster @ {}: {:.1}% relabelled, {} non-empty clusters, {:.2}s",
                r.iteration,
                100.0 * r.changed_fraction.unwrap_or(1.0),
                nonempty,
                r.seconds
            );
            if self.bar.is_hidden() {
                eprintln!("{line}");
            } else {
                self.bar.println(line);
            }
        }
    }
}

/// Runs the experiment on `mixture`; `name` names the data set and the default output folder.
pub fn run(
    name: &str,
    mixture: GaussianMixture2d,
    args: Toy2dArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default().autodiff();
    let k = match args.labels {
        LabelMode::Unconditional => 1,
        LabelMode::Supervised => mixture.num_modes(),
        _ => args.k,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("runs/{name}-{:?}-seed{}", args.labels, args.seed).to_lowercase())
    });
    std::fs::create_dir_all(&out)?;

    let mut data = Toy2dDataset::new(
        mixture.clone(),
        args.train_points,
        args.batch_size,
        &mut stream(args.seed, 0),
        stream(args.seed, 1),
    )?;
    let models = Toy2dModelConfig::new(k);
    let mut init = stream(args.seed, 2);
    let generator = models.init_generator(&mut init, &device)?;
    let discriminator = models.init_discriminator(&mut init, &device)?;
    let config =
        TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(args.recluster_every))
            .with_labels(args.labels)
            .with_seed(args.seed);
    let clustering_set = data.head_tensor(args.cluster_points, &device);

    eprintln!(
        "{name}: {} iterations, labels {:?}, k = {k}, seed {}, device {:?} -> {}",
        args.iters,
        args.labels,
        args.seed,
        device,
        out.display()
    );
    let started = Instant::now();
    let (mut trainer, first) =
        Trainer::new(config, generator, discriminator, Some(clustering_set))?;
    if let Some(r) = first {
        eprintln!(
            "initial clustering: inertia {:.3}, {} Lloyd iterations, {:.2}s",
            r.inertia, r.lloyd_iterations, r.seconds
        );
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.iters as u64)
    };
    bar.set_style(ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    )?);
    let mut progress = Progress { bar };
    trainer.fit(&mut data, args.iters, &mut progress)?;
    progress.bar.finish();
    let seconds = started.elapsed().as_secs_f64();

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
        k,
        seed: args.seed,
        iterations: args.iters,
        seconds,
        ms_per_iteration: 1e3 * seconds / args.iters.max(1) as f64,
        modes,
        total_modes,
        high_quality_fraction,
        reverse_kl,
        eval_samples: samples.len(),
        backend: format!("{device:?}"),
    };
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    let flat: Vec<f32> = samples.iter().flatten().copied().collect();
    selfcond_gan::npy::write(&out.join("samples.npy"), &flat, &[samples.len(), 2])?;

    let extent = mixture
        .means
        .iter()
        .flatten()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        * 1.25
        + 0.5;
    plot::scatter(
        &out.join("samples.png"),
        &samples,
        &classes,
        k,
        &mixture.means,
        extent,
    )?;
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
    plot::scatter(
        &out.join("clusters.png"),
        &real,
        &real_classes,
        k,
        &mixture.means,
        extent,
    )?;

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
