//! SeFa: closed-form semantic directions (Shen & Zhou, *Closed-Form Factorization of Latent
//! Semantics in GANs*, CVPR 2021).
//!
//! The generator's first layer is affine in `z`, `y = A z + ...`. Moving `z` by `alpha * n`
//! moves `y` by `alpha * A n`, so the unit directions that change the first layer most are the
//! top eigenvectors of `A^T A`, that is the right singular vectors of `A`. As the official
//! code does, each row of `A` (one output unit) is first scaled to unit length, so no unit
//! dominates by the scale of its weights alone.

use burn::linalg::svd;
use burn::prelude::*;

use crate::control::sample::generate;
use crate::error::{Error, Result};
use crate::host;
use crate::model::{ConditionalGenerator, LatentAffine};

/// QR sweeps allowed per singular value; convergence takes a handful.
const SVD_SWEEPS: usize = 100;

/// Semantic directions of a latent space, strongest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticDirections {
    /// Unit vectors `n_i` of the latent width, sorted by eigenvalue, descending. The sign of
    /// each is fixed so that its largest component is positive.
    pub directions: Vec<Vec<f32>>,
    /// Eigenvalues of `A^T A` (squared singular values of the row-normalised `A`).
    pub eigenvalues: Vec<f32>,
}

/// The top `k` SeFa directions of `generator`'s first layer.
///
/// [`Error::TooManyDirections`] if `k` exceeds the latent width (or the layer's outputs).
pub fn sefa(generator: &impl LatentAffine, k: usize) -> Result<SemanticDirections> {
    sefa_of_weight(generator.latent_weight(), k)
}

/// The top `k` SeFa directions of an affine map `A`, `[outputs, latent_dim]`.
pub fn sefa_of_weight(a: Tensor<2>, k: usize) -> Result<SemanticDirections> {
    let [outputs, latent] = a.dims();
    let available = outputs.min(latent);
    if k > available {
        return Err(Error::TooManyDirections {
            requested: k,
            available,
        });
    }
    if k == 0 {
        return Err(Error::config("directions", "must be at least 1"));
    }
    let a = a.without_autodiff().detach();
    host::ensure_finite(&a, "first-layer weight")?;
    let norms = a.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    let (_, singular, vt) = svd::<2, 1>(a / norms, SVD_SWEEPS);
    let singular = host::floats(singular)?;
    let vt = host::floats(vt)?;
    let directions = vt
        .chunks_exact(latent)
        .take(k)
        .map(|row| {
            let largest = row
                .iter()
                .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            let sign = if largest < 0.0 { -1.0 } else { 1.0 };
            row.iter().map(|v| v * sign).collect()
        })
        .collect();
    Ok(SemanticDirections {
        directions,
        eigenvalues: singular.iter().take(k).map(|s| s * s).collect(),
    })
}

impl SemanticDirections {
    /// Number of directions.
    pub fn len(&self) -> usize {
        self.directions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.directions.is_empty()
    }

    /// `z' = z + alpha * n_direction` for every row of `z` (host latents, row-major).
    pub fn edit(&self, z: &[f32], direction: usize, alpha: f32) -> Result<Vec<f32>> {
        let n = self
            .directions
            .get(direction)
            .ok_or(Error::TooManyDirections {
                requested: direction + 1,
                available: self.len(),
            })?;
        if n.is_empty() || !z.len().is_multiple_of(n.len()) {
            return Err(Error::DimensionMismatch {
                what: "latent values vs latent width",
                expected: n.len(),
                got: z.len(),
            });
        }
        Ok(z.iter()
            .zip(n.iter().cycle())
            .map(|(z, n)| z + alpha * n)
            .collect())
    }

    /// The traversal of one latent `z` of class `class`: for each direction (rows) and each
    /// `alpha` (columns), `G(z + alpha * n_i, c)`, in row-major order.
    pub fn traversal<G: ConditionalGenerator<R>, const R: usize>(
        &self,
        generator: &G,
        z: &[f32],
        class: i64,
        alphas: &[f32],
    ) -> Result<Tensor<R>> {
        let mut latents = Vec::with_capacity(self.len() * alphas.len() * z.len());
        for direction in 0..self.len() {
            for &alpha in alphas {
                latents.extend(self.edit(z, direction, alpha)?);
            }
        }
        generate(generator, &latents, &vec![class; self.len() * alphas.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal_tensor, seeded};

    fn matrix(rows: Vec<Vec<f32>>) -> Tensor<2> {
        let (r, c) = (rows.len(), rows[0].len());
        let values: Vec<f32> = rows.into_iter().flatten().collect();
        Tensor::from_data(TensorData::new(values, [r, c]), &Device::default())
    }

    #[test]
    fn hand_computed_directions_and_eigenvalues() {
        // Unit rows already: A^T A = diag(2, 1), so n_1 = e_1 (eigenvalue 2), n_2 = e_2 (1).
        let a = matrix(vec![vec![1.0, 0.0], vec![0.0, -1.0], vec![-1.0, 0.0]]);
        let found = sefa_of_weight(a, 2).unwrap();
        assert!((found.eigenvalues[0] - 2.0).abs() < 1e-5);
        assert!((found.eigenvalues[1] - 1.0).abs() < 1e-5);
        assert!((found.directions[0][0] - 1.0).abs() < 1e-5 && found.directions[0][1].abs() < 1e-5);
        assert!((found.directions[1][1] - 1.0).abs() < 1e-5 && found.directions[1][0].abs() < 1e-5);
        // Row scale does not matter: rows are normalised first.
        let scaled = matrix(vec![vec![7.0, 0.0], vec![0.0, -0.1], vec![-3.0, 0.0]]);
        assert_eq!(sefa_of_weight(scaled, 2).unwrap(), found);
    }

    #[test]
    fn directions_are_orthonormal_eigenvectors_of_the_normalised_gram_matrix() {
        let (outputs, latent, k) = (40, 6, 4);
        let a = normal_tensor(&mut seeded(3), outputs, latent, &Device::default());
        let found = sefa_of_weight(a.clone(), k).unwrap();
        let rows = host::floats(a).unwrap();
        let normalised: Vec<Vec<f64>> = rows
            .chunks(latent)
            .map(|r| {
                let norm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                r.iter().map(|v| *v as f64 / norm).collect()
            })
            .collect();
        let gram = |v: &[f32]| -> Vec<f64> {
            // (A^T A) v computed directly, independently of the SVD.
            let av: Vec<f64> = normalised
                .iter()
                .map(|r| r.iter().zip(v).map(|(x, y)| x * *y as f64).sum())
                .collect();
            (0..latent)
                .map(|j| normalised.iter().zip(&av).map(|(r, s)| r[j] * s).sum())
                .collect()
        };
        for (i, (n, &lambda)) in found.directions.iter().zip(&found.eigenvalues).enumerate() {
            let image = gram(n);
            for (x, v) in image.iter().zip(n) {
                assert!(
                    (x - lambda as f64 * *v as f64).abs() < 1e-3,
                    "A^T A n_{i} = l n_{i}"
                );
            }
            for (j, m) in found.directions.iter().enumerate() {
                let dot: f32 = n.iter().zip(m).map(|(x, y)| x * y).sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-4, "n_{i} . n_{j} = {dot}");
            }
        }
        assert!(found.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
        // n_1 is the top eigenvector: no random unit direction moves A's output more.
        let mut rng = seeded(4);
        let top = found.eigenvalues[0] as f64;
        for _ in 0..200 {
            let v = host::floats(normal_tensor(&mut rng, 1, latent, &Device::default())).unwrap();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
            let moved: f64 = gram(&v).iter().zip(&v).map(|(x, y)| x * *y as f64).sum();
            assert!(moved <= top + 1e-4);
        }
    }

    #[test]
    fn too_many_directions_is_a_typed_error() {
        let a = normal_tensor(&mut seeded(0), 10, 3, &Device::default());
        assert!(matches!(
            sefa_of_weight(a.clone(), 4),
            Err(Error::TooManyDirections {
                requested: 4,
                available: 3
            })
        ));
        let found = sefa_of_weight(a, 2).unwrap();
        assert!(matches!(
            found.edit(&[0.0; 3], 2, 1.0),
            Err(Error::TooManyDirections { .. })
        ));
        assert!(matches!(
            found.edit(&[0.0; 4], 0, 1.0),
            Err(Error::DimensionMismatch { .. })
        ));
        let edited = found.edit(&[0.0; 6], 1, 2.0).unwrap();
        assert_eq!(&edited[..3], &edited[3..]);
        assert!((edited.iter().map(|x| x * x).sum::<f32>() - 8.0).abs() < 1e-4);
    }
}
