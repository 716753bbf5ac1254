//! Building blocks shared by the reference architectures.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::model::init;
use crate::rng::{SeededRng, normal_tensor};

/// Class embedding projected onto the unit sphere and concatenated to the latent code.
///
/// This is how the self-conditioned generator receives its cluster: `[z, emb(c) / |emb(c)|]`.
#[derive(Module, Debug)]
pub struct LatentEmbeddingConcat {
    /// Embedding table, `[num_classes, embedding_dim]`, initialised N(0, 1) as in PyTorch.
    pub table: Param<Tensor<2>>,
}

impl LatentEmbeddingConcat {
    /// A table of `num_classes` embeddings of size `embedding_dim`.
    pub fn new(
        rng: &mut SeededRng,
        num_classes: usize,
        embedding_dim: usize,
        device: &Device,
    ) -> Self {
        Self {
            table: Param::from_tensor(normal_tensor(rng, num_classes, embedding_dim, device)),
        }
    }

    /// Number of classes in the table.
    pub fn num_classes(&self) -> usize {
        self.table.shape().dims::<2>()[0]
    }

    /// Width of one embedding.
    pub fn embedding_dim(&self) -> usize {
        self.table.shape().dims::<2>()[1]
    }

    /// `z: [B, latent]`, `c: [B]` -> `[B, latent + embedding_dim]`.
    pub fn forward(&self, z: Tensor<2>, c: Tensor<1, Int>) -> Tensor<2> {
        let embedded = self.table.val().select(0, c);
        // Small epsilon: an all-zero row (impossible at init, conceivable after training) must
        // not produce NaN.
        let norm = embedded.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        Tensor::cat(vec![z, embedded / norm], 1)
    }
}

/// Maxout unit: a linear map to `units * pieces` outputs, then the max over each unit's pieces.
#[derive(Module, Debug)]
pub struct Maxout {
    /// The affine map, `d_input -> units * pieces`, grouped unit-major.
    pub linear: Linear,
    /// Output units.
    pub units: usize,
    /// Pieces per unit.
    pub pieces: usize,
}

impl Maxout {
    /// A Maxout layer `d_input -> units` with `pieces` linear pieces per unit.
    pub fn new(
        rng: &mut SeededRng,
        d_input: usize,
        units: usize,
        pieces: usize,
        device: &Device,
    ) -> Self {
        Self {
            linear: init::linear(rng, d_input, units * pieces, device),
            units,
            pieces,
        }
    }

    /// `[B, d_input] -> [B, units]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let batch = x.dims()[0];
        self.linear
            .forward(x)
            .reshape([batch, self.units, self.pieces])
            .max_dim(2)
            .reshape([batch, self.units])
    }
}

/// Selects column `c` of each row of `[B, k]` logits: the "mask" conditioning of the
/// discriminator, `D(x, c) = D_h(D_f(x))[c]`.
pub fn mask_logits(logits: Tensor<2>, c: Tensor<1, Int>) -> Tensor<1> {
    let batch = logits.dims()[0];
    logits.gather(1, c.reshape([batch, 1])).reshape([batch])
}
