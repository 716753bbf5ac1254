//! The paper's image architectures: DCGAN-shallow (Stacked-MNIST) and DCGAN-deep (CIFAR-10).
//!
//! Both share one generator: `[z, emb(c)/|emb(c)|]` -> Linear -> 4 x 4 x 8w -> three
//! 4 x 4 stride-2 transposed convolutions with BatchNorm and ReLU -> 3 x 3 convolution -> tanh,
//! giving 32 x 32 images in [-1, 1]. The discriminators differ in their trunk `D_f`:
//!
//! - shallow: 4 x [Conv 4x4 s2 + BatchNorm + LeakyReLU 0.2], 3 -> w -> 2w -> 4w -> 8w,
//!   features 8w * 2 * 2 (2,048 at w = 64);
//! - deep: 7 convolutions alternating 3x3 s1 and 4x4 s2, LeakyReLU 0.1, no normalisation,
//!   features 8w * 4 * 4 (8,192 at w = 64).
//!
//! The head `D_h` is a Linear(features -> k) whose column `c` is the conditional logit.

use burn::nn::Linear;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::blocks::{LatentEmbeddingConcat, latent_columns};
use crate::model::norm::BatchNorm;
use crate::model::{ConditionalGenerator, Discriminator, LatentAffine, init};
use crate::ops::{conv_transpose2d, conv2d, leaky_relu};
use crate::rng::SeededRng;

/// Which discriminator trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DcganDepth {
    /// Four stride-2 convolutions with BatchNorm (Stacked-MNIST).
    Shallow,
    /// Seven convolutions without normalisation (CIFAR-10).
    Deep,
}

/// Sizes of a DCGAN pair; defaults are the paper's.
#[derive(Config, Debug)]
pub struct DcganConfig {
    /// Number of classes `k`.
    pub num_classes: usize,
    /// Discriminator trunk.
    #[config(default = "DcganDepth::Shallow")]
    pub depth: DcganDepth,
    /// Width of the latent code `z`.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Width of the class embedding.
    #[config(default = 256)]
    pub embedding_dim: usize,
    /// Channel multiplier `w` of both networks (`ngf` = `ndf` in the reference code).
    #[config(default = 64)]
    pub width: usize,
    /// Image channels.
    #[config(default = 3)]
    pub channels: usize,
}

/// Images are 32 x 32.
pub const DCGAN_IMAGE_SIZE: usize = 32;

impl DcganConfig {
    /// Rejects sizes that cannot build a network.
    pub fn check(&self) -> Result<()> {
        Error::require_positive(&[
            ("num_classes", self.num_classes),
            ("latent_dim", self.latent_dim),
            ("embedding_dim", self.embedding_dim),
            ("width", self.width),
            ("channels", self.channels),
        ])
    }

    /// Width of `D_f`'s output.
    pub fn feature_dim(&self) -> usize {
        let side = match self.depth {
            DcganDepth::Shallow => 2,
            DcganDepth::Deep => 4,
        };
        8 * self.width * side * side
    }

    /// A generator initialised from `rng` as PyTorch initialises the reference.
    pub fn init_generator(&self, rng: &mut SeededRng, device: &Device) -> Result<DcganGenerator> {
        self.check()?;
        let w = self.width;
        let embedding =
            LatentEmbeddingConcat::new(rng, self.num_classes, self.embedding_dim, device);
        let project = init::linear(
            rng,
            self.latent_dim + self.embedding_dim,
            16 * 8 * w,
            device,
        );
        let widths = [8 * w, 4 * w, 2 * w, w];
        let mut upsample = Vec::new();
        let mut norms = Vec::new();
        for pair in widths.windows(2) {
            upsample.push(init::conv_transpose2d(
                rng,
                [pair[0], pair[1]],
                4,
                2,
                1,
                device,
            ));
            norms.push(init::batch_norm(pair[1], device));
        }
        let output = init::conv2d(rng, [w, self.channels], 3, 1, 1, device);
        Ok(DcganGenerator {
            embedding,
            project,
            upsample,
            norms,
            output,
            latent_dim: self.latent_dim,
            width: w,
        })
    }

    /// A discriminator of the configured depth, initialised from `rng`.
    pub fn init_discriminator(
        &self,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<DcganDiscriminator> {
        self.check()?;
        let (w, c) = (self.width, self.channels);
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let slope = match self.depth {
            DcganDepth::Shallow => {
                for [from, to] in [[c, w], [w, 2 * w], [2 * w, 4 * w], [4 * w, 8 * w]] {
                    convs.push(init::conv2d(rng, [from, to], 4, 2, 1, device));
                    norms.push(init::batch_norm(to, device));
                }
                0.2
            }
            DcganDepth::Deep => {
                let layers = [
                    ([c, w], 3, 1),
                    ([w, w], 4, 2),
                    ([w, 2 * w], 3, 1),
                    ([2 * w, 2 * w], 4, 2),
                    ([2 * w, 4 * w], 3, 1),
                    ([4 * w, 4 * w], 4, 2),
                    ([4 * w, 8 * w], 3, 1),
                ];
                for (channels, kernel, stride) in layers {
                    convs.push(init::conv2d(rng, channels, kernel, stride, 1, device));
                }
                0.1
            }
        };
        let feature_dim = self.feature_dim();
        Ok(DcganDiscriminator {
            convs,
            norms,
            head: init::linear(rng, feature_dim, self.num_classes, device),
            slope,
            feature_dim,
        })
    }
}

/// The shared DCGAN generator.
#[derive(Module, Debug)]
pub struct DcganGenerator {
    embedding: LatentEmbeddingConcat,
    project: Linear,
    upsample: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm>,
    output: Conv2d,
    latent_dim: usize,
    width: usize,
}

impl ConditionalGenerator<4> for DcganGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn num_classes(&self) -> usize {
        self.embedding.num_classes()
    }

    fn forward(&self, z: Tensor<2>, c: Tensor<1, Int>) -> Tensor<4> {
        let batch = z.dims()[0];
        let x = self.project.forward(self.embedding.forward(z, c));
        let mut x = x.reshape([batch, 8 * self.width, 4, 4]);
        for (conv, norm) in self.upsample.iter().zip(&self.norms) {
            x = relu(norm.forward(conv_transpose2d(conv, x)));
        }
        tanh(conv2d(&self.output, x))
    }
}

impl LatentAffine for DcganGenerator {
    /// The projection `Linear(z + embedding -> 4 x 4 x 8w)` restricted to `z`.
    fn latent_weight(&self) -> Tensor<2> {
        latent_columns(&self.project, self.latent_dim)
    }
}

/// A DCGAN discriminator split into the trunk `D_f` and the masked linear head `D_h`.
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    convs: Vec<Conv2d>,
    /// One per convolution for the shallow trunk, none for the deep one.
    norms: Vec<BatchNorm>,
    head: Linear,
    slope: f64,
    feature_dim: usize,
}

impl Discriminator<4> for DcganDiscriminator {
    fn num_classes(&self) -> usize {
        self.head.weight.shape().dims::<2>()[1]
    }

    fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let batch = x.dims()[0];
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv2d(conv, x);
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(x);
            }
            x = leaky_relu(x, self.slope);
        }
        x.reshape([batch, self.feature_dim])
    }

    fn head_logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }

    /// The deep trunk has no BatchNorm, so the trainer scores real and fake in one pass: with
    /// the Winograd convolutions on flex that takes less CPU time per deep step than two passes
    /// (`perf stat` task-clock of `image_step_speed --depth deep`; `docs/performance.md`).
    fn is_per_sample(&self) -> bool {
        self.norms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{int_tensor, normal_tensor, seeded};

    #[test]
    fn shapes_and_feature_widths_follow_the_paper() {
        let device = Device::default();
        for (depth, full_features) in [(DcganDepth::Shallow, 2048), (DcganDepth::Deep, 8192)] {
            assert_eq!(
                DcganConfig::new(10).with_depth(depth).feature_dim(),
                full_features
            );
            let config = DcganConfig::new(5)
                .with_depth(depth)
                .with_width(4)
                .with_latent_dim(8)
                .with_embedding_dim(6);
            let mut rng = seeded(0);
            let g = config.init_generator(&mut rng, &device).unwrap();
            let d = config.init_discriminator(&mut rng, &device).unwrap();
            let z = normal_tensor(&mut rng, 3, 8, &device);
            let images = g.forward(z, int_tensor(vec![0, 4, 2], &device));
            assert_eq!(images.dims(), [3, 3, 32, 32]);
            let values = crate::host::floats(images.clone()).unwrap();
            assert!(values.iter().all(|v| v.abs() <= 1.0), "tanh output");
            let features = d.features(images.clone());
            assert_eq!(features.dims(), [3, config.feature_dim()]);
            assert_eq!(d.num_classes(), 5);
            let logits = d.forward(images, int_tensor(vec![1, 1, 3], &device));
            assert_eq!(logits.dims(), [3]);
        }
        assert!(matches!(
            DcganConfig::new(3)
                .with_width(0)
                .init_generator(&mut seeded(0), &device),
            Err(Error::InvalidConfig { field: "width", .. })
        ));
    }

    /// Only the deep trunk claims per-sample scores, and it has them: each image's features are
    /// the same in a batch of one as in a batch with others.
    #[test]
    fn only_the_deep_trunk_scores_each_image_alone() {
        let device = Device::default();
        for (depth, per_sample) in [(DcganDepth::Shallow, false), (DcganDepth::Deep, true)] {
            let config = DcganConfig::new(5).with_depth(depth).with_width(4);
            let d = config.init_discriminator(&mut seeded(1), &device).unwrap();
            assert_eq!(d.is_per_sample(), per_sample, "{depth:?}");
            if !per_sample {
                continue;
            }
            let images =
                normal_tensor(&mut seeded(2), 3, 3 * 32 * 32, &device).reshape([3, 3, 32, 32]);
            let together = crate::host::floats(d.features(images.clone())).unwrap();
            let alone = crate::host::floats(d.features(images.slice(1..2))).unwrap();
            let width = config.feature_dim();
            for (a, b) in alone.iter().zip(&together[width..2 * width]) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} against {b}");
            }
        }
    }
}
