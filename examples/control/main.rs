//! Control what a trained generator draws: samples of one cluster, SeFa traversals, latent
//! interpolation and inversion of given inputs. Works on the newest checkpoint of a run written
//! by the `ring`, `grid`, `stacked_mnist` or `cifar10` example.
//!
//! ```text
//! cargo run --release --example ring -- --iters 20000 --out runs/ring-20k
//! cargo run --release --example control -- --run runs/ring-20k sample --cluster 3
//! cargo run --release --example control -- --run runs/ring-20k invert --held-out 1000
//! ```
//!
//! Pictures, arrays and a `*.json` summary go to `--out` (default `<run>/control`).

mod images;
mod loaded;
mod toy;

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::{Parser, Subcommand};
use selfcond_gan::control::InversionConfig;
use selfcond_gan::rng::stream;

use loaded::{Loaded, load};

/// Control a trained self-conditioned GAN.
#[derive(Parser, Debug)]
struct Cli {
    /// Run directory of a training example (its newest checkpoint is used).
    #[arg(long)]
    run: PathBuf,
    /// Output directory (default: <run>/control).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the latents drawn here.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Samples of one cluster, or of clusters drawn by their sizes.
    Sample {
        /// The cluster (default: drawn by the empirical cluster distribution).
        #[arg(long)]
        cluster: Option<usize>,
        /// How many (default: 64 images or 5,000 points).
        #[arg(long)]
        n: Option<usize>,
    },
    /// Closed-form semantic directions (SeFa) and a traversal grid along them.
    Sefa {
        /// Directions (default: 5, at most the latent width).
        #[arg(long)]
        directions: Option<usize>,
        /// Latents to traverse from.
        #[arg(long, default_value_t = 3)]
        latents: usize,
        /// Step sizes along each direction.
        #[arg(
            long,
            value_delimiter = ',',
            allow_hyphen_values = true,
            default_value = "-3,-2,-1,0,1,2,3"
        )]
        alphas: Vec<f32>,
        /// Cluster of the latents (default: drawn by cluster size).
        #[arg(long)]
        cluster: Option<usize>,
    },
    /// Spherical interpolation between random latents within a cluster.
    Interpolate {
        /// Pairs of end points.
        #[arg(long, default_value_t = 4)]
        pairs: usize,
        /// Points along each path, ends included.
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// The cluster (default: drawn by cluster size, per pair).
        #[arg(long)]
        cluster: Option<usize>,
    },
    /// Find (z, c) reconstructing given inputs.
    Invert {
        /// Image files (PNG or JPEG, 32 x 32 RGB) to invert.
        #[arg(long, num_args = 1..)]
        images: Vec<PathBuf>,
        /// Invert this many held-out inputs instead: fresh points of the 2D mixture, MNIST test
        /// triples or CIFAR-10 test images (default 1,000 points or 100 images).
        #[arg(long)]
        held_out: Option<usize>,
        /// Where the held-out images are (default: the run's data, test split).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Random starts per input.
        #[arg(long, default_value_t = 8)]
        starts: usize,
        /// Adam steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Adam learning rate on z.
        #[arg(long, default_value_t = 0.05)]
        lr: f64,
        /// Weight of the discriminator-feature distance beside pixel MSE.
        #[arg(long, default_value_t = 1.0)]
        feature_weight: f64,
        /// Try each input's this many nearest clusters and keep the best reconstruction (1: the
        /// nearest only, as the conditioner labels it).
        #[arg(long, default_value_t = 1)]
        candidates: usize,
        /// Inputs optimised together.
        #[arg(long, default_value_t = 50)]
        chunk: usize,
    },
}

fn main() -> ExitCode {
    selfcond_gan_runner::alloc::keep_freed_memory();
    selfcond_gan_runner::report(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::default().autodiff();
    let (loaded, info) = load(&cli.run, &device)?;
    let out = cli.out.clone().unwrap_or_else(|| cli.run.join("control"));
    std::fs::create_dir_all(&out)?;
    eprintln!(
        "control: {} run {} at iteration {} -> {}",
        info.dataset,
        cli.run.display(),
        info.iteration,
        out.display()
    );
    let mut rng = stream(cli.seed, 100);
    match (cli.command, loaded) {
        (Command::Sample { cluster, n }, Loaded::Toy { gan, mixture }) => {
            toy::sample(&gan, &mixture, cluster, n.unwrap_or(5_000), &mut rng, &out)
        }
        (Command::Sample { cluster, n }, Loaded::Images { gan, .. }) => {
            images::sample(&gan, cluster, n.unwrap_or(64), &mut rng, &out)
        }
        (
            Command::Sefa {
                directions,
                latents,
                alphas,
                cluster,
            },
            Loaded::Toy { gan, mixture },
        ) => toy::sefa(
            &gan, &mixture, directions, latents, &alphas, cluster, &mut rng, &out,
        ),
        (
            Command::Sefa {
                directions,
                latents,
                alphas,
                cluster,
            },
            Loaded::Images { gan, .. },
        ) => images::sefa(&gan, directions, latents, &alphas, cluster, &mut rng, &out),
        (
            Command::Interpolate {
                pairs,
                steps,
                cluster,
            },
            Loaded::Toy { gan, mixture },
        ) => toy::interpolate(&gan, &mixture, pairs, steps, cluster, &mut rng, &out),
        (
            Command::Interpolate {
                pairs,
                steps,
                cluster,
            },
            Loaded::Images { gan, .. },
        ) => images::interpolate(&gan, pairs, steps, cluster, &mut rng, &out),
        (
            Command::Invert {
                images: files,
                held_out,
                data_dir,
                starts,
                steps,
                lr,
                feature_weight,
                candidates,
                chunk,
            },
            loaded,
        ) => {
            let config = InversionConfig::new()
                .with_starts(starts)
                .with_steps(steps)
                .with_learning_rate(lr)
                .with_feature_weight(feature_weight)
                .with_seed(cli.seed);
            match loaded {
                Loaded::Toy { gan, mixture } => {
                    if !files.is_empty() {
                        return Err("a 2D run inverts points: use --held-out N".into());
                    }
                    toy::invert(
                        &gan,
                        &mixture,
                        held_out.unwrap_or(1_000),
                        candidates,
                        &config,
                        info.seed,
                        &out,
                    )
                }
                Loaded::Images {
                    gan,
                    benchmark,
                    data_dir: run_data,
                } => {
                    let targets = if files.is_empty() {
                        let dir = data_dir.unwrap_or(run_data);
                        images::held_out(&benchmark, &dir, held_out.unwrap_or(100), info.seed)?
                    } else {
                        images::read_files(&files)?
                    };
                    images::invert(&gan, &targets, candidates, &config, chunk, &out)
                }
            }
        }
    }
}
