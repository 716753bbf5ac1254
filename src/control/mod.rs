//! Controlling what a trained generator draws.
//!
//! - a discrete handle, the cluster: [`sample_cluster`], [`sample_by_sizes`] and
//!   [`interpolate`] (spherical in `z`, within one cluster);
//! - continuous handles: [`sefa`] finds semantic directions in closed form from the generator's
//!   first layer, and [`invert`] finds the `(z, c)` that reconstructs a given input.
//!
//! Every function takes the generator as trained (on an autodiff device or not) and runs it
//! in inference mode; every random draw comes from the caller's [`SeededRng`].
//!
//! [`SeededRng`]: crate::rng::SeededRng
//!
//! ```
//! use burn::prelude::*;
//! use selfcond_gan::control::{InversionConfig, invert, sample_cluster, sefa};
//! use selfcond_gan::model::Toy2dModelConfig;
//! use selfcond_gan::rng::stream;
//!
//! # fn main() -> selfcond_gan::Result<()> {
//! let device = Device::default().autodiff();
//! let models = Toy2dModelConfig::new(4).with_latent_dim(3).with_generator_width(16);
//! let mut init = stream(0, 2);
//! let generator = models.init_generator(&mut init, &device)?; // or Checkpoint::generator
//! let discriminator = models.init_discriminator(&mut init, &device)?;
//!
//! // The discrete handle: 10 points of cluster 2.
//! let points = sample_cluster(&generator, 2, 10, &mut stream(1, 0))?;
//! assert_eq!(points.dims(), [10, 2]);
//!
//! // A continuous handle: the strongest latent direction, and an edit along it.
//! let directions = sefa(&generator, 2)?;
//! assert!(directions.eigenvalues[0] >= directions.eigenvalues[1]);
//! let edited = directions.edit(&[0.1, -0.4, 0.8], 0, 3.0)?;
//!
//! // Inversion: find z that draws the first point again with cluster 2.
//! let target = points.slice([0..1, 0..2]);
//! let config = InversionConfig::new().with_starts(4).with_steps(100);
//! let found = invert(&generator, &discriminator, target, &[2], &config)?;
//! assert!(found.mse_after[0] <= found.mse_before[0]);
//! # let _ = edited;
//! # Ok(())
//! # }
//! ```

pub mod invert;
pub mod sample;
pub mod sefa;

pub use invert::{
    ClusterInversion, Inversion, InversionConfig, invert, invert_among_clusters, invert_observed,
    psnr,
};
pub use sample::{generate, interpolate, sample_by_sizes, sample_cluster, slerp};
pub use sefa::{SemanticDirections, sefa, sefa_of_weight};
