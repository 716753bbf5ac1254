//! The reference architectures of the paper's 2D experiments.

use burn::nn::{Linear, Relu};
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::model::blocks::{LatentEmbeddingConcat, Maxout, latent_columns};
use crate::model::norm::BatchNorm;
use crate::model::{ConditionalGenerator, Discriminator, LatentAffine, init};
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

impl LatentAffine for Toy2dGenerator {
    /// The first hidden layer's weight on `z` (the output layer when the depth is 0).
    fn latent_weight(&self) -> Tensor<2> {
        latent_columns(self.hidden.first().unwrap_or(&self.output), self.latent_dim)
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

    /// Maxout and linear layers only: no statistics across the batch.
    fn is_per_sample(&self) -> bool {
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::sefa;
    use crate::host::floats;
    use crate::rng::{int_tensor, seeded};
    use burn::module::Param;

    /// A 3 x 3 rotation `Q` (columns orthonormal) and a first layer whose `z` part is
    /// `A = B Q^T`, `B`'s rows unit axes (e1 three times, e2 twice, e3 once). So the rows of
    /// `A` are unit length, `A^T A = Q diag(3, 2, 1) Q^T` and the right singular vectors of
    /// `A` are the columns of `Q`.
    fn known_generator() -> (Toy2dGenerator, [[f32; 3]; 3]) {
        let (c, s) = (0.6f32, 0.8f32);
        let q = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let axes = [0, 0, 0, 1, 1, 2];
        let config = Toy2dModelConfig::new(2)
            .with_latent_dim(3)
            .with_embedding_dim(4)
            .with_generator_width(axes.len())
            .with_generator_depth(2);
        let device = Device::default();
        let mut g = config.init_generator(&mut seeded(1), &device).unwrap();
        // Burn stores Linear weights as [inputs, outputs]: column j is output unit j.
        let mut weight = floats(g.hidden[0].weight.val()).unwrap();
        for (unit, &axis) in axes.iter().enumerate() {
            let sign = if unit % 2 == 0 { 1.0 } else { -1.0 };
            for (i, row) in q.iter().enumerate() {
                // (B Q^T)[unit, i] = Q[i, axis]
                weight[i * axes.len() + unit] = sign * row[axis];
            }
        }
        let shape = g.hidden[0].weight.shape();
        g.hidden[0].weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), &device));
        (g, q)
    }

    #[test]
    fn sefa_finds_the_right_singular_vectors_of_a_known_first_layer() {
        let (g, q) = known_generator();
        let found = sefa(&g, 3).unwrap();
        for (i, (n, expected)) in found.directions.iter().zip([3.0, 2.0, 1.0]).enumerate() {
            assert!((found.eigenvalues[i] - expected).abs() < 1e-4);
            let column = [q[0][i], q[1][i], q[2][i]];
            let dot: f32 = n.iter().zip(column).map(|(a, b)| a * b).sum();
            assert!(
                (dot.abs() - 1.0).abs() < 1e-5,
                "n_{i} = {n:?}, Q[:, {i}] = {column:?}"
            );
        }
    }

    #[test]
    fn editing_along_the_first_direction_moves_the_first_layer_most() {
        let (g, _) = known_generator();
        let found = sefa(&g, 3).unwrap();
        let device = Device::default();
        let first_layer = |z: Vec<f32>| {
            let rows = z.len() / 3;
            let z = Tensor::from_data(TensorData::new(z, [rows, 3]), &device);
            let x = g.embedding.forward(z, int_tensor(vec![1; rows], &device));
            floats(g.hidden[0].forward(x)).unwrap()
        };
        let z = vec![0.2, -0.5, 1.1];
        let base = first_layer(z.clone());
        let moved = |edited: Vec<f32>| -> f32 {
            let out = first_layer(edited);
            out.iter()
                .zip(&base)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let alpha = 2.0;
        let shifts: Vec<f32> = (0..3)
            .map(|i| moved(found.edit(&z, i, alpha).unwrap()))
            .collect();
        assert!(shifts[0] > shifts[1] && shifts[1] > shifts[2], "{shifts:?}");
        // |A (alpha n_i)| = alpha * sqrt(lambda_i).
        assert!((shifts[0] - alpha * 3f32.sqrt()).abs() < 1e-4);
        let mut rng = seeded(2);
        for _ in 0..100 {
            let v: Vec<f32> = (0..3)
                .map(|_| rand::Rng::random_range(&mut rng, -1.0..1.0))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let edited: Vec<f32> = z
                .iter()
                .zip(&v)
                .map(|(a, b)| a + alpha * b / norm)
                .collect();
            assert!(moved(edited) <= shifts[0] + 1e-4);
        }
    }
}
