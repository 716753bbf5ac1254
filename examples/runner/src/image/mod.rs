//! The image experiments behind the `stacked_mnist` and `cifar10` examples: train a DCGAN with
//! the chosen label source, draw progress grids, checkpoint, and evaluate at the end.

mod evaluate;
mod figures;
mod source;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use selfcond_gan::model::{DcganConfig, DcganDepth, DcganDiscriminator, DcganGenerator};
use selfcond_gan::rng::stream;
use selfcond_gan::{Checkpoint, LabelMode, SelfCondConfig, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};

use crate::options::{self, Given, OptionError, RunOptions, at_least};
use crate::training::{self, BatchStream, RunContext, Schedule};
use crate::{RunResult, classifier, create_dir};
use evaluate::ClusteringSet;
use figures::progress_grid;
use source::Source;

type ImageTrainer = Trainer<DcganGenerator, DcganDiscriminator, 4>;

/// Which image benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    /// Stacked-MNIST with DCGAN-shallow; modes counted with the MNIST classifier.
    StackedMnist,
    /// CIFAR-10 (binary batches or an image folder) with DCGAN-deep.
    Cifar10,
}

impl Benchmark {
    fn name(self) -> &'static str {
        match self {
            Benchmark::StackedMnist => "stacked_mnist",
            Benchmark::Cifar10 => "cifar10",
        }
    }

    fn default_data_dir(self) -> &'static str {
        match self {
            Benchmark::StackedMnist => "data/mnist",
            Benchmark::Cifar10 => "data/cifar10/train",
        }
    }
}

/// Train a self-conditioned DCGAN on Stacked-MNIST (1,000 modes) or CIFAR-10.
#[derive(Parser, Debug, Clone, Serialize, Deserialize)]
pub struct ImageArgs {
    /// Data: Stacked-MNIST reads the MNIST IDX files (./scripts/fetch-mnist.sh puts them in
    /// data/mnist); CIFAR-10 reads the official binary batches or a folder of class folders
    /// (default data/cifar10/train).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Training iterations (one D step and one G step each).
    #[arg(long, default_value_t = 100_000)]
    pub iters: usize,
    /// Seed of every random stream of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of clusters (forced to 1 for `unconditional`, to 1,000 for `supervised`).
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Iterations between reclusterings.
    #[arg(long, default_value_t = 25_000)]
    pub recluster_every: usize,
    /// Size of the fixed clustering set.
    #[arg(long, default_value_t = 25_000)]
    pub cluster_images: usize,
    /// Label source: selfcond, unconditional, supervised or random.
    #[arg(long, default_value = "selfcond")]
    pub labels: LabelMode,
    /// Sample from a moving average of G's weights with this decay (0.999 is usual); off by
    /// default, as in the paper.
    #[arg(long, value_name = "DECAY")]
    pub ema_decay: Option<f64>,
    /// Channel multiplier of both networks (64 in the paper).
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// Generated images to save in samples.npy.
    #[arg(long, default_value_t = 50_000)]
    pub eval_samples: usize,
    /// Output directory; a resumed run stays in its own.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Stacked-MNIST images drawn (seeded triples of training digits); CIFAR-10 uses all.
    #[arg(long, default_value_t = 100_000)]
    pub train_images: usize,
    /// Write a sample grid every this many iterations (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    pub grid_every: usize,
    /// Write a checkpoint every this many iterations (0: only at the end).
    #[arg(long, default_value_t = 5000)]
    pub checkpoint_every: usize,
    /// Continue the run in this directory from its newest checkpoint, with the settings it was
    /// started with; `--iters`, `--checkpoint-every`, `--quiet`, `--data-dir` and
    /// `--classifier` may still be given.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// The MNIST classifier for mode counting; trained on --data-dir and cached here if absent.
    #[arg(long, default_value = "data/mnist-classifier.bpk")]
    pub classifier: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl ImageArgs {
    /// Parses the command line (exiting with clap's message on bad arguments).
    pub fn from_command_line() -> (Self, Given) {
        options::parse()
    }

    fn out_dir(&self, name: &str) -> PathBuf {
        let default = || options::default_out_dir(name, self.labels, self.seed);
        self.out.clone().unwrap_or_else(default)
    }

    fn data_dir(&self, benchmark: Benchmark) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(benchmark.default_data_dir()))
    }
}

impl RunOptions for ImageArgs {
    const OVERRIDABLE: &'static [&'static str] = &[
        "iters",
        "checkpoint_every",
        "quiet",
        "data_dir",
        "classifier",
    ];

    fn resume(&self) -> Option<&Path> {
        self.resume.as_deref()
    }

    fn check(&self) -> Result<(), OptionError> {
        let clustering = ("cluster-images", self.cluster_images);
        options::check_clusters(self.labels, self.k, self.recluster_every, clustering)?;
        at_least("width", self.width, 1)?;
        at_least("eval-samples", self.eval_samples, 1)?;
        at_least("batch-size", self.batch_size, 1)?;
        at_least("train-images", self.train_images, 1)?;
        options::check_ema_decay(self.ema_decay)
    }
}

/// Runs (or resumes) an image experiment.
pub fn run(benchmark: Benchmark, (args, given): (ImageArgs, Given)) -> RunResult {
    let name = benchmark.name();
    let training::Prepared { args, resumed } = training::prepare(args, &given, name)?;
    let k = match args.labels {
        LabelMode::Unconditional => 1,
        LabelMode::Supervised => match benchmark {
            Benchmark::StackedMnist => selfcond_gan::data::mnist::STACKED_MODES,
            Benchmark::Cifar10 => 10,
        },
        _ => args.k,
    };
    let out = args.out_dir(name);
    create_dir(&out.join("grids"))?;

    let device = Device::default().autodiff();
    let data_dir = args.data_dir(benchmark);
    let mut data = Source::load(benchmark, &args, &data_dir)?;
    let (images, modes) = data.clustering_set(args.cluster_images, &device);
    let clustering_set = ClusteringSet { images, modes };

    let started = Instant::now();
    let mut trainer = match &resumed {
        Some((checkpoint, state)) => {
            data.set_batch_rng(state.batch_rng.clone());
            resume_trainer(benchmark, &args, k, &clustering_set, checkpoint, &device)?
        }
        None => new_trainer(benchmark, &args, k, &clustering_set, &device)?,
    };
    let resumed_from = resumed.as_ref().map(|(c, _)| c.iteration());
    let run = RunContext {
        name,
        args: &args,
        out: &out,
        schedule: Schedule {
            iters: args.iters,
            checkpoint_every: args.checkpoint_every,
            picture_every: args.grid_every,
        },
        quiet: args.quiet,
        started,
        seconds_before: resumed.as_ref().map_or(0.0, |(_, s)| s.seconds),
    };
    let trained = training::train(&mut trainer, &mut data, run, |trainer, iteration| {
        let grid = out.join(format!("grids/iter-{iteration:07}.png"));
        progress_grid(trainer, args.seed, &grid)
    })?;

    let classifier = match benchmark {
        Benchmark::StackedMnist => Some(classifier::load_or_train(
            &args.classifier,
            &data_dir,
            &device.clone().inner(),
            args.quiet,
        )?),
        Benchmark::Cifar10 => None,
    };
    let report = evaluate::Report {
        name,
        args: &args,
        k,
        seconds: trained.seconds,
        resumed_from,
        backend: format!("{device:?}"),
        peak_rss_mib: trained.rss_mib.iter().map(|&(_, m)| m).reduce(f64::max),
    };
    evaluate::evaluate_and_report(&mut trainer, classifier, &clustering_set, &out, report)
}

/// The models of a run, freshly initialised from its seed.
fn models(
    benchmark: Benchmark,
    args: &ImageArgs,
    k: usize,
    device: &Device,
) -> selfcond_gan::Result<(DcganGenerator, DcganDiscriminator)> {
    let depth = match benchmark {
        Benchmark::StackedMnist => DcganDepth::Shallow,
        Benchmark::Cifar10 => DcganDepth::Deep,
    };
    let models = DcganConfig::new(k).with_depth(depth).with_width(args.width);
    let mut init = stream(args.seed, 2);
    let generator = models.init_generator(&mut init, device)?;
    let discriminator = models.init_discriminator(&mut init, device)?;
    Ok((generator, discriminator))
}

fn new_trainer(
    benchmark: Benchmark,
    args: &ImageArgs,
    k: usize,
    clustering_set: &ClusteringSet,
    device: &Device,
) -> Result<ImageTrainer, Box<dyn std::error::Error>> {
    let (generator, discriminator) = models(benchmark, args, k, device)?;
    // The paper's image settings: Adam lr 1e-4, betas (0, 0.99).
    let config = TrainConfig::new(
        SelfCondConfig::new(k)
            .with_recluster_every(args.recluster_every)
            .with_feature_batch(500),
    )
    .with_labels(args.labels)
    .with_beta1(0.0)
    .with_beta2(0.99)
    .with_seed(args.seed)
    .with_ema_decay(args.ema_decay);
    let name = benchmark.name();
    eprintln!(
        "{name}: {} iterations, labels {:?}, k = {k}, width {}, seed {}, device {device:?} -> {}",
        args.iters,
        args.labels,
        args.width,
        args.seed,
        args.out_dir(name).display()
    );
    let images = Some(clustering_set.images.clone());
    let (trainer, first) = Trainer::new(config, generator, discriminator, images)?;
    if let Some(r) = first {
        eprintln!(
            "initial clustering of {} images: {} Lloyd iterations, {:.1}s",
            args.cluster_images, r.lloyd_iterations, r.seconds
        );
    }
    Ok(trainer)
}

fn resume_trainer(
    benchmark: Benchmark,
    args: &ImageArgs,
    k: usize,
    clustering_set: &ClusteringSet,
    checkpoint: &Checkpoint,
    device: &Device,
) -> Result<ImageTrainer, Box<dyn std::error::Error>> {
    let (generator, discriminator) = models(benchmark, args, k, device)?;
    let images = Some(clustering_set.images.clone());
    let trainer = Trainer::from_checkpoint(checkpoint, generator, discriminator, images)?;
    eprintln!(
        "{}: resuming {} at iteration {} of {}",
        benchmark.name(),
        args.out_dir(benchmark.name()).display(),
        trainer.iteration(),
        args.iters
    );
    Ok(trainer)
}
