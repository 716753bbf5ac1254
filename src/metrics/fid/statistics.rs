//! Mean and covariance of Inception features, accumulated in f64, and the Fréchet distance
//! between two such Gaussians.
//!
//! The linear algebra runs on the host in f64 with `faer` (two symmetric eigendecompositions of
//! 2048 x 2048 matrices per distance; `docs/fid.md`, "What is computed"); f32 would lose digits
//! FID needs, since it subtracts traces of several hundred to get values near 1.

use std::io::{Read, Write};
use std::path::Path;

use faer::{Accum, Mat, MatRef, Par, Side};

use crate::error::{Error, Result};
use crate::npy;

/// Running mean and covariance of feature vectors.
///
/// Sums are kept about a shift (the first batch's mean), so the covariance does not lose
/// precision to large means: `cov = (Σ (x-s)(x-s)^T - n (m-s)(m-s)^T) / (n - 1)`.
#[derive(Debug, Clone)]
pub struct FeatureStatistics {
    dim: usize,
    count: usize,
    shift: Vec<f64>,
    sum: Vec<f64>,
    outer: Mat<f64>,
}

/// A Gaussian fitted to features: what FID compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    /// Mean, `dim` values.
    pub mean: Vec<f64>,
    /// Covariance, `dim x dim`, row-major, with the unbiased `n - 1` normaliser.
    pub covariance: Vec<f64>,
    /// Number of feature vectors it was fitted to.
    pub count: usize,
}

impl FeatureStatistics {
    /// Empty statistics for `dim`-wide features.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            count: 0,
            shift: Vec::new(),
            sum: vec![0.0; dim],
            outer: Mat::zeros(dim, dim),
        }
    }

    /// Number of feature vectors added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds a batch of feature vectors, row-major `[rows, dim]`.
    pub fn add(&mut self, features: &[f32]) -> Result<()> {
        if !features.len().is_multiple_of(self.dim) {
            return Err(Error::DimensionMismatch {
                what: "feature batch (a multiple of the feature width)",
                expected: self.dim,
                got: features.len() % self.dim,
            });
        }
        if features.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "features" });
        }
        let rows = features.len() / self.dim;
        if rows == 0 {
            return Ok(());
        }
        if self.shift.is_empty() {
            self.shift = column_means(features, rows, self.dim);
        }
        let centred = Mat::<f64>::from_fn(rows, self.dim, |i, j| {
            features[i * self.dim + j] as f64 - self.shift[j]
        });
        for (j, total) in self.sum.iter_mut().enumerate() {
            *total += centred.col(j).sum();
        }
        faer::linalg::matmul::matmul(
            self.outer.as_mut(),
            Accum::Add,
            centred.transpose(),
            centred.as_ref(),
            1.0,
            Par::Seq,
        );
        self.count += rows;
        Ok(())
    }

    /// Width of the features.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Saves the running sums, so a long pass over a data set can stop and go on later
    /// ([`FeatureStatistics::load_npz`]); `.npz` with `shift`, `sum`, `outer` and `count`.
    pub fn save_npz(&self, path: &Path) -> Result<()> {
        let d = self.dim;
        let outer: Vec<f64> = (0..d * d).map(|i| self.outer[(i / d, i % d)]).collect();
        let shift = if self.shift.is_empty() {
            vec![0.0; d]
        } else {
            self.shift.clone()
        };
        write_npz(
            path,
            [
                ("shift.npy", npy::encode(&shift, &[d])?),
                ("sum.npy", npy::encode(&self.sum, &[d])?),
                ("outer.npy", npy::encode(&outer, &[d, d])?),
                ("count.npy", npy::encode(&[self.count as i64], &[])?),
            ],
        )
    }

    /// Reads running sums written by [`FeatureStatistics::save_npz`].
    pub fn load_npz(path: &Path) -> Result<Self> {
        let mut arrays = NpzReader::open(path)?;
        let shift = arrays.required("shift.npy")?;
        let sum = arrays.required("sum.npy")?;
        let outer = arrays.required("outer.npy")?;
        let count = arrays.required("count.npy")?.to_f64();
        let d = shift.len();
        if sum.shape != [d] || outer.shape != [d, d] || count.len() != 1 {
            return Err(arrays.bad(format!(
                "shapes shift {:?}, sum {:?}, outer {:?}, count {:?} do not fit together",
                shift.shape,
                sum.shape,
                outer.shape,
                count.len()
            )));
        }
        let outer = outer.to_f64();
        let count = count[0] as usize;
        Ok(Self {
            dim: d,
            count,
            shift: if count == 0 {
                Vec::new()
            } else {
                shift.to_f64()
            },
            sum: sum.to_f64(),
            outer: Mat::from_fn(d, d, |i, j| outer[i * d + j]),
        })
    }

    /// The fitted Gaussian; needs at least two vectors.
    pub fn gaussian(&self) -> Result<Gaussian> {
        if self.count < 2 {
            return Err(Error::TooFewPoints {
                k: 2,
                points: self.count,
            });
        }
        let n = self.count as f64;
        let offset: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let mean = offset.iter().zip(&self.shift).map(|(o, s)| o + s).collect();
        let d = self.dim;
        let mut covariance = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                covariance[i * d + j] =
                    (self.outer[(i, j)] - n * offset[i] * offset[j]) / (n - 1.0);
            }
        }
        Ok(Gaussian {
            mean,
            covariance,
            count: self.count,
        })
    }
}

fn column_means(values: &[f32], rows: usize, dim: usize) -> Vec<f64> {
    let mut means = vec![0.0; dim];
    for row in values.chunks_exact(dim) {
        for (m, &v) in means.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    means.iter().map(|m| m / rows as f64).collect()
}

impl Gaussian {
    /// Width of the features.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    fn covariance_matrix(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.covariance, self.dim(), self.dim())
    }

    /// Writes `mu`, `sigma` and `count` as a NumPy `.npz`, the layout pytorch-fid's
    /// `--save-stats` uses, so either tool reads the other's statistics.
    pub fn save_npz(&self, path: &Path) -> Result<()> {
        let d = self.dim();
        write_npz(
            path,
            [
                ("mu.npy", npy::encode(&self.mean, &[d])?),
                ("sigma.npy", npy::encode(&self.covariance, &[d, d])?),
                ("count.npy", npy::encode(&[self.count as i64], &[])?),
            ],
        )
    }

    /// Reads statistics written by [`Gaussian::save_npz`] or by pytorch-fid (`mu`, `sigma`;
    /// `count` is 0 when the file does not say).
    pub fn load_npz(path: &Path) -> Result<Self> {
        let mut arrays = NpzReader::open(path)?;
        let mu = arrays.required("mu.npy")?;
        let sigma = arrays.required("sigma.npy")?;
        let count = match arrays.optional("count.npy")? {
            Some(count) => count.to_f64().first().copied().unwrap_or(0.0) as usize,
            None => 0,
        };
        let d = mu.len();
        if mu.shape != [d] || sigma.shape != [d, d] {
            return Err(arrays.bad(format!(
                "mu has shape {:?} and sigma {:?}; expected [d] and [d, d]",
                mu.shape, sigma.shape
            )));
        }
        let gaussian = Gaussian {
            mean: mu.to_f64(),
            covariance: sigma.to_f64(),
            count,
        };
        if gaussian
            .mean
            .iter()
            .chain(&gaussian.covariance)
            .any(|v| !v.is_finite())
        {
            return Err(Error::NonFinite { what: "statistics" });
        }
        Ok(gaussian)
    }
}

/// Writes named `.npy` arrays as an uncompressed `.npz`, via a temporary file and a rename so a
/// crash never leaves half a file under `path`.
fn write_npz<const N: usize>(path: &Path, arrays: [(&str, Vec<u8>); N]) -> Result<()> {
    let temporary = path.with_extension("npz.partial");
    let zip_error = |e: zip::result::ZipError| Error::io(&temporary)(std::io::Error::other(e));
    {
        let file = std::fs::File::create(&temporary).map_err(Error::io(&temporary))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, bytes) in arrays {
            zip.start_file(name, options).map_err(zip_error)?;
            zip.write_all(&bytes).map_err(Error::io(&temporary))?;
        }
        zip.finish().map_err(zip_error)?;
    }
    std::fs::rename(&temporary, path).map_err(Error::io(path))?;
    Ok(())
}

/// Named arrays out of an `.npz` (stored or deflated, as NumPy writes them).
struct NpzReader<'a> {
    path: &'a Path,
    zip: zip::ZipArchive<std::fs::File>,
}

impl<'a> NpzReader<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(Error::io(path))?;
        let zip = zip::ZipArchive::new(file).map_err(|e| Error::BadDataFile {
            path: path.to_path_buf(),
            reason: format!("not an .npz: {e}"),
        })?;
        Ok(Self { path, zip })
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadDataFile {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    fn optional(&mut self, name: &str) -> Result<Option<npy::NpyArray>> {
        let mut bytes = Vec::new();
        let read = match self.zip.by_name(name) {
            Ok(mut entry) => entry
                .read_to_end(&mut bytes)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = read {
            return Err(self.bad(format!("{name}: {e}")));
        }
        npy::decode(&bytes)
            .map(Some)
            .map_err(|e| self.bad(format!("{name}: {e}")))
    }

    fn required(&mut self, name: &str) -> Result<npy::NpyArray> {
        self.optional(name)?
            .ok_or_else(|| self.bad(format!("no {name} array")))
    }
}

/// The Fréchet distance between two Gaussians:
/// `|m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`.
///
/// `tr((S1 S2)^(1/2))` is computed stably as `Σ sqrt(λ_i)` over the eigenvalues of the
/// symmetric PSD matrix `S1^(1/2) S2 S1^(1/2)`, which has the same spectrum as `S1 S2`;
/// `S1^(1/2)` comes from the eigendecomposition of `S1`. Eigenvalues that rounding pushes
/// slightly below zero count as zero.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    if a.dim() != b.dim() {
        return Err(Error::DimensionMismatch {
            what: "statistics' feature width",
            expected: a.dim(),
            got: b.dim(),
        });
    }
    if a.dim() == 0 {
        return Err(Error::Empty { what: "statistics" });
    }
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let (s1, s2) = (a.covariance_matrix(), b.covariance_matrix());
    let trace = |m: MatRef<'_, f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();

    let root = psd_square_root(s1)?;
    let product = &root * s2 * &root;
    // Symmetrise what rounding left asymmetric before the symmetric solver reads one triangle.
    let product = Mat::<f64>::from_fn(product.nrows(), product.ncols(), |i, j| {
        0.5 * (product[(i, j)] + product[(j, i)])
    });
    let eigenvalues = product
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::Device(format!("eigenvalues did not converge: {e:?}")))?;
    let trace_root: f64 = eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    Ok(mean_term + trace(s1) + trace(s2) - 2.0 * trace_root)
}

/// `S^(1/2)` of a symmetric positive semi-definite `S`: `V diag(sqrt(max(λ, 0))) V^T`.
fn psd_square_root(s: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let eigen = s
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Device(format!("eigendecomposition did not converge: {e:?}")))?;
    let vectors = eigen.U();
    let roots = eigen.S().column_vector();
    let scaled = Mat::<f64>::from_fn(s.nrows(), s.ncols(), |i, j| {
        vectors[(i, j)] * roots[j].max(0.0).sqrt()
    });
    Ok(&scaled * vectors.transpose())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(mean: Vec<f64>, covariance: Vec<f64>) -> Gaussian {
        Gaussian {
            mean,
            covariance,
            count: 0,
        }
    }

    #[test]
    fn diagonal_covariances_match_the_closed_form() {
        // For diagonal S1, S2: FID = |m1-m2|^2 + Σ (sqrt(a_i) - sqrt(b_i))^2.
        let a = gaussian(vec![0.0, 1.0, 2.0], diag(&[4.0, 1.0, 0.25]));
        let b = gaussian(vec![1.0, 1.0, 0.0], diag(&[1.0, 9.0, 0.25]));
        let expected = (1.0 + 0.0 + 4.0) + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        assert!((frechet_distance(&a, &b).unwrap() - expected).abs() < 1e-10);
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-10);
    }

    #[test]
    fn commuting_full_covariances_match_the_closed_form() {
        // S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T share eigenvectors, so
        // tr sqrt(S1 S2) = Σ sqrt(a_i b_i) and FID = Σ (sqrt(a_i) - sqrt(b_i))^2.
        let c = std::f64::consts::FRAC_1_SQRT_2;
        let q = [[c, -c, 0.0], [c, c, 0.0], [0.0, 0.0, 1.0]];
        let rotate = |d: [f64; 3]| {
            let mut m = vec![0.0; 9];
            for i in 0..3 {
                for j in 0..3 {
                    m[i * 3 + j] = (0..3).map(|k| q[i][k] * d[k] * q[j][k]).sum();
                }
            }
            m
        };
        let a = gaussian(vec![0.0; 3], rotate([9.0, 4.0, 1.0]));
        let b = gaussian(vec![0.0; 3], rotate([1.0, 16.0, 0.0]));
        let expected = (3.0f64 - 1.0).powi(2) + (2.0f64 - 4.0).powi(2) + 1.0;
        assert!((frechet_distance(&a, &b).unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn non_commuting_2x2_matches_the_closed_form() {
        // For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
        let s1: [f64; 4] = [2.0, 1.0, 1.0, 2.0];
        let s2: [f64; 4] = [1.0, 0.0, 0.0, 3.0];
        let p = [
            s1[0] * s2[0] + s1[1] * s2[2],
            s1[0] * s2[1] + s1[1] * s2[3],
            s1[2] * s2[0] + s1[3] * s2[2],
            s1[2] * s2[1] + s1[3] * s2[3],
        ];
        let det = p[0] * p[3] - p[1] * p[2];
        let trace_root = (p[0] + p[3] + 2.0 * det.sqrt()).sqrt();
        let expected = 4.0 + 4.0 - 2.0 * trace_root;
        let a = gaussian(vec![0.0, 0.0], s1.to_vec());
        let b = gaussian(vec![0.0, 0.0], s2.to_vec());
        assert!((frechet_distance(&a, &b).unwrap() - expected).abs() < 1e-10);
    }

    #[test]
    fn accumulated_statistics_equal_the_two_pass_estimates() {
        let rows = 37;
        let dim = 5;
        let features: Vec<f32> = (0..rows * dim)
            .map(|i| 100.0 + ((i * 7919) % 113) as f32 / 7.0)
            .collect();
        let mut stats = FeatureStatistics::new(dim);
        for batch in features.chunks(dim * 10) {
            stats.add(batch).unwrap();
        }
        let g = stats.gaussian().unwrap();
        let x = |r: usize, c: usize| features[r * dim + c] as f64;
        for c in 0..dim {
            let mean = (0..rows).map(|r| x(r, c)).sum::<f64>() / rows as f64;
            assert!((g.mean[c] - mean).abs() < 1e-10);
            for e in 0..dim {
                let mean_e = (0..rows).map(|r| x(r, e)).sum::<f64>() / rows as f64;
                let cov = (0..rows)
                    .map(|r| (x(r, c) - mean) * (x(r, e) - mean_e))
                    .sum::<f64>()
                    / (rows - 1) as f64;
                assert!((g.covariance[c * dim + e] - cov).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let mut stats = FeatureStatistics::new(4);
        assert!(matches!(
            stats.add(&[1.0; 6]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            stats.add(&[f32::NAN; 4]),
            Err(Error::NonFinite { .. })
        ));
        stats.add(&[1.0; 4]).unwrap();
        assert!(matches!(stats.gaussian(), Err(Error::TooFewPoints { .. })));
        let a = gaussian(vec![0.0], vec![1.0]);
        let b = gaussian(vec![0.0, 0.0], diag(&[1.0, 1.0]));
        assert!(matches!(
            frechet_distance(&a, &b),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn running_sums_resume_where_they_stopped() {
        let dim = 3;
        let features: Vec<f32> = (0..20 * dim)
            .map(|i| ((i * 37) % 11) as f32 - 4.0)
            .collect();
        let mut whole = FeatureStatistics::new(dim);
        whole.add(&features).unwrap();
        let mut first = FeatureStatistics::new(dim);
        first.add(&features[..8 * dim]).unwrap();
        let path = std::env::temp_dir().join(format!("fid-partial-{}.npz", std::process::id()));
        first.save_npz(&path).unwrap();
        let mut resumed = FeatureStatistics::load_npz(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(resumed.count(), 8);
        resumed.add(&features[8 * dim..]).unwrap();
        let (a, b) = (whole.gaussian().unwrap(), resumed.gaussian().unwrap());
        for (x, y) in a
            .mean
            .iter()
            .chain(&a.covariance)
            .zip(b.mean.iter().chain(&b.covariance))
        {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn npz_round_trip_keeps_every_value() {
        let dir = std::env::temp_dir().join(format!("fid-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.npz");
        let g = Gaussian {
            mean: vec![0.5, -1.25],
            covariance: vec![2.0, 0.1, 0.1, 3.0],
            count: 42,
        };
        g.save_npz(&path).unwrap();
        assert_eq!(Gaussian::load_npz(&path).unwrap(), g);
        std::fs::write(&path, b"not a zip").unwrap();
        assert!(matches!(
            Gaussian::load_npz(&path),
            Err(Error::BadDataFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn diag(values: &[f64]) -> Vec<f64> {
        let n = values.len();
        let mut m = vec![0.0; n * n];
        for (i, v) in values.iter().enumerate() {
            m[i * n + i] = *v;
        }
        m
    }
}
