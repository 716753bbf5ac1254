//! A convolution whose weight gradient is one wide matrix product, for Burn's flex backend.
//!
//! Burn takes a convolution's weight gradient as another convolution, with batch and channels
//! swapped and the upstream gradient as its kernel. Flex runs that as one matrix product per
//! input channel and output tile, and packs the whole upstream gradient again for each. Where
//! the patch matrix is small next to that work (stride 1, few input channels, small outputs)
//! one product over the whole batch is faster: `dW [c_out, c*kh*kw] = dY [c_out, n*oh*ow] x patches [n*oh*ow,
//! c*kh*kw]`, with the patches built in one pass over the input. The forward pass and the input
//! gradient stay Burn's kernels.
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
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

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
                let output = forward(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish((x, weight, stride, padding), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

#[derive(Debug)]
struct WideConvBackward;

impl Backward<Flex, 3> for WideConvBackward {
    /// The input, the weight, the stride and the padding.
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, padding) = ops.state;
        if let Some(node) = node_bias {
            // Sum over pixels, then batch: [n, c_out, p] -> [c_out]. Burn's bias gradient
            // first swaps batch and channels, a copy of the whole gradient.
            let [n, c_out, oh, ow] = grad.layout().shape().dims::<4>();
            let per_channel = Flex::float_sum_dim(
                Flex::float_sum_dim(grad.reshape(Shape::new([n, c_out, oh * ow])), 2),
                0,
            );
            grads.register::<Flex>(node.id, per_channel.reshape(Shape::new([c_out])));
        }
        if let Some(node) = node_weight {
            let kernel = weight.layout().shape().dims::<4>()[2];
            let dw = weight_gradient(&x, &grad, kernel, stride, padding);
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_x {
            let dx = Flex::conv2d_x_backward(x, weight, grad, options(stride, padding));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// `dW = dY [c_out, n*oh*ow] x patches^T`, patches `[c*k*k, n*oh*ow]`.
fn weight_gradient(
    x: &FlexTensor,
    grad: &FlexTensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> FlexTensor {
    let [_, c, _, _] = x.layout().shape().dims::<4>();
    let [n, c_out, oh, ow] = grad.layout().shape().dims::<4>();
    let patches = patch_rows(x, kernel, stride, padding, [oh, ow]);
    let grad = grad
        .reshape(Shape::new([n, c_out, oh * ow]))
        .permute(&[1, 0, 2])
        .to_contiguous()
        .reshape(Shape::new([c_out, n * oh * ow]));
    // The transposed view is what gemm reads fastest here (no copy).
    Flex::float_matmul(grad, patches.transpose(0, 1))
        .reshape(Shape::new([c_out, c, kernel, kernel]))
}

/// Row `(channel, i, j)` holds, for every image and output pixel in order, the input value tap
/// `(i, j)` of that pixel sees (0 in the padding).
fn patch_rows(
    x: &FlexTensor,
    kernel: usize,
    stride: usize,
    padding: usize,
    [oh, ow]: [usize; 2],
) -> FlexTensor {
    let x = x.to_contiguous();
    let [n, c, h, w] = x.layout().shape().dims::<4>();
    let values: &[f32] = x.storage();
    let values = &values[x.layout().start_offset()..];
    let pixels = oh * ow;
    let mut rows = vec![0f32; c * kernel * kernel * n * pixels];
    rows.par_chunks_mut(n * pixels)
        .enumerate()
        .for_each(|(row_index, row)| {
            let channel = row_index / (kernel * kernel);
            let (i, j) = ((row_index / kernel) % kernel, row_index % kernel);
            for (image, out) in row.chunks_mut(pixels).enumerate() {
                let plane = &values[(image * c + channel) * h * w..][..h * w];
                for (y, out_row) in out.chunks_mut(ow).enumerate() {
                    let Some(source_y) = (y * stride + i).checked_sub(padding).filter(|&v| v < h)
                    else {
                        continue;
                    };
                    let source = &plane[source_y * w..][..w];
                    for (x_out, value) in out_row.iter_mut().enumerate() {
                        if let Some(source_x) =
                            (x_out * stride + j).checked_sub(padding).filter(|&v| v < w)
                        {
                            *value = source[source_x];
                        }
                    }
                }
            }
        });
    FlexTensor::from_data(TensorData::new(rows, [c * kernel * kernel, n * pixels]))
}

/// Whether `device` runs on flex (with or without autodiff).
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
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
