//! Kernels for Burn's flex (CPU) backend, written as Burn backend extensions: `Autodiff<Flex>`
//! records each operation with a hand-written backward pass, `Flex` runs the forward pass
//! alone, and both are reached through `Dispatch`.
//!
//! - [`conv`]: convolutions and transposed convolutions, forward and backward, routed per pass
//!   between flex's own kernels, batched patch products and Winograd's minimal filtering;
//! - [`batched`], [`patches`], [`gemm`]: the patch products behind them (gathers, scatters,
//!   correlations), the patch layouts, and matrix products written straight into our buffers;
//! - [`winograd`]: F(2x2, 3x3), F(4x4, 3x3) and per-phase F(2x2, 2x2) for wide layers;
//! - [`batch_norm`], [`leaky_relu`], [`maxout`]: one pass each way where Burn runs many;
//! - [`adam`]: Burn's Adam update in one pass per parameter tensor.
//!
//! Why each exists, and what it gains, is measured in `docs/performance.md`.

pub(crate) mod adam;
pub(crate) mod batch_norm;
mod batched;
pub(crate) mod conv;
mod gemm;
pub(crate) mod leaky_relu;
pub(crate) mod maxout;
pub(crate) mod patches;
#[cfg(test)]
mod test_tensors;
pub(crate) mod winograd;

use burn::backend::DispatchDevice;
use burn::prelude::*;

/// Whether `device` runs on flex (with or without autodiff).
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Whether `tensor` is f32 on flex: what the crate's flex kernels take.
pub(crate) fn is_flex_f32<const D: usize>(tensor: &Tensor<D>) -> bool {
    is_flex(&tensor.device()) && tensor.dtype() == burn::tensor::DType::F32
}
