//! Maxout's max over pieces as one kernel with a hand-written backward pass, for Burn's flex
//! backend.
//!
//! Burn differentiates `max_dim` by scattering the upstream gradient into a zero tensor of the
//! input's shape (`scatter_add` with the saved indices), a generic gather/scatter kernel that
//! takes a large share of a 2D training step on flex (`docs/performance.md`, "What runs on the
//! CPU, and why"). Here the forward pass keeps the winning piece of each unit and the backward
//! pass writes the gradient straight into its slot. Ties go to the first piece, as Burn's
//! kernel breaks them, so values and gradients are Burn's bit for bit.
//!
//! A Burn backend extension, like `kernels::flex::conv`: `Autodiff<Flex>` records the op,
//! `Flex` runs it plain; both are reached through `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

/// The max over each unit's consecutive pieces.
#[backend_extension(Autodiff, Flex)]
pub trait MaxOverPieces: burn::backend::Backend {
    /// `[batch, units * pieces]` -> `[batch, units]`.
    fn max_over_pieces(x: FloatTensor<Self>, pieces: usize) -> FloatTensor<Self>;
}

impl MaxOverPieces for Flex {
    fn max_over_pieces(x: FlexTensor, pieces: usize) -> FlexTensor {
        max_and_winners(&x, pieces, false).0
    }
}

impl<C: CheckpointStrategy> MaxOverPieces for Autodiff<Flex, C> {
    fn max_over_pieces(x: FloatTensor<Self>, pieces: usize) -> FloatTensor<Self> {
        match MaxOverPiecesBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (values, winners) = max_and_winners(x.primitive(), pieces, true);
                prep.finish((winners, pieces), values)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(max_and_winners(&x.into_primitive(), pieces, false).0)
            }
        }
    }
}

/// The maxima `[batch, units]` and, when `keep_winners`, each unit's winning piece.
fn max_and_winners(x: &FlexTensor, pieces: usize, keep_winners: bool) -> (FlexTensor, Vec<u32>) {
    let x = x.to_contiguous();
    let [batch, width] = x.layout().shape().dims::<2>();
    let values = &x.storage::<f32>()[x.layout().start_offset()..][..batch * width];
    let units = width / pieces;
    let mut maxima = Vec::with_capacity(batch * units);
    let mut winners = Vec::with_capacity(if keep_winners { batch * units } else { 0 });
    for unit in values.chunks_exact(pieces) {
        // Burn's rule: a later piece wins only when strictly greater.
        let (mut best, mut winner) = (unit[0], 0);
        for (piece, &value) in unit.iter().enumerate().skip(1) {
            if value > best {
                (best, winner) = (value, piece);
            }
        }
        maxima.push(best);
        if keep_winners {
            winners.push(winner as u32);
        }
    }
    let maxima = FlexTensor::from_data(TensorData::new(maxima, [batch, units]));
    (maxima, winners)
}

#[derive(Debug)]
struct MaxOverPiecesBackward;

impl Backward<Flex, 1> for MaxOverPiecesBackward {
    /// Each unit's winning piece, and the number of pieces.
    type State = (Vec<u32>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (winners, pieces) = ops.state;
        let grad = grad.to_contiguous();
        let [batch, units] = grad.layout().shape().dims::<2>();
        let upstream = &grad.storage::<f32>()[grad.layout().start_offset()..][..batch * units];
        let mut dx = vec![0f32; batch * units * pieces];
        for ((slots, &winner), &g) in dx.chunks_exact_mut(pieces).zip(&winners).zip(upstream) {
            slots[winner as usize] = g;
        }
        let dx = FlexTensor::from_data(TensorData::new(dx, [batch, units * pieces]));
        grads.register::<Flex>(node.id, dx);
    }
}

/// `[batch, units * pieces]` -> `[batch, units]` through the kernel above. `x` must be an f32
/// tensor on a flex device.
pub(crate) fn max_over_pieces(x: Tensor<2>, pieces: usize) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as MaxOverPieces>::max_over_pieces(
        x.into_dispatch(),
        pieces,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::kernels::flex::is_flex;
    use crate::rng::{normal_tensor, seeded};

    /// Burn's Maxout pooling: reshape, `max_dim`, reshape.
    fn burns(x: Tensor<2>, pieces: usize) -> Tensor<2> {
        let [batch, width] = x.dims();
        x.reshape([batch, width / pieces, pieces])
            .max_dim(2)
            .reshape([batch, width / pieces])
    }

    /// Values and input gradient of `pool(x)` against a fixed upstream gradient.
    fn run(
        pool: &dyn Fn(Tensor<2>) -> Tensor<2>,
        x: &Tensor<2>,
        upstream: &Tensor<2>,
    ) -> (Vec<f32>, Vec<f32>) {
        let input = x.clone().require_grad();
        let out = pool(input.clone());
        let grads = (out.clone() * upstream.clone()).sum().backward();
        let grad = input.grad(&grads).expect("x takes part in the loss");
        (host::floats(out).unwrap(), host::floats(grad).unwrap())
    }

    #[test]
    fn values_and_gradients_are_burns_bit_for_bit_ties_included() {
        let device = Device::default().autodiff();
        if !is_flex(&device) {
            return; // other backends run Burn's max_dim
        }
        let pieces = 5;
        let mut x = normal_tensor(&mut seeded(3), 40, 15 * pieces, &device);
        // Rows of equal pieces and a tie between two maxima: the first piece must win.
        let ties = Tensor::<2>::from_floats(
            [[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 2.0, -1.0, 2.0, 0.5]],
            &device,
        )
        .pad(
            (0, 15 * pieces - 10, 0, 0),
            burn::tensor::ops::PadMode::Constant(0.0),
        );
        x = Tensor::cat(vec![x, ties], 0);
        let upstream = normal_tensor(&mut seeded(4), 41, 15, &device);
        let ours = run(&|x| max_over_pieces(x, pieces), &x, &upstream);
        assert_eq!(ours, run(&|x| burns(x, pieces), &x, &upstream));
        // The tie row sends its gradients to pieces 0 and 6 (first of the two 2.0s).
        let tie_row = &ours.1[40 * 75..][..10];
        assert_ne!(tie_row[0], 0.0);
        assert_eq!(&tie_row[1..5], &[0.0; 4]);
        assert_ne!(tie_row[6], 0.0);
        assert_eq!(tie_row[8], 0.0);
        // Exactly one piece per unit receives the gradient.
        let receiving = ours.1.iter().filter(|g| **g != 0.0).count();
        assert_eq!(receiving, 41 * 15);

        // Without autodiff, and untracked on an autodiff device: the same values.
        let plain = x.clone().inner();
        assert_eq!(
            host::floats(max_over_pieces(plain, pieces)).unwrap(),
            ours.0
        );
        assert_eq!(host::floats(max_over_pieces(x, pieces)).unwrap(), ours.0);
    }
}
