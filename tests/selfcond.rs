//! The self-conditioner: consistency of labels, stability across refits, sampling, errors.

use burn::prelude::*;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::host;
use selfcond_gan::model::{Toy2dDiscriminator, Toy2dModelConfig};
use selfcond_gan::rng::{seeded, stream};
use selfcond_gan::{Error, SelfCondConfig, SelfConditioner};

fn setup(k: usize) -> (Toy2dDataset, Toy2dDiscriminator, Device) {
    let device = Device::default();
    let data = Toy2dDataset::new(
        GaussianMixture2d::grid(),
        3_000,
        50,
        &mut stream(1, 0),
        stream(1, 1),
    )
    .unwrap();
    let d = Toy2dModelConfig::new(k)
        .with_maxout_units(32)
        .init_discriminator(&mut stream(1, 2), &device)
        .unwrap();
    (data, d, device)
}

#[test]
fn batch_labels_agree_with_the_clustering_set_labels() {
    let (data, d, device) = setup(10);
    let set = data.head_tensor(1_000, &device);
    let (c, report) =
        SelfConditioner::new(SelfCondConfig::new(10), set.clone(), &d, &mut seeded(2)).unwrap();
    assert_eq!(report.sizes.iter().sum::<usize>(), 1_000);
    assert_eq!(report.sizes.len(), 10);
    assert!(report.sizes.iter().all(|&s| s > 0));
    assert_eq!(report.changed_fraction, None);
    // Labelling the clustering set batch-wise gives back its stored labels.
    let labels = host::ints(c.labels(set)).unwrap();
    assert_eq!(labels, c.clustering_labels());
    // On an autodiff batch, the labels carry the autodiff association.
    let ad = data.head_tensor(20, &device.clone().autodiff());
    assert!(c.labels(ad).is_autodiff());
}

#[test]
fn refit_on_an_unchanged_discriminator_keeps_every_label() {
    let (data, d, device) = setup(12);
    let set = data.head_tensor(1_500, &device);
    let (mut c, _) =
        SelfConditioner::new(SelfCondConfig::new(12), set.clone(), &d, &mut seeded(3)).unwrap();
    let before = c.clustering_labels().to_vec();
    let report = c.recluster(&d, 5_000, &mut seeded(4)).unwrap();
    assert_eq!(report.changed_fraction, Some(0.0));
    assert_eq!(c.clustering_labels(), before.as_slice());
    assert_eq!(report.iteration, 5_000);
    assert!(!c.is_due(5_001) && c.is_due(10_000));
}

#[test]
fn refit_on_a_new_discriminator_keeps_ids_stable() {
    // A different D reorders k-means' raw ids; matching must map them back so that most
    // points keep their stable label (the partition of well-separated grid modes barely moves).
    let (data, d, device) = setup(25);
    let set = data.head_tensor(2_000, &device);
    let (mut c, _) =
        SelfConditioner::new(SelfCondConfig::new(25), set.clone(), &d, &mut seeded(5)).unwrap();
    let other = Toy2dModelConfig::new(25)
        .with_maxout_units(32)
        .init_discriminator(&mut stream(9, 2), &device)
        .unwrap();
    let report = c.recluster(&other, 1, &mut seeded(6)).unwrap();
    let changed = report.changed_fraction.unwrap();
    assert!(changed < 0.35, "changed fraction {changed}");
    // The stored centres reproduce the stable labels.
    assert_eq!(host::ints(c.labels(set)).unwrap(), c.clustering_labels());
}

#[test]
fn sampled_labels_follow_cluster_sizes() {
    let (data, d, device) = setup(5);
    let set = data.head_tensor(1_000, &device);
    let (c, report) =
        SelfConditioner::new(SelfCondConfig::new(5), set, &d, &mut seeded(7)).unwrap();
    let drawn = c.sample_labels(20_000, &mut seeded(8));
    for (cluster, &size) in report.sizes.iter().enumerate() {
        let share = drawn.iter().filter(|&&l| l == cluster as i64).count() as f64 / 20_000.0;
        let expected = size as f64 / 1_000.0;
        assert!((share - expected).abs() < 0.02, "{share} vs {expected}");
    }
}

#[test]
fn bad_input_gets_typed_errors() {
    let (data, d, device) = setup(10);
    let mut rng = seeded(0);
    let small = data.head_tensor(6, &device);
    assert!(matches!(
        SelfConditioner::new(SelfCondConfig::new(10), small, &d, &mut rng),
        Err(Error::TooFewPoints { k: 10, points: 6 })
    ));
    let empty = Tensor::<2>::zeros([0, 2], &device);
    assert!(matches!(
        SelfConditioner::new(SelfCondConfig::new(10), empty, &d, &mut rng),
        Err(Error::Empty { .. })
    ));
    let nan = Tensor::<2>::from_floats([[f32::NAN, 0.0]; 20], &device);
    assert!(matches!(
        SelfConditioner::new(SelfCondConfig::new(10), nan, &d, &mut rng),
        Err(Error::NonFinite { .. })
    ));
    let set = data.head_tensor(100, &device);
    assert!(matches!(
        SelfConditioner::new(SelfCondConfig::new(7), set.clone(), &d, &mut rng),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        SelfConditioner::new(
            SelfCondConfig::new(10).with_feature_batch(0),
            set,
            &d,
            &mut rng
        ),
        Err(Error::InvalidConfig {
            field: "feature_batch",
            ..
        })
    ));
}
