//! Controlling a trained generator: cluster sampling, interpolation, inversion, and loading the
//! pieces they need from a checkpoint.

use std::path::PathBuf;

use burn::prelude::*;
use selfcond_gan::control::{
    InversionConfig, generate, interpolate, invert, sample_by_sizes, sample_cluster, sefa, slerp,
};
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::host::{floats, parameter_values};
use selfcond_gan::model::{
    ConditionalGenerator, DcganConfig, Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig,
};
use selfcond_gan::rng::{normal_tensor, stream};
use selfcond_gan::{Checkpoint, Error, SelfCondConfig, TrainConfig, Trainer};

type Toy = Trainer<Toy2dGenerator, Toy2dDiscriminator, 2>;

fn device() -> Device {
    Device::default().autodiff()
}

fn models(k: usize, width: usize) -> (Toy2dGenerator, Toy2dDiscriminator) {
    let config = Toy2dModelConfig::new(k)
        .with_generator_width(width)
        .with_maxout_units(12);
    let mut init = stream(0, 2);
    (
        config.init_generator(&mut init, &device()).unwrap(),
        config.init_discriminator(&mut init, &device()).unwrap(),
    )
}

/// A briefly trained self-conditioned ring model and its data.
fn trained() -> (Toy, Toy2dDataset, Tensor<2>) {
    let mut data = Toy2dDataset::new(
        GaussianMixture2d::ring(2.0).unwrap(),
        2_000,
        32,
        &mut stream(0, 0),
        stream(0, 1),
    )
    .unwrap();
    let (g, d) = models(4, 24);
    let set = data.head_tensor(300, &device());
    let config = TrainConfig::new(SelfCondConfig::new(4).with_recluster_every(4));
    let (mut t, _) = Trainer::new(config, g, d, Some(set.clone())).unwrap();
    t.fit(&mut data, 6, &mut ()).unwrap();
    (t, data, set)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("selfcond-control-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

#[test]
fn frozen_clusters_label_as_the_conditioner_does_also_after_a_checkpoint() {
    let (mut t, data, set) = trained();
    let conditioner = t.conditioner().unwrap();
    let clusters = conditioner.clusters();
    assert_eq!(clusters.k(), 4);
    assert_eq!(clusters.sizes().iter().sum::<usize>(), 300);
    assert_eq!(
        clusters.assign(set.clone()).unwrap(),
        conditioner.clustering_labels()
    );
    let fresh = data.head_tensor(500, &device()).slice([300..500, 0..2]);
    let by_conditioner = selfcond_gan::host::ints(conditioner.labels(fresh.clone())).unwrap();
    assert_eq!(clusters.assign(fresh.clone()).unwrap(), by_conditioner);
    let ranked = clusters.ranked(fresh.clone(), 3).unwrap();
    for (row, &nearest) in ranked.iter().zip(&by_conditioner) {
        assert_eq!(
            row[0], nearest,
            "the first candidate is the assigned cluster"
        );
        assert!(row[0] != row[1] && row[1] != row[2] && row[0] != row[2]);
    }
    assert!(matches!(
        clusters.ranked(fresh.clone(), 5),
        Err(Error::InvalidConfig { .. })
    ));

    let run = scratch("clusters");
    t.save_checkpoint(&run, &()).unwrap();
    let checkpoint = Checkpoint::open_latest(&run).unwrap();
    let (g, d) = models(4, 24);
    let loaded_g = checkpoint.generator(g).unwrap();
    assert_eq!(
        parameter_values(&loaded_g).unwrap(),
        parameter_values(t.generator()).unwrap()
    );
    let loaded = checkpoint.clusters(d.clone()).unwrap().unwrap();
    assert_eq!(loaded.assign(fresh).unwrap(), by_conditioner);
    assert_eq!(loaded.sizes(), clusters.sizes());
    assert!(checkpoint.discriminator(d).is_ok());

    // A checkpoint of another model is refused, not loaded.
    let (wide_g, _) = models(4, 32);
    assert!(matches!(
        checkpoint.generator(wide_g),
        Err(Error::CheckpointMismatch { .. })
    ));
    let (_, other_k) = models(5, 24);
    assert!(matches!(
        checkpoint.clusters(other_k),
        Err(Error::CheckpointMismatch { .. })
    ));
    let image = DcganConfig::new(4).with_width(2);
    let image_g = image.init_generator(&mut stream(0, 2), &device()).unwrap();
    assert!(matches!(
        checkpoint.generator(image_g),
        Err(Error::CheckpointMismatch { .. })
    ));
    std::fs::remove_dir_all(&run).ok();
}

#[test]
fn sampling_by_cluster_and_by_sizes() {
    let (g, _) = models(3, 16);
    let mut rng = stream(1, 0);
    let points = sample_cluster(&g, 2, 10, &mut rng).unwrap();
    assert_eq!(points.dims(), [10, 2]);
    // Only clusters with members are drawn, in proportion to their sizes.
    let (_, classes) = sample_by_sizes(&g, &[0, 30, 10], 4_000, &mut rng).unwrap();
    assert!(classes.iter().all(|&c| c == 1 || c == 2));
    let ones = classes.iter().filter(|&&c| c == 1).count() as f64 / 4_000.0;
    assert!((ones - 0.75).abs() < 0.03, "{ones}");
    // The same stream gives the same samples.
    let a = floats(sample_cluster(&g, 1, 5, &mut stream(9, 0)).unwrap()).unwrap();
    let b = floats(sample_cluster(&g, 1, 5, &mut stream(9, 0)).unwrap()).unwrap();
    assert_eq!(a, b);

    assert!(matches!(
        sample_cluster(&g, 3, 1, &mut rng),
        Err(Error::LabelOutOfRange { label: 3, k: 3 })
    ));
    assert!(matches!(
        sample_by_sizes(&g, &[0, 0, 0], 5, &mut rng),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        sample_by_sizes(&g, &[1, 1], 5, &mut rng),
        Err(Error::DimensionMismatch { .. })
    ));
}

#[test]
fn spherical_interpolation_keeps_the_norm_and_hits_both_ends() {
    let z0 = [3.0, 0.0, 4.0];
    let z1 = [0.0, 5.0, 0.0];
    for t in [0.0, 0.25, 0.5, 0.9, 1.0] {
        let z = slerp(&z0, &z1, t).unwrap();
        let norm = z.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 5.0).abs() < 1e-4, "t = {t}: |z| = {norm}");
    }
    assert_eq!(slerp(&z0, &z1, 0.0).unwrap(), z0.to_vec());
    assert!(matches!(
        slerp(&z0, &[1.0], 0.5),
        Err(Error::DimensionMismatch { .. })
    ));

    let (g, _) = models(3, 16);
    let (a, b) = ([0.3, -1.2], [-0.7, 0.9]);
    let path = floats(interpolate(&g, &a, &b, 1, 5).unwrap()).unwrap();
    let ends = floats(generate(&g, &[a, b].concat(), &[1, 1]).unwrap()).unwrap();
    assert_eq!(path.len(), 10);
    for (x, y) in path[..2].iter().chain(&path[8..]).zip(&ends) {
        assert!((x - y).abs() < 1e-5);
    }
    assert!(matches!(
        interpolate(&g, &a, &b, 1, 1),
        Err(Error::InvalidConfig { field: "steps", .. })
    ));
}

#[test]
fn inversion_recovers_points_the_generator_can_draw() {
    let (g, d) = models(3, 24);
    let truth_z = normal_tensor(&mut stream(5, 0), 12, 2, &Device::default());
    let classes: Vec<i64> = (0..12).map(|i| i % 3).collect();
    let targets = generate(&g, &floats(truth_z).unwrap(), &classes).unwrap();
    let config = InversionConfig::new().with_starts(6).with_steps(200);
    let found = invert(&g, &d, targets.clone(), &classes, &config).unwrap();
    assert_eq!(found.z.len(), 24);
    assert_eq!(found.reconstructions.dims(), [12, 2]);
    let before: f32 = found.mse_before.iter().sum();
    let after: f32 = found.mse_after.iter().sum();
    assert!(after < 0.05 * before, "MSE {before} -> {after}");
    assert!(
        found.mse_after.iter().all(|&m| m < 1e-3),
        "{:?}",
        found.mse_after
    );
    // The reported reconstructions are G of the reported latents.
    let again = floats(generate(&g, &found.z, &classes).unwrap()).unwrap();
    for (x, y) in again.iter().zip(floats(found.reconstructions).unwrap()) {
        assert!((x - y).abs() < 1e-5);
    }
    // Deterministic for a seed.
    let twice = invert(&g, &d, targets, &classes, &config).unwrap();
    assert_eq!(twice.z, found.z);
}

#[test]
fn bad_inversion_input_gets_typed_errors() {
    let (g, d) = models(3, 16);
    let config = InversionConfig::new().with_steps(2).with_starts(1);
    let three_columns = Tensor::<2>::zeros([4, 3], &Device::default());
    assert!(matches!(
        invert(&g, &d, three_columns, &[0; 4], &config),
        Err(Error::InputShape { .. })
    ));
    let points = Tensor::<2>::zeros([4, 2], &Device::default());
    assert!(matches!(
        invert(&g, &d, points.clone(), &[0, 1, 2, 3], &config),
        Err(Error::LabelOutOfRange { label: 3, k: 3 })
    ));
    assert!(matches!(
        invert(&g, &d, points.clone(), &[0, 1], &config),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        invert(&g, &d, points, &[0; 4], &config.clone().with_starts(0)),
        Err(Error::InvalidConfig {
            field: "starts",
            ..
        })
    ));

    let images = DcganConfig::new(2)
        .with_width(2)
        .with_latent_dim(4)
        .with_embedding_dim(3);
    let image_g = images.init_generator(&mut stream(0, 2), &device()).unwrap();
    let image_d = images
        .init_discriminator(&mut stream(0, 3), &device())
        .unwrap();
    let grey = Tensor::<4>::zeros([2, 1, 32, 32], &Device::default());
    assert!(matches!(
        invert(&image_g, &image_d, grey, &[0, 1], &config),
        Err(Error::InputShape { .. })
    ));
    let small = Tensor::<4>::zeros([2, 3, 28, 28], &Device::default());
    assert!(matches!(
        invert(&image_g, &image_d, small, &[0, 1], &config),
        Err(Error::InputShape { .. })
    ));
    let fine = Tensor::<4>::zeros([2, 3, 32, 32], &Device::default());
    let found = invert(&image_g, &image_d, fine, &[0, 1], &config).unwrap();
    assert_eq!(found.reconstructions.dims(), [2, 3, 32, 32]);
    assert!(matches!(
        sefa(&image_g, 5),
        Err(Error::TooManyDirections {
            requested: 5,
            available: 4
        })
    ));
    assert_eq!(sefa(&image_g, 4).unwrap().len(), 4);
    assert_eq!(image_g.latent_dim(), 4);
}

#[test]
fn inversion_among_clusters_keeps_the_best_candidate() {
    let (t, _, _) = trained();
    let clusters = t.conditioner().unwrap().clusters();
    let (g, d) = (t.generator(), t.discriminator());
    let truth_z = normal_tensor(&mut stream(6, 0), 8, 2, &Device::default());
    let truth_c: Vec<i64> = (0..8).map(|i| i % 4).collect();
    let targets = generate(g, &floats(truth_z).unwrap(), &truth_c).unwrap();
    let config = InversionConfig::new().with_starts(3).with_steps(60);

    let mut steps = 0;
    let found = selfcond_gan::control::invert_among_clusters(
        g,
        d,
        &clusters,
        targets.clone(),
        4,
        &config,
        |s| steps = s,
    )
    .unwrap();
    assert_eq!(steps, 60, "the observer sees every step");
    assert_eq!(found.assigned, clusters.assign(targets.clone()).unwrap());
    let all_four = found.inversion.mse_after.clone();
    // Every class was a candidate, so each input did at least as well as with its assigned
    // class alone, up to the random starts: compare against that run's best.
    let single = invert(g, d, targets, &found.assigned, &config).unwrap();
    let objective = |mse: &[f32], feature: &[f32], i: usize| mse[i] + feature[i];
    let mut better_or_equal = 0;
    for i in 0..8 {
        let searched = objective(&all_four, &found.inversion.feature_after, i);
        let alone = objective(&single.mse_after, &single.feature_after, i);
        better_or_equal += usize::from(searched <= alone * 1.05);
    }
    assert!(better_or_equal >= 7, "{better_or_equal} of 8");
    let agreement = found.agreement();
    let by_hand = found
        .inversion
        .classes
        .iter()
        .zip(&found.assigned)
        .filter(|(a, b)| a == b)
        .count() as f64
        / 8.0;
    assert_eq!(agreement, by_hand);
}
