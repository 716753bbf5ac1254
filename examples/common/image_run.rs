//! The image experiments behind the `stacked_mnist` and `cifar10` examples: train a DCGAN with
//! the chosen label source, draw progress grids, checkpoint, and evaluate at the end.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use selfcond_gan::cluster::cluster_agreement;
use selfcond_gan::data::cifar::{CifarSplit, read_cifar10};
use selfcond_gan::data::folder::read_image_folder;
use selfcond_gan::data::mnist::{MnistSplit, read_mnist};
use selfcond_gan::data::{ImageDataset, StackedMnist};
use selfcond_gan::metrics::{StackedModes, count_stacked_modes};
use selfcond_gan::model::{DcganConfig, DcganDepth, DcganDiscriminator, DcganGenerator};
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::viz::{self, Tiles};
use selfcond_gan::{
    Batch, BatchSource, Checkpoint, LabelMode, SelfCondConfig, TrainConfig, Trainer,
};
use serde::{Deserialize, Serialize};

use super::progress::Progress;

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
    /// Output directory.
    #[arg(long)]
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
    /// Continue the run in this directory from its newest checkpoint.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// The MNIST classifier for mode counting; trained on --data-dir and cached here if absent.
    #[arg(long, default_value = "data/mnist-classifier.bpk")]
    pub classifier: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[arg(skip)]
    #[serde(skip)]
    given: Vec<String>,
}

impl ImageArgs {
    /// Parses the command line, remembering which options were given explicitly.
    pub fn from_command_line() -> Self {
        let matches = Self::command().get_matches();
        let mut args = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        args.given = ["iters", "checkpoint_every", "quiet", "data_dir"]
            .into_iter()
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .map(str::to_string)
            .collect();
        args
    }

    fn resumed(&self, saved: ImageArgs, dir: &Path) -> Self {
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
            data_dir: if given("data_dir") {
                self.data_dir.clone()
            } else {
                saved.data_dir.clone()
            },
            classifier: self.classifier.clone(),
            quiet: self.quiet || (saved.quiet && !given("quiet")),
            out: Some(dir.to_path_buf()),
            resume: Some(dir.to_path_buf()),
            given: self.given.clone(),
            ..saved
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RunState {
    dataset: String,
    args: ImageArgs,
    batch_rng: SeededRng,
    seconds: f64,
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

/// The training images of either benchmark.
enum Source {
    Stacked(StackedMnist),
    Images(ImageDataset),
}

impl Source {
    fn load(benchmark: Benchmark, args: &ImageArgs, dir: &Path) -> selfcond_gan::Result<Self> {
        Ok(match benchmark {
            Benchmark::StackedMnist => Source::Stacked(StackedMnist::new(
                &read_mnist(dir, MnistSplit::Train)?,
                args.train_images,
                args.batch_size,
                &mut stream(args.seed, 0),
                stream(args.seed, 1),
            )?),
            Benchmark::Cifar10 => {
                let images = if dir.join("data_batch_1.bin").is_file() {
                    read_cifar10(dir, CifarSplit::Train)?
                } else {
                    read_image_folder(dir, 32, None)?.images
                };
                Source::Images(ImageDataset::new(
                    images,
                    32,
                    args.batch_size,
                    stream(args.seed, 1),
                )?)
            }
        })
    }

    /// The fixed clustering set: Stacked-MNIST's first triples (already random), or images
    /// spread evenly over the folder, whose classes come one after another.
    fn clustering_set(&self, n: usize, device: &Device) -> (Tensor<4>, Vec<u16>) {
        match self {
            Source::Stacked(s) => s.head(n, device),
            Source::Images(s) => {
                let (len, n) = (s.len(), n.min(s.len()));
                let indices: Vec<usize> = (0..n).map(|i| i * len / n.max(1)).collect();
                let labels = indices.iter().map(|&i| s.label(i) as u16).collect();
                (s.tensor(&indices, device), labels)
            }
        }
    }

    fn batch_rng(&self) -> &SeededRng {
        match self {
            Source::Stacked(s) => s.batch_rng(),
            Source::Images(s) => s.batch_rng(),
        }
    }

    fn set_batch_rng(&mut self, rng: SeededRng) {
        match self {
            Source::Stacked(s) => s.set_batch_rng(rng),
            Source::Images(s) => s.set_batch_rng(rng),
        }
    }
}

impl BatchSource<4> for Source {
    fn next_batch(&mut self, device: &Device) -> selfcond_gan::Result<Batch<4>> {
        match self {
            Source::Stacked(s) => s.next_batch(device),
            Source::Images(s) => s.next_batch(device),
        }
    }
}

/// Runs (or resumes) an image experiment.
pub fn run(benchmark: Benchmark, args: ImageArgs) -> Result<(), Box<dyn std::error::Error>> {
    let name = benchmark.name();
    let device = Device::default().autodiff();
    let (checkpoint, state) = match &args.resume {
        Some(dir) => {
            let checkpoint = Checkpoint::open_latest(dir)?;
            let state: RunState = checkpoint.extra()?;
            if state.dataset != name {
                return Err(format!("{} holds a {} run", dir.display(), state.dataset).into());
            }
            (Some(checkpoint), Some(state))
        }
        None => (None, None),
    };
    let args = match (&state, &args.resume) {
        (Some(state), Some(dir)) => args.resumed(state.args.clone(), dir),
        _ => args,
    };
    let k = match args.labels {
        LabelMode::Unconditional => 1,
        LabelMode::Supervised => match benchmark {
            Benchmark::StackedMnist => selfcond_gan::data::mnist::STACKED_MODES,
            Benchmark::Cifar10 => 10,
        },
        _ => args.k,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("runs/{name}-{:?}-seed{}", args.labels, args.seed).to_lowercase())
    });
    std::fs::create_dir_all(out.join("grids"))?;

    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(benchmark.default_data_dir()));
    let mut data = Source::load(benchmark, &args, &data_dir)?;
    let depth = match benchmark {
        Benchmark::StackedMnist => DcganDepth::Shallow,
        Benchmark::Cifar10 => DcganDepth::Deep,
    };
    let models = DcganConfig::new(k).with_depth(depth).with_width(args.width);
    let mut init = stream(args.seed, 2);
    let generator = models.init_generator(&mut init, &device)?;
    let discriminator = models.init_discriminator(&mut init, &device)?;
    let (clustering_set, clustering_modes) = data.clustering_set(args.cluster_images, &device);

    let started = Instant::now();
    let mut trainer: ImageTrainer = match (&checkpoint, &state) {
        (Some(checkpoint), Some(state)) => {
            data.set_batch_rng(state.batch_rng.clone());
            let trainer = Trainer::from_checkpoint(
                checkpoint,
                generator,
                discriminator,
                Some(clustering_set.clone()),
            )?;
            eprintln!(
                "{name}: resuming {} at iteration {} of {}",
                out.display(),
                trainer.iteration(),
                args.iters
            );
            trainer
        }
        _ => {
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
            eprintln!(
                "{name}: {} iterations, labels {:?}, k = {k}, width {}, seed {}, device {device:?} -> {}",
                args.iters,
                args.labels,
                args.width,
                args.seed,
                out.display()
            );
            let (trainer, first) = Trainer::new(
                config,
                generator,
                discriminator,
                Some(clustering_set.clone()),
            )?;
            if let Some(r) = first {
                eprintln!(
                    "initial clustering of {} images: {} Lloyd iterations, {:.1}s",
                    args.cluster_images, r.lloyd_iterations, r.seconds
                );
            }
            trainer
        }
    };
    let resumed_from = checkpoint.as_ref().map(Checkpoint::iteration);
    let seconds_before = state.as_ref().map_or(0.0, |s| s.seconds);

    let mut progress = Progress::new(args.iters, trainer.iteration(), args.quiet)?;
    let boundaries = [args.checkpoint_every, args.grid_every];
    while trainer.iteration() < args.iters {
        let done = trainer.iteration();
        let stretch = boundaries
            .iter()
            .filter(|&&every| every > 0)
            .map(|&every| every - done % every)
            .min()
            .unwrap_or(usize::MAX)
            .min(args.iters - done);
        trainer.fit(&mut data, stretch, &mut progress)?;
        let now = trainer.iteration();
        if args.grid_every > 0 && now.is_multiple_of(args.grid_every) {
            progress_grid(
                &trainer,
                args.seed,
                &out.join(format!("grids/iter-{now:07}.png")),
            )?;
        }
        if now == args.iters
            || (args.checkpoint_every > 0 && now.is_multiple_of(args.checkpoint_every))
        {
            let state = RunState {
                dataset: name.into(),
                args: args.clone(),
                batch_rng: data.batch_rng().clone(),
                seconds: seconds_before + started.elapsed().as_secs_f64(),
            };
            trainer.save_checkpoint(&out, &state)?;
        }
    }
    progress.bar.finish();
    let seconds = seconds_before + started.elapsed().as_secs_f64();

    // Evaluation samples, by the empirical cluster distribution: saved as uint8
    // [N, 32, 32, 3]; on Stacked-MNIST also classified channel by channel for the mode count.
    let classifier = match benchmark {
        Benchmark::StackedMnist => Some(super::classifier::load_or_train(
            &args.classifier,
            &data_dir,
            &device.clone().inner(),
            args.quiet,
        )?),
        Benchmark::Cifar10 => None,
    };
    let classes = trainer.sample_classes(args.eval_samples);
    let mut samples = Vec::with_capacity(args.eval_samples * 3 * 32 * 32);
    let mut counts = vec![0u32; selfcond_gan::data::mnist::STACKED_MODES];
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
    progress_grid(&trainer, args.seed, &out.join("samples.png"))?;

    let mut metrics = RunMetrics {
        dataset: name.into(),
        labels: args.labels,
        ema_decay: args.ema_decay,
        k,
        width: args.width,
        seed: args.seed,
        iterations: args.iters,
        seconds,
        seconds_per_iteration: seconds / args.iters.max(1) as f64,
        eval_samples: classes.len(),
        modes: modes.as_ref().map(|m| m.modes),
        reverse_kl: modes.as_ref().map(|m| m.reverse_kl),
        reverse_kl_log10: modes.as_ref().map(|m| m.reverse_kl_log10),
        classifier_accuracy: classifier.as_ref().and_then(|(_, a)| *a),
        cluster_nmi: None,
        cluster_purity: None,
        cluster_ari: None,
        non_empty_clusters: None,
        backend: format!("{device:?}"),
        resumed_from,
        peak_rss_mib: progress.rss_mib.iter().map(|&(_, m)| m).reduce(f64::max),
    };
    if let Some(conditioner) = trainer.conditioner() {
        let found = conditioner.clustering_labels();
        let truth: Vec<i64> = clustering_modes.iter().map(|&m| m as i64).collect();
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
            &trainer,
            &clustering_set,
            args.seed,
            &out.join("clusters.png"),
        )?;
    }
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    println!(
        "{name} {:?} seed {}: {}{} iterations in {:.0}s ({:.2} s/iter), cluster NMI {}",
        args.labels,
        args.seed,
        modes.as_ref().map_or(String::new(), |m| format!(
            "modes {}/1000, reverse KL {:.3}, ",
            m.modes, m.reverse_kl
        )),
        args.iters,
        seconds,
        metrics.seconds_per_iteration,
        metrics
            .cluster_nmi
            .map_or("-".into(), |v| format!("{v:.3}"))
    );
    Ok(())
}

/// A 10 x 10 grid: one row per class (the first ten, or fewer), from a fixed latent stream so
/// grids of one run are comparable over time.
fn progress_grid(
    trainer: &ImageTrainer,
    seed: u64,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let k = trainer.config().selfcond.k;
    let classes: Vec<i64> = (0..10).flat_map(|c| [(c % k) as i64; 10]).collect();
    let images = viz::to_bytes(trainer.generate_with(&classes, 100, &mut stream(seed, 7))?)?;
    let tiles = Tiles {
        pixels: &images,
        channels: 3,
        side: 32,
    };
    viz::save_png(&viz::grid(tiles, 10)?, path)?;
    Ok(())
}

/// The paper's Figure 1: for the ten largest clusters, real images of the cluster beside
/// images generated for it.
fn cluster_figure(
    trainer: &ImageTrainer,
    clustering_set: &Tensor<4>,
    seed: u64,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(conditioner) = trainer.conditioner() else {
        return Ok(());
    };
    let sizes = conditioner.cluster_sizes();
    let mut largest: Vec<usize> = (0..sizes.len()).collect();
    largest.sort_by_key(|&c| std::cmp::Reverse(sizes[c]));
    largest.truncate(10);
    let labels = conditioner.clustering_labels();
    let real_set = clustering_set.clone().without_autodiff();
    let per_side = 8;
    let mut rows = Vec::new();
    for &cluster in &largest {
        let members: Vec<i64> = (0..labels.len())
            .filter(|&i| labels[i] == cluster as i64)
            .take(per_side)
            .map(|i| i as i64)
            .collect();
        let real = if members.is_empty() {
            Vec::new()
        } else {
            let index = Tensor::<1, Int>::from_data(
                burn::tensor::TensorData::new(members.clone(), [members.len()]),
                &real_set.device(),
            );
            viz::to_bytes(real_set.clone().select(0, index))?
        };
        let fake = viz::to_bytes(trainer.generate_with(
            &[cluster as i64; 8],
            8,
            &mut stream(seed, 8 + cluster as u64),
        )?)?;
        rows.push((real, fake));
    }
    fn tile(pixels: &[u8]) -> Tiles<'_> {
        Tiles {
            pixels,
            channels: 3,
            side: 32,
        }
    }
    let tiles: Vec<(Tiles, Tiles)> = rows
        .iter()
        .map(|(real, fake)| (tile(real), tile(fake)))
        .collect();
    viz::save_png(&viz::cluster_rows(&tiles, per_side)?, path)?;
    Ok(())
}
