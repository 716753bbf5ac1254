//! Layer construction from the crate's seeded stream, with PyTorch's default initialisation.
//!
//! PyTorch draws a `Linear`'s weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)); matching
//! it keeps our training dynamics comparable with the reference implementation.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::prelude::*;

use crate::rng::{SeededRng, uniform_tensor};

/// A `Linear(d_input -> d_output)` with bias, initialised as PyTorch does.
pub fn linear(rng: &mut SeededRng, d_input: usize, d_output: usize, device: &Device) -> Linear {
    let bound = 1.0 / (d_input as f32).sqrt();
    Linear {
        weight: Param::from_tensor(uniform_tensor(rng, [d_input, d_output], bound, device)),
        bias: Some(Param::from_tensor(uniform_tensor(
            rng,
            [d_output],
            bound,
            device,
        ))),
    }
}

/// A BatchNorm with PyTorch's defaults (gamma 1, beta 0, momentum 0.1, eps 1e-5).
pub fn batch_norm(num_features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(num_features).init(device)
}
