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

pub mod invert;
pub mod sample;
pub mod sefa;

pub use invert::{
    ClusterInversion, Inversion, InversionConfig, invert, invert_among_clusters, invert_observed,
    psnr,
};
pub use sample::{generate, interpolate, sample_by_sizes, sample_cluster, slerp};
pub use sefa::{SemanticDirections, sefa, sefa_of_weight};
