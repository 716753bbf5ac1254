//! Improved precision and recall (Kynkäänniemi et al., 2019) and density and coverage (Naeem
//! et al., 2020): how much of the generated set lies on the real manifold and how much of the
//! real manifold it covers, each manifold being the union of balls around its samples reaching
//! their `k`-th nearest neighbour. As the `prdc` package computes them (strict inequalities,
//! Euclidean distances); Kynkäänniemi et al. use `k = 3` for precision and recall, Naeem et al.
//! `k = 5` for density and coverage.
//!
//! ```
//! use burn::prelude::*;
//! use selfcond_gan::metrics::{Features, nearest_neighbour_metrics};
//!
//! # fn main() -> selfcond_gan::Result<()> {
//! let real = [0.0f32, 1.0, 2.0, 3.0, 4.0];
//! let fake = [0.5f32, 1.5, 2.5, 10.0];
//! let (real, fake) = (Features::new(&real, 1)?, Features::new(&fake, 1)?);
//! let metrics = nearest_neighbour_metrics(&real, &fake, 1, &Device::default())?;
//! assert_eq!(metrics.precision, 0.75); // 10.0 is off the real manifold
//! # Ok(())
//! # }
//! ```

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{
    BLOCK_ROWS, DeviceSet, Features, blocks, kth_neighbour_squared_distances, same_width,
    squared_distances,
};
use crate::error::{Error, Result};
use crate::host;

/// Precision, recall, density and coverage of a generated set against a real one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NearestNeighbourMetrics {
    /// Fraction of generated samples inside some real sample's ball.
    pub precision: f64,
    /// Fraction of real samples inside some generated sample's ball.
    pub recall: f64,
    /// Real balls that contain each generated sample, on average, over `k` (about 1 when the
    /// two sets come from one distribution; above 1 where generated samples crowd).
    pub density: f64,
    /// Fraction of real samples whose ball contains a generated sample.
    pub coverage: f64,
    /// The neighbour count the balls reach.
    pub k: usize,
}

/// The four metrics for balls reaching the `k`-th nearest neighbour; both sets need more than
/// `k` samples ([`Error::TooFewSamples`]).
pub fn nearest_neighbour_metrics(
    real: &Features,
    fake: &Features,
    k: usize,
    device: &Device,
) -> Result<NearestNeighbourMetrics> {
    in_blocks(real, fake, k, BLOCK_ROWS, device)
}

/// [`nearest_neighbour_metrics`] with distance blocks of `block_rows` rows.
fn in_blocks(
    real: &Features,
    fake: &Features,
    k: usize,
    block_rows: usize,
    device: &Device,
) -> Result<NearestNeighbourMetrics> {
    same_width(real, fake)?;
    Error::require_positive(&[("k", k)])?;
    let smaller = real.len().min(fake.len());
    if smaller <= k {
        return Err(Error::TooFewSamples {
            metric: "k-nearest-neighbour balls (k + 1 samples)",
            needed: k + 1,
            got: smaller,
        });
    }
    let real_set = DeviceSet::new(real, device);
    let fake_set = DeviceSet::new(fake, device);
    let real_radii = kth_neighbour_squared_distances(real, &real_set, k, block_rows, device)?;
    let fake_radii = kth_neighbour_squared_distances(fake, &fake_set, k, block_rows, device)?;
    let fake_radii_row = Tensor::<1>::from_floats(fake_radii.as_slice(), device).unsqueeze::<2>();

    // One pass over blocks of real rows against every generated sample.
    let mut balls_holding = Tensor::<2, Int>::zeros([1, fake.len()], device);
    let (mut recalled, mut covered) = (0usize, 0usize);
    for rows in blocks(real.len(), block_rows) {
        let radii = Tensor::<1>::from_floats(&real_radii[rows.clone()], device).unsqueeze_dim(1);
        let distances = squared_distances(real.tensor(rows, device), &fake_set);
        let inside_real = distances.clone().lower(radii.clone()).int();
        balls_holding = balls_holding + inside_real.sum_dim(0);
        let inside_fake = distances.clone().lower(fake_radii_row.clone()).int();
        recalled += count_positive(inside_fake.sum_dim(1))?;
        covered += count_positive(distances.min_dim(1).lower(radii).int())?;
    }
    let holding = host::ints(balls_holding)?;
    let (n_real, n_fake) = (real.len() as f64, fake.len() as f64);
    Ok(NearestNeighbourMetrics {
        precision: holding.iter().filter(|&&c| c > 0).count() as f64 / n_fake,
        recall: recalled as f64 / n_real,
        density: holding.iter().sum::<i64>() as f64 / (k as f64 * n_fake),
        coverage: covered as f64 / n_real,
        k,
    })
}

/// How many entries of an integer column are positive.
fn count_positive(column: Tensor<2, Int>) -> Result<usize> {
    Ok(host::ints(column)?.iter().filter(|&&c| c > 0).count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn hand_computed_case_on_a_line() {
        // Real balls reach the nearest other real point (radius 1); generated balls likewise
        // (1, 1, 1 and 7.5 for the outlier at 10).
        let real = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let fake = [0.5f32, 1.5, 2.5, 10.0];
        let (real, fake) = (
            Features::new(&real, 1).unwrap(),
            Features::new(&fake, 1).unwrap(),
        );
        let m = nearest_neighbour_metrics(&real, &fake, 1, &Device::default()).unwrap();
        assert_eq!(m.precision, 0.75, "10 lies in no real ball");
        assert_eq!(
            m.density,
            6.0 / 4.0,
            "the other three lie in two real balls each"
        );
        assert_eq!(m.recall, 1.0, "4 lies in the outlier's wide ball");
        assert_eq!(m.coverage, 0.8, "no generated point within 1 of 4");
    }

    /// The definitions, in f64 on the host, one pair at a time.
    fn brute_force(real: &[Vec<f64>], fake: &[Vec<f64>], k: usize) -> [f64; 4] {
        let d2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
        let radii = |set: &[Vec<f64>]| -> Vec<f64> {
            set.iter()
                .map(|a| {
                    let mut d: Vec<f64> = set.iter().map(|b| d2(a, b)).collect();
                    d.sort_by(f64::total_cmp);
                    d[k]
                })
                .collect()
        };
        let (rr, rf) = (radii(real), radii(fake));
        let holding: Vec<usize> = fake
            .iter()
            .map(|f| {
                real.iter()
                    .zip(&rr)
                    .filter(|(r, rad)| d2(f, r) < **rad)
                    .count()
            })
            .collect();
        let precision = holding.iter().filter(|&&c| c > 0).count() as f64 / fake.len() as f64;
        let density = holding.iter().sum::<usize>() as f64 / (k * fake.len()) as f64;
        let recall = real
            .iter()
            .filter(|r| fake.iter().zip(&rf).any(|(f, rad)| d2(r, f) < *rad))
            .count() as f64
            / real.len() as f64;
        let coverage = real
            .iter()
            .zip(&rr)
            .filter(|(r, rad)| fake.iter().any(|f| d2(r, f) < **rad))
            .count() as f64
            / real.len() as f64;
        [precision, recall, density, coverage]
    }

    #[test]
    fn matches_the_definitions_across_several_blocks() {
        // Blocks of 16 rows over 45 real ones (the last block partial), a shifted and wider
        // generated set; tiny shapes, as Mesa's software Vulkan runs this test too.
        let (n_real, n_fake, dim, block_rows) = (45, 30, 4, 16);
        let mut rng = seeded(3);
        let mut draw = |n: usize, shift: f64, scale: f64| -> Vec<Vec<f64>> {
            (0..n)
                .map(|_| {
                    (0..dim)
                        .map(|_| {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            // Rounded to multiples of 1/8 so that f32 distances are exact.
                            ((shift + scale * z) * 8.0).round() / 8.0
                        })
                        .collect()
                })
                .collect()
        };
        let real = draw(n_real, 0.0, 1.0);
        let fake = draw(n_fake, 0.5, 1.5);
        let flat =
            |set: &[Vec<f64>]| -> Vec<f32> { set.iter().flatten().map(|&v| v as f32).collect() };
        let (real_values, fake_values) = (flat(&real), flat(&fake));
        fn features(v: &[f32], dim: usize) -> Features<'_> {
            Features::new(v, dim).unwrap()
        }
        for k in [3, 5] {
            let ours = in_blocks(
                &features(&real_values, dim),
                &features(&fake_values, dim),
                k,
                block_rows,
                &Device::default(),
            )
            .unwrap();
            let expected = brute_force(&real, &fake, k);
            let got = [ours.precision, ours.recall, ours.density, ours.coverage];
            for (g, e) in got.iter().zip(expected) {
                assert!(
                    (g - e).abs() < 1e-12,
                    "k = {k}: {got:?} against {expected:?}"
                );
            }
            assert!(
                got[0] < 1.0 && got[1] < 1.0,
                "the shifted set is not a copy: {got:?}"
            );
        }
    }

    #[test]
    fn too_few_samples_and_mismatched_sets_are_typed_errors() {
        let device = Device::default();
        let three = [0.0f32, 1.0, 2.0];
        let set = Features::new(&three, 1).unwrap();
        assert!(matches!(
            nearest_neighbour_metrics(&set, &set, 3, &device),
            Err(Error::TooFewSamples {
                needed: 4,
                got: 3,
                ..
            })
        ));
        let wide = Features::new(&three, 3).unwrap();
        assert!(matches!(
            nearest_neighbour_metrics(&set, &wide, 1, &device),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(Features::new(&three, 2).is_err(), "not whole rows");
        assert!(Features::new(&[f32::NAN], 1).is_err());
    }
}
