//! LeakyReLU as one pass forward and one pass backward, for Burn's flex backend.
//!
//! On an autodiff device the crate writes LeakyReLU as `relu(x) - slope * relu(-x)`: five
//! passes over the activation forward and about as many backward, each allocating a tensor.
//! Here the forward pass writes the output, and the backward pass reads the input and the
//! upstream gradient once. Values and input gradients are the composite form's bit for bit
//! (tested, zeros and underflows included), so training runs do not change. The input is kept
//! for the backward pass, where the composite form kept two ReLU outputs.
//!
//! The loops are branch-free on purpose: with a branch per element (random signs) a first
//! version mispredicted about every other element and ran slower than the composite form; as
//! selects they vectorise and run several times faster than it (`docs/performance.md`).
//!
//! A Burn backend extension, like `maxout`: `Autodiff<Flex>` records the op, `Flex` runs
//! it plain; both are reached through `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

/// `x` where `x > 0`, `slope * x` where `x < 0`, +0 at either zero; `slope` must be positive.
#[backend_extension(Autodiff, Flex)]
pub trait LeakyRelu: burn::backend::Backend {
    /// Element-wise, any shape.
    fn leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
}

/// Elements per parallel task.
const TASK_ELEMENTS: usize = 1 << 14;

impl LeakyRelu for Flex {
    fn leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        forward(&x, slope)
    }
}

impl<C: CheckpointStrategy> LeakyRelu for Autodiff<Flex, C> {
    fn leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        match LeakyReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                prep.finish((input.clone(), slope), forward(&input, slope))
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive(), slope)),
        }
    }
}

/// All ones where `condition` holds, all zeros elsewhere: a select without a branch.
fn mask(condition: bool) -> u32 {
    (condition as u32).wrapping_neg()
}

/// `bits_if` where `mask` is all ones, `bits_else` where it is all zeros.
fn select(mask: u32, bits_if: f32, bits_else: f32) -> f32 {
    f32::from_bits((bits_if.to_bits() & mask) | (bits_else.to_bits() & !mask))
}

fn forward(x: &FlexTensor, slope: f32) -> FlexTensor {
    let x = x.to_contiguous();
    let shape = x.layout().shape().clone();
    let count = shape.num_elements();
    let input = &x.storage::<f32>()[x.layout().start_offset()..][..count];
    let mut out = vec![0f32; count];
    out.par_chunks_mut(TASK_ELEMENTS)
        .zip(input.par_chunks(TASK_ELEMENTS))
        .for_each(|(out, input)| {
            for (out, &x) in out.iter_mut().zip(input) {
                // `relu(x) - relu(-x) * slope`: `0 - (-x * slope)` below 0 (+0 when the
                // product underflows), `x + 0` elsewhere (+0 at -0).
                *out = select(mask(x < 0.0), 0.0 - (-x * slope), x + 0.0);
            }
        });
    FlexTensor::from_data(TensorData::new(out, shape))
}

#[derive(Debug)]
struct LeakyReluBackward;

impl Backward<Flex, 1> for LeakyReluBackward {
    /// The input and the slope.
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (input, slope) = ops.state;
        let (grad, input) = (grad.to_contiguous(), input.to_contiguous());
        let shape = grad.layout().shape().clone();
        let count = shape.num_elements();
        let upstream = &grad.storage::<f32>()[grad.layout().start_offset()..][..count];
        let input = &input.storage::<f32>()[input.layout().start_offset()..][..count];
        let mut dx = vec![0f32; count];
        dx.par_chunks_mut(TASK_ELEMENTS)
            .zip(input.par_chunks(TASK_ELEMENTS))
            .zip(upstream.par_chunks(TASK_ELEMENTS))
            .for_each(|((dx, input), upstream)| {
                for ((dx, &x), &g) in dx.iter_mut().zip(input).zip(upstream) {
                    // The composite's two ReLU masks: `g` above 0, `g * slope` below, 0 at 0.
                    let below = select(mask(x < 0.0), g * slope, 0.0);
                    *dx = select(mask(x > 0.0), g, below);
                }
            });
        grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
    }
}

/// LeakyReLU through the kernels above. `x` must be an f32 tensor on a flex device and
/// `slope` positive.
pub(crate) fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as LeakyRelu>::leaky_relu(
        x.into_dispatch(),
        slope as f32,
    ))
}
