//! The self-conditioner: clusters of the discriminator's features serve as class labels.
//!
//! It keeps a snapshot of D (a true copy via [`Module::valid`], BatchNorm running statistics
//! included), a fixed clustering set, and centres stored in *stable* order: row `i` is cluster
//! `i` as the generator knows it. Matching is folded into the stored centres at each refit, so
//! labelling a training batch is one nearest-centre search on device, with no permutation and
//! no host round trip.

use std::time::Instant;

use burn::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::cluster::{KMeansConfig, KMeansInit, Permutation, assign_nearest, match_clusters};
use crate::error::{Error, Result};
use crate::host;
use crate::model::Discriminator;
use crate::rng::{SeededRng, int_tensor};

/// Settings of the clustering that drives self-conditioning.
#[derive(Config, Debug)]
pub struct SelfCondConfig {
    /// Number of clusters `k`.
    pub k: usize,
    /// Iterations between refits (the paper: 5,000 for 2D, 25,000 for images).
    #[config(default = 5000)]
    pub recluster_every: usize,
    /// k-means++ restarts of the first clustering (later ones are warm-started).
    #[config(default = 10)]
    pub initial_restarts: usize,
    /// Lloyd iterations at most per fit.
    #[config(default = 300)]
    pub max_iters: usize,
    /// Lloyd tolerance, relative to the features' mean variance.
    #[config(default = 1e-4)]
    pub tolerance: f64,
    /// Rows of the clustering set passed through D at once.
    #[config(default = 2500)]
    pub feature_batch: usize,
}

impl SelfCondConfig {
    /// Rejects settings that cannot drive training.
    pub fn check(&self) -> Result<()> {
        if self.recluster_every == 0 {
            return Err(Error::config("recluster_every", "must be at least 1"));
        }
        if self.feature_batch == 0 {
            return Err(Error::config("feature_batch", "must be at least 1"));
        }
        self.kmeans(self.initial_restarts).check()
    }

    fn kmeans(&self, restarts: usize) -> KMeansConfig {
        KMeansConfig::new(self.k)
            .with_max_iters(self.max_iters)
            .with_tolerance(self.tolerance)
            .with_restarts(restarts)
    }
}

/// What one (re)clustering did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReclusterReport {
    /// Training iteration at which it ran.
    pub iteration: usize,
    /// Fraction of the clustering set whose stable label changed (`None` for the first fit).
    pub changed_fraction: Option<f64>,
    /// Points per stable cluster id.
    pub sizes: Vec<usize>,
    /// k-means inertia in the snapshot's feature space.
    pub inertia: f64,
    /// Lloyd iterations used.
    pub lloyd_iterations: usize,
    /// Map from the fresh fit's ids to stable ids.
    pub permutation: Permutation,
    /// Wall-clock seconds taken, feature extraction included.
    pub seconds: f64,
}

/// Labels batches by the nearest cluster of D's features, and re-fits those clusters on a
/// schedule.
#[derive(Debug, Clone)]
pub struct SelfConditioner<M, const R: usize> {
    config: SelfCondConfig,
    clustering_set: Tensor<R>,
    snapshot: M,
    centroids: Tensor<2>,
    labels: Vec<i64>,
    last_fit: usize,
}

impl<M: Discriminator<R>, const R: usize> SelfConditioner<M, R> {
    /// First clustering (k-means++ with restarts) of `clustering_set` in the features of
    /// `discriminator`, at iteration 0.
    pub fn new(
        config: SelfCondConfig,
        clustering_set: Tensor<R>,
        discriminator: &M,
        rng: &mut SeededRng,
    ) -> Result<(Self, ReclusterReport)> {
        config.check()?;
        let n = clustering_set.dims()[0];
        if n == 0 {
            return Err(Error::Empty {
                what: "clustering set",
            });
        }
        if config.k > n {
            return Err(Error::TooFewPoints {
                k: config.k,
                points: n,
            });
        }
        if discriminator.num_classes() != config.k {
            return Err(Error::DimensionMismatch {
                what: "discriminator head classes vs k",
                expected: config.k,
                got: discriminator.num_classes(),
            });
        }
        let started = Instant::now();
        let clustering_set = clustering_set.without_autodiff();
        host::ensure_finite(&clustering_set, "clustering set")?;
        let snapshot = discriminator.valid();
        let features = features_of(&snapshot, &clustering_set, config.feature_batch);
        let fit =
            config
                .kmeans(config.initial_restarts)
                .fit(&features, KMeansInit::PlusPlus, rng)?;
        let labels = host::ints(fit.labels)?;
        let conditioner = Self {
            config,
            clustering_set,
            snapshot,
            centroids: fit.centroids,
            labels,
            last_fit: 0,
        };
        let report = ReclusterReport {
            iteration: 0,
            changed_fraction: None,
            sizes: conditioner.cluster_sizes(),
            inertia: fit.inertia,
            lloyd_iterations: fit.iterations,
            permutation: Permutation::identity(conditioner.config.k),
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((conditioner, report))
    }

    /// Reassembles a conditioner from saved state, checking that the parts agree.
    pub(crate) fn from_parts(
        config: SelfCondConfig,
        clustering_set: Tensor<R>,
        snapshot: M,
        centroids: Tensor<2>,
        labels: Vec<i64>,
        last_fit: usize,
    ) -> Result<Self> {
        config.check()?;
        let n = clustering_set.dims()[0];
        if labels.len() != n {
            return Err(Error::DimensionMismatch {
                what: "clustering labels vs clustering set",
                expected: n,
                got: labels.len(),
            });
        }
        if let Some(&label) = labels.iter().find(|&&l| l < 0 || l as usize >= config.k) {
            return Err(Error::LabelOutOfRange { label, k: config.k });
        }
        Ok(Self {
            config,
            clustering_set,
            snapshot,
            centroids,
            labels,
            last_fit,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &SelfCondConfig {
        &self.config
    }

    /// Iteration of the last (re)clustering.
    pub fn last_fit(&self) -> usize {
        self.last_fit
    }

    /// Whether a refit is due before training step `iteration`.
    pub fn is_due(&self, iteration: usize) -> bool {
        iteration >= self.last_fit.saturating_add(self.config.recluster_every)
    }

    /// Refit on the current discriminator: snapshot, warm start from the current partition,
    /// Lloyd to convergence, Hungarian matching to the previous labels, relabel.
    pub fn recluster(
        &mut self,
        discriminator: &M,
        iteration: usize,
        rng: &mut SeededRng,
    ) -> Result<ReclusterReport> {
        let started = Instant::now();
        let snapshot = discriminator.valid();
        let features = features_of(&snapshot, &self.clustering_set, self.config.feature_batch);
        let warm = partition_means(&features, &self.labels, self.config.k, rng)?;
        let fit =
            self.config
                .kmeans(1)
                .fit(&features, KMeansInit::Precomputed(Box::new(warm)), rng)?;

        let fresh = host::ints(fit.labels)?;
        let permutation = match_clusters(&fresh, &self.labels, self.config.k)?;
        let relabelled: Vec<i64> = fresh
            .iter()
            .map(|&l| permutation.apply(l as usize) as i64)
            .collect();
        let changed = relabelled
            .iter()
            .zip(&self.labels)
            .filter(|(a, b)| a != b)
            .count();
        // Stable row s holds the fresh centre that maps to s.
        let order: Vec<i64> = permutation
            .inverse()
            .as_slice()
            .iter()
            .map(|&i| i as i64)
            .collect();
        let device = fit.centroids.device();
        self.centroids = fit.centroids.select(0, int_tensor(order, &device));
        self.labels = relabelled;
        self.snapshot = snapshot;
        self.last_fit = iteration;

        Ok(ReclusterReport {
            iteration,
            changed_fraction: Some(changed as f64 / self.labels.len() as f64),
            sizes: self.cluster_sizes(),
            inertia: fit.inertia,
            lloyd_iterations: fit.iterations,
            permutation,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Stable cluster of every row of `x`, on `x`'s device (autodiff association included).
    pub fn labels(&self, x: Tensor<R>) -> Tensor<1, Int> {
        let autodiff = x.is_autodiff();
        let features = self.snapshot.features(x.without_autodiff());
        let labels = assign_nearest(features, &self.centroids);
        if autodiff { labels.autodiff() } else { labels }
    }

    /// Points of the clustering set in each stable cluster.
    pub fn cluster_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.config.k];
        for &l in &self.labels {
            sizes[l as usize] += 1;
        }
        sizes
    }

    /// Stable labels of the clustering set, in its row order.
    pub fn clustering_labels(&self) -> &[i64] {
        &self.labels
    }

    /// The fixed clustering set.
    pub fn clustering_set(&self) -> &Tensor<R> {
        &self.clustering_set
    }

    /// Centres `[k, feature_dim]` in stable order, in the snapshot's feature space.
    pub fn centroids(&self) -> &Tensor<2> {
        &self.centroids
    }

    /// The discriminator snapshot whose features define the clusters.
    pub fn snapshot(&self) -> &M {
        &self.snapshot
    }

    /// `n` labels drawn from the empirical cluster distribution of the clustering set (the
    /// paper's `P_pi`), as host values.
    pub fn sample_labels(&self, n: usize, rng: &mut SeededRng) -> Vec<i64> {
        (0..n)
            .map(|_| self.labels[rng.random_range(0..self.labels.len())])
            .collect()
    }

    /// The current clusters, frozen: what labelling and sampling need after training.
    pub fn clusters(&self) -> Clusters<M, R> {
        Clusters {
            snapshot: self.snapshot.clone(),
            centroids: self.centroids.clone(),
            sizes: self.cluster_sizes(),
        }
    }
}

/// A fitted clustering without its training machinery: the snapshot of D, the centres in
/// stable order and the cluster sizes on the clustering set. Enough to say which cluster an
/// input belongs to, and to draw clusters as training drew them.
#[derive(Debug, Clone)]
pub struct Clusters<M, const R: usize> {
    snapshot: M,
    centroids: Tensor<2>,
    sizes: Vec<usize>,
}

impl<M: Discriminator<R>, const R: usize> Clusters<M, R> {
    /// Checks that the parts agree: `centroids` is `[k, feature_dim]`, `sizes` has `k` entries
    /// and at least one member.
    pub fn new(snapshot: M, centroids: Tensor<2>, sizes: Vec<usize>) -> Result<Self> {
        let [k, d] = centroids.dims();
        if d != snapshot.feature_dim() {
            return Err(Error::DimensionMismatch {
                what: "centroid width vs discriminator features",
                expected: snapshot.feature_dim(),
                got: d,
            });
        }
        if sizes.len() != k {
            return Err(Error::DimensionMismatch {
                what: "cluster sizes vs centroids",
                expected: k,
                got: sizes.len(),
            });
        }
        if sizes.iter().all(|&s| s == 0) {
            return Err(Error::Empty { what: "clusters" });
        }
        Ok(Self {
            snapshot: snapshot.valid(),
            centroids: centroids.without_autodiff(),
            sizes,
        })
    }

    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.sizes.len()
    }

    /// Members of each cluster in the clustering set.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The discriminator snapshot whose features define the clusters.
    pub fn snapshot(&self) -> &M {
        &self.snapshot
    }

    /// Centres `[k, feature_dim]` in stable order.
    pub fn centroids(&self) -> &Tensor<2> {
        &self.centroids
    }

    /// The nearest cluster of every row of `x`, as host values (the conditioner's labelling).
    pub fn assign(&self, x: Tensor<R>) -> Result<Vec<i64>> {
        if x.dims()[0] == 0 {
            return Err(Error::Empty { what: "inputs" });
        }
        let features = self.snapshot.features(x.without_autodiff());
        host::ints(assign_nearest(features, &self.centroids))
    }

    /// The `m` nearest clusters of every row of `x`, nearest first (the first is
    /// [`Self::assign`]'s answer up to ties).
    pub fn ranked(&self, x: Tensor<R>, m: usize) -> Result<Vec<Vec<i64>>> {
        let n = x.dims()[0];
        if n == 0 {
            return Err(Error::Empty { what: "inputs" });
        }
        let k = self.k();
        if m == 0 || m > k {
            return Err(Error::config("candidates", format!("must be in 1..={k}")));
        }
        let features = self.snapshot.features(x.without_autodiff());
        // |f - c|^2 up to the per-row constant |f|^2, which does not change the ranking.
        let centre_norms = self.centroids.clone().square().sum_dim(1).transpose(); // [1, k]
        let scores = centre_norms
            - features
                .matmul(self.centroids.clone().transpose())
                .mul_scalar(2.0);
        let scores = host::floats(scores)?;
        Ok(scores
            .chunks(k)
            .map(|row| {
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
                order.into_iter().take(m).map(|c| c as i64).collect()
            })
            .collect())
    }

    /// `n` clusters drawn with probability proportional to their sizes (the paper's `P_pi`).
    pub fn sample_labels(&self, n: usize, rng: &mut SeededRng) -> Vec<i64> {
        draw_by_sizes(&self.sizes, n, rng)
    }
}

/// `n` indices drawn with probability proportional to `sizes` (which must not all be zero).
pub(crate) fn draw_by_sizes(sizes: &[usize], n: usize, rng: &mut SeededRng) -> Vec<i64> {
    let total: usize = sizes.iter().sum();
    (0..n)
        .map(|_| {
            let mut ticket = rng.random_range(0..total.max(1));
            let mut chosen = 0;
            for (cluster, &size) in sizes.iter().enumerate() {
                if ticket < size {
                    chosen = cluster;
                    break;
                }
                ticket -= size;
            }
            chosen as i64
        })
        .collect()
}

/// `D_f` of every row of `set`, `batch` rows at a time, concatenated.
pub fn features_of<M: Discriminator<R>, const R: usize>(
    discriminator: &M,
    set: &Tensor<R>,
    batch: usize,
) -> Tensor<2> {
    let n = set.dims()[0];
    let chunks: Vec<Tensor<2>> = (0..n)
        .step_by(batch.max(1))
        .map(|start| {
            let len = batch.min(n - start);
            discriminator.features(set.clone().narrow(0, start, len))
        })
        .collect();
    Tensor::cat(chunks, 0)
}

/// Means of `features` over the partition `labels`; an empty part takes a random point.
fn partition_means(
    features: &Tensor<2>,
    labels: &[i64],
    k: usize,
    rng: &mut SeededRng,
) -> Result<Tensor<2>> {
    let device = features.device();
    let [n, d] = features.dims();
    let members = int_tensor(labels.to_vec(), &device).one_hot::<2>(k).float(); // [n, k]
    let counts = members.clone().sum_dim(0); // [1, k]
    let sums = members.transpose().matmul(features.clone());
    let mut means = sums / counts.clone().clamp_min(1.0).transpose();
    for (cluster, &count) in host::floats(counts)?.iter().enumerate() {
        if count == 0.0 {
            let point = rng.random_range(0..n);
            let row = features.clone().slice([point..point + 1, 0..d]);
            means = means.slice_assign([cluster..cluster + 1, 0..d], row);
        }
    }
    Ok(means)
}
