//! The backend boundary: the operations the models and the trainer call, each of which decides
//! here, and only here, whether Burn's kernel or one of the crate's own runs.
//!
//! Every operation gives Burn's values and gradients (bit for bit where the docs say so, to
//! float rounding elsewhere, tested against Burn's own op); only the speed depends on the
//! choice. On flex (CPU) the crate's kernels in `kernels::flex` take the shapes where they beat
//! Burn's; other backends run Burn's kernels, with a few layers rewritten as matrix products
//! that every backend runs faster (see [`conv2d`]). `docs/performance.md` has the measurements
//! behind each choice.
//!
//! - [`conv2d`], [`conv_transpose2d`]: `conv.forward(x)` for Burn's convolution layers;
//! - [`batch_norm_train`]: batch statistics and the normalised activation;
//! - [`leaky_relu`], [`maxout`]: activations;
//! - [`adam`]: the optimiser.

mod activation;
mod adam;
pub(crate) mod batch_norm;
mod conv;

pub use activation::{leaky_relu, maxout};
pub use adam::adam;
pub use batch_norm::batch_norm_train;
pub use conv::{conv_transpose2d, conv2d};
