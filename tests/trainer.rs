//! The trainer: isolation of the two updates, determinism, label modes and bad input.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::host::{parameter_values, scalar};
use selfcond_gan::model::{
    DcganConfig, Discriminator, Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig,
};
use selfcond_gan::rng::{stream, uniform_labels, uniform_tensor};
use selfcond_gan::{BatchSource, Error, LabelMode, SelfCondConfig, TrainConfig, Trainer};

type Toy = Trainer<Toy2dGenerator, Toy2dDiscriminator, 2>;

fn device() -> Device {
    Device::default().autodiff()
}

fn ring_data(seed: u64) -> Toy2dDataset {
    Toy2dDataset::new(
        GaussianMixture2d::ring(2.0).unwrap(),
        2_000,
        32,
        &mut stream(seed, 0),
        stream(seed, 1),
    )
    .unwrap()
}

fn trainer(labels: LabelMode, k: usize, seed: u64) -> (Toy, Toy2dDataset) {
    trainer_with(labels, k, seed, |config| config)
}

/// As [`trainer`], with `adjust` applied to the configuration.
fn trainer_with(
    labels: LabelMode,
    k: usize,
    seed: u64,
    adjust: impl FnOnce(TrainConfig) -> TrainConfig,
) -> (Toy, Toy2dDataset) {
    let device = device();
    let data = ring_data(seed);
    let models = Toy2dModelConfig::new(k)
        .with_generator_width(24)
        .with_maxout_units(12);
    let mut init = stream(seed, 2);
    let g = models.init_generator(&mut init, &device).unwrap();
    let d = models.init_discriminator(&mut init, &device).unwrap();
    let config = TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(3))
        .with_labels(labels)
        .with_log_every(2)
        .with_seed(seed);
    let set = data.head_tensor(400, &device);
    let (t, _) = Trainer::new(adjust(config), g, d, Some(set)).unwrap();
    (t, data)
}

#[test]
fn discriminator_step_leaves_generator_bit_identical_and_vice_versa() {
    let (mut t, mut data) = trainer(LabelMode::SelfConditioned, 8, 1);
    let batch = data.next_batch(&device()).unwrap();
    let classes = t.classes_for(&batch).unwrap();

    let g0 = parameter_values(t.generator()).unwrap();
    let d0 = parameter_values(t.discriminator()).unwrap();
    let z = t.sample_latents(batch.samples.dims()[0], &device());
    t.discriminator_step(batch.samples, z.clone(), classes.clone());
    let g1 = parameter_values(t.generator()).unwrap();
    let d1 = parameter_values(t.discriminator()).unwrap();
    assert_eq!(g0, g1, "a D step must not touch G");
    assert_ne!(d0, d1, "a D step must move D");

    t.generator_step(z, classes);
    let g2 = parameter_values(t.generator()).unwrap();
    let d2 = parameter_values(t.discriminator()).unwrap();
    assert_eq!(d1, d2, "a G step must not touch D");
    assert_ne!(g1, g2, "a G step must move G");
}

/// `step` feeds one draw of latents to both updates, as the reference code does: it matches a
/// D step and a G step given the same `z` by hand, and not the two given separate draws. It
/// also runs G forward once where the hand-made pair runs it twice: both models must still come
/// out bit-identical.
#[test]
fn step_feeds_one_draw_of_latents_to_both_updates() {
    let (stepped, shared, separate) = three_ways();
    // Trainable parameters only: BatchNorm's running statistics are updated once per forward
    // pass, so the hand-made pair (two passes of G) moves them twice.
    let g = trainable_values(stepped.generator());
    let g_separate = trainable_values(separate.generator());
    assert_ne!(g, g_separate);
    assert_same_run(&g, &trainable_values(shared.generator()), &g_separate);
    let d = trainable_values(stepped.discriminator());
    let d_separate = trainable_values(separate.discriminator());
    assert_same_run(&d, &trainable_values(shared.discriminator()), &d_separate);
    assert_ne!(
        parameter_values(stepped.generator()).unwrap(),
        parameter_values(shared.generator()).unwrap(),
        "one pass of G updates the running statistics once, two passes twice"
    );
}

/// The same run as `expected`: bit for bit on flex. On wgpu a forward pass with a graph and
/// one without may run different (autotuned) kernels, so there the same arithmetic agrees up to
/// rounding, which Adam's normalised steps can spread to a few parameters: `ours` must then lie
/// at least ten times closer to `expected` than to `other`, a run on separate latents.
fn assert_same_run(ours: &[f32], expected: &[f32], other: &[f32]) {
    if is_flex() {
        assert_eq!(ours, expected);
        return;
    }
    let distance = |to: &[f32]| -> f32 {
        assert_eq!(ours.len(), to.len());
        ours.iter()
            .zip(to)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    };
    let (same, separate) = (distance(expected), distance(other));
    assert!(
        10.0 * same <= separate,
        "distance {same} to the same run, {separate} to a separate one"
    );
}

fn is_flex() -> bool {
    format!("{:?}", device()).contains("Flex")
}

/// Values of the tensors that train (not BatchNorm's running statistics).
fn trainable_values<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if value.is_require_grad() {
                self.0
                    .extend(value.into_data().try_to_vec::<f32>().unwrap());
            }
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    assert!(!collect.0.is_empty(), "no trainable tensor found");
    collect.0
}

/// The 2D discriminator scored as the reference code does: real and fake in separate passes.
#[derive(Module, Debug)]
struct TwoPasses {
    inner: Toy2dDiscriminator,
}

impl Discriminator<2> for TwoPasses {
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn feature_dim(&self) -> usize {
        self.inner.feature_dim()
    }
    fn features(&self, x: Tensor<2>) -> Tensor<2> {
        self.inner.features(x)
    }
    fn head_logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.inner.head_logits(features)
    }
}

#[test]
fn one_pass_over_real_and_fake_matches_two_passes() {
    let device = device();
    let mut data = ring_data(3);
    let models = Toy2dModelConfig::new(8)
        .with_generator_width(24)
        .with_maxout_units(12);
    let mut init = stream(3, 2);
    let g = models.init_generator(&mut init, &device).unwrap();
    let d = models.init_discriminator(&mut init, &device).unwrap();
    assert!(d.is_per_sample());
    // A larger Adam epsilon keeps rounding-level gradients (a piece that barely wins or loses)
    // from turning into full-size steps of opposite sign on the two sides.
    let config = || {
        TrainConfig::new(SelfCondConfig::new(8))
            .with_seed(3)
            .with_epsilon(1e-3)
    };
    let set = data.head_tensor(400, &device);
    let (mut one, _) = Trainer::new(config(), g.clone(), d.clone(), Some(set.clone())).unwrap();
    let two_passes = TwoPasses { inner: d };
    assert!(!two_passes.is_per_sample());
    let (mut two, _) = Trainer::new(config(), g, two_passes, Some(set)).unwrap();

    let d0 = parameter_values(one.discriminator()).unwrap();
    for _ in 0..3 {
        let batch = data.next_batch(&device).unwrap();
        let classes = one.classes_for(&batch).unwrap();
        let z = one.sample_latents(batch.samples.dims()[0], &device);
        let z_two = two.sample_latents(z.dims()[0], &device);
        let loss_one = scalar(one.discriminator_step(batch.samples.clone(), z, classes.clone()));
        let loss_two = scalar(two.discriminator_step(batch.samples, z_two, classes));
        let (loss_one, loss_two) = (loss_one.unwrap(), loss_two.unwrap());
        assert!(
            (loss_one - loss_two).abs() < 1e-5,
            "loss {loss_one} vs {loss_two}"
        );
    }
    let d_one = parameter_values(one.discriminator()).unwrap();
    let d_two = parameter_values(&two.discriminator().inner).unwrap();
    let moved = d0.iter().zip(&d_one).filter(|(a, b)| a != b).count();
    // Maxout pieces that never win get no gradient, so not every value moves.
    assert!(
        moved > d0.len() / 4,
        "the steps must move D ({moved} values moved)"
    );
    for (a, b) in d_one.iter().zip(&d_two) {
        assert!((a - b).abs() < 1e-5, "parameters {a} vs {b}");
    }
}

/// The same seed gives the same run: bit for bit on flex. On wgpu, Burn tunes kernels by timing
/// and fuses operations on the fly (its plan store grows during the first run in a process),
/// so two runs in one process may run different kernels for the same arithmetic: there they
/// must agree up to rounding, ten times closer than a run with another seed (CI saw one such
/// difference with a cold autotune cache).
#[test]
fn same_seed_gives_the_same_run() {
    let run = |seed| {
        let (mut t, mut data) = trainer(LabelMode::SelfConditioned, 8, seed);
        let mut losses = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..7 {
            let batch = data.next_batch(&device()).unwrap();
            let stats = t.step(batch).unwrap();
            losses.extend(stats.losses.map(|l| (l.discriminator, l.generator)));
            reports.extend(stats.recluster.map(|r| (r.iteration, r.sizes)));
        }
        (parameter_values(t.generator()).unwrap(), losses, reports)
    };
    let (a, la, ra) = run(5);
    let (b, lb, rb) = run(5);
    let (c, _, _) = run(6);
    assert_ne!(a, c, "another seed gives another run");
    assert_eq!(la.len(), 3, "losses are read every 2 iterations");
    assert_eq!(
        ra.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![3, 6],
        "refits every 3 iterations"
    );
    assert_same_run(&a, &b, &c);
    if is_flex() {
        assert_eq!(la, lb);
        assert_eq!(ra, rb);
        return;
    }
    assert_eq!(la.len(), lb.len());
    for ((d_a, g_a), (d_b, g_b)) in la.iter().zip(&lb) {
        assert!(
            (d_a - d_b).abs() < 1e-3 && (g_a - g_b).abs() < 1e-3,
            "losses ({d_a}, {g_a}) vs ({d_b}, {g_b})"
        );
    }
    // Rounding may move a point that sits on a cluster boundary, never a whole cluster.
    assert_eq!(ra.len(), rb.len());
    for ((at_a, sizes_a), (at_b, sizes_b)) in ra.iter().zip(&rb) {
        assert_eq!(at_a, at_b);
        let moved: usize = sizes_a
            .iter()
            .zip(sizes_b)
            .map(|(x, y)| x.abs_diff(*y))
            .sum();
        assert!(
            moved <= 8,
            "refit at {at_a}: sizes {sizes_a:?} vs {sizes_b:?}"
        );
    }
}

#[test]
fn weight_average_leaves_training_alone_and_is_what_generate_samples() {
    let (mut plain, mut plain_data) = trainer(LabelMode::SelfConditioned, 8, 5);
    let (mut averaged, mut data) = trainer_with(LabelMode::SelfConditioned, 8, 5, |config| {
        config.with_ema_decay(Some(0.5))
    });
    assert!(plain.averaged_generator().is_none());
    let start = parameter_values(averaged.generator()).unwrap();
    let mut expected = start.clone();
    for _ in 0..4 {
        plain
            .step(plain_data.next_batch(&device()).unwrap())
            .unwrap();
        averaged.step(data.next_batch(&device()).unwrap()).unwrap();
        // Every float tensor, BatchNorm's running statistics included (`valid()` settles
        // their newest update): average = 0.5 * average + 0.5 * live.
        let live = parameter_values(&averaged.generator().valid()).unwrap();
        for (e, l) in expected.iter_mut().zip(&live) {
            *e = 0.5 * *e + 0.5 * l;
        }
    }
    // Averaging does not change training: bit for bit on flex; on wgpu the two trainers may
    // run different autotuned kernels (tests run in parallel and tune the same shapes), so
    // there the trajectories must agree far more closely than either moved from the start.
    let live = parameter_values(&averaged.generator().valid()).unwrap();
    let plain_live = parameter_values(&plain.generator().valid()).unwrap();
    assert_same_run(&live, &plain_live, &start);
    let average = parameter_values(averaged.averaged_generator().unwrap()).unwrap();
    assert_eq!(average.len(), live.len());
    assert_ne!(average, live);
    for (a, e) in average.iter().zip(&expected) {
        assert!((a - e).abs() <= 1e-5 * e.abs().max(1.0), "{a} against {e}");
    }
    // Same classes, same latent stream: only the weights differ.
    let classes = plain.sample_classes(64);
    assert_eq!(averaged.sample_classes(64), classes);
    let from_plain = plain.generate(&classes, 32).unwrap();
    let from_average = averaged.generate(&classes, 32).unwrap();
    assert!(
        (from_plain - from_average).abs().max().into_scalar::<f32>() > 1e-4,
        "generate samples from the average"
    );
}

#[test]
fn every_label_mode_trains() {
    for (mode, k) in [
        (LabelMode::SelfConditioned, 8),
        (LabelMode::Supervised, 8),
        (LabelMode::Unconditional, 1),
        (LabelMode::Random, 5),
    ] {
        let (mut t, mut data) = trainer(mode, k, 2);
        t.fit(&mut data, 4, &mut ()).unwrap();
        assert_eq!(t.iteration(), 4);
        let classes = t.sample_classes(64);
        assert!(
            classes.iter().all(|&c| (0..k as i64).contains(&c)),
            "{mode:?}"
        );
        let points = t.generate(&classes, 25).unwrap();
        assert_eq!(points.dims(), [64, 2]);
    }
}

#[test]
fn bad_input_gets_typed_errors() {
    let (mut t, mut data) = trainer(LabelMode::Supervised, 8, 3);
    let mut batch = data.next_batch(&device()).unwrap();
    batch.labels.as_mut().unwrap()[0] = 8;
    assert!(matches!(
        t.step(batch.clone()),
        Err(Error::LabelOutOfRange { label: 8, k: 8 })
    ));
    batch.labels = None;
    assert!(matches!(t.step(batch), Err(Error::MissingLabels)));
    assert!(matches!(
        t.generate(&[0, -1], 4),
        Err(Error::LabelOutOfRange { label: -1, .. })
    ));

    let device = device();
    let models = Toy2dModelConfig::new(8);
    let mut init = stream(0, 2);
    let g = models.init_generator(&mut init, &device).unwrap();
    let d = models.init_discriminator(&mut init, &device).unwrap();
    let base = || TrainConfig::new(SelfCondConfig::new(8));
    let cases = [
        (base().with_learning_rate(-1.0), "learning_rate"),
        (base().with_beta1(1.0), "beta1"),
        (base().with_ema_decay(Some(1.0)), "ema_decay"),
        (base().with_ema_decay(Some(f64::NAN)), "ema_decay"),
        (base().with_labels(LabelMode::Unconditional), "selfcond.k"),
        (
            TrainConfig::new(SelfCondConfig::new(8).with_recluster_every(0)),
            "recluster_every",
        ),
        (TrainConfig::new(SelfCondConfig::new(0)), "k"),
    ];
    for (config, field) in cases {
        match Trainer::new(config, g.clone(), d.clone(), None) {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an invalid `{field}`, got {:?}", other.err()),
        }
    }
    // k larger than the clustering set, and a head of the wrong width.
    let small = data.head_tensor(5, &device);
    assert!(matches!(
        Trainer::new(base(), g.clone(), d.clone(), Some(small)),
        Err(Error::TooFewPoints { k: 8, points: 5 })
    ));
    assert!(matches!(
        Trainer::new(TrainConfig::new(SelfCondConfig::new(4)), g, d, None),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        Toy2dDataset::new(
            GaussianMixture2d::grid(),
            100,
            0,
            &mut stream(0, 0),
            stream(0, 1)
        ),
        Err(Error::InvalidConfig {
            field: "batch_size",
            ..
        })
    ));
    assert!(matches!(
        Toy2dModelConfig::new(0).init_generator(&mut init, &device),
        Err(Error::InvalidConfig {
            field: "num_classes",
            ..
        })
    ));
}

#[test]
fn dcgan_generator_step_first_leaves_every_discriminator_parameter_trainable() {
    // The G step scores fakes with a gradient-free copy of D. Burn shares a lazily initialised
    // parameter's require-grad flag between clones (BatchNorm's scale and shift start lazy), so
    // a careless copy of a never-used D would freeze D itself.
    let device = device();
    let k = 4;
    let models = DcganConfig::new(k).with_width(4);
    let fresh = |seed| {
        let mut rng = stream(seed, 0);
        let g = models.init_generator(&mut rng, &device).unwrap();
        (g, models.init_discriminator(&mut rng, &device).unwrap())
    };
    let (g, d) = fresh(7);
    let (_, untouched) = fresh(7);
    let config = TrainConfig::new(SelfCondConfig::new(k)).with_labels(LabelMode::Random);
    let (mut t, _) = Trainer::new(config, g, d, None).unwrap();
    let mut rng = stream(7, 1);
    let classes = uniform_labels(&mut rng, 8, k, &device);
    let real = uniform_tensor(&mut rng, [8, 3, 32, 32], 1.0, &device);

    let z = t.sample_latents(8, &device);
    t.generator_step(z.clone(), classes.clone());
    let trainable = trainable_tensors(t.discriminator());
    assert_eq!(trainable, trainable_tensors(&untouched));
    assert_eq!(
        trainable,
        4 * 4 + 2,
        "4 x (conv weight and bias, BN scale and shift), head"
    );
    let before = parameter_values(t.discriminator()).unwrap();
    t.discriminator_step(real.clone(), z.clone(), classes.clone());
    assert_ne!(before, parameter_values(t.discriminator()).unwrap());

    // The same for G, whose gradient-free copy draws the D step's fakes.
    let (g, d) = fresh(8);
    let (untouched, _) = fresh(8);
    let config = TrainConfig::new(SelfCondConfig::new(k)).with_labels(LabelMode::Random);
    let (mut t, _) = Trainer::new(config, g, d, None).unwrap();
    t.discriminator_step(real, z, classes);
    assert_eq!(
        trainable_tensors(t.generator()),
        trainable_tensors(&untouched)
    );
}

/// How many parameter tensors of `module` record gradients.
fn trainable_tensors<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += usize::from(param.val().is_require_grad());
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// Two iterations three ways: `step`, a D step and a G step by hand on one draw of latents,
/// and the same on separate draws.
fn three_ways() -> (Toy, Toy, Toy) {
    let (mut stepped, mut data_s) = trainer(LabelMode::Unconditional, 1, 4);
    let (mut shared, mut data_1) = trainer(LabelMode::Unconditional, 1, 4);
    let (mut separate, mut data_2) = trainer(LabelMode::Unconditional, 1, 4);
    for _ in 0..2 {
        stepped.step(data_s.next_batch(&device()).unwrap()).unwrap();

        let batch = data_1.next_batch(&device()).unwrap();
        let classes = shared.classes_for(&batch).unwrap();
        let z = shared.sample_latents(batch.samples.dims()[0], &device());
        shared.discriminator_step(batch.samples, z.clone(), classes.clone());
        shared.generator_step(z, classes);

        let batch = data_2.next_batch(&device()).unwrap();
        let classes = separate.classes_for(&batch).unwrap();
        let n = batch.samples.dims()[0];
        let z = separate.sample_latents(n, &device());
        separate.discriminator_step(batch.samples, z, classes.clone());
        let z = separate.sample_latents(n, &device());
        separate.generator_step(z, classes);
    }
    (stepped, shared, separate)
}
