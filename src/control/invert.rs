//! Latent inversion: find the `(z, c)` whose generation reconstructs a given input.
//!
//! As in Image2StyleGAN, `z` is optimised with Adam on pixel MSE plus a perceptual term; here
//! the perceptual term is the squared distance in the discriminator's own features `D_f`, so no
//! external network is needed. The class `c` is given (usually the nearest cluster of the
//! input, [`Clusters::assign`](crate::Clusters::assign)). Several random starts run side by
//! side in one batch and the best is kept per input.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::host;
use crate::model::device_of;
use crate::model::{ConditionalGenerator, Discriminator};
use crate::rng::{int_tensor, normal_tensor, seeded};
use crate::selfcond::Clusters;
use crate::train::check_labels as check_classes;

/// Settings of [`invert`].
#[derive(Config, Debug)]
pub struct InversionConfig {
    /// Random starts per input; the best is kept.
    #[config(default = 8)]
    pub starts: usize,
    /// Adam steps.
    #[config(default = 300)]
    pub steps: usize,
    /// Adam learning rate on `z`.
    #[config(default = 0.05)]
    pub learning_rate: f64,
    /// Weight of the feature distance beside the pixel MSE (0: pixels only).
    #[config(default = 1.0)]
    pub feature_weight: f64,
    /// Seed of the random starts.
    #[config(default = 0)]
    pub seed: u64,
}

impl InversionConfig {
    /// Rejects settings that cannot run.
    pub fn check(&self) -> Result<()> {
        Error::require_positive(&[("starts", self.starts), ("steps", self.steps)])?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::config(
                "learning_rate",
                "must be positive and finite",
            ));
        }
        if !(self.feature_weight.is_finite() && self.feature_weight >= 0.0) {
            return Err(Error::config(
                "feature_weight",
                "must be non-negative and finite",
            ));
        }
        Ok(())
    }
}

/// What [`invert`] found, one entry per input.
#[derive(Debug, Clone)]
pub struct Inversion<const R: usize> {
    /// Best latents, `[inputs, latent_dim]` row-major.
    pub z: Vec<f32>,
    /// The classes used.
    pub classes: Vec<i64>,
    /// `G(z, c)` of the best latents, `[inputs, ...]`, without autodiff.
    pub reconstructions: Tensor<R>,
    /// Pixel MSE of the best random start before optimisation (the baseline).
    pub mse_before: Vec<f32>,
    /// Pixel MSE after optimisation.
    pub mse_after: Vec<f32>,
    /// Mean squared `D_f` distance of the best start before optimisation.
    pub feature_before: Vec<f32>,
    /// Mean squared `D_f` distance after optimisation.
    pub feature_after: Vec<f32>,
}

/// Peak signal-to-noise ratio in dB of a mean squared error, for values spanning `range`
/// (2 for images in `[-1, 1]`).
pub fn psnr(mse: f32, range: f32) -> f32 {
    10.0 * (range * range / mse.max(f32::MIN_POSITIVE)).log10()
}

/// The latent being optimised, as a module so Burn's Adam can step it.
#[derive(Module, Debug)]
struct Latents {
    z: Param<Tensor<2>>,
}

/// Per-row pixel MSE and feature distance of `G(z, c)` against the targets.
struct Fit {
    mse: Tensor<1>,
    feature: Tensor<1>,
}

impl Fit {
    fn objective(&self, feature_weight: f64) -> Tensor<1> {
        self.mse.clone() + self.feature.clone().mul_scalar(feature_weight)
    }
}

fn fit<G, M, const R: usize>(
    generator: &G,
    discriminator: &M,
    z: Tensor<2>,
    classes: Tensor<1, Int>,
    targets: &Tensor<R>,
    target_features: &Tensor<2>,
) -> (Fit, Tensor<R>)
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    let rows = z.dims()[0];
    let generated = generator.forward(z, classes);
    let mse = (generated.clone() - targets.clone())
        .square()
        .reshape([rows as i32, -1])
        .mean_dim(1)
        .reshape([rows]);
    let feature = (discriminator.features(generated.clone()) - target_features.clone())
        .square()
        .mean_dim(1)
        .reshape([rows]);
    (Fit { mse, feature }, generated)
}

/// Inverts every row of `targets` (`[inputs, ...]`, in the generator's output range) with class
/// `classes[i]`: `config.starts` random latents per input are optimised for `config.steps`
/// Adam steps on pixel MSE plus `feature_weight` times the `D_f` distance, and the best kept.
///
/// Typed errors for a class out of range ([`Error::LabelOutOfRange`]), inputs of another shape
/// than the generator draws ([`Error::InputShape`]) and a class count that does not match the
/// inputs.
pub fn invert<G, M, const R: usize>(
    generator: &G,
    discriminator: &M,
    targets: Tensor<R>,
    classes: &[i64],
    config: &InversionConfig,
) -> Result<Inversion<R>>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    invert_observed(generator, discriminator, targets, classes, config, |_| {})
}

/// As [`invert`], calling `on_step` with the number of Adam steps done after each one (to
/// draw progress; the library never prints).
pub fn invert_observed<G, M, const R: usize>(
    generator: &G,
    discriminator: &M,
    targets: Tensor<R>,
    classes: &[i64],
    config: &InversionConfig,
    mut on_step: impl FnMut(usize),
) -> Result<Inversion<R>>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    config.check()?;
    let inputs = targets.dims()[0];
    if inputs == 0 {
        return Err(Error::Empty {
            what: "inversion targets",
        });
    }
    if classes.len() != inputs {
        return Err(Error::DimensionMismatch {
            what: "classes vs inversion targets",
            expected: inputs,
            got: classes.len(),
        });
    }
    check_classes(classes, generator.num_classes())?;
    if discriminator.num_classes() != generator.num_classes() {
        return Err(Error::DimensionMismatch {
            what: "discriminator classes vs generator classes",
            expected: generator.num_classes(),
            got: discriminator.num_classes(),
        });
    }

    let plain = device_of(generator).without_autodiff();
    let trainable = plain.clone().autodiff();
    // Inference copies for the forward-only passes, and the same in inference behaviour
    // (BatchNorm running statistics, no parameter gradients) on an autodiff device, so that
    // gradients reach `z` through both networks.
    let generator = generator.valid();
    let discriminator = discriminator.valid();
    let generator_ad = generator.clone().fork(&trainable);
    let discriminator_ad = discriminator.clone().fork(&trainable);

    let targets = targets.without_autodiff().to_device(&plain);
    host::ensure_finite(&targets, "inversion targets")?;
    let expected_shape = generator
        .forward(
            Tensor::zeros([1, generator.latent_dim()], &plain),
            int_tensor(vec![0], &plain),
        )
        .dims()[1..]
        .to_vec();
    if targets.dims()[1..] != expected_shape[..] {
        return Err(Error::InputShape {
            what: "inversion target",
            expected: expected_shape,
            got: targets.dims()[1..].to_vec(),
        });
    }

    // Row r of the working batch is start (r % starts) of input (r / starts).
    let starts = config.starts;
    let rows = inputs * starts;
    let repeat: Vec<i64> = (0..rows).map(|r| (r / starts) as i64).collect();
    let repeat = int_tensor(repeat, &plain);
    let target_features = discriminator.features(targets.clone());
    let targets_rep = targets.select(0, repeat.clone());
    let features_rep = target_features.select(0, repeat.clone());
    let classes_rep = int_tensor(classes.to_vec(), &plain).select(0, repeat);
    let (targets_ad, features_ad, classes_ad) = (
        targets_rep.clone().autodiff(),
        features_rep.clone().autodiff(),
        classes_rep.clone().autodiff(),
    );

    let mut rng = seeded(config.seed);
    let z0 = normal_tensor(&mut rng, rows, generator.latent_dim(), &plain);
    let mut latents = Latents {
        z: Param::from_tensor(z0.clone().autodiff().require_grad()),
    };
    let (start_fit, _) = fit(
        &generator,
        &discriminator,
        z0,
        classes_rep.clone(),
        &targets_rep,
        &features_rep,
    );

    let mut optimiser = AdamConfig::new().init();
    for step in 0..config.steps {
        let (now, _) = fit(
            &generator_ad,
            &discriminator_ad,
            latents.z.val(),
            classes_ad.clone(),
            &targets_ad,
            &features_ad,
        );
        let loss = now.objective(config.feature_weight).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &latents);
        latents = optimiser.step(config.learning_rate, latents, grads);
        on_step(step + 1);
    }

    let z = latents.z.val().without_autodiff();
    let (end_fit, generated) = fit(
        &generator,
        &discriminator,
        z.clone(),
        classes_rep,
        &targets_rep,
        &features_rep,
    );
    let pick = |fit: &Fit| -> Result<(Vec<usize>, Vec<f32>, Vec<f32>)> {
        let objective = host::floats(fit.objective(config.feature_weight))?;
        let mse = host::floats(fit.mse.clone())?;
        let feature = host::floats(fit.feature.clone())?;
        let best: Vec<usize> = objective
            .chunks(starts)
            .enumerate()
            .map(|(input, scores)| {
                let start = scores
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(s, _)| s);
                input * starts + start
            })
            .collect();
        let mse = best.iter().map(|&r| mse[r]).collect();
        let feature = best.iter().map(|&r| feature[r]).collect();
        Ok((best, mse, feature))
    };
    let (_, mse_before, feature_before) = pick(&start_fit)?;
    let (best, mse_after, feature_after) = pick(&end_fit)?;
    let best_rows = int_tensor(best.iter().map(|&r| r as i64).collect(), &plain);
    let z_best = host::floats(z.select(0, best_rows.clone()))?;
    if z_best.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "inverted latents",
        });
    }
    Ok(Inversion {
        z: z_best,
        classes: classes.to_vec(),
        reconstructions: generated.select(0, best_rows),
        mse_before,
        mse_after,
        feature_before,
        feature_after,
    })
}

/// What [`invert_among_clusters`] found: the best inversion per input over its candidate
/// clusters, and the conditioner's own choice for comparison.
#[derive(Debug, Clone)]
pub struct ClusterInversion<const R: usize> {
    /// The best `(z, c)` per input; `inversion.classes` are the clusters inversion chose.
    pub inversion: Inversion<R>,
    /// The nearest cluster of each input in `D_f` features: what the conditioner assigns.
    pub assigned: Vec<i64>,
}

impl<const R: usize> ClusterInversion<R> {
    /// Fraction of inputs whose best-reconstructing cluster is the one the conditioner assigns.
    pub fn agreement(&self) -> f64 {
        let same = self
            .inversion
            .classes
            .iter()
            .zip(&self.assigned)
            .filter(|(a, b)| a == b)
            .count();
        same as f64 / self.assigned.len().max(1) as f64
    }
}

/// Inverts every input with each of its `candidates` nearest clusters (in the snapshot's
/// features) and keeps the `(z, c)` that reconstructs it best. With `candidates = 1` this is
/// [`invert`] with the conditioner's labels; more candidates let the generator itself say which
/// cluster draws the input, which [`ClusterInversion::agreement`] compares with the clustering.
pub fn invert_among_clusters<G, M, const R: usize>(
    generator: &G,
    discriminator: &M,
    clusters: &Clusters<M, R>,
    targets: Tensor<R>,
    candidates: usize,
    config: &InversionConfig,
    on_step: impl FnMut(usize),
) -> Result<ClusterInversion<R>>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    if clusters.k() != generator.num_classes() {
        return Err(Error::DimensionMismatch {
            what: "clusters vs generator classes",
            expected: generator.num_classes(),
            got: clusters.k(),
        });
    }
    let targets = targets.without_autodiff();
    let ranked = clusters.ranked(targets.clone(), candidates)?;
    let inputs = ranked.len();
    let device = targets.device();
    let repeat: Vec<i64> = (0..inputs * candidates)
        .map(|r| (r / candidates) as i64)
        .collect();
    let expanded = targets.select(0, int_tensor(repeat, &device));
    let classes: Vec<i64> = ranked.iter().flatten().copied().collect();
    let all = invert_observed(
        generator,
        discriminator,
        expanded,
        &classes,
        config,
        on_step,
    )?;

    let objective =
        |r: usize| all.mse_after[r] + config.feature_weight as f32 * all.feature_after[r];
    let best = best_per_input(inputs, candidates, objective);
    let latent = generator.latent_dim();
    let pick = |values: &[f32]| best.iter().map(|&r| values[r]).collect::<Vec<f32>>();
    // The baseline is the best random start over all candidates, like the result.
    let before =
        |r: usize| all.mse_before[r] + config.feature_weight as f32 * all.feature_before[r];
    let best_before = best_per_input(inputs, candidates, before);
    let pick_before = |values: &[f32]| best_before.iter().map(|&r| values[r]).collect::<Vec<f32>>();
    let inversion = Inversion {
        z: best
            .iter()
            .flat_map(|&r| all.z[r * latent..(r + 1) * latent].iter().copied())
            .collect(),
        classes: best.iter().map(|&r| classes[r]).collect(),
        reconstructions: all.reconstructions.clone().select(
            0,
            int_tensor(best.iter().map(|&r| r as i64).collect(), &device),
        ),
        mse_before: pick_before(&all.mse_before),
        mse_after: pick(&all.mse_after),
        feature_before: pick_before(&all.feature_before),
        feature_after: pick(&all.feature_after),
    };
    Ok(ClusterInversion {
        inversion,
        assigned: ranked.iter().map(|r| r[0]).collect(),
    })
}

/// For each of `inputs` groups of `candidates` consecutive rows, the row of lowest `score`.
fn best_per_input(inputs: usize, candidates: usize, score: impl Fn(usize) -> f32) -> Vec<usize> {
    (0..inputs)
        .map(|i| {
            (i * candidates..(i + 1) * candidates)
                .min_by(|&a, &b| score(a).total_cmp(&score(b)))
                .unwrap_or(i * candidates)
        })
        .collect()
}
