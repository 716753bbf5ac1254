//! # selfcond-gan
//!
//! Self-conditioned GANs (Liu, Wang, Bau, Zhu, Torralba, *Diverse Image Generation via
//! Self-Conditioned GANs*, CVPR 2020) on [Burn](https://burn.dev).
//!
//! A class-conditional GAN is trained without labels: the classes are k-means clusters of the
//! discriminator's own features, re-fitted every few thousand iterations and matched to the
//! previous clusters with the Hungarian method so the generator's targets stay stable. Because
//! the generator must produce every cluster, it cannot drop modes.
//!
//! The pieces, each usable alone:
//! - [`model`]: the traits a conditional generator and a split discriminator implement, the
//!   blocks they use, and the paper's 2D and DCGAN architectures;
//! - [`ops`]: the operations the models call (convolutions, batch norm, activations, Adam),
//!   each running Burn's kernel or the crate's own, whichever is faster for the backend;
//! - [`cluster`]: k-means on device and Hungarian cluster matching;
//! - [`selfcond`]: the reclustering scheduler that labels batches;
//! - [`train`]: the trainer, with self-conditioned, supervised, unconditional and random labels;
//! - [`checkpoint`]: crash-safe checkpoints and bit-exact resume;
//! - [`control`]: sampling by cluster, SeFa directions, interpolation and latent inversion;
//! - [`data`]: the 2D ring and grid benchmarks and their metrics, MNIST / Stacked-MNIST and
//!   CIFAR-10 readers;
//! - [`metrics`]: the MNIST classifier, Stacked-MNIST mode counting, FID with the standard
//!   Inception-v3 weights, KID, precision / recall and density / coverage;
//! - [`viz`]: sample grids and the paper's per-cluster figure as PNG.
//!
//! ## Example: a few iterations on the 2D ring
//!
//! ```
//! use burn::prelude::*;
//! use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
//! use selfcond_gan::model::Toy2dModelConfig;
//! use selfcond_gan::rng::{seeded, stream};
//! use selfcond_gan::selfcond::SelfCondConfig;
//! use selfcond_gan::train::{TrainConfig, Trainer};
//!
//! # fn main() -> selfcond_gan::Result<()> {
//! let device = Device::default().autodiff();
//! let seed = 7;
//! let k = 8;
//! let mut data = Toy2dDataset::new(
//!     GaussianMixture2d::ring(2.0)?, 1_000, 64, &mut stream(seed, 0), stream(seed, 1),
//! )?;
//! let models = Toy2dModelConfig::new(k).with_generator_width(32).with_maxout_units(16);
//! let mut init = stream(seed, 2);
//! let generator = models.init_generator(&mut init, &device)?;
//! let discriminator = models.init_discriminator(&mut init, &device)?;
//! let config = TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(5)).with_seed(seed);
//! let clustering_set = data.head_tensor(500, &device);
//! let (mut trainer, first) = Trainer::new(config, generator, discriminator, Some(clustering_set))?;
//! assert_eq!(first.unwrap().sizes.iter().sum::<usize>(), 500);
//! trainer.fit(&mut data, 10, &mut ())?;
//! let classes = trainer.sample_classes(100);
//! let points = trainer.generate(&classes, 50)?;
//! assert_eq!(points.dims(), [100, 2]);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod cluster;
pub mod control;
pub mod data;
pub mod error;
pub mod host;
mod kernels;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod ops;
pub mod rng;
pub mod selfcond;
pub mod train;
pub mod viz;
mod weight_average;

pub use checkpoint::Checkpoint;
pub use error::{Error, Result};
pub use selfcond::{Clusters, ReclusterReport, SelfCondConfig, SelfConditioner};
pub use train::{Batch, BatchSource, LabelMode, StepStats, TrainConfig, TrainObserver, Trainer};
