//! Inception Score (Salimans et al., 2016) as TTUR, StyleGAN and torch-fidelity compute it:
//! the 1008-way logits of the TF Inception-v3 of 2015-12-05 are its 2048-d pool features times
//! the softmax layer's weights, without the bias (as the original TF code did); the score is
//! `exp(E_x KL(p(y|x) || p(y)))` over each of 10 splits, reported as mean and standard
//! deviation over the splits.
//!
//! The pool features are the ones FID uses ([`super::fid::FidExtractor::features`]), so only
//! the softmax weights are read here: `fc.weight` `[1008, 2048]` from pytorch-fid's state dict
//! `pt_inception-2015-12-05-6726825d.pth` (torch-fidelity's
//! `weights-inception-2015-12-05-6726825d.pth` holds the same tensor). No package registry
//! ships that file, so the user downloads it once and names it (see
//! [`default_weights_path`]).
//!
//! By default the samples are permuted before splitting exactly as torch-fidelity does (NumPy's
//! legacy `RandomState(2020).permutation`), so the same logits give torch-fidelity's numbers.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use rand_mt::Mt;
use serde::{Deserialize, Serialize};

use super::features::{Features, blocks, mean_and_std};
use crate::error::{Error, Result};
use crate::host;

/// Classes of the 2015-12-05 Inception's softmax (1,000 ImageNet classes and 8 unused).
pub const INCEPTION_CLASSES: usize = 1008;

/// Width of the pool features the logits are taken from.
pub const POOL_FEATURES: usize = 2048;

/// Environment variable that overrides [`default_weights_path`].
pub const WEIGHTS_ENV: &str = "SELFCOND_IS_WEIGHTS";

/// Where the published file is, for error messages and docs.
pub const WEIGHTS_URL: &str = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";

/// `$SELFCOND_IS_WEIGHTS` if set, else `pt_inception-2015-12-05-6726825d.pth` beside the FID
/// weights (`~/.cache/selfcond-gan/fid/`).
pub fn default_weights_path() -> PathBuf {
    if let Some(path) = std::env::var_os(WEIGHTS_ENV) {
        return PathBuf::from(path);
    }
    super::fid::cache_dir().join("pt_inception-2015-12-05-6726825d.pth")
}

/// The Inception's softmax layer, turning pool features into logits.
#[derive(Debug, Clone)]
pub struct InceptionLogits {
    /// `[2048, 1008]`: the transpose of `fc.weight`.
    weight: Tensor<2>,
}

impl InceptionLogits {
    /// Reads `fc.weight` from a PyTorch state dict (`torch.save`, any container PyTorch has
    /// written) of the FID Inception: pytorch-fid's or torch-fidelity's weights file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingData {
                path: path.to_path_buf(),
                hint: format!(
                    "the Inception Score needs pytorch-fid's Inception weights: download \
                     {WEIGHTS_URL} and pass its path with --is-weights or {WEIGHTS_ENV}"
                ),
            });
        }
        let bad = |reason: String| Error::BadDataFile {
            path: path.to_path_buf(),
            reason,
        };
        let reader = pytorch_reader::PytorchReader::new(path)
            .map_err(|e| bad(format!("not a PyTorch state dict: {e}")))?;
        let fc = reader.get("fc.weight").ok_or_else(|| {
            bad(
                "no `fc.weight`: not the FID Inception's state dict (pytorch-fid's \
                 pt_inception-2015-12-05-6726825d.pth)"
                    .into(),
            )
        })?;
        if fc.shape() != [INCEPTION_CLASSES, POOL_FEATURES] {
            return Err(bad(format!(
                "`fc.weight` has shape {:?}, expected [{INCEPTION_CLASSES}, {POOL_FEATURES}]",
                fc.shape()
            )));
        }
        if fc.dtype() != pytorch_reader::DType::F32 {
            return Err(bad(format!(
                "`fc.weight` is {:?}, expected float32",
                fc.dtype()
            )));
        }
        let bytes = fc.read().map_err(|e| bad(e.to_string()))?;
        let values = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Self::from_weight(values, device)
    }

    /// The layer from `fc.weight` values, row-major `[1008, 2048]`.
    pub fn from_weight(values: Vec<f32>, device: &Device) -> Result<Self> {
        if values.len() != INCEPTION_CLASSES * POOL_FEATURES {
            return Err(Error::DimensionMismatch {
                what: "Inception softmax weights ([1008, 2048])",
                expected: INCEPTION_CLASSES * POOL_FEATURES,
                got: values.len(),
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "Inception softmax weights",
            });
        }
        let weight = Tensor::<2>::from_data(
            TensorData::new(values, [INCEPTION_CLASSES, POOL_FEATURES]),
            device,
        );
        Ok(Self {
            weight: weight.transpose(),
        })
    }

    /// Logits `[n, 1008]`, row-major, of 2048-d pool features, `block_rows` rows at a time.
    pub fn logits(&self, features: &Features, block_rows: usize) -> Result<Vec<f32>> {
        if features.dim() != POOL_FEATURES {
            return Err(Error::DimensionMismatch {
                what: "Inception pool features",
                expected: POOL_FEATURES,
                got: features.dim(),
            });
        }
        Error::require_positive(&[("block_rows", block_rows)])?;
        let device = self.weight.device();
        let mut logits = Vec::with_capacity(features.len() * INCEPTION_CLASSES);
        for rows in blocks(features.len(), block_rows) {
            let x = features.tensor(rows, &device);
            logits.extend(host::floats(x.matmul(self.weight.clone()))?);
        }
        Ok(logits)
    }
}

/// How the samples are split.
#[derive(Config, Debug, PartialEq)]
pub struct InceptionScoreConfig {
    /// Splits, each scored on its own.
    #[config(default = 10)]
    pub splits: usize,
    /// Seed of NumPy's legacy `RandomState` whose `permutation` orders the samples before
    /// splitting (torch-fidelity's `rng_seed`); `None` keeps the given order.
    #[config(default = "Some(2020)")]
    pub shuffle_seed: Option<u32>,
}

/// The score's mean and standard deviation over the splits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InceptionScore {
    /// Mean over the splits.
    pub mean: f64,
    /// Population standard deviation over the splits (NumPy's `std`).
    pub std: f64,
}

/// The Inception Score of row-major logits `[n, classes]`; every split needs at least one
/// sample ([`Error::TooFewSamples`]). Softmax and logarithms are taken in f64.
pub fn inception_score(
    logits: &[f32],
    classes: usize,
    config: &InceptionScoreConfig,
) -> Result<InceptionScore> {
    let logits = Features::new(logits, classes)?;
    Error::require_positive(&[("splits", config.splits)])?;
    let n = logits.len();
    if n < config.splits {
        return Err(Error::TooFewSamples {
            metric: "the Inception Score (one per split)",
            needed: config.splits,
            got: n,
        });
    }
    let order = match config.shuffle_seed {
        Some(seed) => numpy_legacy_permutation(n, seed)?,
        None => (0..n).collect(),
    };
    // One split's log-probabilities at a time: all of them at once would be n x 1008 f64.
    let scores: Vec<f64> = (0..config.splits)
        .map(|s| {
            let rows = &order[s * n / config.splits..(s + 1) * n / config.splits];
            let log_probabilities: Vec<Vec<f64>> = rows
                .iter()
                .map(|&i| log_softmax(&logits.values()[i * classes..(i + 1) * classes]))
                .collect();
            split_score(&log_probabilities)
        })
        .collect();
    let (mean, std) = mean_and_std(&scores);
    Ok(InceptionScore { mean, std })
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let log_sum = logits
        .iter()
        .map(|&v| (f64::from(v) - max).exp())
        .sum::<f64>()
        .ln();
    logits
        .iter()
        .map(|&v| f64::from(v) - max - log_sum)
        .collect()
}

/// `exp(mean_x sum_y p(y|x) (log p(y|x) - log p(y)))` with `p(y)` the split's mean. A term
/// whose `p(y|x)` underflowed to 0 counts 0, the limit of `p log p`; torch-fidelity's
/// `0 * inf` makes the whole score NaN there.
fn split_score(log_probabilities: &[Vec<f64>]) -> f64 {
    let classes = log_probabilities[0].len();
    let mut marginal = vec![0.0; classes];
    for row in log_probabilities {
        marginal
            .iter_mut()
            .zip(row)
            .for_each(|(m, l)| *m += l.exp());
    }
    let n = log_probabilities.len() as f64;
    let log_marginal: Vec<f64> = marginal.iter().map(|m| (m / n).ln()).collect();
    let mean_kl = log_probabilities
        .iter()
        .map(|row| {
            row.iter()
                .zip(&log_marginal)
                .map(|(l, lm)| match l.exp() {
                    0.0 => 0.0,
                    p => p * (l - lm),
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    mean_kl.exp()
}

/// `numpy.random.RandomState(seed).permutation(n)`: the legacy seeding of MT19937 with a
/// 32-bit integer, then a Fisher-Yates shuffle of `0..n` drawing each index by masked
/// rejection on 32-bit outputs. NumPy switches to 64-bit outputs from 2^32 samples on, which
/// this does not follow, so such `n` are refused.
pub fn numpy_legacy_permutation(n: usize, seed: u32) -> Result<Vec<usize>> {
    if u32::try_from(n).is_err() {
        return Err(Error::config(
            "shuffle_seed",
            format!("NumPy's permutation is followed below 2^32 samples, got {n}"),
        ));
    }
    let mut mt = Mt::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let max = i as u32;
        let mask = u32::MAX >> max.leading_zeros();
        let j = loop {
            let value = mt.next_u32() & mask;
            if value <= max {
                break value;
            }
        };
        order.swap(i, j as usize);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(splits: usize) -> InceptionScoreConfig {
        InceptionScoreConfig::new()
            .with_splits(splits)
            .with_shuffle_seed(None)
    }

    /// Logits that put (almost) all mass on one class each.
    fn confident(classes_of: &[usize], classes: usize) -> Vec<f32> {
        classes_of
            .iter()
            .flat_map(|&c| (0..classes).map(move |j| if j == c { 60.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn confident_and_even_predictions_score_the_class_count() {
        // Each split holds every class of 4 once: p(y) uniform, p(y|x) one-hot, IS = 4.
        let classes_of: Vec<usize> = (0..12).map(|i| i % 4).collect();
        let score = inception_score(&confident(&classes_of, 6), 6, &config(3)).unwrap();
        assert!((score.mean - 4.0).abs() < 1e-9, "{score:?}");
        assert!(score.std < 1e-9);
    }

    #[test]
    fn uniform_predictions_score_one() {
        let score = inception_score(&[0.5; 40], 4, &config(2)).unwrap();
        assert!((score.mean - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_two_class_split_matches_the_closed_form() {
        // One split: p1 = softmax(ln 3, 0) = (3/4, 1/4), p2 = (1/4, 3/4); p(y) = (1/2, 1/2);
        // KL = 3/4 ln(3/2) + 1/4 ln(1/2) for both, IS = exp(KL).
        let logits = [3f32.ln(), 0.0, 0.0, 3f32.ln()];
        let score = inception_score(&logits, 2, &config(1)).unwrap();
        let kl = 0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln();
        assert!((score.mean - kl.exp()).abs() < 1e-7, "{score:?}");
    }

    #[test]
    fn the_spread_is_the_population_deviation_over_splits() {
        // Split 1 covers two classes (IS 2), split 2 one class (IS 1): mean 1.5, std 0.5.
        let logits = confident(&[0, 1, 2, 2], 3);
        let score = inception_score(&logits, 3, &config(2)).unwrap();
        assert!((score.mean - 1.5).abs() < 1e-9 && (score.std - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_permutation_is_numpys() {
        // From numpy.random.RandomState(seed).permutation(n).
        assert_eq!(
            numpy_legacy_permutation(10, 2020).unwrap(),
            [2, 4, 9, 1, 5, 7, 6, 3, 8, 0]
        );
        assert_eq!(
            numpy_legacy_permutation(7, 0).unwrap(),
            [6, 2, 1, 3, 0, 5, 4]
        );
        let long = numpy_legacy_permutation(50_000, 2020).unwrap();
        assert_eq!(long[..5], [24397, 39273, 6546, 13504, 49765]);
        assert_eq!(long[49_995..], [18523, 44739, 47734, 40259, 41824]);
        assert_eq!(numpy_legacy_permutation(1, 5).unwrap(), vec![0]);
        assert!(numpy_legacy_permutation(0, 5).unwrap().is_empty());
    }

    #[test]
    fn a_class_whose_probability_underflows_counts_zero_not_nan() {
        // exp(-1000) is 0 in f64: class 1 has p = 0 in every row, p(y) = (1, 0), IS = 1.
        let score = inception_score(&[0.0, -1000.0, 0.0, -1000.0], 2, &config(1)).unwrap();
        assert_eq!(score.mean, 1.0);
    }

    #[test]
    fn too_few_samples_for_the_splits_is_refused() {
        let result = inception_score(&[0.0; 8], 4, &config(3));
        assert!(matches!(
            result,
            Err(Error::TooFewSamples {
                needed: 3,
                got: 2,
                ..
            })
        ));
        assert!(inception_score(&[0.0; 7], 4, &config(1)).is_err());
        assert!(inception_score(&[f32::NAN; 8], 4, &config(1)).is_err());
    }

    #[test]
    fn logits_are_features_times_the_transposed_weight() {
        let device = Device::default();
        let weight: Vec<f32> = (0..INCEPTION_CLASSES * POOL_FEATURES)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 64.0)
            .collect();
        let layer = InceptionLogits::from_weight(weight.clone(), &device).unwrap();
        let values: Vec<f32> = (0..3 * POOL_FEATURES)
            .map(|i| ((i * 5 % 11) as f32) / 16.0)
            .collect();
        let features = Features::new(&values, POOL_FEATURES).unwrap();
        let logits = layer.logits(&features, 2).unwrap();
        assert_eq!(logits.len(), 3 * INCEPTION_CLASSES);
        for (row, class) in [(0, 0), (1, 517), (2, 1007)] {
            let expected: f64 = (0..POOL_FEATURES)
                .map(|j| {
                    f64::from(values[row * POOL_FEATURES + j])
                        * f64::from(weight[class * POOL_FEATURES + j])
                })
                .sum();
            let got = f64::from(logits[row * INCEPTION_CLASSES + class]);
            assert!(
                (got - expected).abs() < 1e-3 * expected.abs().max(1.0),
                "{got} {expected}"
            );
        }
        let wrong = Features::new(&values[..POOL_FEATURES], 1024).unwrap();
        assert!(layer.logits(&wrong, 2).is_err());
    }
}
