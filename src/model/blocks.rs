//! Building blocks shared by the reference architectures.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::model::init;
use crate::ops;
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

/// The rows of a first `Linear` layer's weight (`[d_in, d_out]` in Burn) that multiply the
/// latent code, transposed to `[d_out, latent_dim]`: the `A` of `y = A z + ...`.
pub(crate) fn latent_columns(first: &Linear, latent_dim: usize) -> Tensor<2> {
    let [_, d_out] = first.weight.shape().dims::<2>();
    first
        .weight
        .val()
        .slice([0..latent_dim, 0..d_out])
        .transpose()
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
        ops::maxout(self.linear.forward(x), self.pieces)
    }
}

/// Selects column `c` of each row of `[B, k]` logits: the "mask" conditioning of the
/// discriminator, `D(x, c) = D_h(D_f(x))[c]`.
pub fn mask_logits(logits: Tensor<2>, c: Tensor<1, Int>) -> Tensor<1> {
    let batch = logits.dims()[0];
    logits.gather(1, c.reshape([batch, 1])).reshape([batch])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::rng::seeded;

    #[test]
    fn embedding_lands_on_the_unit_sphere_after_the_latent() {
        let device = Device::default();
        let block = LatentEmbeddingConcat::new(&mut seeded(1), 5, 7, &device);
        let z = Tensor::<2>::from_floats([[3.0, 4.0], [-1.0, 0.5]], &device);
        let c = Tensor::<1, Int>::from_ints([4, 0], &device);
        let out = block.forward(z, c);
        assert_eq!(out.dims(), [2, 9]);
        let values = host::floats(out).unwrap();
        assert_eq!(&values[0..2], &[3.0, 4.0], "z passes through unchanged");
        for row in values.chunks(9) {
            let norm: f32 = row[2..].iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        }
        // Row 0 is class 4's direction.
        let table = host::floats(block.table.val()).unwrap();
        let class4 = &table[4 * 7..5 * 7];
        let norm4: f32 = class4.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (a, b) in values[2..9].iter().zip(class4) {
            assert!((a - b / norm4).abs() < 1e-5);
        }
    }

    #[test]
    fn maxout_takes_the_max_of_each_units_pieces() {
        let device = Device::default();
        let layer = Maxout::new(&mut seeded(2), 3, 4, 5, &device);
        let x = Tensor::<2>::from_floats([[0.5, -1.0, 2.0], [1.0, 1.0, -3.0]], &device);
        let linear = host::floats(layer.linear.forward(x.clone())).unwrap();
        let out = host::floats(layer.forward(x)).unwrap();
        for row in 0..2 {
            for unit in 0..4 {
                let pieces = &linear[row * 20 + unit * 5..row * 20 + unit * 5 + 5];
                let max = pieces.iter().copied().fold(f32::MIN, f32::max);
                assert_eq!(out[row * 4 + unit], max);
            }
        }
    }

    #[test]
    fn mask_logits_selects_each_rows_class() {
        let device = Device::default();
        let logits = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], &device);
        let c = Tensor::<1, Int>::from_ints([2, 0], &device);
        assert_eq!(
            host::floats(mask_logits(logits, c)).unwrap(),
            vec![3.0, 4.0]
        );
    }
}
