//! A transposed convolution on a small input whose forward pass is one matrix product over the
//! batch, for Burn's flex backend.
//!
//! Flex computes a transposed convolution image by image: `columns [c_out*k*k, h*w] = W^T x
//! x_image`, then adds the columns onto the output. On a small input (the DCGAN generator's
//! first layer sees 4 x 4 pixels) each product is thin, gemm falls back to its narrowest
//! kernels, and the whole weight is packed again for every image. Here all images share one
//! product, `columns [c_out*k*k, n*h*w] = W^T x X`, and the columns are then added onto the
//! output (`flex_patches::scatter_columns`). The gradients stay flex's own kernels: batched
//! versions were no faster in a probe. On 8 x 8 and larger inputs flex's own forward pass was
//! faster (README, "Images"), so only small inputs take this path
//! (`conv::takes_batched_transpose`).
//!
//! A Burn backend extension, like `flex_conv`: `Autodiff<Flex>` records the op with a backward
//! pass that calls flex's gradient kernels, `Flex` runs the forward pass alone.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::Shape;
use burn::tensor::ops::ConvTransposeOptions;

use super::flex_patches::{Taps, bias_gradient, channel_major, scatter_columns};

/// A square-kernel transposed convolution with bias, one group, no dilation, no output
/// padding and the same padding on every side.
#[backend_extension(Autodiff, Flex)]
pub trait WideConvTranspose: burn::backend::Backend {
    /// `x: [n, c_in, h, w]`, `weight: [c_in, c_out, k, k]`, `bias: [c_out]` ->
    /// `[n, c_out, (h - 1) * stride + k - 2 * padding, ...]`.
    fn wide_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

fn options(stride: usize, padding: usize) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([stride; 2], [padding; 2], [0, 0], [1, 1], 1)
}

impl WideConvTranspose for Flex {
    fn wide_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        forward(&x, &weight, &bias, stride, padding)
    }
}

impl<C: CheckpointStrategy> WideConvTranspose for Autodiff<Flex, C> {
    fn wide_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        match WideConvTransposeBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let output = forward(&x, &weight, bias.primitive(), stride, padding);
                prep.finish((x, weight, stride, padding), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(
                x.primitive(),
                weight.primitive(),
                bias.primitive(),
                stride,
                padding,
            )),
        }
    }
}

/// `W^T x X` over the batch, each tap's column added onto the output pixel it reaches.
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    padding: usize,
) -> FlexTensor {
    let [n, c_in, h, w] = x.layout().shape().dims::<4>();
    let [_, c_out, kernel, _] = weight.layout().shape().dims::<4>();
    let taps = Taps {
        kernel,
        stride,
        padding,
    };
    let grow = |side: usize| (side - 1) * stride + kernel - 2 * padding;
    let tap_weights = weight
        .clone()
        .reshape(Shape::new([c_in, c_out * kernel * kernel]))
        .transpose(0, 1);
    let columns = Flex::float_matmul(tap_weights, channel_major(x));
    let bias = bias.to_contiguous();
    let bias = &bias.storage::<f32>()[bias.layout().start_offset()..][..c_out];
    scatter_columns(
        &columns,
        taps,
        [n, c_out, grow(h), grow(w)],
        [h, w],
        Some(bias),
    )
}

#[derive(Debug)]
struct WideConvTransposeBackward;

impl Backward<Flex, 3> for WideConvTransposeBackward {
    /// The input, the weight, the stride and the padding.
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, padding) = ops.state;
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, bias_gradient(&grad));
        }
        if let Some(node) = node_weight {
            let dw = Flex::conv_transpose2d_weight_backward(
                x,
                weight.clone(),
                grad.clone(),
                options(stride, padding),
            );
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_x {
            let dx = Flex::conv_transpose2d_x_backward(weight, grad, options(stride, padding));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// The transposed convolution through the batched forward pass. The tensors must be f32 on a
/// flex device.
pub(crate) fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as WideConvTranspose>::wide_conv_transpose2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}
