//! Model traits and the reference architectures.
//!
//! A self-conditioned GAN needs two things from its networks: a generator that takes a class
//! `c` beside its latent `z`, and a discriminator split into a feature trunk `D_f` (used for
//! clustering) and a linear head `D_h` with one logit per class.

pub mod blocks;
pub mod dcgan;
pub mod init;
pub mod norm;
pub mod toy2d;

use burn::module::Module;
use burn::prelude::*;

pub use blocks::{LatentEmbeddingConcat, Maxout, mask_logits};
pub use dcgan::{DcganConfig, DcganDepth, DcganDiscriminator, DcganGenerator};
pub use norm::BatchNorm;
pub use toy2d::{Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig};

/// The device a module's parameters live on (the default device for a module without any).
pub(crate) fn device_of<M: Module>(module: &M) -> Device {
    module.devices().first().cloned().unwrap_or_default()
}

/// A generator `G(z, c)` producing samples of rank `R` (2 for points, 4 for images).
pub trait ConditionalGenerator<const R: usize>: Module + Clone {
    /// Width of the latent code `z`.
    fn latent_dim(&self) -> usize;
    /// Number of classes `c` can take.
    fn num_classes(&self) -> usize;
    /// `z: [B, latent_dim]`, `c: [B]` with values in `0..num_classes` -> samples `[B, ...]`.
    fn forward(&self, z: Tensor<2>, c: Tensor<1, Int>) -> Tensor<R>;
}

/// A generator whose first layer is affine in the latent code: `y = A z + B emb(c) + b`.
///
/// SeFa ([`crate::control::sefa`]) factorises `A` to find the latent directions that move the
/// first layer's output most.
pub trait LatentAffine {
    /// `A`, `[outputs, latent_dim]`: the columns of the first layer's weight that multiply `z`
    /// (not those that multiply the class embedding).
    fn latent_weight(&self) -> Tensor<2>;
}

/// A class-conditional discriminator `D(x, c) = D_h(D_f(x))[c]`.
pub trait Discriminator<const R: usize>: Module + Clone {
    /// Number of classes (columns of the head).
    fn num_classes(&self) -> usize;
    /// Width of the feature vector `D_f(x)`.
    fn feature_dim(&self) -> usize;
    /// The trunk `D_f`: `[B, ...] -> [B, feature_dim]`.
    fn features(&self, x: Tensor<R>) -> Tensor<2>;
    /// The head `D_h`: `[B, feature_dim] -> [B, num_classes]` logits.
    fn head_logits(&self, features: Tensor<2>) -> Tensor<2>;
    /// True when each sample's logits depend on that sample alone (no BatchNorm in training
    /// mode). The trainer then scores real and fake batches in one forward pass: the same
    /// losses up to rounding, with half the operations, which shortens a 2D step measurably
    /// (`docs/performance.md`, "What runs on the CPU, and why"). The default, false, keeps them
    /// apart, as the reference code does, so batch statistics never mix real and fake samples.
    fn is_per_sample(&self) -> bool {
        false
    }
    /// The conditional logit `[B]`: column `c` of the head's output.
    fn forward(&self, x: Tensor<R>, c: Tensor<1, Int>) -> Tensor<1> {
        mask_logits(self.head_logits(self.features(x)), c)
    }
}
