//! The control commands on a 2D ring or grid model: scatter plots over the true modes.

use std::path::Path;
use std::time::Instant;

use selfcond_gan::control::{self, InversionConfig};
use selfcond_gan::data::GaussianMixture2d;
use selfcond_gan::data::toy2d::{points_tensor, tensor_points};
use selfcond_gan::model::{ConditionalGenerator, Toy2dDiscriminator, Toy2dGenerator};
use selfcond_gan::npy;
use selfcond_gan::rng::{SeededRng, stream};
use serde_json::json;

use crate::loaded::Gan;
use selfcond_gan_runner::plot::scatter;

type ToyGan = Gan<Toy2dGenerator, Toy2dDiscriminator, 2>;
type Outcome = Result<(), Box<dyn std::error::Error>>;

fn extent(mixture: &GaussianMixture2d) -> f32 {
    mixture
        .means
        .iter()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()))
        + 0.5
}

fn save_points(
    gan: &ToyGan,
    mixture: &GaussianMixture2d,
    points: &[[f32; 2]],
    colours: &[i64],
    out: &Path,
    name: &str,
) -> Outcome {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    npy::write(&out.join(format!("{name}.npy")), &flat, &[points.len(), 2])?;
    let k = colours
        .iter()
        .max()
        .map_or(1, |&m| m as usize + 1)
        .max(gan.k());
    scatter(
        &out.join(format!("{name}.png")),
        points,
        colours,
        k,
        &mixture.means,
        extent(mixture),
    )?;
    eprintln!("wrote {0}.png and {0}.npy", out.join(name).display());
    Ok(())
}

pub fn sample(
    gan: &ToyGan,
    mixture: &GaussianMixture2d,
    cluster: Option<usize>,
    n: usize,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let (points, classes) = match cluster {
        Some(c) => (
            control::sample_cluster(&gan.generator, c, n, rng)?,
            vec![c as i64; n],
        ),
        None => {
            let classes = gan.draw_classes(n, rng);
            let z = gan.draw_latents(n, rng)?;
            (control::generate(&gan.generator, &z, &classes)?, classes)
        }
    };
    let points = tensor_points(points)?;
    let metrics = mixture.evaluate(&points)?;
    eprintln!(
        "{} points: {} of {} modes, {:.1}% high quality",
        n,
        metrics.modes,
        mixture.num_modes(),
        100.0 * metrics.high_quality_fraction
    );
    save_points(gan, mixture, &points, &classes, out, "sample")
}

#[allow(clippy::too_many_arguments)]
pub fn sefa(
    gan: &ToyGan,
    mixture: &GaussianMixture2d,
    directions: Option<usize>,
    latents: usize,
    alphas: &[f32],
    cluster: Option<usize>,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let latent = gan.generator.latent_dim();
    let found = control::sefa(&gan.generator, directions.unwrap_or(latent.min(5)))?;
    let mut points = Vec::new();
    let mut colours = Vec::new();
    for _ in 0..latents {
        let z = gan.draw_latents(1, rng)?;
        let class = gan.class_or_drawn(cluster, rng);
        let path = found.traversal(&gan.generator, &z, class, alphas)?;
        points.extend(tensor_points(path)?);
        for direction in 0..found.len() {
            colours.extend(std::iter::repeat_n(direction as i64, alphas.len()));
        }
    }
    std::fs::write(
        out.join("sefa.json"),
        serde_json::to_string_pretty(&json!({
            "eigenvalues": found.eigenvalues,
            "directions": found.directions,
            "alphas": alphas,
        }))?,
    )?;
    eprintln!("eigenvalues {:?}", found.eigenvalues);
    save_points(gan, mixture, &points, &colours, out, "sefa")
}

pub fn interpolate(
    gan: &ToyGan,
    mixture: &GaussianMixture2d,
    pairs: usize,
    steps: usize,
    cluster: Option<usize>,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let latent = gan.generator.latent_dim();
    let mut points = Vec::new();
    let mut colours = Vec::new();
    for pair in 0..pairs {
        let ends = gan.draw_latents(2, rng)?;
        let class = gan.class_or_drawn(cluster, rng);
        let path = control::interpolate(
            &gan.generator,
            &ends[..latent],
            &ends[latent..],
            class as usize,
            steps,
        )?;
        points.extend(tensor_points(path)?);
        colours.extend(std::iter::repeat_n(pair as i64, steps));
    }
    save_points(gan, mixture, &points, &colours, out, "interpolate")
}

/// Inverts `n` fresh points of the mixture and checks what issue 5 asks: each reconstruction
/// lands on its target's mode (within 3 standard deviations of the centre), and the clusters
/// agree.
pub fn invert(
    gan: &ToyGan,
    mixture: &GaussianMixture2d,
    n: usize,
    candidates: usize,
    config: &InversionConfig,
    run_seed: u64,
    out: &Path,
) -> Outcome {
    // A stream no training draw uses: these points are not in the training set.
    let (targets, modes) = mixture.sample(n, &mut stream(run_seed, 7));
    let device = Default::default();
    let tensor = points_tensor(&targets, &device);
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(config.steps as u64);
    let (found, assigned) = gan.invert(tensor, candidates, config, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let recon = tensor_points(found.reconstructions.clone())?;

    let sigma = mixture.std;
    let limit = 3.0 * sigma;
    let (mut same_mode, mut near_target, mut recovered, mut near_centre) = (0, 0, 0, 0);
    for ((r, t), &mode) in recon.iter().zip(&targets).zip(&modes) {
        let centre = mixture.means[mode as usize];
        let same = mixture.nearest_mode(*r) == mode as usize;
        let close = (r[0] - t[0]).hypot(r[1] - t[1]) <= limit;
        same_mode += usize::from(same);
        near_target += usize::from(close);
        recovered += usize::from(same && close);
        near_centre +=
            usize::from((r[0] - centre[0]).abs() <= limit && (r[1] - centre[1]).abs() <= limit);
    }
    let distance = |mse: &[f32]| -> Vec<f64> {
        // MSE averages the two coordinates: the distance is sqrt(2 * mse), here in sigmas.
        let mut d: Vec<f64> = mse
            .iter()
            .map(|m| (2.0 * *m as f64).sqrt() / sigma as f64)
            .collect();
        d.sort_by(f64::total_cmp);
        d
    };
    let (before, after) = (distance(&found.mse_before), distance(&found.mse_after));
    let median = |d: &[f64]| d[d.len() / 2];
    let agree = |labels: &[i64]| {
        labels
            .iter()
            .zip(&found.classes)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n as f64
    };
    let chosen_vs_assigned = assigned.as_deref().map(agree);
    // The mode each cluster draws: the majority of 200 of its samples.
    let mut cluster_mode = Vec::with_capacity(gan.k());
    let mut mode_rng = stream(run_seed, 8);
    for c in 0..gan.k() {
        let drawn = tensor_points(control::sample_cluster(
            &gan.generator,
            c,
            200,
            &mut mode_rng,
        )?)?;
        let mut votes = vec![0usize; mixture.num_modes()];
        drawn
            .iter()
            .for_each(|p| votes[mixture.nearest_mode(*p)] += 1);
        cluster_mode.push((0..votes.len()).max_by_key(|&m| votes[m]).unwrap_or(0));
    }
    let same_mode_clusters = assigned.as_deref().map(|assigned| {
        let same = assigned
            .iter()
            .zip(&found.classes)
            .filter(|&(&a, &b)| cluster_mode[a as usize] == cluster_mode[b as usize])
            .count();
        same as f64 / n as f64
    });
    let reconstruction_vs_chosen = match &gan.clusters {
        Some(c) => Some(agree(&c.assign(found.reconstructions.clone())?)),
        None => None,
    };
    let summary = json!({
        "points": n,
        "starts": config.starts,
        "steps": config.steps,
        "learning_rate": config.learning_rate,
        "feature_weight": config.feature_weight,
        "mode_recovered_fraction": recovered as f64 / n as f64,
        "same_nearest_mode_fraction": same_mode as f64 / n as f64,
        "within_3_sigma_of_target_fraction": near_target as f64 / n as f64,
        "high_quality_fraction": near_centre as f64 / n as f64,
        "median_distance_sigmas_before": median(&before),
        "median_distance_sigmas_after": median(&after),
        "worst_distance_sigmas_after": after.last().copied(),
        "candidate_clusters": candidates,
        "chosen_cluster_is_the_assigned_one": chosen_vs_assigned,
        "chosen_and_assigned_clusters_draw_the_same_mode": same_mode_clusters,
        "reconstruction_is_assigned_the_chosen_cluster": reconstruction_vs_chosen,
        "seconds": seconds,
    });
    std::fs::write(
        out.join("invert.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    npy::write(
        &out.join("latents.npy"),
        &found.z,
        &[n, gan.generator.latent_dim()],
    )?;
    npy::write(&out.join("classes.npy"), &found.classes, &[n])?;
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    save_points(gan, mixture, &recon, &found.classes, out, "invert")
}
