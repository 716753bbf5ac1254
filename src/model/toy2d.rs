//! The reference architectures of the paper's 2D experiments.

use burn::nn::{BatchNorm, Linear, Relu};
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::model::blocks::{LatentEmbeddingConcat, Maxout};
use crate::model::{ConditionalGenerator, Discriminator, init};
use crate::rng::SeededRng;

/// Sizes of the 2D generator and discriminator. Defaults are the paper's.
#[derive(Config, Debug)]
pub struct Toy2dModelConfig {
    /// Number of classes (clusters) `k`.
    pub num_classes: usize,
    /// Width of the latent code.
    #[config(default = 2)]
    pub latent_dim: usize,
    /// Width of the class embedding.
    #[config(default = 32)]
    pub embedding_dim: usize,
    /// Width of the generator's hidden layers.
    #[config(default = 400)]
    pub generator_width: usize,
    /// Number of `Linear + BatchNorm + ReLU` blocks in the generator.
    #[config(default = 4)]
    pub generator_depth: usize,
    /// Units of each Maxout layer of the discriminator.
    #[config(default = 200)]
    pub maxout_units: usize,
    /// Linear pieces of each Maxout unit.
    #[config(default = 5)]
    pub maxout_pieces: usize,
    /// Number of Maxout layers in the discriminator's trunk.
    #[config(default = 3)]
    pub discriminator_depth: usize,
}

impl Toy2dModelConfig {
    /// Rejects sizes that cannot build a network.
    pub fn check(&self) -> Result<()> {
        Error::require_positive(&[
            ("num_classes", self.num_classes),
            ("latent_dim", self.latent_dim),
            ("embedding_dim", self.embedding_dim),
            ("generator_width", self.generator_width),
            ("maxout_units", self.maxout_units),
            ("maxout_pieces", self.maxout_pieces),
            ("discriminator_depth", self.discriminator_depth),
        ])
    }

    /// Builds the generator from the seeded stream.
    pub fn init_generator(&self, rng: &mut SeededRng, device: &Device) -> Result<Toy2dGenerator> {
        self.check()?;
        let embedding =
            LatentEmbeddingConcat::new(rng, self.num_classes, self.embedding_dim, device);
        let mut d_in = self.latent_dim + self.embedding_dim;
        let mut hidden = Vec::with_capacity(self.generator_depth);
        let mut norms = Vec::with_capacity(self.generator_depth);
        for _ in 0..self.generator_depth {
            hidden.push(init::linear(rng, d_in, self.generator_width, device));
            norms.push(init::batch_norm(self.generator_width, device));
            d_in = self.generator_width;
        }
        Ok(Toy2dGenerator {
            embedding,
            hidden,
            norms,
            activation: Relu::new(),
            output: init::linear(rng, d_in, 2, device),
            latent_dim: self.latent_dim,
        })
    }

    /// Builds the discriminator from the seeded stream.
    pub fn init_discriminator(
        &self,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Toy2dDiscriminator> {
        self.check()?;
        let mut d_in = 2;
        let mut trunk = Vec::with_capacity(self.discriminator_depth);
        for _ in 0..self.discriminator_depth {
            trunk.push(Maxout::new(
                rng,
                d_in,
                self.maxout_units,
                self.maxout_pieces,
                device,
            ));
            d_in = self.maxout_units;
        }
        Ok(Toy2dDiscriminator {
            trunk,
            head: init::linear(rng, d_in, self.num_classes, device),
        })
    }
}

/// 2D generator: `[z, emb(c)] -> depth x [Linear + BatchNorm + ReLU] -> Linear 2`.
#[derive(Module, Debug)]
pub struct Toy2dGenerator {
    embedding: LatentEmbeddingConcat,
    hidden: Vec<Linear>,
    norms: Vec<BatchNorm>,
    activation: Relu,
    output: Linear,
    latent_dim: usize,
}

impl ConditionalGenerator<2> for Toy2dGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    fn num_classes(&self) -> usize {
        self.embedding.num_classes()
    }

    /// `z: [B, latent_dim]`, `c: [B]` -> points `[B, 2]`.
    fn forward(&self, z: Tensor<2>, c: Tensor<1, Int>) -> Tensor<2> {
        let mut x = self.embedding.forward(z, c);
        for (linear, norm) in self.hidden.iter().zip(&self.norms) {
            x = self.activation.forward(norm.forward(linear.forward(x)));
        }
        self.output.forward(x)
    }
}

/// 2D discriminator: `depth x Maxout` trunk (the features) and a `Linear(units -> k)` head.
#[derive(Module, Debug)]
pub struct Toy2dDiscriminator {
    trunk: Vec<Maxout>,
    head: Linear,
}

impl Discriminator<2> for Toy2dDiscriminator {
    fn num_classes(&self) -> usize {
        self.head.weight.shape().dims::<2>()[1]
    }

    fn feature_dim(&self) -> usize {
        self.head.weight.shape().dims::<2>()[0]
    }

    /// `[B, 2] -> [B, maxout_units]`.
    fn features(&self, x: Tensor<2>) -> Tensor<2> {
        self.trunk.iter().fold(x, |x, layer| layer.forward(x))
    }

    /// `[B, maxout_units] -> [B, k]`.
    fn head_logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }
}
