//! Test inputs for the flex kernels: deterministic tensors without an RNG, and their values.

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::patches::{row_major, values_of};

/// A `shape` tensor of values in [-1, 1) spread by a multiplicative hash of the index and
/// `seed`.
pub(super) fn tensor(shape: [usize; 4], seed: u32) -> FlexTensor {
    let count = shape.iter().product::<usize>() as u32;
    let values = (0..count)
        .map(|i| {
            ((i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 1000) as f32 / 500.0 - 1.0
        })
        .collect::<Vec<_>>();
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The values of `x` in row-major order.
pub(super) fn values(x: &FlexTensor) -> Vec<f32> {
    values_of(&row_major(x)).to_vec()
}
