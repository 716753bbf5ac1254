//! Convolutions and transposed convolutions whose passes run as matrix products over chunks of
//! the batch (`flex_batched`) where that beats flex's own kernels, for Burn's flex backend.
//!
//! Measured pass by pass on the DCGAN layers (README, "Images"): gathers and correlations beat
//! flex everywhere, so a convolution's forward pass and weight gradient and a transposed
//! convolution's two gradients (from one set of patches of the upstream gradient) always take
//! them. Scatters win from small grids ([`SMALL_GRID_PIXELS`]) and on thin layers
//! ([`THIN_CHANNELS`]); from larger grids of wide layers flex's kernel, which adds each
//! image's columns while they are still in cache, is as fast or faster. So a convolution's
//! input gradient and a transposed convolution's forward pass take the scatter only there.
//!
//! Wide 3 x 3 stride-1 and 4 x 4 stride-2 layers (in the DCGAN models every convolution but
//! the discriminators' first, the shallow discriminator's last and the generators' 3-channel
//! output) take Winograd's minimal filtering (`flex_winograd`) for their gathers and scatters
//! instead, with 1.8-2.25x fewer multiply-adds; their weight gradients keep the patch products.
//!
//! A Burn backend extension: `Autodiff<Flex>` records each layer as one op with a
//! hand-written backward pass, `Flex` runs the forward pass alone. Reached through `Dispatch`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::flex_batched::{correlate, gather, patch_products, scatter};
use super::flex_patches::{Taps, bias_gradient};
use super::flex_winograd as winograd;

/// Square-kernel layers with bias, one group, no dilation, no output padding and the same
/// padding on every side.
#[backend_extension(Autodiff, Flex)]
pub trait BatchedConv: burn::backend::Backend {
    /// `x: [n, c, h, w]`, `weight: [c_out, c, k, k]`, `bias: [c_out]` -> `[n, c_out, oh, ow]`.
    fn batched_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `x: [n, c, h, w]`, `weight: [c, c_out, k, k]`, `bias: [c_out]` ->
    /// `[n, c_out, (h - 1) * stride + k - 2 * padding, ...]`.
    fn batched_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// Scatters from grids of at most this many pixels (4 x 4) take the batched product.
const SMALL_GRID_PIXELS: usize = 16;

/// Scatters of layers with fewer channels than this on a side take the batched product from
/// any grid. Input gradients of 64 images, flex's kernel against the batched product (probe,
/// medians): 3 x 3 64->3 @32 (the generators' last layer) 15.0 against 6.3 ms, 3 x 3 3->64
/// @32 4.3 against 2.6, 4 x 4 s2 3->64 @32 1.5 against 1.2, 3 x 3 32->3 @32 7.6 against 3.2.
const THIN_CHANNELS: usize = 16;

/// Whether a scatter from a small grid of `pixels` pixels, of a layer with `channels` (small
/// and large side), takes the batched product.
pub(crate) fn scatters_batched(pixels: usize, channels: [usize; 2]) -> bool {
    pixels <= SMALL_GRID_PIXELS || channels[0].min(channels[1]) < THIN_CHANNELS
}

/// A layer's direction and geometry: what the backward pass needs besides its tensors.
#[derive(Debug, Clone, Copy)]
struct Layer {
    transposed: bool,
    taps: Taps,
}

impl Layer {
    fn new(transposed: bool, weight: &FlexTensor, stride: usize, padding: usize) -> Self {
        let kernel = weight.layout().shape().dims::<4>()[2];
        let taps = Taps {
            kernel,
            stride,
            padding,
        };
        Layer { transposed, taps }
    }

    /// Whether this layer's scatter (a transposed convolution's forward pass, a convolution's
    /// input gradient) takes the batched product on input `x`.
    fn scatters_batched(&self, x: &FlexTensor, weight: &FlexTensor) -> bool {
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let [c_small, c_large, _, _] = weight.layout().shape().dims::<4>();
        let pixels = match self.transposed {
            true => h * w,
            false => self.taps.small_side(h) * self.taps.small_side(w),
        };
        scatters_batched(pixels, [c_small, c_large])
    }

    /// Whether this layer's gathers and scatters on input `x` take Winograd's products.
    fn takes_winograd(&self, x: &FlexTensor, weight: &FlexTensor) -> bool {
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let small = match self.transposed {
            true => [h, w],
            false => [self.taps.small_side(h), self.taps.small_side(w)],
        };
        let [c_small, c_large, _, _] = weight.layout().shape().dims::<4>();
        winograd::applies(self.taps, [c_small, c_large], small)
    }

    fn conv_options(&self) -> ConvOptions<2> {
        let Taps {
            stride, padding, ..
        } = self.taps;
        ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1)
    }

    fn transpose_options(&self) -> ConvTransposeOptions<2> {
        let Taps {
            stride, padding, ..
        } = self.taps;
        ConvTransposeOptions::new([stride; 2], [padding; 2], [0, 0], [1, 1], 1)
    }

    /// Large side of a transposed convolution's output from its input side.
    fn grown(&self, side: usize) -> usize {
        let Taps {
            kernel,
            stride,
            padding,
        } = self.taps;
        (side - 1) * stride + kernel - 2 * padding
    }

    fn forward(&self, x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
        let winograd = self.takes_winograd(x, weight);
        if !self.transposed {
            return match winograd {
                true => winograd::gather(x, weight, Some(bias), self.taps),
                false => gather(x, weight, Some(bias), self.taps),
            };
        }
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let large = [self.grown(h), self.grown(w)];
        if winograd {
            winograd::scatter(x, weight, Some(bias), self.taps, large)
        } else if self.scatters_batched(x, weight) {
            scatter(x, weight, Some(bias), self.taps, large)
        } else {
            let options = self.transpose_options();
            Flex::conv_transpose2d(x.clone(), weight.clone(), Some(bias.clone()), options)
        }
    }

    /// The input and weight gradients asked for, from the upstream gradient `grad`.
    fn gradients(
        &self,
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        [want_input, want_weight]: [bool; 2],
    ) -> (Option<FlexTensor>, Option<FlexTensor>) {
        let winograd = self.takes_winograd(&x, &weight);
        if self.transposed && winograd {
            let dx = want_input.then(|| winograd::gather(&grad, &weight, None, self.taps));
            let dw = want_weight.then(|| correlate(&grad, &x, self.taps));
            return (dx, dw);
        }
        if self.transposed {
            // Both gradients read the patches of the upstream gradient (the large grid).
            let products = patch_products(
                &grad,
                self.taps,
                want_input.then_some((&weight, None)),
                want_weight.then_some(&x),
            );
            return (products.gathered, products.correlated);
        }
        let dw = want_weight.then(|| correlate(&x, &grad, self.taps));
        let dx = want_input.then(|| {
            let [_, _, h, w] = x.layout().shape().dims::<4>();
            if winograd {
                winograd::scatter(&grad, &weight, None, self.taps, [h, w])
            } else if self.scatters_batched(&x, &weight) {
                scatter(&grad, &weight, None, self.taps, [h, w])
            } else {
                Flex::conv2d_x_backward(x, weight, grad, self.conv_options())
            }
        });
        (dx, dw)
    }
}

impl BatchedConv for Flex {
    fn batched_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        Layer::new(false, &weight, stride, padding).forward(&x, &weight, &bias)
    }

    fn batched_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        Layer::new(true, &weight, stride, padding).forward(&x, &weight, &bias)
    }
}

impl<C: CheckpointStrategy> BatchedConv for Autodiff<Flex, C> {
    fn batched_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let layer = Layer::new(false, weight.primitive(), stride, padding);
        record::<C>(layer, x, weight, bias)
    }

    fn batched_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let layer = Layer::new(true, weight.primitive(), stride, padding);
        record::<C>(layer, x, weight, bias)
    }
}

/// The forward pass of `layer`, recorded with its backward pass when gradients are tracked.
fn record<C: CheckpointStrategy>(
    layer: Layer,
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    match LayerBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
            let output = layer.forward(&x, &weight, bias.primitive());
            prep.finish((x, weight, layer), output)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(layer.forward(x.primitive(), weight.primitive(), bias.primitive()))
        }
    }
}

#[derive(Debug)]
struct LayerBackward;

impl Backward<Flex, 3> for LayerBackward {
    /// The input, the weight and the layer.
    type State = (FlexTensor, FlexTensor, Layer);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, layer) = ops.state;
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, bias_gradient(&grad));
        }
        let wanted = [node_x.is_some(), node_weight.is_some()];
        let (dx, dw) = layer.gradients(x, weight, grad, wanted);
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, dw);
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

/// The convolution through [`BatchedConv`]. The tensors must be f32 on a flex device.
pub(crate) fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BatchedConv>::batched_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}

/// The transposed convolution through [`BatchedConv`]. The tensors must be f32 on a flex
/// device.
pub(crate) fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BatchedConv>::batched_conv_transpose2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}
