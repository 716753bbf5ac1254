//! Layer construction from the crate's seeded stream, with PyTorch's default initialisation.
//!
//! PyTorch draws a `Linear`'s weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)); matching
//! it keeps our training dynamics comparable with the reference implementation.

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{Linear, PaddingConfig2d};
use burn::prelude::*;

use crate::model::norm::BatchNorm;
use crate::rng::{SeededRng, uniform_tensor};

type WeightAndBias<const D: usize> = (Param<Tensor<D>>, Option<Param<Tensor<1>>>);

/// A weight of `shape` then a bias of `outputs` values, both U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
/// drawn in that order.
fn weight_and_bias<const D: usize>(
    rng: &mut SeededRng,
    shape: [usize; D],
    outputs: usize,
    fan_in: usize,
    device: &Device,
) -> WeightAndBias<D> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weight = Param::from_tensor(uniform_tensor(rng, shape, bound, device));
    let bias = Param::from_tensor(uniform_tensor(rng, [outputs], bound, device));
    (weight, Some(bias))
}

/// A `Linear(d_input -> d_output)` with bias, initialised as PyTorch does.
pub fn linear(rng: &mut SeededRng, d_input: usize, d_output: usize, device: &Device) -> Linear {
    let (weight, bias) = weight_and_bias(rng, [d_input, d_output], d_output, d_input, device);
    Linear { weight, bias }
}

/// A BatchNorm with PyTorch's defaults (gamma 1, beta 0, momentum 0.1, eps 1e-5).
pub fn batch_norm(num_features: usize, device: &Device) -> BatchNorm {
    BatchNorm::new(num_features, device)
}

/// A `Conv2d(in -> out, k x k)` with bias, initialised as PyTorch does (weight and bias
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * k * k).
pub fn conv2d(
    rng: &mut SeededRng,
    [channels_in, channels_out]: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv2d {
    let (weight, bias) = weight_and_bias(
        rng,
        [channels_out, channels_in, kernel, kernel],
        channels_out,
        channels_in * kernel * kernel,
        device,
    );
    Conv2d {
        weight,
        bias,
        stride: [stride; 2],
        kernel_size: [kernel; 2],
        dilation: [1, 1],
        groups: 1,
        padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
    }
}

/// A `ConvTranspose2d(in -> out, k x k)` with bias, initialised as PyTorch does (its fan_in is
/// `out * k * k`: PyTorch reads it off the weight's second dimension).
pub fn conv_transpose2d(
    rng: &mut SeededRng,
    [channels_in, channels_out]: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> ConvTranspose2d {
    let (weight, bias) = weight_and_bias(
        rng,
        [channels_in, channels_out, kernel, kernel],
        channels_out,
        channels_out * kernel * kernel,
        device,
    );
    ConvTranspose2d {
        weight,
        bias,
        stride: [stride; 2],
        kernel_size: [kernel; 2],
        dilation: [1, 1],
        groups: 1,
        padding: [padding; 2],
        padding_out: [0, 0],
        channels: [channels_in, channels_out],
    }
}
