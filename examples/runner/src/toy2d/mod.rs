//! The 2D experiment behind the `ring` and `grid` examples: setup, training, evaluation as in
//! Table 1 of the paper, and the report.

mod evaluate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::model::{Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig};
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::{Checkpoint, LabelMode, SelfCondConfig, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};

use crate::options::{self, Given, OptionError, RunOptions, at_least, require};
use crate::training::{self, BatchStream, RunContext, Schedule};
use crate::{RunResult, alloc, create_dir, threads};

type Toy2dTrainer = Trainer<Toy2dGenerator, Toy2dDiscriminator, 2>;

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
    /// Output directory (metrics.json, samples.npy, samples.png, clusters.png); a resumed run
    /// stays in its own.
    #[arg(long, conflicts_with = "resume")]
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
}

impl Toy2dArgs {
    /// Parses the command line (exiting with clap's message on bad arguments).
    pub fn from_command_line() -> (Self, Given) {
        options::parse()
    }

    fn out_dir(&self, name: &str) -> PathBuf {
        let default = || options::default_out_dir(name, self.labels, self.seed);
        self.out.clone().unwrap_or_else(default)
    }
}

impl RunOptions for Toy2dArgs {
    const OVERRIDABLE: &'static [&'static str] = &["iters", "checkpoint_every", "quiet"];

    fn resume(&self) -> Option<&Path> {
        self.resume.as_deref()
    }

    fn check(&self) -> Result<(), OptionError> {
        let clustering = ("cluster-points", self.cluster_points);
        options::check_clusters(self.labels, self.k, self.recluster_every, clustering)?;
        at_least("eval-samples", self.eval_samples, 1)?;
        at_least("batch-size", self.batch_size, 1)?;
        at_least("train-points", self.train_points, 1)?;
        require(
            self.radius.is_finite() && self.radius > 0.0,
            "radius",
            format!("must be finite and positive, got {}", self.radius),
        )?;
        options::check_ema_decay(self.ema_decay)
    }
}

/// Runs the experiment (or resumes it, with `--resume`); `name` names the data set and the
/// default output folder, `mixture` builds the data from the run's settings.
pub fn run(
    name: &str,
    mixture: fn(&Toy2dArgs) -> selfcond_gan::Result<GaussianMixture2d>,
    (args, given): (Toy2dArgs, Given),
) -> RunResult {
    let training::Prepared { args, resumed } = training::prepare(args, &given, name)?;
    alloc::keep_freed_memory();
    threads::one_thread_unless_configured();
    let mixture = mixture(&args)?;
    let out = args.out_dir(name);
    create_dir(&out)?;

    let device = Device::default().autodiff();
    let mut data = Toy2dDataset::new(
        mixture.clone(),
        args.train_points,
        args.batch_size,
        &mut stream(args.seed, 0),
        stream(args.seed, 1),
    )?;
    let k = match args.labels {
        LabelMode::Unconditional => 1,
        LabelMode::Supervised => mixture.num_modes(),
        _ => args.k,
    };
    let started = Instant::now();
    let mut trainer = match &resumed {
        Some((checkpoint, state)) => {
            data.set_batch_rng(state.batch_rng.clone());
            resume_trainer(name, &args, k, &data, checkpoint, &device)?
        }
        None => new_trainer(name, &args, k, &data, &device)?,
    };
    let resumed_from = resumed.as_ref().map(|(c, _)| c.iteration());
    let run = RunContext {
        name,
        args: &args,
        out: &out,
        schedule: Schedule {
            iters: args.iters,
            checkpoint_every: args.checkpoint_every,
            picture_every: 0,
        },
        quiet: args.quiet,
        started,
        seconds_before: resumed.as_ref().map_or(0.0, |(_, s)| s.seconds),
    };
    let trained = training::train(&mut trainer, &mut data, run, |_, _| Ok(()))?;

    let report = evaluate::Report {
        name,
        args: &args,
        k,
        seconds: trained.seconds,
        resumed_from,
        backend: format!("{device:?}"),
        rss_mib: trained.rss_mib,
    };
    evaluate::evaluate_and_report(&mut trainer, &mixture, &data, &out, report)
}

/// The models of a run, freshly initialised from its seed.
fn models(
    args: &Toy2dArgs,
    k: usize,
    device: &Device,
) -> selfcond_gan::Result<(Toy2dGenerator, Toy2dDiscriminator)> {
    let models = Toy2dModelConfig::new(k);
    let mut init = stream(args.seed, 2);
    let generator = models.init_generator(&mut init, device)?;
    let discriminator = models.init_discriminator(&mut init, device)?;
    Ok((generator, discriminator))
}

fn new_trainer(
    name: &str,
    args: &Toy2dArgs,
    k: usize,
    data: &Toy2dDataset,
    device: &Device,
) -> Result<Toy2dTrainer, Box<dyn std::error::Error>> {
    let (generator, discriminator) = models(args, k, device)?;
    let clustering_set = data.head_tensor(args.cluster_points, device);
    let config =
        TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(args.recluster_every))
            .with_labels(args.labels)
            .with_seed(args.seed)
            .with_ema_decay(args.ema_decay);
    eprintln!(
        "{name}: {} iterations, labels {:?}, k = {k}, seed {}, device {device:?} -> {}",
        args.iters,
        args.labels,
        args.seed,
        args.out_dir(name).display()
    );
    let (trainer, first) = Trainer::new(config, generator, discriminator, Some(clustering_set))?;
    if let Some(r) = first {
        eprintln!(
            "initial clustering: inertia {:.3}, {} Lloyd iterations, {:.2}s",
            r.inertia, r.lloyd_iterations, r.seconds
        );
    }
    Ok(trainer)
}

fn resume_trainer(
    name: &str,
    args: &Toy2dArgs,
    k: usize,
    data: &Toy2dDataset,
    checkpoint: &Checkpoint,
    device: &Device,
) -> Result<Toy2dTrainer, Box<dyn std::error::Error>> {
    let (generator, discriminator) = models(args, k, device)?;
    let clustering_set = data.head_tensor(args.cluster_points, device);
    let trainer =
        Trainer::from_checkpoint(checkpoint, generator, discriminator, Some(clustering_set))?;
    eprintln!(
        "{name}: resuming {} at iteration {} of {} from {}",
        args.out_dir(name).display(),
        trainer.iteration(),
        args.iters,
        checkpoint.path().display()
    );
    Ok(trainer)
}

impl BatchStream for Toy2dDataset {
    fn batch_rng(&self) -> &SeededRng {
        Toy2dDataset::batch_rng(self)
    }

    fn set_batch_rng(&mut self, rng: SeededRng) {
        Toy2dDataset::set_batch_rng(self, rng);
    }
}
