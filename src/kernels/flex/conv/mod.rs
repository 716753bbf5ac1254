//! Convolutions and transposed convolutions whose passes run as matrix products over chunks of
//! the batch (`batched`) where that beats flex's own kernels, for Burn's flex backend.
//!
//! Measured pass by pass on the DCGAN layers (`docs/performance.md`): gathers and correlations
//! beat flex everywhere, so a convolution's forward pass and weight gradient and a transposed
//! convolution's two gradients (from one set of patches of the upstream gradient) always take
//! them. Scatters win from small grids ([`SMALL_GRID_PIXELS`]) and on thin layers
//! ([`THIN_CHANNELS`]); from larger grids of wide layers flex's kernel, which adds each
//! image's columns while they are still in cache, is as fast or faster. So a convolution's
//! input gradient and a transposed convolution's forward pass take the scatter only there.
//!
//! Wide 3 x 3 stride-1 and 4 x 4 stride-2 layers (in the DCGAN models every convolution but
//! the discriminators' first, the shallow discriminator's last and the generators' 3-channel
//! output) take Winograd's minimal filtering (`winograd`) for their gathers and scatters
//! instead, with 1.8-2.25x fewer multiply-adds; their weight gradients keep the patch products.
//!
//! A Burn backend extension: `Autodiff<Flex>` records each layer as one op with a
//! hand-written backward pass (`backward`), `Flex` runs the forward pass alone; which pass takes
//! which products is decided in `layer`. Reached through `Dispatch`.

mod backward;
mod layer;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::prelude::*;

use layer::Layer;

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
/// any grid: on the input gradients of 3 x 3 64->3 @32 (the generators' last layer),
/// 3 x 3 3->64 @32, 4 x 4 s2 3->64 @32 and 3 x 3 32->3 @32 the batched product was faster than
/// flex's kernel, by most on the generators' last layer (`docs/performance.md`).
const THIN_CHANNELS: usize = 16;

/// Whether a scatter from a small grid of `pixels` pixels, of a layer with `channels` (small
/// and large side), takes the batched product.
pub(crate) fn scatters_batched(pixels: usize, channels: [usize; 2]) -> bool {
    pixels <= SMALL_GRID_PIXELS || channels[0].min(channels[1]) < THIN_CHANNELS
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
