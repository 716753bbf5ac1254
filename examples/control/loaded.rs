//! A trained run, read back from its newest checkpoint: the generator, the discriminator, the
//! clusters, and what the run was trained on.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use selfcond_gan::control::{Inversion, InversionConfig, invert_among_clusters, invert_observed};
use selfcond_gan::data::GaussianMixture2d;
use selfcond_gan::model::{
    ConditionalGenerator, DcganConfig, DcganDepth, DcganDiscriminator, DcganGenerator,
    Discriminator, Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig,
};
use selfcond_gan::rng::{SeededRng, normal_tensor, stream};
use selfcond_gan::{Checkpoint, Clusters};
use serde::Deserialize;

/// The trained networks of one run.
pub struct Gan<G, M, const R: usize> {
    pub generator: G,
    pub discriminator: M,
    /// `None` unless the run was self-conditioned.
    pub clusters: Option<Clusters<M, R>>,
}

impl<G: ConditionalGenerator<R>, M: Discriminator<R>, const R: usize> Gan<G, M, R> {
    fn load(checkpoint: &Checkpoint, generator: G, discriminator: M) -> selfcond_gan::Result<Self> {
        Ok(Self {
            generator: checkpoint.generator(generator)?,
            clusters: checkpoint.clusters(discriminator.clone())?,
            discriminator: checkpoint.discriminator(discriminator)?,
        })
    }

    pub fn k(&self) -> usize {
        self.generator.num_classes()
    }

    /// `n` classes as training drew them: by cluster size when self-conditioned, else uniform.
    pub fn draw_classes(&self, n: usize, rng: &mut SeededRng) -> Vec<i64> {
        match &self.clusters {
            Some(c) => c.sample_labels(n, rng),
            None => (0..n)
                .map(|_| rand::Rng::random_range(rng, 0..self.k()) as i64)
                .collect(),
        }
    }

    /// `rows` latents `z ~ N(0, I)`, row-major on the host.
    pub fn draw_latents(&self, rows: usize, rng: &mut SeededRng) -> selfcond_gan::Result<Vec<f32>> {
        let latent = self.generator.latent_dim();
        selfcond_gan::host::floats(normal_tensor(rng, rows, latent, &Default::default()))
    }

    /// `cluster` when given, else one class drawn as training drew them.
    pub fn class_or_drawn(&self, cluster: Option<usize>, rng: &mut SeededRng) -> i64 {
        cluster.map_or_else(|| self.draw_classes(1, rng)[0], |c| c as i64)
    }

    /// Inverts `targets`: among each one's `candidates` nearest clusters when self-conditioned,
    /// with the single class of an unconditional model otherwise. Returns the inversion and,
    /// when there are clusters, the conditioner's own labels.
    pub fn invert(
        &self,
        targets: Tensor<R>,
        candidates: usize,
        config: &InversionConfig,
        on_step: impl FnMut(usize),
    ) -> Result<Inverted<R>, Box<dyn std::error::Error>> {
        match &self.clusters {
            Some(clusters) => {
                let found = invert_among_clusters(
                    &self.generator,
                    &self.discriminator,
                    clusters,
                    targets,
                    candidates,
                    config,
                    on_step,
                )?;
                Ok((found.inversion, Some(found.assigned)))
            }
            None if self.k() == 1 => {
                let classes = vec![0; targets.dims()[0]];
                let found = invert_observed(
                    &self.generator,
                    &self.discriminator,
                    targets,
                    &classes,
                    config,
                    on_step,
                )?;
                Ok((found, None))
            }
            None => Err(format!(
                "this run has {} classes but no clusters (not self-conditioned): inversion \
                 cannot choose a class",
                self.k()
            )
            .into()),
        }
    }
}

/// An inversion and, when there are clusters, the conditioner's labels of the inputs.
pub type Inverted<const R: usize> = (Inversion<R>, Option<Vec<i64>>);

/// Either kind of run (boxed: the networks are large and the two differ in size).
pub enum Loaded {
    Toy {
        gan: Box<Gan<Toy2dGenerator, Toy2dDiscriminator, 2>>,
        mixture: GaussianMixture2d,
    },
    Images {
        gan: Box<Gan<DcganGenerator, DcganDiscriminator, 4>>,
        benchmark: String,
        data_dir: PathBuf,
    },
}

/// The settings a training example saves with its checkpoints (the part needed here).
#[derive(Deserialize)]
struct Saved {
    dataset: String,
    args: SavedArgs,
}

#[derive(Deserialize)]
struct SavedArgs {
    seed: u64,
    #[serde(default)]
    radius: Option<f32>,
    #[serde(default)]
    width: Option<usize>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
}

/// What `load` found besides the networks.
pub struct RunInfo {
    pub dataset: String,
    pub iteration: usize,
    pub seed: u64,
}

/// Reads the newest checkpoint of `run` (written by the ring, grid, stacked_mnist or cifar10
/// example) onto `device`.
pub fn load(run: &Path, device: &Device) -> Result<(Loaded, RunInfo), Box<dyn std::error::Error>> {
    let checkpoint = Checkpoint::open_latest(run)?;
    let saved: Saved = checkpoint.extra()?;
    let k = checkpoint.config().selfcond.k;
    let mut init = stream(0, 0); // every parameter is overwritten by the checkpoint
    let loaded = match saved.dataset.as_str() {
        "ring" | "grid" => {
            let mixture = if saved.dataset == "ring" {
                GaussianMixture2d::ring(saved.args.radius.unwrap_or(2.0))?
            } else {
                GaussianMixture2d::grid()
            };
            let models = Toy2dModelConfig::new(k);
            let g = models.init_generator(&mut init, device)?;
            let d = models.init_discriminator(&mut init, device)?;
            Loaded::Toy {
                gan: Box::new(Gan::load(&checkpoint, g, d)?),
                mixture,
            }
        }
        "stacked_mnist" | "cifar10" => {
            let (depth, default_dir) = if saved.dataset == "stacked_mnist" {
                (DcganDepth::Shallow, "data/mnist")
            } else {
                (DcganDepth::Deep, "data/cifar10/train")
            };
            let width = saved
                .args
                .width
                .ok_or("the checkpoint does not record --width")?;
            let models = DcganConfig::new(k).with_depth(depth).with_width(width);
            let g = models.init_generator(&mut init, device)?;
            let d = models.init_discriminator(&mut init, device)?;
            Loaded::Images {
                gan: Box::new(Gan::load(&checkpoint, g, d)?),
                benchmark: saved.dataset.clone(),
                data_dir: saved.args.data_dir.unwrap_or_else(|| default_dir.into()),
            }
        }
        other => return Err(format!("{}: unknown data set `{other}`", run.display()).into()),
    };
    Ok((
        loaded,
        RunInfo {
            dataset: saved.dataset,
            iteration: checkpoint.iteration(),
            seed: saved.args.seed,
        },
    ))
}
