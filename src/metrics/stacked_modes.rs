//! Stacked-MNIST mode counting: each channel of a generated image is classified as a digit, the
//! image's mode is `100 a + 10 b + c`; we report how many of the 1,000 modes appear and the
//! reverse KL divergence from the uniform distribution over modes.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::mnist::{STACKED_MODES, STACKED_SIDE};
use crate::error::{Error, Result};
use crate::host;
use crate::metrics::MnistClassifier;

/// Modes covered and reverse KL of a set of Stacked-MNIST samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackedModes {
    /// Modes with at least one sample, out of 1,000.
    pub modes: usize,
    /// `KL(p || uniform) = sum p_i ln(1000 p_i)`, natural log.
    pub reverse_kl: f64,
    /// The same in log base 10, as the reference code reported it.
    pub reverse_kl_log10: f64,
    /// Samples classified.
    pub samples: usize,
    /// Samples per mode.
    pub counts: Vec<u32>,
}

impl StackedModes {
    /// Summarises per-mode counts.
    pub fn from_counts(counts: Vec<u32>) -> Result<Self> {
        let samples: u64 = counts.iter().map(|&c| c as u64).sum();
        if samples == 0 {
            return Err(Error::Empty { what: "samples" });
        }
        let k = counts.len() as f64;
        let reverse_kl: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / samples as f64;
                p * (k * p).ln()
            })
            .sum();
        Ok(Self {
            modes: counts.iter().filter(|&&c| c > 0).count(),
            reverse_kl,
            reverse_kl_log10: reverse_kl / std::f64::consts::LN_10,
            samples: samples as usize,
            counts,
        })
    }
}

/// Counts the modes of `images`: `[N, 3, 32, 32]` in [-1, 1], `batch` at a time.
pub fn count_stacked_modes(
    classifier: &MnistClassifier,
    images: &Tensor<4>,
    batch: usize,
) -> Result<StackedModes> {
    let [n, channels, height, width] = images.dims();
    if channels != 3 || height != STACKED_SIDE || width != STACKED_SIDE {
        return Err(Error::DimensionMismatch {
            what: "Stacked-MNIST images (3 x 32 x 32) vs channels",
            expected: 3,
            got: channels,
        });
    }
    let mut counts = vec![0u32; STACKED_MODES];
    for start in (0..n).step_by(batch.max(1)) {
        let len = batch.max(1).min(n - start);
        let part = images.clone().narrow(0, start, len);
        // All three channels in one pass: [len * 3, 1, 32, 32], channel-major per image.
        let digits = part.reshape([len * 3, 1, STACKED_SIDE, STACKED_SIDE]);
        let predicted = host::ints(classifier.predict(digits))?;
        for triple in predicted.chunks_exact(3) {
            counts[(100 * triple[0] + 10 * triple[1] + triple[2]) as usize] += 1;
        }
    }
    StackedModes::from_counts(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_counts_have_zero_kl_and_one_mode_has_ln_1000() {
        let uniform = StackedModes::from_counts(vec![3; 1000]).unwrap();
        assert_eq!(uniform.modes, 1000);
        assert!(uniform.reverse_kl.abs() < 1e-12);
        let mut single = vec![0; 1000];
        single[417] = 50;
        let single = StackedModes::from_counts(single).unwrap();
        assert_eq!(single.modes, 1);
        assert!((single.reverse_kl - 1000f64.ln()).abs() < 1e-12);
        assert!((single.reverse_kl_log10 - 3.0).abs() < 1e-12);
        assert!(StackedModes::from_counts(vec![0; 1000]).is_err());
    }
}
