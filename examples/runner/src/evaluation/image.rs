//! The image metrics of Stacked-MNIST and CIFAR-10 runs: FID, IS, KID, precision / recall and
//! density / coverage on the Inception features, and Stacked-MNIST's mode count.

use std::time::Instant;

use burn::prelude::*;
use rand::seq::index::sample;
use selfcond_gan::metrics::fid::{FID_FEATURE_DIM, FeatureStatistics, FidExtractor, Gaussian};
use selfcond_gan::metrics::inception_score::{INCEPTION_CLASSES, default_weights_path};
use selfcond_gan::metrics::{
    Features, InceptionLogits, InceptionScoreConfig, KidConfig, MnistClassifier, StackedModes,
    count_stacked_modes, inception_score, kernel_inception_distance, nearest_neighbour_metrics,
};
use selfcond_gan::rng::seeded;
use selfcond_gan::viz;
use serde_json::{Map, Value, json};

use super::EvaluateArgs;
use super::features::{FeaturePass, fake_features_path, save};
use super::runs::Run;
use super::sources::{ImageSet, SourceOptions, open_images, read_samples};
use crate::classifier;

type Evaluation = Map<String, Value>;

/// Reads and checks every set first, then runs the network once per set.
pub(super) fn evaluate(
    runs: &[Run],
    args: &EvaluateArgs,
) -> Result<Vec<Evaluation>, Box<dyn std::error::Error>> {
    let device = Device::default();
    let stacked = runs[0].dataset == "stacked_mnist";
    let (default_dir, default_real) = match stacked {
        true => ("data/mnist", "stacked-mnist"),
        false => ("data/cifar10", "cifar10-train"),
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(|| default_dir.into());
    let real_spec = args.real.clone().unwrap_or_else(|| default_real.into());
    // The softmax weights first: a bad file is refused before any image is read.
    let is_path = args.is_weights.clone().unwrap_or_else(default_weights_path);
    let is_layer = if is_path.is_file() {
        Some(InceptionLogits::load(&is_path, &device)?)
    } else {
        eprintln!(
            "Inception Score left out: {} not found (pytorch-fid's weights, {}; --is-weights)",
            is_path.display(),
            selfcond_gan::metrics::inception_score::WEIGHTS_URL
        );
        None
    };
    let fakes = runs
        .iter()
        .map(|run| read_samples(&run.dir.join("samples.npy"), args.samples))
        .collect::<Result<Vec<_>, _>>()?;
    let options = SourceOptions {
        data_dir: Some(data_dir.clone()),
        size: fakes[0].side,
        limit: args.real_limit,
        real_count: args.real_count,
    };
    let real = open_images(&real_spec, &options)?;
    check_sizes(&real, &fakes, runs, args, is_layer.is_some())?;

    let classifier = match stacked {
        true => {
            Some(classifier::load_or_train(&args.classifier, &data_dir, &device, args.quiet)?.0)
        }
        false => None,
    };
    let fid_weights = args
        .fid_weights
        .clone()
        .unwrap_or_else(selfcond_gan::metrics::fid::default_weights_path);
    let extractor = FidExtractor::load(&fid_weights, &device)?;
    let pass = FeaturePass {
        extractor: &extractor,
        batch_size: args.batch_size,
        checkpoint_images: args.checkpoint_images,
        use_cache: !args.no_cache,
        quiet: args.quiet,
    };
    let real_features = pass.run(&real, "real")?;
    let real_gaussian = gaussian(&real_features.values)?;
    if let Some(dir) = &args.save_features {
        save(&dir.join("real.npy"), &real_features.values)?;
    }
    let real_set = Features::new(&real_features.values, FID_FEATURE_DIM)?;

    let mut evaluations = Vec::with_capacity(runs.len());
    for (run, fake) in runs.iter().zip(&fakes) {
        let started = Instant::now();
        let fake_features = pass.run(fake, &run.name())?;
        if let Some(dir) = &args.save_features {
            save(
                &fake_features_path(dir, &run.dir, runs.len()),
                &fake_features.values,
            )?;
        }
        let fake_set = Features::new(&fake_features.values, FID_FEATURE_DIM)?;
        let metrics_started = Instant::now();
        let mut evaluation = Map::new();
        evaluation.insert("samples".into(), json!(fake.len()));
        evaluation.insert("real".into(), json!(real_spec));
        evaluation.insert("real_count".into(), json!(real.len()));
        let fid = selfcond_gan::metrics::fid::frechet_distance(
            &real_gaussian,
            &gaussian(&fake_features.values)?,
        )?;
        evaluation.insert("fid".into(), json!(fid));
        if let Some(layer) = &is_layer {
            let logits = layer.logits(&fake_set, 1000)?;
            let config = InceptionScoreConfig::new().with_splits(args.is_splits);
            let score = inception_score(&logits, INCEPTION_CLASSES, &config)?;
            evaluation.insert("is_mean".into(), json!(score.mean));
            evaluation.insert("is_std".into(), json!(score.std));
            evaluation.insert("is_splits".into(), json!(args.is_splits));
        }
        let kid_config = KidConfig::new()
            .with_subsets(args.kid_subsets)
            .with_subset_size(args.kid_subset_size)
            .with_seed(args.seed);
        let kid = kernel_inception_distance(&real_set, &fake_set, &kid_config, &device)?;
        evaluation.insert("kid_mean".into(), json!(kid.mean));
        evaluation.insert("kid_std".into(), json!(kid.std));
        evaluation.insert("kid_subsets".into(), json!(args.kid_subsets));
        evaluation.insert("kid_subset_size".into(), json!(args.kid_subset_size));
        nearest_neighbours(&real_set, &fake_set, args, &device, &mut evaluation)?;
        if let Some(classifier) = &classifier {
            let modes = stacked_modes(classifier, fake, &device)?;
            evaluation.insert("modes".into(), json!(modes.modes));
            evaluation.insert("reverse_kl".into(), json!(modes.reverse_kl));
            evaluation.insert("reverse_kl_log10".into(), json!(modes.reverse_kl_log10));
        }
        let seconds = started.elapsed().as_secs_f64();
        evaluation.insert(
            "seconds".into(),
            json!({
                "fake_features": fake_features.seconds,
                "metrics": metrics_started.elapsed().as_secs_f64(),
                "real_features": real_features.seconds,
                "real_features_computed": real_features.computed,
                "per_1000_generated_images": 1000.0 * seconds / fake.len() as f64,
            }),
        );
        evaluations.push(evaluation);
    }
    Ok(evaluations)
}

/// Every size a metric needs, checked before the network runs.
fn check_sizes(
    real: &ImageSet,
    fakes: &[ImageSet],
    runs: &[Run],
    args: &EvaluateArgs,
    inception_score: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    if args.save_features.is_some() && runs.len() > 1 {
        for (i, run) in runs.iter().enumerate() {
            if let Some(other) = runs[..i].iter().find(|r| r.name() == run.name()) {
                return Err(format!(
                    "--save-features: {} and {} would both write {}/fake.npy",
                    other.dir.display(),
                    run.dir.display(),
                    run.name()
                )
                .into());
            }
        }
    }
    if real.side != fakes[0].side {
        return Err(format!(
            "the real images are {0} x {0}, the runs' samples {1} x {1}",
            real.side, fakes[0].side
        )
        .into());
    }
    for (run, fake) in runs.iter().zip(fakes) {
        let smaller = fake.len().min(real.len());
        let problem = if fake.side != fakes[0].side {
            Some(format!(
                "its samples are {0} x {0}, the first run's {1} x {1}",
                fake.side, fakes[0].side
            ))
        } else if args.kid_subset_size > smaller {
            Some(format!(
                "--kid-subset-size {} exceeds the smaller set ({smaller} images)",
                args.kid_subset_size
            ))
        } else if args.nn_samples.min(smaller) <= args.k_pr.max(args.k_dc) {
            Some(format!(
                "precision / recall need more than {} images in each set, got {smaller}",
                args.k_pr.max(args.k_dc)
            ))
        } else if inception_score && args.is_splits > fake.len() {
            Some(format!(
                "--is-splits {} exceeds its {} samples",
                args.is_splits,
                fake.len()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!("{}: {problem}", run.dir.display()).into());
        }
    }
    Ok(())
}

fn gaussian(features: &[f32]) -> selfcond_gan::Result<Gaussian> {
    let mut statistics = FeatureStatistics::new(FID_FEATURE_DIM);
    statistics.add(features)?;
    statistics.gaussian()
}

/// Precision / recall (`--k-pr`) and density / coverage (`--k-dc`) on seeded subsets of at
/// most `--nn-samples` of each set.
fn nearest_neighbours(
    real: &Features,
    fake: &Features,
    args: &EvaluateArgs,
    device: &Device,
    evaluation: &mut Evaluation,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = seeded(args.seed);
    let mut subset = |set: &Features| -> Vec<f32> {
        if set.len() <= args.nn_samples {
            return set.values().to_vec();
        }
        let mut rows = sample(&mut rng, set.len(), args.nn_samples).into_vec();
        rows.sort_unstable();
        rows.iter()
            .flat_map(|&i| &set.values()[i * set.dim()..(i + 1) * set.dim()])
            .copied()
            .collect()
    };
    let (real_values, fake_values) = (subset(real), subset(fake));
    let real = Features::new(&real_values, FID_FEATURE_DIM)?;
    let fake = Features::new(&fake_values, FID_FEATURE_DIM)?;
    let pr = nearest_neighbour_metrics(&real, &fake, args.k_pr, device)?;
    let dc = nearest_neighbour_metrics(&real, &fake, args.k_dc, device)?;
    for (key, value) in [
        ("precision", pr.precision),
        ("recall", pr.recall),
        ("density", dc.density),
        ("coverage", dc.coverage),
    ] {
        evaluation.insert(key.into(), json!(value));
    }
    evaluation.insert("nn_samples".into(), json!([real.len(), fake.len()]));
    evaluation.insert("k_pr".into(), json!(args.k_pr));
    evaluation.insert("k_dc".into(), json!(args.k_dc));
    Ok(())
}

/// Stacked-MNIST modes of the samples as saved (uint8), 1,000 images at a time.
fn stacked_modes(
    classifier: &MnistClassifier,
    samples: &ImageSet,
    device: &Device,
) -> Result<StackedModes, Box<dyn std::error::Error>> {
    let per_image = 3 * samples.side * samples.side;
    let mut counts: Option<Vec<u32>> = None;
    for part in samples.pixels.chunks(1000 * per_image) {
        let images = viz::from_bytes(part, 3, samples.side, device)?;
        let found = count_stacked_modes(classifier, &images, 500)?;
        match &mut counts {
            Some(counts) => counts
                .iter_mut()
                .zip(&found.counts)
                .for_each(|(c, f)| *c += f),
            None => counts = Some(found.counts),
        }
    }
    Ok(StackedModes::from_counts(counts.ok_or("no samples")?)?)
}
