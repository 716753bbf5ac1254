//! A convolution whose weight gradient, and on small outputs whose forward pass, is one wide
//! matrix product over the batch, for Burn's flex backend.
//!
//! Burn takes a convolution's weight gradient as another convolution, with batch and channels
//! swapped and the upstream gradient as its kernel. Flex runs that as one matrix product per
//! input channel and output tile, and packs the whole upstream gradient again for each. Where
//! the patch matrix is small next to that work (stride 1, few input channels, small outputs)
//! one product over the whole batch is faster: `dW [c_out, c*k*k] = dY [c_out, n*oh*ow] x
//! patches^T`, with the patches (`flex_patches::patch_rows`) built in one pass over the input.
//!
//! Flex's forward pass is one thin product per image, `[c_out, c*k*k] x [c*k*k, oh*ow]`, and
//! packs the weight again for each. On outputs of at most [`BATCHED_FORWARD_PIXELS`] pixels
//! (the DCGAN discriminators' 4 x 4 layers) the forward pass is instead `W x patches` over
//! the batch, and the weight gradient reuses those patches. On larger outputs flex's forward
//! pass is faster and is kept. The input gradient is always flex's kernel.
//!
//! This is a Burn backend extension: an operation with a hand-written backward pass for
//! `Autodiff<Flex>` (and a plain forward for `Flex`), reached through `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::Shape;
use burn::tensor::ops::ConvOptions;

use super::flex_patches::{Taps, batch_major, bias_gradient, channel_major, patch_rows};

/// A square-kernel convolution with bias, one group, no dilation and the same padding on
/// every side.
#[backend_extension(Autodiff, Flex)]
pub trait WideWeightGradConv: burn::backend::Backend {
    /// `x: [n, c, h, w]`, `weight: [c_out, c, k, k]`, `bias: [c_out]` -> `[n, c_out, oh, ow]`.
    fn wide_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1)
}

impl WideWeightGradConv for Flex {
    fn wide_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        Flex::conv2d(x, weight, Some(bias), options(stride, padding))
    }
}

impl<C: CheckpointStrategy> WideWeightGradConv for Autodiff<Flex, C> {
    fn wide_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let forward =
            |x, weight, bias| Flex::conv2d(x, weight, Some(bias), options(stride, padding));
        match WideConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                if output_pixels(&x, &weight, stride, padding) <= BATCHED_FORWARD_PIXELS {
                    let (output, patches) =
                        batched_forward(&x, &weight, bias.primitive(), stride, padding);
                    return prep.finish((x, weight, stride, padding, Some(patches)), output);
                }
                let output = forward(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish((x, weight, stride, padding, None), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

/// Outputs of at most this many pixels per image and channel take the batched forward pass.
const BATCHED_FORWARD_PIXELS: usize = 16;

fn taps(weight: &FlexTensor, stride: usize, padding: usize) -> Taps {
    Taps {
        kernel: weight.layout().shape().dims::<4>()[2],
        stride,
        padding,
    }
}

/// Output size per side of a square layer on `[.., .., h, w]` inputs.
fn output_side(side: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (side + 2 * padding - kernel) / stride + 1
}

fn output_pixels(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> usize {
    let [_, _, h, w] = x.layout().shape().dims::<4>();
    let kernel = weight.layout().shape().dims::<4>()[2];
    output_side(h, kernel, stride, padding) * output_side(w, kernel, stride, padding)
}

/// `W [c_out, c*k*k] x patches [c*k*k, n*oh*ow]` plus the bias; also returns the patches.
fn batched_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    padding: usize,
) -> (FlexTensor, FlexTensor) {
    let [n, c, h, w] = x.layout().shape().dims::<4>();
    let [c_out, _, kernel, _] = weight.layout().shape().dims::<4>();
    let (oh, ow) = (
        output_side(h, kernel, stride, padding),
        output_side(w, kernel, stride, padding),
    );
    let patches = patch_rows(x, taps(weight, stride, padding), [oh, ow]);
    let flat = weight
        .clone()
        .reshape(Shape::new([c_out, c * kernel * kernel]));
    let y = Flex::float_matmul(flat, patches.clone());
    let bias = bias.to_contiguous();
    let bias = &bias.storage::<f32>()[bias.layout().start_offset()..][..c_out];
    (batch_major(&y, [n, c_out, oh, ow], Some(bias)), patches)
}

#[derive(Debug)]
struct WideConvBackward;

impl Backward<Flex, 3> for WideConvBackward {
    /// The input, the weight, the stride, the padding and the input's patches when the
    /// forward pass built them.
    type State = (FlexTensor, FlexTensor, usize, usize, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, padding, patches) = ops.state;
        let [_, c_out, oh, ow] = grad.layout().shape().dims::<4>();
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, bias_gradient(&grad));
        }
        if let Some(node) = node_weight {
            let taps = taps(&weight, stride, padding);
            let patches = patches.unwrap_or_else(|| patch_rows(&x, taps, [oh, ow]));
            let [_, c, _, _] = x.layout().shape().dims::<4>();
            let k = taps.kernel;
            let dw = Flex::float_matmul(channel_major(&grad), patches.transpose(0, 1))
                .reshape(Shape::new([c_out, c, k, k]));
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_x {
            // The batched form of this gradient (`W^T x dY`, scattered onto the input) was
            // no faster than flex's kernel on the DCGAN shapes.
            let dx = Flex::conv2d_x_backward(x, weight, grad, options(stride, padding));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// Whether `device` runs on flex (with or without autodiff).
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Whether `tensor` is f32 on flex: what the crate's hand-written flex kernels take.
pub(crate) fn is_flex_f32<const D: usize>(tensor: &Tensor<D>) -> bool {
    is_flex(&tensor.device()) && tensor.dtype() == burn::tensor::DType::F32
}

/// The convolution through the wide weight gradient. `device` must be a flex device and the
/// tensors f32.
pub(crate) fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as WideWeightGradConv>::wide_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}
