//! k-means on Burn tensors: features never leave the device, only `k`-sized summaries do.
//!
//! Seeding is greedy k-means++ (as scikit-learn does it: `2 + ln k` candidates per centre, the
//! one that lowers the potential most wins); refinement is Lloyd's algorithm with the
//! scikit-learn tolerance (squared centre shift against `tol` times the mean feature variance).
//! An empty cluster is re-seeded with the point farthest from its centre.
//!
//! Points are centred before fitting (as scikit-learn does): distances come from the expansion
//! `|x|^2 - 2 x.c + |c|^2`, which in f32 loses the small within-cluster distances to
//! cancellation when the data sit far from the origin, and assignments then never settle.

use burn::prelude::*;
use burn::tensor::{IndexingUpdateOp, TensorData};
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};
use crate::host;
use crate::rng::{SeededRng, int_tensor};

/// Settings of a k-means fit.
#[derive(Config, Debug)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub k: usize,
    /// Maximum Lloyd iterations per run.
    #[config(default = 300)]
    pub max_iters: usize,
    /// Convergence threshold: squared centre shift relative to the data's mean variance.
    #[config(default = 1e-4)]
    pub tolerance: f64,
    /// Independent k-means++ runs; the one with the lowest inertia is kept.
    #[config(default = 1)]
    pub restarts: usize,
}

/// How the centres of a fit start.
#[derive(Debug, Clone)]
pub enum KMeansInit {
    /// Greedy k-means++ seeding, repeated `restarts` times.
    PlusPlus,
    /// Start from these `[k, d]` centres (a warm start); `restarts` is ignored.
    Precomputed(Box<Tensor<2>>),
}

/// A fitted clustering.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    /// Cluster centres, `[k, d]`.
    pub centroids: Tensor<2>,
    /// Nearest centre of every point, `[n]`.
    pub labels: Tensor<1, Int>,
    /// Sum of squared distances of points to their centre.
    pub inertia: f64,
    /// Lloyd iterations run by the kept fit.
    pub iterations: usize,
    /// Whether the kept fit met the tolerance before `max_iters`.
    pub converged: bool,
}

impl KMeansConfig {
    /// Rejects settings that cannot produce a clustering.
    pub fn check(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::config("k", "must be at least 1"));
        }
        if self.max_iters == 0 {
            return Err(Error::config("max_iters", "must be at least 1"));
        }
        if self.restarts == 0 {
            return Err(Error::config("restarts", "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(Error::config(
                "tolerance",
                "must be finite and non-negative",
            ));
        }
        Ok(())
    }

    /// Clusters the rows of `points: [n, d]`.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use selfcond_gan::cluster::{KMeansConfig, KMeansInit};
    /// use selfcond_gan::rng::seeded;
    ///
    /// let device = Device::default();
    /// let points = Tensor::<2>::from_floats([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]], &device);
    /// let fit = KMeansConfig::new(2)
    ///     .fit(&points, KMeansInit::PlusPlus, &mut seeded(7))
    ///     .unwrap();
    /// let labels = fit.labels.into_data().to_vec::<i32>().unwrap();
    /// assert_eq!(labels[0], labels[1]);
    /// assert_ne!(labels[0], labels[2]);
    /// ```
    pub fn fit(
        &self,
        points: &Tensor<2>,
        init: KMeansInit,
        rng: &mut SeededRng,
    ) -> Result<KMeansFit> {
        self.check()?;
        let [n, d] = points.dims();
        if n == 0 || d == 0 {
            return Err(Error::Empty {
                what: "k-means input",
            });
        }
        if self.k > n {
            return Err(Error::TooFewPoints {
                k: self.k,
                points: n,
            });
        }
        host::ensure_finite(points, "k-means input")?;
        let data = Prepared::new(points.clone(), self.tolerance)?;

        match init {
            KMeansInit::Precomputed(centroids) => {
                let [k, cd] = centroids.dims();
                if k != self.k {
                    return Err(Error::DimensionMismatch {
                        what: "initial centroids (rows)",
                        expected: self.k,
                        got: k,
                    });
                }
                if cd != d {
                    return Err(Error::DimensionMismatch {
                        what: "initial centroids (feature dimension)",
                        expected: d,
                        got: cd,
                    });
                }
                host::ensure_finite(&centroids, "initial centroids")?;
                let centred = *centroids - data.mean.clone();
                self.lloyd(&data, centred, 1)
            }
            KMeansInit::PlusPlus => {
                let seeds = plus_plus(&data, self.k, self.restarts, rng)?;
                self.lloyd(&data, seeds, self.restarts)
            }
        }
    }

    /// Lloyd's algorithm on `runs` independent clusterings at once: `centroids` stacks their
    /// `[k, d]` centres run after run. One distance matmul and one update matmul serve every
    /// run, so the points are read once per iteration whatever the number of restarts. A run
    /// that has converged is frozen, so each run ends exactly as it would alone. The run with
    /// the lowest inertia is returned.
    fn lloyd(&self, data: &Prepared, mut centroids: Tensor<2>, runs: usize) -> Result<KMeansFit> {
        let (n, k) = (data.n(), self.k);
        let device = data.points.device();
        let offsets = run_offsets(runs, k, &device);
        let mut iterations = vec![0usize; runs];
        let mut converged = vec![false; runs];

        for _ in 0..self.max_iters {
            let (distances, labels) = data.assign_runs(&centroids, runs, k);
            let global = labels + offsets.clone(); // [n, runs], ids into the stacked centres
            let updated = data.update(&centroids, global, distances, runs, k, &converged)?;
            let shifts = host::floats(
                (updated.clone() - centroids)
                    .square()
                    .sum_dim(1)
                    .reshape([runs, k])
                    .sum_dim(1),
            )?;
            centroids = updated;
            for run in 0..runs {
                if !converged[run] {
                    iterations[run] += 1;
                    converged[run] = shifts[run] as f64 <= data.tolerance;
                }
            }
            if converged.iter().all(|&c| c) {
                break;
            }
        }

        // Final assignment so labels match the returned centres; inertia from the exact
        // differences, not the expansion.
        let (_, labels) = data.assign_runs(&centroids, runs, k);
        let global = labels.clone() + offsets;
        let mut best: Option<(usize, f64)> = None;
        for run in 0..runs {
            let own = global.clone().narrow(1, run, 1).reshape([n]);
            let residuals = data.points.clone() - centroids.clone().select(0, own);
            let inertia = host::scalar(residuals.square().sum())?;
            if best.is_none_or(|(_, b)| inertia < b) {
                best = Some((run, inertia));
            }
        }
        let (run, inertia) = best.ok_or(Error::config("restarts", "must be at least 1"))?;
        Ok(KMeansFit {
            centroids: centroids.narrow(0, run * k, k) + data.mean.clone(),
            labels: labels.narrow(1, run, 1).reshape([n]),
            inertia,
            iterations: iterations[run],
            converged: converged[run],
        })
    }
}

/// `[1, runs]` offsets `run * k` that turn per-run labels into rows of the stacked centres.
fn run_offsets(runs: usize, k: usize, device: &Device) -> Tensor<2, Int> {
    int_tensor((0..runs).map(|r| (r * k) as i64).collect(), device).reshape([1, runs])
}

/// Nearest centre of every row of `points: [n, d]` among `centroids: [k, d]`, on device.
pub fn assign_nearest(points: Tensor<2>, centroids: &Tensor<2>) -> Tensor<1, Int> {
    let n = points.dims()[0];
    let squared_norms = points.clone().square().sum_dim(1);
    let (_, labels) = squared_distances(points, squared_norms, centroids).min_dim_with_indices(1);
    labels.reshape([n])
}

/// `[n, k]` squared distances, from the expansion `|x|^2 - 2 x.c + |c|^2` (one matmul).
fn squared_distances(
    points: Tensor<2>,
    squared_norms: Tensor<2>,
    centroids: &Tensor<2>,
) -> Tensor<2> {
    let centre_norms = centroids.clone().square().sum_dim(1).transpose();
    let cross = points.matmul(centroids.clone().transpose());
    // Rounding can make the expansion slightly negative.
    (squared_norms - cross.mul_scalar(2.0) + centre_norms).clamp_min(0.0)
}

/// The centred points with what every iteration reuses.
struct Prepared {
    points: Tensor<2>,
    /// Column means `[1, d]` subtracted from the points.
    mean: Tensor<2>,
    squared_norms: Tensor<2>,
    /// Absolute tolerance on the squared centre shift.
    tolerance: f64,
}

impl Prepared {
    fn new(points: Tensor<2>, relative_tolerance: f64) -> Result<Self> {
        let mean = points.clone().mean_dim(0);
        let points = points - mean.clone();
        let variance = points.clone().square().mean_dim(0).mean();
        let tolerance = relative_tolerance * host::scalar(variance)?;
        Ok(Self {
            squared_norms: points.clone().square().sum_dim(1),
            points,
            mean,
            tolerance,
        })
    }

    fn n(&self) -> usize {
        self.points.dims()[0]
    }

    /// For each of `runs` stacked clusterings of `k` centres: squared distance of every point
    /// to its nearest centre and that centre's index within the run, both `[n, runs]`.
    fn assign_runs(
        &self,
        centroids: &Tensor<2>,
        runs: usize,
        k: usize,
    ) -> (Tensor<2>, Tensor<2, Int>) {
        let n = self.n();
        let (distances, labels) =
            squared_distances(self.points.clone(), self.squared_norms.clone(), centroids)
                .reshape([n, runs, k])
                .min_dim_with_indices(2);
        (distances.reshape([n, runs]), labels.reshape([n, runs]))
    }

    /// New stacked centres: cluster means for the runs still going (an empty cluster takes
    /// the point farthest from its centre in that run), unchanged centres for converged runs.
    fn update(
        &self,
        previous: &Tensor<2>,
        global_labels: Tensor<2, Int>,
        distances: Tensor<2>,
        runs: usize,
        k: usize,
        frozen: &[bool],
    ) -> Result<Tensor<2>> {
        let (n, d) = (self.n(), previous.dims()[1]);
        let device = previous.device();
        // members[i, run * k + j] = 1 when point i is in cluster j of that run.
        let members = Tensor::<2>::zeros([n, runs * k], &device).scatter(
            1,
            global_labels,
            Tensor::ones([n, runs], &device),
            IndexingUpdateOp::Assign,
        );
        let counts = members.clone().sum_dim(0); // [1, runs * k]
        let sums = members.transpose().matmul(self.points.clone()); // [runs * k, d]
        let mut centroids = sums / counts.clone().clamp_min(1.0).transpose();

        let counts = host::floats(counts)?;
        let mut farthest_cache: Option<Vec<f32>> = None;
        for run in (0..runs).filter(|&r| !frozen[r]) {
            let empty: Vec<usize> = (0..k).filter(|&j| counts[run * k + j] == 0.0).collect();
            if empty.is_empty() {
                continue;
            }
            if farthest_cache.is_none() {
                farthest_cache = Some(host::floats(distances.clone())?);
            }
            let all = farthest_cache.as_deref().unwrap_or_default();
            let own: Vec<f32> = (0..n).map(|i| all[i * runs + run]).collect();
            for (cluster, point) in empty.into_iter().zip(farthest(own, k)) {
                let row = self.points.clone().slice([point..point + 1, 0..d]);
                let at = run * k + cluster;
                centroids = centroids.slice_assign([at..at + 1, 0..d], row);
            }
        }
        if frozen.iter().any(|&f| f) {
            let keep: Vec<f32> = (0..runs * k)
                .map(|row| if frozen[row / k] { 1.0 } else { 0.0 })
                .collect();
            let keep = Tensor::<2>::from_data(TensorData::new(keep, [runs * k, 1]), &device);
            centroids = centroids.clone() + keep * (previous.clone() - centroids);
        }
        Ok(centroids)
    }
}

/// Indices of the `count` largest values, largest first (ties to the lower index).
fn farthest(distances: Vec<f32>, count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[b].total_cmp(&distances[a]).then(a.cmp(&b)));
    order.truncate(count);
    order
}

/// Greedy k-means++ seeding of `runs` independent restarts at once, stacked `[runs * k, d]`.
/// Each run draws from its own stream; the candidates of all runs share one distance matmul
/// per step, so the points are read `k` times in all rather than `k` times per restart. Only
/// `[n, runs]` potentials come back to the host to draw candidates.
fn plus_plus(data: &Prepared, k: usize, runs: usize, rng: &mut SeededRng) -> Result<Tensor<2>> {
    let n = data.n();
    let device = data.points.device();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut streams: Vec<SeededRng> = (0..runs).map(|_| SeededRng::from_rng(&mut *rng)).collect();

    let mut chosen: Vec<Vec<i64>> = streams
        .iter_mut()
        .map(|s| vec![s.random_range(0..n) as i64])
        .collect();
    let firsts: Vec<i64> = chosen.iter().map(|c| c[0]).collect();
    let rows = data.points.clone().select(0, int_tensor(firsts, &device));
    // closest[i, run]: squared distance of point i to the nearest centre chosen in that run.
    let mut closest = squared_distances(data.points.clone(), data.squared_norms.clone(), &rows);

    for _ in 1..k {
        let weights = host::floats(closest.clone())?;
        let mut candidates = Vec::with_capacity(runs * trials);
        for (run, stream) in streams.iter_mut().enumerate() {
            let own: Vec<f32> = (0..n).map(|i| weights[i * runs + run]).collect();
            candidates.extend((0..trials).map(|_| draw_weighted(&own, stream) as i64));
        }
        let rows = data
            .points
            .clone()
            .select(0, int_tensor(candidates.clone(), &device));
        let improved = squared_distances(data.points.clone(), data.squared_norms.clone(), &rows)
            .reshape([n, runs, trials])
            .min_pair(closest.reshape([n, runs, 1]).repeat_dim(2, trials));
        let potentials = host::floats(improved.clone().sum_dim(0))?; // [1, runs, trials]
        let mut columns = Vec::with_capacity(runs);
        for (run, picks) in chosen.iter_mut().enumerate() {
            let own = &potentials[run * trials..(run + 1) * trials];
            let best = (0..trials)
                .min_by(|&a, &b| own[a].total_cmp(&own[b]))
                .unwrap_or(0);
            picks.push(candidates[run * trials + best]);
            columns.push((run * trials + best) as i64);
        }
        closest = improved
            .reshape([n, runs * trials])
            .select(1, int_tensor(columns, &device));
    }
    let all: Vec<i64> = chosen.into_iter().flatten().collect();
    Ok(data.points.clone().select(0, int_tensor(all, &device)))
}

/// An index drawn with probability proportional to `weights` (uniform if all are zero).
fn draw_weighted(weights: &[f32], rng: &mut SeededRng) -> usize {
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    if total <= 0.0 || !total.is_finite() {
        return rng.random_range(0..weights.len());
    }
    let mut target = rng.random_range(0.0..total);
    for (i, &w) in weights.iter().enumerate() {
        target -= w as f64;
        if target < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::match_clusters;
    use crate::rng::seeded;
    use burn::tensor::TensorData;
    use rand_distr::{Distribution, StandardNormal};

    /// `per` points around each of `centres`, with std `spread`; returns points and truth.
    fn blobs(centres: &[Vec<f32>], per: usize, spread: f32, seed: u64) -> (Tensor<2>, Vec<i64>) {
        let mut rng = seeded(seed);
        let d = centres[0].len();
        let mut values = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                for &m in centre {
                    let noise: f32 = StandardNormal.sample(&mut rng);
                    values.push(m + spread * noise);
                }
                truth.push(c as i64);
            }
        }
        let n = truth.len();
        let x = Tensor::from_data(TensorData::new(values, [n, d]), &Device::default());
        (x, truth)
    }

    fn centres(k: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = seeded(seed);
        (0..k)
            .map(|_| (0..d).map(|_| rng.random_range(-20.0..20.0)).collect())
            .collect()
    }

    #[test]
    fn recovers_seeded_blobs_exactly() {
        let (x, truth) = blobs(&centres(6, 5, 1), 40, 0.3, 2);
        let fit = KMeansConfig::new(6)
            .with_restarts(3)
            .fit(&x, KMeansInit::PlusPlus, &mut seeded(3))
            .unwrap();
        let labels = host::ints(fit.labels).unwrap();
        let p = match_clusters(&labels, &truth, 6).unwrap();
        let agree = labels
            .iter()
            .zip(&truth)
            .filter(|(l, t)| p.apply(**l as usize) as i64 == **t)
            .count();
        assert_eq!(agree, truth.len());
        assert!(fit.converged);
    }

    #[test]
    fn true_means_are_a_fixed_point() {
        let (x, truth) = blobs(&centres(4, 3, 5), 30, 0.5, 6);
        let host_x = host::floats(x.clone()).unwrap();
        let mut means = vec![0.0f32; 4 * 3];
        for (row, &t) in truth.iter().enumerate() {
            for j in 0..3 {
                means[t as usize * 3 + j] += host_x[row * 3 + j] / 30.0;
            }
        }
        let init = Tensor::from_data(TensorData::new(means.clone(), [4, 3]), &x.device());
        let fit = KMeansConfig::new(4)
            .fit(&x, KMeansInit::Precomputed(Box::new(init)), &mut seeded(0))
            .unwrap();
        assert_eq!(
            fit.iterations, 1,
            "the first update must not move the centres"
        );
        assert!(fit.converged);
        assert_eq!(host::ints(fit.labels).unwrap(), truth);
        for (a, b) in host::floats(fit.centroids).unwrap().iter().zip(&means) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn empty_cluster_takes_the_farthest_point() {
        let (x, _) = blobs(&centres(3, 2, 9), 20, 0.1, 10);
        // Three starting centres on blob 0's side, one absurdly far away: it starts empty.
        let device = x.device();
        let first = host::floats(x.clone().slice([0..1, 0..2])).unwrap();
        let init = Tensor::from_data(
            TensorData::new(
                vec![first[0], first[1], first[0] + 0.01, first[1], 1e4, 1e4],
                [3, 2],
            ),
            &device,
        );
        let fit = KMeansConfig::new(3)
            .fit(&x, KMeansInit::Precomputed(Box::new(init)), &mut seeded(0))
            .unwrap();
        let labels = host::ints(fit.labels).unwrap();
        for c in 0..3 {
            assert!(labels.contains(&c), "cluster {c} is empty: {labels:?}");
        }
    }

    #[test]
    fn same_seed_same_fit() {
        let (x, _) = blobs(&centres(5, 4, 11), 30, 2.0, 12);
        let fit = |seed| {
            let f = KMeansConfig::new(5)
                .fit(&x, KMeansInit::PlusPlus, &mut seeded(seed))
                .unwrap();
            (host::floats(f.centroids).unwrap(), f.inertia)
        };
        assert_eq!(fit(4), fit(4));
    }

    #[test]
    fn batched_restarts_never_do_worse_than_their_first_run() {
        // The first restart of a batch draws from the same stream as a single-restart fit, and
        // converged runs are frozen, so the best of four can only match or beat it.
        let (x, _) = blobs(&centres(8, 6, 21), 25, 3.0, 22);
        for seed in 0..4 {
            let fit = |restarts| {
                KMeansConfig::new(8)
                    .with_restarts(restarts)
                    .fit(&x, KMeansInit::PlusPlus, &mut seeded(seed))
                    .unwrap()
                    .inertia
            };
            let (one, four) = (fit(1), fit(4));
            assert!(four <= one * (1.0 + 1e-6), "seed {seed}: {four} > {one}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let device = Device::default();
        let x = Tensor::<2>::from_floats([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], &device);
        let mut rng = seeded(0);
        let plus = || KMeansInit::PlusPlus;
        assert!(matches!(
            KMeansConfig::new(0).fit(&x, plus(), &mut rng),
            Err(Error::InvalidConfig { field: "k", .. })
        ));
        assert!(matches!(
            KMeansConfig::new(4).fit(&x, plus(), &mut rng),
            Err(Error::TooFewPoints { k: 4, points: 3 })
        ));
        let wrong = Tensor::<2>::zeros([2, 3], &device);
        assert!(matches!(
            KMeansConfig::new(2).fit(&x, KMeansInit::Precomputed(Box::new(wrong)), &mut rng),
            Err(Error::DimensionMismatch { .. })
        ));
        let nan = Tensor::<2>::from_floats([[0.0, f32::NAN], [1.0, 1.0]], &device);
        assert!(matches!(
            KMeansConfig::new(1).fit(&nan, plus(), &mut rng),
            Err(Error::NonFinite { .. })
        ));
        let inf = Tensor::<2>::from_floats([[0.0, f32::INFINITY], [1.0, 1.0]], &device);
        assert!(matches!(
            KMeansConfig::new(1).fit(&inf, plus(), &mut rng),
            Err(Error::NonFinite { .. })
        ));
        let empty = Tensor::<2>::zeros([0, 2], &device);
        assert!(matches!(
            KMeansConfig::new(1).fit(&empty, plus(), &mut rng),
            Err(Error::Empty { .. })
        ));
    }

    #[test]
    fn weighted_draw_follows_weights() {
        let mut rng = seeded(1);
        let weights = [0.0, 3.0, 1.0, 0.0];
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[draw_weighted(&weights, &mut rng)] += 1;
        }
        assert_eq!(counts[0] + counts[3], 0);
        let ratio = counts[1] as f64 / counts[2] as f64;
        assert!((2.6..3.4).contains(&ratio), "{counts:?}");
    }
}
