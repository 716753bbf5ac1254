//! Seeded host-side randomness.
//!
//! Every random draw of the crate (weight init, latents, k-means++ seeding, batches) comes from
//! a [`SeededRng`] owned by the caller, then is uploaded to the device. Backend RNGs are global
//! per process (flex keeps one mutex-guarded generator), so relying on them would make two runs
//! in one process interfere; a host stream makes "same seed, same backend, same result" hold.

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// The crate's random number generator: ChaCha8, seedable and serialisable.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator seeded from `seed`.
pub fn seeded(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}

/// A `[rows, cols]` tensor of standard normal samples.
pub fn normal_tensor(rng: &mut SeededRng, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// A tensor of the given shape with entries uniform in `[-bound, bound)`.
pub fn uniform_tensor<const D: usize>(
    rng: &mut SeededRng,
    shape: [usize; D],
    bound: f32,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// `n` integers uniform in `0..k`, as a device tensor.
pub fn uniform_labels(rng: &mut SeededRng, n: usize, k: usize, device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = (0..n).map(|_| rng.random_range(0..k) as i64).collect();
    int_tensor(values, device)
}

/// A 1-d integer tensor from host values.
pub fn int_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Independent stream `id` of the generator for `seed`: models, data and training each take
/// their own, so changing one consumer's draws never shifts another's.
pub fn stream(seed: u64, id: u64) -> SeededRng {
    let mut rng = seeded(seed);
    rng.set_stream(id);
    rng
}
