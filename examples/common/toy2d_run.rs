//! The 2D experiment behind the `ring` and `grid` examples.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use selfcond_gan::data::toy2d::tensor_points;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};
use selfcond_gan::model::Toy2dModelConfig;
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::{Checkpoint, LabelMode, SelfCondConfig, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};

use super::plot;
use super::progress::Progress;

/// Train a self-conditioned GAN on a 2D mixture and evaluate it as in Table 1 of the paper.
#[derive(Parser, Debug, Clone, Serialize, Deserialize)]
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
    /// Sample from a moving average of G's weights with this decay (0.999 is usual); off by
    /// default, as in the paper.
    #[arg(long, value_name = "DECAY")]
    pub ema_decay: Option<f64>,
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
    /// Write a checkpoint to OUT/checkpoints every this many iterations (0: only at the end).
    #[arg(long, default_value_t = 5000)]
    pub checkpoint_every: usize,
    /// Continue the run in this directory from its newest checkpoint, with the settings it was
    /// started with; `--iters`, `--checkpoint-every` and `--quiet` may still be given.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Options given on the command line, which a resumed run takes over its saved settings.
    #[arg(skip)]
    #[serde(skip)]
    given: Vec<String>,
}

impl Toy2dArgs {
    /// Parses the command line (exiting with clap's message on bad arguments), remembering which
    /// options were given explicitly.
    pub fn from_command_line() -> Self {
        let matches = Self::command().get_matches();
        let mut args = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        args.given = ["iters", "checkpoint_every", "quiet"]
            .into_iter()
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .map(str::to_string)
            .collect();
        args
    }

    /// The saved settings of a run being resumed, with this command line's overrides.
    fn resumed(&self, saved: Toy2dArgs, dir: &Path) -> Self {
        let given = |id: &str| self.given.iter().any(|g| g == id);
        Self {
            iters: if given("iters") {
                self.iters
            } else {
                saved.iters
            },
            checkpoint_every: if given("checkpoint_every") {
                self.checkpoint_every
            } else {
                saved.checkpoint_every
            },
            quiet: self.quiet || (saved.quiet && !given("quiet")),
            out: Some(dir.to_path_buf()),
            resume: Some(dir.to_path_buf()),
            given: self.given.clone(),
            ..saved
        }
    }
}

/// What a checkpoint of a 2D run carries besides the trainer.
#[derive(Serialize, Deserialize)]
struct RunState {
    dataset: String,
    args: Toy2dArgs,
    batch_rng: SeededRng,
    seconds: f64,
}

#[derive(Serialize)]
struct RunMetrics {
    dataset: String,
    labels: LabelMode,
    ema_decay: Option<f64>,
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
    resumed_from: Option<usize>,
    /// Resident memory (MiB) every 1,000 iterations of this process (Linux only).
    rss_mib: Vec<(usize, f64)>,
}

/// Runs the experiment (or resumes it, with `--resume`); `name` names the data set and the
/// default output folder, `mixture` builds the data from the run's settings.
pub fn run(
    name: &str,
    mixture: fn(&Toy2dArgs) -> selfcond_gan::Result<GaussianMixture2d>,
    args: Toy2dArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    super::alloc::keep_freed_memory();
    super::threads::one_thread_unless_configured();
    let device = Device::default().autodiff();
    let (checkpoint, state) = match &args.resume {
        Some(dir) => {
            let checkpoint = Checkpoint::open_latest(dir)?;
            let state: RunState = checkpoint.extra()?;
            if state.dataset != name {
                return Err(format!(
                    "{} holds a {} run; resume it with the {} example",
                    dir.display(),
                    state.dataset,
                    state.dataset
                )
                .into());
            }
            (Some(checkpoint), Some(state))
        }
        None => (None, None),
    };
    let args = match &state {
        Some(state) => args.resumed(
            state.args.clone(),
            args.resume.as_deref().unwrap_or(Path::new(".")),
        ),
        None => args,
    };
    let mixture = mixture(&args)?;
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
    let clustering_set = data.head_tensor(args.cluster_points, &device);

    let started = Instant::now();
    let mut trainer = match (&checkpoint, &state) {
        (Some(checkpoint), Some(state)) => {
            data.set_batch_rng(state.batch_rng.clone());
            let trainer = Trainer::from_checkpoint(
                checkpoint,
                generator,
                discriminator,
                Some(clustering_set),
            )?;
            eprintln!(
                "{name}: resuming {} at iteration {} of {} from {}",
                out.display(),
                trainer.iteration(),
                args.iters,
                checkpoint.path().display()
            );
            trainer
        }
        _ => {
            let config =
                TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(args.recluster_every))
                    .with_labels(args.labels)
                    .with_seed(args.seed)
                    .with_ema_decay(args.ema_decay);
            eprintln!(
                "{name}: {} iterations, labels {:?}, k = {k}, seed {}, device {:?} -> {}",
                args.iters,
                args.labels,
                args.seed,
                device,
                out.display()
            );
            let (trainer, first) =
                Trainer::new(config, generator, discriminator, Some(clustering_set))?;
            if let Some(r) = first {
                eprintln!(
                    "initial clustering: inertia {:.3}, {} Lloyd iterations, {:.2}s",
                    r.inertia, r.lloyd_iterations, r.seconds
                );
            }
            trainer
        }
    };
    let resumed_from = checkpoint.as_ref().map(Checkpoint::iteration);
    let seconds_before = state.as_ref().map_or(0.0, |s| s.seconds);

    let mut progress = Progress::new(args.iters, trainer.iteration(), args.quiet)?;
    // Train in stretches that end on checkpoint boundaries; the last stretch always ends with
    // one, so evaluation (and the control tools) can start from the finished model.
    while trainer.iteration() < args.iters {
        let done = trainer.iteration();
        let stretch = match args.checkpoint_every {
            0 => args.iters - done,
            every => (every - done % every).min(args.iters - done),
        };
        trainer.fit(&mut data, stretch, &mut progress)?;
        let state = RunState {
            dataset: name.to_string(),
            args: args.clone(),
            batch_rng: data.batch_rng().clone(),
            seconds: seconds_before + started.elapsed().as_secs_f64(),
        };
        trainer.save_checkpoint(&out, &state)?;
    }
    progress.bar.finish();
    let seconds = seconds_before + started.elapsed().as_secs_f64();

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
        resumed_from,
        rss_mib: progress.rss_mib,
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
