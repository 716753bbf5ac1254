//! Kernel Inception Distance (Bińkowski et al., 2018) as torch-fidelity computes it: the
//! unbiased estimate of the squared MMD between real and generated features under the cubic
//! polynomial kernel `k(x, y) = (x.y / d + 1)^3`, averaged over random subsets of equal size
//! (100 subsets of 1,000 by default), with the standard deviation over the subsets.

use burn::prelude::*;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::features::{Features, mean_and_std, same_width};
use crate::error::{Error, Result};
use crate::host;
use crate::rng::seeded;

/// How KID draws its subsets.
#[derive(Config, Debug, PartialEq)]
pub struct KidConfig {
    /// Subsets drawn.
    #[config(default = 100)]
    pub subsets: usize,
    /// Samples per subset, from each set (drawn without replacement within a subset).
    #[config(default = 1000)]
    pub subset_size: usize,
    /// Seed of the subset draws.
    #[config(default = 0)]
    pub seed: u64,
}

/// KID's mean and standard deviation over the subsets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kid {
    /// Mean of the subsets' unbiased squared MMD.
    pub mean: f64,
    /// Their standard deviation (over the subsets, not of the mean).
    pub std: f64,
}

/// KID between `real` and `fake`; both need at least `subset_size` samples
/// ([`Error::TooFewSamples`]), and a subset at least 2.
pub fn kernel_inception_distance(
    real: &Features,
    fake: &Features,
    config: &KidConfig,
    device: &Device,
) -> Result<Kid> {
    same_width(real, fake)?;
    Error::require_positive(&[("subsets", config.subsets)])?;
    let m = config.subset_size;
    let smaller = real.len().min(fake.len());
    if m < 2 || smaller < m {
        return Err(Error::TooFewSamples {
            metric: "KID (subset_size, at least 2)",
            needed: m.max(2),
            got: smaller,
        });
    }
    let mut rng = seeded(config.seed);
    let mut estimates = Vec::with_capacity(config.subsets);
    for _ in 0..config.subsets {
        let x = real.select(&sample(&mut rng, real.len(), m).into_vec(), device);
        let y = fake.select(&sample(&mut rng, fake.len(), m).into_vec(), device);
        estimates.push(unbiased_mmd2(x, y, real.dim())?);
    }
    let (mean, std) = mean_and_std(&estimates);
    Ok(Kid { mean, std })
}

/// `[sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1)) - 2 sum k(x_i, y_j) / m^2`.
/// The dot products come from the device; the kernel and the sums, whose terms nearly cancel,
/// are taken in f64.
fn unbiased_mmd2(x: Tensor<2>, y: Tensor<2>, dim: usize) -> Result<f64> {
    let m = x.dims()[0] as f64;
    let kernel_sum = |a: &Tensor<2>, b: &Tensor<2>, skip_diagonal: bool| -> Result<f64> {
        let products = host::floats(a.clone().matmul(b.clone().transpose()))?;
        let side = a.dims()[0];
        let kernel = |p: f32| (p as f64 / dim as f64 + 1.0).powi(3);
        let total: f64 = products.iter().map(|&p| kernel(p)).sum();
        let diagonal: f64 = match skip_diagonal {
            true => (0..side).map(|i| kernel(products[i * side + i])).sum(),
            false => 0.0,
        };
        Ok(total - diagonal)
    };
    let xx = kernel_sum(&x, &x, true)?;
    let yy = kernel_sum(&y, &y, true)?;
    let xy = kernel_sum(&x, &y, false)?;
    Ok((xx + yy) / (m * (m - 1.0)) - 2.0 * xy / (m * m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use rand_distr::{Distribution, StandardNormal};

    fn whole_sets() -> KidConfig {
        KidConfig::new().with_subsets(1).with_subset_size(2)
    }

    #[test]
    fn hand_computed_case() {
        // d = 1, k(a, b) = (ab + 1)^3: XX off the diagonal 2 * 27, YY 2 * 1,
        // XY 1 + 64 + 1 + 343 = 409; (54 + 2) / 2 - 2 * 409 / 4 = -176.5. A subset of the
        // whole set is a permutation of it, which the estimate does not depend on.
        let (x, y) = ([1.0f32, 2.0], [0.0f32, 3.0]);
        let (x, y) = (Features::new(&x, 1).unwrap(), Features::new(&y, 1).unwrap());
        let kid = kernel_inception_distance(&x, &y, &whole_sets(), &Device::default()).unwrap();
        assert_eq!(kid.mean, -176.5);
        assert_eq!(kid.std, 0.0);
    }

    #[test]
    fn near_zero_for_one_distribution_and_positive_for_another() {
        let dim = 16;
        let mut rng = seeded(5);
        let mut draw = |n: usize, shift: f32| -> Vec<f32> {
            (0..n * dim)
                .map(|_| {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    shift + z * 0.5
                })
                .collect()
        };
        let (real, same, other) = (draw(240, 1.0), draw(240, 1.0), draw(240, 1.3));
        fn features(v: &[f32], dim: usize) -> Features<'_> {
            Features::new(v, dim).unwrap()
        }
        let config = KidConfig::new().with_subsets(8).with_subset_size(80);
        let device = Device::default();
        let run = |fake: &[f32]| {
            kernel_inception_distance(
                &features(&real, dim),
                &features(fake, dim),
                &config,
                &device,
            )
            .unwrap()
        };
        let (null, shifted) = (run(&same), run(&other));
        assert!(
            shifted.mean > 10.0 * shifted.std.max(null.mean.abs()),
            "{null:?} {shifted:?}"
        );
        assert!(null.mean.abs() < 3.0 * null.std, "unbiased: {null:?}");
        // Seeded subsets: the same draws again (up to the rounding of another kernel choice on
        // autotuning backends); other draws would move the mean by about std / sqrt(8).
        let again = run(&other);
        let tolerance = 1e-4 * shifted.mean.abs();
        assert!(
            (again.mean - shifted.mean).abs() <= tolerance,
            "{again:?} {shifted:?}"
        );
    }

    #[test]
    fn a_subset_larger_than_a_set_is_a_typed_error() {
        let values = [0.0f32; 10];
        let set = Features::new(&values, 2).unwrap();
        let config = KidConfig::new().with_subset_size(6);
        assert!(matches!(
            kernel_inception_distance(&set, &set, &config, &Device::default()),
            Err(Error::TooFewSamples {
                needed: 6,
                got: 5,
                ..
            })
        ));
    }
}
