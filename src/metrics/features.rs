//! Sets of feature vectors (the 2048-d Inception pool features FID uses) and the pairwise
//! distances the sample-based metrics need, computed on the device in blocks of rows.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::error::{Error, Result};
use crate::host;

/// Rows of one block of a distance matrix: a block of 1,000 x 10,000 distances is 40 MB.
pub(crate) const BLOCK_ROWS: usize = 1_000;

/// `n` feature vectors of `dim` values each, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    values: &'a [f32],
    dim: usize,
}

impl<'a> Features<'a> {
    /// Checks that `values` holds whole, finite rows of `dim` values and at least one row.
    pub fn new(values: &'a [f32], dim: usize) -> Result<Self> {
        Error::require_positive(&[("feature dim", dim)])?;
        if values.is_empty() {
            return Err(Error::Empty {
                what: "feature set",
            });
        }
        if !values.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                what: "feature values vs rows of the feature dim",
                expected: values.len().div_ceil(dim) * dim,
                got: values.len(),
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "features" });
        }
        Ok(Self { values, dim })
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Always false: a feature set holds at least one vector.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Width of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The values, row-major.
    pub fn values(&self) -> &'a [f32] {
        self.values
    }

    /// Rows `rows` as a `[rows.len(), dim]` tensor.
    pub(crate) fn tensor(&self, rows: std::ops::Range<usize>, device: &Device) -> Tensor<2> {
        let values = self.values[rows.start * self.dim..rows.end * self.dim].to_vec();
        Tensor::from_data(TensorData::new(values, [rows.len(), self.dim]), device)
    }

    /// The rows at `indices` as a tensor.
    pub(crate) fn select(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let mut values = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            values.extend_from_slice(&self.values[i * self.dim..(i + 1) * self.dim]);
        }
        Tensor::from_data(TensorData::new(values, [indices.len(), self.dim]), device)
    }
}

/// Mean and population standard deviation (NumPy's `std`) of per-subset or per-split
/// estimates.
pub(crate) fn mean_and_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// Two sets of the same width, checked.
pub(crate) fn same_width(real: &Features, fake: &Features) -> Result<()> {
    if real.dim() != fake.dim() {
        return Err(Error::DimensionMismatch {
            what: "feature dim of the generated set",
            expected: real.dim(),
            got: fake.dim(),
        });
    }
    Ok(())
}

/// A set on the device with its rows' squared norms, to take distances to.
pub(crate) struct DeviceSet {
    pub rows: Tensor<2>,
    /// `[1, n]`.
    pub squared_norms: Tensor<2>,
}

impl DeviceSet {
    pub fn new(features: &Features, device: &Device) -> Self {
        let rows = features.tensor(0..features.len(), device);
        let squared_norms = rows.clone().powi_scalar(2).sum_dim(1).transpose();
        Self {
            rows,
            squared_norms,
        }
    }
}

/// Blocks of at most `rows` rows that cover `0..n`.
pub(crate) fn blocks(n: usize, rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n)
        .step_by(rows)
        .map(move |start| start..(start + rows).min(n))
}

/// Squared Euclidean distances `[queries, refs]` between the rows of `queries` and `refs`,
/// `|q|^2 + |r|^2 - 2 q.r`, clamped at 0 against rounding.
pub(crate) fn squared_distances(queries: Tensor<2>, refs: &DeviceSet) -> Tensor<2> {
    let query_norms = queries.clone().powi_scalar(2).sum_dim(1);
    let products = queries.matmul(refs.rows.clone().transpose());
    (query_norms + refs.squared_norms.clone() - products.mul_scalar(2.0)).clamp_min(0.0)
}

/// The squared distance from each row of `set` to its `k`-th nearest other row.
pub(crate) fn kth_neighbour_squared_distances(
    features: &Features,
    set: &DeviceSet,
    k: usize,
    block_rows: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let mut radii = Vec::with_capacity(features.len());
    for rows in blocks(features.len(), block_rows) {
        let mut distances = host::floats(squared_distances(features.tensor(rows, device), set))?;
        for row in distances.chunks_mut(features.len()) {
            // The k-th smallest (from 0) of the row counts the row itself, at distance 0, first.
            let (_, kth, _) = row.select_nth_unstable_by(k, f32::total_cmp);
            radii.push(*kth);
        }
    }
    Ok(radii)
}
