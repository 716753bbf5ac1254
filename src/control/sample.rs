//! Sampling by cluster, by the empirical cluster distribution, and along latent paths.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::error::{Error, Result};
use crate::model::{ConditionalGenerator, device_of};
use crate::rng::{SeededRng, int_tensor, normal_tensor};
use crate::train::check_labels as check_classes;

/// `G(z, c)` in inference mode for host latents `z` (`classes.len()` rows, row-major) and
/// classes, on the generator's device without autodiff.
pub fn generate<G: ConditionalGenerator<R>, const R: usize>(
    generator: &G,
    z: &[f32],
    classes: &[i64],
) -> Result<Tensor<R>> {
    if classes.is_empty() {
        return Err(Error::Empty { what: "classes" });
    }
    let generator = generator.valid();
    let device = device_of(&generator);
    let latent = generator.latent_dim();
    check_classes(classes, generator.num_classes())?;
    if z.len() != classes.len() * latent {
        return Err(Error::DimensionMismatch {
            what: "latent values vs classes x latent width",
            expected: classes.len() * latent,
            got: z.len(),
        });
    }
    let z = Tensor::from_data(
        TensorData::new(z.to_vec(), [classes.len(), latent]),
        &device,
    );
    Ok(generator.forward(z, int_tensor(classes.to_vec(), &device)))
}

/// `n` samples of cluster `cluster`, with latents `z ~ N(0, I)` from `rng`.
pub fn sample_cluster<G: ConditionalGenerator<R>, const R: usize>(
    generator: &G,
    cluster: usize,
    n: usize,
    rng: &mut SeededRng,
) -> Result<Tensor<R>> {
    sample_classes(generator, &vec![cluster as i64; n], rng)
}

/// `n` samples whose clusters are drawn with probability proportional to `sizes` (pass
/// [`Clusters::sizes`](crate::Clusters::sizes) for the empirical distribution training used).
/// Returns the samples and their clusters.
pub fn sample_by_sizes<G: ConditionalGenerator<R>, const R: usize>(
    generator: &G,
    sizes: &[usize],
    n: usize,
    rng: &mut SeededRng,
) -> Result<(Tensor<R>, Vec<i64>)> {
    if sizes.len() != generator.num_classes() {
        return Err(Error::DimensionMismatch {
            what: "cluster sizes vs generator classes",
            expected: generator.num_classes(),
            got: sizes.len(),
        });
    }
    if sizes.iter().all(|&s| s == 0) {
        return Err(Error::Empty { what: "clusters" });
    }
    let classes = crate::selfcond::draw_by_sizes(sizes, n, rng);
    Ok((sample_classes(generator, &classes, rng)?, classes))
}

/// Spherical interpolation between latents `z0` and `z1` at `t` in `[0, 1]`: the path keeps
/// the norm a Gaussian latent typically has, where a straight line would pass through the
/// low-norm region the generator never saw. Falls back to a straight line for (anti)parallel
/// or zero latents.
pub fn slerp(z0: &[f32], z1: &[f32], t: f32) -> Result<Vec<f32>> {
    if z0.len() != z1.len() {
        return Err(Error::DimensionMismatch {
            what: "interpolation end points",
            expected: z0.len(),
            got: z1.len(),
        });
    }
    let dot =
        |a: &[f32], b: &[f32]| -> f64 { a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum() };
    let (n0, n1) = (dot(z0, z0).sqrt(), dot(z1, z1).sqrt());
    let cos = (dot(z0, z1) / (n0 * n1)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    let t = t as f64;
    let (w0, w1) = if omega.sin().abs() < 1e-6 || !omega.is_finite() {
        (1.0 - t, t)
    } else {
        (
            ((1.0 - t) * omega).sin() / omega.sin(),
            (t * omega).sin() / omega.sin(),
        )
    };
    Ok(z0
        .iter()
        .zip(z1)
        .map(|(a, b)| (w0 * *a as f64 + w1 * *b as f64) as f32)
        .collect())
}

/// `steps` samples of `cluster` along the spherical path from `z0` to `z1` (both ends
/// included; `steps >= 2`).
pub fn interpolate<G: ConditionalGenerator<R>, const R: usize>(
    generator: &G,
    z0: &[f32],
    z1: &[f32],
    cluster: usize,
    steps: usize,
) -> Result<Tensor<R>> {
    if steps < 2 {
        return Err(Error::config(
            "steps",
            "must be at least 2 (both end points)",
        ));
    }
    if z0.len() != generator.latent_dim() {
        return Err(Error::DimensionMismatch {
            what: "interpolation latent width",
            expected: generator.latent_dim(),
            got: z0.len(),
        });
    }
    let mut path = Vec::with_capacity(steps * z0.len());
    for step in 0..steps {
        path.extend(slerp(z0, z1, step as f32 / (steps - 1) as f32)?);
    }
    generate(generator, &path, &vec![cluster as i64; steps])
}

fn sample_classes<G: ConditionalGenerator<R>, const R: usize>(
    generator: &G,
    classes: &[i64],
    rng: &mut SeededRng,
) -> Result<Tensor<R>> {
    if classes.is_empty() {
        return Err(Error::Empty { what: "samples" });
    }
    check_classes(classes, generator.num_classes())?;
    let generator = generator.valid();
    let device = device_of(&generator);
    let z = normal_tensor(rng, classes.len(), generator.latent_dim(), &device);
    Ok(generator.forward(z, int_tensor(classes.to_vec(), &device)))
}
