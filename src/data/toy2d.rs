//! The paper's 2D benchmarks: mixtures of Gaussians on a ring or a grid, and their metrics.

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::train::{Batch, BatchSource};

/// An equal-weight mixture of isotropic 2D Gaussians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianMixture2d {
    /// Mode centres.
    pub means: Vec<[f32; 2]>,
    /// Standard deviation of every coordinate.
    pub std: f32,
}

impl GaussianMixture2d {
    /// 8 modes evenly spaced on a circle of `radius` (2 in the reference code, 1 in the paper's
    /// text), variance 1e-4.
    pub fn ring(radius: f32) -> Result<Self> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(Error::config("radius", "must be finite and positive"));
        }
        let means = (0..8)
            .map(|i| {
                let angle = 2.0 * std::f32::consts::PI * i as f32 / 8.0;
                [radius * angle.cos(), radius * angle.sin()]
            })
            .collect();
        Ok(Self { means, std: 0.01 })
    }

    /// 25 modes at `(2i - 4, 2j - 4)`, `i, j` in `0..5`, variance 0.0025.
    pub fn grid() -> Self {
        let means = (0..5)
            .flat_map(|i| (0..5).map(move |j| [2.0 * i as f32 - 4.0, 2.0 * j as f32 - 4.0]))
            .collect();
        Self { means, std: 0.05 }
    }

    /// Number of modes.
    pub fn num_modes(&self) -> usize {
        self.means.len()
    }

    /// `n` points and the mode each was drawn from.
    pub fn sample(&self, n: usize, rng: &mut SeededRng) -> (Vec<[f32; 2]>, Vec<i64>) {
        let mut points = Vec::with_capacity(n);
        let mut modes = Vec::with_capacity(n);
        for _ in 0..n {
            let mode = rng.random_range(0..self.means.len());
            let [mx, my] = self.means[mode];
            let dx: f32 = StandardNormal.sample(rng);
            let dy: f32 = StandardNormal.sample(rng);
            points.push([mx + self.std * dx, my + self.std * dy]);
            modes.push(mode as i64);
        }
        (points, modes)
    }

    /// Index of the nearest mode centre.
    pub fn nearest_mode(&self, [x, y]: [f32; 2]) -> usize {
        let distance = |m: &[f32; 2]| (m[0] - x).powi(2) + (m[1] - y).powi(2);
        (0..self.means.len())
            .min_by(|&a, &b| distance(&self.means[a]).total_cmp(&distance(&self.means[b])))
            .unwrap_or(0)
    }

    /// The paper's metrics on generated points.
    ///
    /// A sample is *high quality* when it lies within 3 standard deviations of its nearest mode
    /// in every coordinate; a mode is *covered* when it has at least one high-quality sample;
    /// reverse KL is `sum_i p_i ln(K p_i)` with every sample counted at its nearest mode.
    ///
    /// ```
    /// use selfcond_gan::data::GaussianMixture2d;
    /// use selfcond_gan::rng::seeded;
    /// let ring = GaussianMixture2d::ring(2.0).unwrap();
    /// let (points, _) = ring.sample(10_000, &mut seeded(1));
    /// let m = ring.evaluate(&points).unwrap();
    /// assert_eq!(m.modes, 8);
    /// assert!(m.high_quality_fraction > 0.99 && m.reverse_kl < 0.01);
    /// ```
    pub fn evaluate(&self, samples: &[[f32; 2]]) -> Result<Toy2dMetrics> {
        if samples.is_empty() {
            return Err(Error::Empty { what: "samples" });
        }
        if samples.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "samples" });
        }
        let k = self.means.len();
        let mut nearest = vec![0usize; k];
        let mut high_quality = vec![0usize; k];
        let limit = 3.0 * self.std;
        for &point in samples {
            let mode = self.nearest_mode(point);
            nearest[mode] += 1;
            let [mx, my] = self.means[mode];
            if (point[0] - mx).abs() <= limit && (point[1] - my).abs() <= limit {
                high_quality[mode] += 1;
            }
        }
        let n = samples.len() as f64;
        let reverse_kl = nearest
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n;
                p * (k as f64 * p).ln()
            })
            .sum();
        Ok(Toy2dMetrics {
            modes: high_quality.iter().filter(|&&c| c > 0).count(),
            total_modes: k,
            high_quality_fraction: high_quality.iter().sum::<usize>() as f64 / n,
            reverse_kl,
        })
    }
}

/// The 2D metrics of Table 1 of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Toy2dMetrics {
    /// Modes with at least one high-quality sample.
    pub modes: usize,
    /// Modes of the mixture.
    pub total_modes: usize,
    /// Fraction of samples within 3 sigma of a mode.
    pub high_quality_fraction: f64,
    /// Reverse KL from the uniform mode distribution, natural log.
    pub reverse_kl: f64,
}

/// A fixed training set drawn from a mixture, served in random batches.
#[derive(Debug, Clone)]
pub struct Toy2dDataset {
    /// The mixture the points came from.
    pub mixture: GaussianMixture2d,
    /// The points.
    pub points: Vec<[f32; 2]>,
    /// The mode of every point (ground truth for supervised training).
    pub modes: Vec<i64>,
    batch_size: usize,
    rng: SeededRng,
}

impl Toy2dDataset {
    /// Draws `n` points with `rng`; batches of `batch_size` are then drawn with `batch_rng`.
    pub fn new(
        mixture: GaussianMixture2d,
        n: usize,
        batch_size: usize,
        rng: &mut SeededRng,
        batch_rng: SeededRng,
    ) -> Result<Self> {
        if n == 0 {
            return Err(Error::Empty {
                what: "2D data set",
            });
        }
        if batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        let (points, modes) = mixture.sample(n, rng);
        Ok(Self {
            mixture,
            points,
            modes,
            batch_size,
            rng: batch_rng,
        })
    }

    /// The stream batches are drawn from: save it with a checkpoint to resume exactly.
    pub fn batch_rng(&self) -> &SeededRng {
        &self.rng
    }

    /// Continues drawing batches from `rng` (a stream saved by [`Self::batch_rng`]).
    pub fn set_batch_rng(&mut self, rng: SeededRng) {
        self.rng = rng;
    }

    /// The first `n` points as a `[n, 2]` tensor (a fixed clustering set).
    pub fn head_tensor(&self, n: usize, device: &Device) -> Tensor<2> {
        points_tensor(&self.points[..n.min(self.points.len())], device)
    }
}

impl BatchSource<2> for Toy2dDataset {
    fn next_batch(&mut self, device: &Device) -> Result<Batch<2>> {
        let picks = crate::data::draw_indices(&mut self.rng, self.points.len(), self.batch_size);
        let points: Vec<[f32; 2]> = picks.iter().map(|&i| self.points[i]).collect();
        Ok(Batch {
            samples: points_tensor(&points, device),
            labels: Some(picks.iter().map(|&i| self.modes[i]).collect()),
        })
    }
}

/// Points as a `[n, 2]` tensor.
pub fn points_tensor(points: &[[f32; 2]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [points.len(), 2]), device)
}

/// A `[n, 2]` tensor back to points.
pub fn tensor_points(tensor: Tensor<2>) -> Result<Vec<[f32; 2]>> {
    let [_, d] = tensor.dims();
    if d != 2 {
        return Err(Error::DimensionMismatch {
            what: "point dimension",
            expected: 2,
            got: d,
        });
    }
    Ok(crate::host::floats(tensor)?
        .chunks_exact(2)
        .map(|c| [c[0], c[1]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn layouts_match_the_paper() {
        let ring = GaussianMixture2d::ring(2.0).unwrap();
        assert_eq!(ring.num_modes(), 8);
        for m in &ring.means {
            assert!(((m[0].powi(2) + m[1].powi(2)).sqrt() - 2.0).abs() < 1e-5);
        }
        assert!((ring.std.powi(2) - 1e-4).abs() < 1e-9);
        let grid = GaussianMixture2d::grid();
        assert_eq!(grid.num_modes(), 25);
        assert!(grid.means.contains(&[-4.0, -4.0]) && grid.means.contains(&[4.0, 4.0]));
        assert!((grid.std.powi(2) - 0.0025).abs() < 1e-9);
        assert!(GaussianMixture2d::ring(0.0).is_err());
        assert!(GaussianMixture2d::ring(f32::NAN).is_err());
    }

    #[test]
    fn collapse_to_one_mode_scores_log_k() {
        let ring = GaussianMixture2d::ring(1.0).unwrap();
        let samples = vec![ring.means[3]; 1000];
        let m = ring.evaluate(&samples).unwrap();
        assert_eq!(m.modes, 1);
        assert_eq!(m.high_quality_fraction, 1.0);
        assert!((m.reverse_kl - 8f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn off_mode_samples_are_low_quality_and_cover_nothing() {
        let grid = GaussianMixture2d::grid();
        // Midway between modes: nearest-mode counting still spreads them, quality is zero.
        let samples: Vec<[f32; 2]> = grid.means.iter().map(|m| [m[0] + 1.0, m[1]]).collect();
        let m = grid.evaluate(&samples).unwrap();
        assert_eq!(m.modes, 0);
        assert_eq!(m.high_quality_fraction, 0.0);
        // 3 sigma is the boundary: 2.9 sigma counts, 3.1 sigma does not.
        let inside = [grid.means[0][0] + 2.9 * grid.std, grid.means[0][1]];
        let outside = [grid.means[0][0] + 3.1 * grid.std, grid.means[0][1]];
        assert_eq!(grid.evaluate(&[inside]).unwrap().modes, 1);
        assert_eq!(grid.evaluate(&[outside]).unwrap().modes, 0);
    }

    #[test]
    fn true_samples_score_perfectly_and_bad_samples_are_errors() {
        let grid = GaussianMixture2d::grid();
        let (points, modes) = grid.sample(50_000, &mut seeded(4));
        assert!(modes.iter().all(|&m| (0..25).contains(&m)));
        let m = grid.evaluate(&points).unwrap();
        assert_eq!(m.modes, 25);
        assert!(m.high_quality_fraction > 0.99);
        assert!(m.reverse_kl < 0.01);
        assert!(matches!(grid.evaluate(&[]), Err(Error::Empty { .. })));
        assert!(matches!(
            grid.evaluate(&[[f32::NAN, 0.0]]),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn batches_are_seeded_and_carry_their_modes() {
        let device = Device::default();
        let make = || {
            Toy2dDataset::new(
                GaussianMixture2d::ring(2.0).unwrap(),
                500,
                16,
                &mut seeded(1),
                seeded(2),
            )
            .unwrap()
        };
        let (mut a, mut b) = (make(), make());
        let ba = a.next_batch(&device).unwrap();
        let bb = b.next_batch(&device).unwrap();
        let pa = tensor_points(ba.samples).unwrap();
        assert_eq!(pa, tensor_points(bb.samples).unwrap());
        let labels = ba.labels.unwrap();
        for (p, l) in pa.iter().zip(&labels) {
            assert_eq!(a.mixture.nearest_mode(*p) as i64, *l);
        }
        assert!(Toy2dDataset::new(a.mixture.clone(), 0, 4, &mut seeded(0), seeded(0)).is_err());
        assert!(Toy2dDataset::new(a.mixture.clone(), 4, 0, &mut seeded(0), seeded(0)).is_err());
    }
}
