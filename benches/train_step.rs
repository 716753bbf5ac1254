//! Criterion benches of the hot paths, on `Device::default()` (flex; wgpu with
//! `--features wgpu`). Each timed region ends with a device synchronisation.
//!
//! `cargo bench --bench train_step` (filter with e.g. `-- kmeans`).

use std::hint::black_box;

use burn::prelude::*;
use burn::tensor::TensorData;
use criterion::{Criterion, criterion_group};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use selfcond_gan::cluster::{KMeansConfig, KMeansInit, match_clusters};
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::model::Toy2dModelConfig;
use selfcond_gan::rng::{seeded, stream};
use selfcond_gan::{BatchSource, LabelMode, SelfCondConfig, TrainConfig, Trainer};

fn sync(device: &Device) {
    device.sync().expect("device synchronisation");
}

/// One full iteration of the paper's 2D model (k = 50, batch 100): label, D step, G step.
fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step_2d");
    for (name, labels, k) in [
        ("selfcond_k50_batch100", LabelMode::SelfConditioned, 50),
        ("unconditional_batch100", LabelMode::Unconditional, 1),
        ("random_k50_batch100", LabelMode::Random, 50),
        ("random_k1_batch100", LabelMode::Random, 1),
    ] {
        let device = Device::default().autodiff();
        let mut data = Toy2dDataset::new(
            GaussianMixture2d::ring(2.0).unwrap(),
            100_000,
            100,
            &mut stream(0, 0),
            stream(0, 1),
        )
        .unwrap();
        let models = Toy2dModelConfig::new(k);
        let mut init = stream(0, 2);
        let g = models.init_generator(&mut init, &device).unwrap();
        let d = models.init_discriminator(&mut init, &device).unwrap();
        let config = TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(usize::MAX / 2))
            .with_labels(labels)
            .with_log_every(usize::MAX / 2);
        let set = data.head_tensor(10_000, &device);
        let (mut trainer, _) = Trainer::new(config, g, d, Some(set)).unwrap();
        // One untimed step first: on wgpu it compiles and autotunes every kernel (far longer
        // than a step), which criterion's time-based warm-up would otherwise count as a sample.
        trainer.step(data.next_batch(&device).unwrap()).unwrap();
        sync(&device);
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch = data.next_batch(&device).unwrap();
                black_box(trainer.step(batch).unwrap());
                sync(&device);
            })
        });
    }
    group.finish();
}

/// `per` points around each of `k` random centres in `d` dimensions.
fn blobs(n: usize, d: usize, k: usize, device: &Device) -> Tensor<2> {
    let mut rng = seeded(1);
    let centres: Vec<f32> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut values = Vec::with_capacity(n * d);
    for i in 0..n {
        let c = i % k;
        for j in 0..d {
            let noise: f32 = StandardNormal.sample(&mut rng);
            values.push(centres[c * d + j] + 0.3 * noise);
        }
    }
    Tensor::from_data(TensorData::new(values, [n, d]), device)
}

/// k-means++ seeding plus Lloyd to convergence, one restart.
fn kmeans(c: &mut Criterion) {
    let mut group = c.benchmark_group("kmeans");
    group.sample_size(10);
    let device = Device::default();
    for (n, d, k) in [(10_000, 200, 50), (25_000, 2048, 100)] {
        let x = blobs(n, d, k, &device);
        let fit = || {
            KMeansConfig::new(k)
                .fit(&x, KMeansInit::PlusPlus, &mut seeded(2))
                .unwrap()
        };
        black_box(fit().inertia); // untimed: kernel compilation on wgpu
        sync(&device);
        group.bench_function(format!("{n}x{d}_k{k}"), |b| {
            b.iter(|| {
                black_box(fit().inertia);
                sync(&device);
            })
        });
    }
    group.finish();
}

/// Hungarian matching of two labellings of 10,000 points into 100 clusters.
fn matching(c: &mut Criterion) {
    let mut rng = seeded(3);
    let k = 100;
    let old: Vec<i64> = (0..10_000).map(|_| rng.random_range(0..k) as i64).collect();
    let new: Vec<i64> = old
        .iter()
        .map(|&o| {
            if rng.random_bool(0.2) {
                rng.random_range(0..k) as i64
            } else {
                (o + 7) % k as i64
            }
        })
        .collect();
    c.bench_function("matching/k100", |b| {
        b.iter(|| black_box(match_clusters(&new, &old, k).unwrap()))
    });
}

/// Labelling one batch of 100 points: snapshot features and nearest of 50 centres.
fn labels(c: &mut Criterion) {
    let device = Device::default().autodiff();
    let mut data = Toy2dDataset::new(
        GaussianMixture2d::ring(2.0).unwrap(),
        100_000,
        100,
        &mut stream(0, 0),
        stream(0, 1),
    )
    .unwrap();
    let d = Toy2dModelConfig::new(50)
        .init_discriminator(&mut stream(0, 2), &device)
        .unwrap();
    let set = data.head_tensor(10_000, &device);
    let (conditioner, _) =
        selfcond_gan::SelfConditioner::new(SelfCondConfig::new(50), set, &d, &mut seeded(4))
            .unwrap();
    let batch = data.next_batch(&device).unwrap();
    black_box(conditioner.labels(batch.samples.clone())); // untimed: kernel compilation on wgpu
    sync(&device);
    c.bench_function("labels/batch100_k50", |b| {
        b.iter(|| {
            black_box(conditioner.labels(batch.samples.clone()));
            sync(&device);
        })
    });
}

criterion_group!(benches, train_step, kmeans, matching, labels);

/// `criterion_main!` with the examples' allocator setting first, so the benches time the code
/// the way the examples run it.
fn main() {
    selfcond_gan_runner::alloc::keep_freed_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
