//! Checkpoints: exact resume, refusal of damaged or foreign checkpoints, and divergence.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use selfcond_gan::checkpoint::checkpoints_dir;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::host::parameter_values;
use selfcond_gan::model::{Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig};
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::{
    Batch, BatchSource, Checkpoint, Error, LabelMode, SelfCondConfig, TrainConfig, Trainer,
};

type Toy = Trainer<Toy2dGenerator, Toy2dDiscriminator, 2>;

const SEED: u64 = 11;

fn device() -> Device {
    Device::default().autodiff()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("selfcond-ckpt-{name}-{}", std::process::id()));
    fs::remove_dir_all(&dir).ok();
    dir
}

fn data() -> Toy2dDataset {
    let ring = GaussianMixture2d::ring(2.0).unwrap();
    Toy2dDataset::new(ring, 1_000, 32, &mut stream(SEED, 0), stream(SEED, 1)).unwrap()
}

fn models(k: usize, width: usize, init_seed: u64) -> (Toy2dGenerator, Toy2dDiscriminator) {
    let config = Toy2dModelConfig::new(k)
        .with_generator_width(width)
        .with_maxout_units(12);
    let mut init = stream(init_seed, 2);
    let device = device();
    (
        config.init_generator(&mut init, &device).unwrap(),
        config.init_discriminator(&mut init, &device).unwrap(),
    )
}

fn config(labels: LabelMode, k: usize) -> TrainConfig {
    TrainConfig::new(SelfCondConfig::new(k).with_recluster_every(4))
        .with_labels(labels)
        .with_log_every(1)
        .with_seed(SEED)
}

fn start(labels: LabelMode, k: usize) -> (Toy, Toy2dDataset) {
    let data = data();
    let (g, d) = models(k, 24, SEED);
    let set = data.head_tensor(300, &device());
    let (t, _) = Trainer::new(config(labels, k), g, d, Some(set)).unwrap();
    (t, data)
}

/// Resumes the run saved in `dir` with freshly initialised models of another seed (so nothing
/// but the checkpoint can carry the state over).
fn resume(dir: &Path, data: &mut Toy2dDataset) -> Toy {
    let checkpoint = Checkpoint::open_latest(dir).unwrap();
    let k = checkpoint.config().selfcond.k;
    data.set_batch_rng(checkpoint.extra::<SeededRng>().unwrap());
    let (g, d) = models(k, 24, 999);
    Trainer::from_checkpoint(&checkpoint, g, d, Some(data.head_tensor(300, &device()))).unwrap()
}

fn losses(t: &mut Toy, data: &mut Toy2dDataset, steps: usize) -> Vec<(f64, f64)> {
    (0..steps)
        .map(|_| {
            let stats = t.step(data.next_batch(&device()).unwrap()).unwrap();
            let l = stats.losses.unwrap();
            (l.discriminator, l.generator)
        })
        .collect()
}

/// Every parameter of `a` and `b` has the same bits; on failure, names the first difference.
fn assert_bits_equal<M: burn::module::Module>(a: &M, b: &M, what: &str) {
    let (a, b) = (parameter_values(a).unwrap(), parameter_values(b).unwrap());
    assert_eq!(a.len(), b.len(), "{what}: parameter count");
    let differing: Vec<usize> = (0..a.len())
        .filter(|&i| a[i].to_bits() != b[i].to_bits())
        .collect();
    if let Some(&i) = differing.first() {
        panic!(
            "{what}: {} of {} parameters differ, first at {i}: {} vs {}",
            differing.len(),
            a.len(),
            a[i],
            b[i]
        );
    }
}

#[test]
fn resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    for (labels, k) in [(LabelMode::SelfConditioned, 6), (LabelMode::Random, 3)] {
        let (mut whole, mut whole_data) = start(labels, k);
        let whole_losses = losses(&mut whole, &mut whole_data, 15);

        // Stop after 6 iterations (between refits at 4 and 8), resume, go on to 15.
        let dir = scratch(&format!("exact-{k}"));
        let (mut first, mut data) = start(labels, k);
        let mut split_losses = losses(&mut first, &mut data, 6);
        let saved = first.save_checkpoint(&dir, data.batch_rng()).unwrap();
        let mut data = self::data();
        let mut second = resume(&dir, &mut data);
        assert_bits_equal(first.generator(), second.generator(), "generator as saved");
        assert_bits_equal(
            first.discriminator(),
            second.discriminator(),
            "discriminator as saved",
        );
        drop(first);
        assert_eq!(second.iteration(), 6);
        assert_eq!(second.last_checkpoint(), Some(saved.as_path()));
        split_losses.extend(losses(&mut second, &mut data, 9));

        assert_eq!(whole_losses, split_losses, "{labels:?}: losses");
        assert_bits_equal(whole.generator(), second.generator(), "generator");
        assert_bits_equal(
            whole.discriminator(),
            second.discriminator(),
            "discriminator",
        );
        if let (Some(a), Some(b)) = (whole.conditioner(), second.conditioner()) {
            assert_eq!(a.clustering_labels(), b.clustering_labels());
            assert_eq!(a.last_fit(), 12);
        }
        assert_eq!(whole.sample_classes(50), second.sample_classes(50));
        fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn weight_average_is_saved_resumed_and_served_for_sampling() {
    let averaged = |k| config(LabelMode::SelfConditioned, k).with_ema_decay(Some(0.9));
    let begin = || {
        let data = data();
        let (g, d) = models(6, 24, SEED);
        let set = data.head_tensor(300, &device());
        (Trainer::new(averaged(6), g, d, Some(set)).unwrap().0, data)
    };
    let (mut whole, mut whole_data) = begin();
    losses(&mut whole, &mut whole_data, 10);

    let dir = scratch("average");
    let (mut first, mut data) = begin();
    losses(&mut first, &mut data, 5);
    first.save_checkpoint(&dir, data.batch_rng()).unwrap();
    let checkpoint = Checkpoint::open_latest(&dir).unwrap();
    let (g, _) = models(6, 24, 999);
    let served = checkpoint.generator(g.valid()).unwrap();
    let trained = checkpoint.trained_generator(g.valid()).unwrap();
    assert_bits_equal(
        &served,
        first.averaged_generator().unwrap(),
        "served = average",
    );
    assert_bits_equal(
        &trained,
        &first.generator().valid(),
        "trained = live weights",
    );
    assert_ne!(
        parameter_values(&served).unwrap(),
        parameter_values(&trained).unwrap()
    );

    let mut data = self::data();
    let mut second = resume(&dir, &mut data);
    losses(&mut second, &mut data, 5);
    assert_bits_equal(
        whole.averaged_generator().unwrap(),
        second.averaged_generator().unwrap(),
        "average after resuming",
    );
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn only_the_newest_two_checkpoints_are_kept() {
    let dir = scratch("keep");
    let (mut t, mut data) = start(LabelMode::SelfConditioned, 6);
    let mut paths = Vec::new();
    for _ in 0..4 {
        losses(&mut t, &mut data, 1);
        paths.push(t.save_checkpoint(&dir, data.batch_rng()).unwrap());
    }
    let mut left: Vec<_> = fs::read_dir(checkpoints_dir(&dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    left.sort();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&paths[2]) && left.contains(&paths[3]));
    assert_eq!(Checkpoint::open_latest(&dir).unwrap().iteration(), 4);
    fs::remove_dir_all(&dir).ok();
}

/// A saved self-conditioned run, and the names of its files.
fn saved_run(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let (mut t, mut data) = start(LabelMode::SelfConditioned, 6);
    losses(&mut t, &mut data, 5);
    let path = t.save_checkpoint(&dir, data.batch_rng()).unwrap();
    (dir, path)
}

#[test]
fn damaged_checkpoints_are_refused_with_typed_errors() {
    let (dir, path) = saved_run("damaged");
    let pristine: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&path)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert_eq!(pristine.len(), 7, "six data files and the manifest");
    for (file, bytes) in &pristine {
        // One flipped bit, then a truncation, each refused.
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 0x10;
        fs::write(file, &flipped).unwrap();
        match Checkpoint::open_latest(&dir) {
            Err(Error::CorruptCheckpoint { .. }) => {}
            other => panic!("bit flip in {file:?}: {:?}", other.map(|c| c.iteration())),
        }
        fs::write(file, &bytes[..bytes.len() / 3]).unwrap();
        assert!(
            matches!(
                Checkpoint::open_latest(&dir),
                Err(Error::CorruptCheckpoint { .. })
            ),
            "truncated {file:?}"
        );
        fs::write(file, bytes).unwrap();
    }
    assert!(Checkpoint::open_latest(&dir).is_ok());

    // A manifest from a future version: its own error, even with the pointer's digest skipped.
    let manifest = path.join("manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace("\"format_version\": 1", "\"format_version\": 7"),
    )
    .unwrap();
    assert!(matches!(
        Checkpoint::open(&path, None),
        Err(Error::CheckpointVersion {
            found: 7,
            supported: 1,
            ..
        })
    ));
    fs::write(&manifest, text).unwrap();

    // No checkpoint at all, and a garbled pointer.
    assert!(matches!(
        Checkpoint::open_latest(&scratch("nothing")),
        Err(Error::NoCheckpoint { .. })
    ));
    let latest = checkpoints_dir(&dir).join("LATEST");
    fs::write(&latest, "../../etc deadbeef").unwrap();
    assert!(matches!(
        Checkpoint::open_latest(&dir),
        Err(Error::CorruptCheckpoint { .. })
    ));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn foreign_checkpoints_are_refused() {
    let (dir, _) = saved_run("foreign");
    let checkpoint = Checkpoint::open_latest(&dir).unwrap();
    let data = data();
    let set = || Some(data.head_tensor(300, &device()));
    let refuse = |g, d, set| match Trainer::from_checkpoint(&checkpoint, g, d, set) {
        Err(Error::CheckpointMismatch { reason, .. }) => reason,
        other => panic!("expected a mismatch, got {:?}", other.err()),
    };

    let (g, d) = models(7, 24, 0);
    assert!(refuse(g, d, set()).contains("classes"), "another k");
    let (g, d) = models(6, 40, 0);
    refuse(g, d, set()); // another generator width: its record does not fit
    let (g, d) = models(6, 24, 0);
    let other_set = Some(data.head_tensor(301, &device()));
    assert!(refuse(g.clone(), d.clone(), other_set).contains("clustering set"));
    assert!(matches!(
        Trainer::from_checkpoint(&checkpoint, g.clone(), d.clone(), None),
        Err(Error::Empty { .. })
    ));
    assert!(Trainer::from_checkpoint(&checkpoint, g, d, set()).is_ok());
    fs::remove_dir_all(&dir).ok();
}

/// Serves the real data until `poison_at`, then a batch with a NaN in it.
struct Poisoned {
    data: Toy2dDataset,
    served: usize,
    poison_at: usize,
}

impl BatchSource<2> for Poisoned {
    fn next_batch(&mut self, device: &Device) -> selfcond_gan::Result<Batch<2>> {
        let mut batch = self.data.next_batch(device)?;
        self.served += 1;
        if self.served >= self.poison_at {
            let nan = Tensor::<2>::full([1, 2], f32::NAN, device);
            batch.samples = batch.samples.slice_assign([0..1, 0..2], nan);
        }
        Ok(batch)
    }
}

#[test]
fn divergence_stops_the_run_and_names_the_intact_checkpoint() {
    let dir = scratch("diverge");
    let (mut t, data) = start(LabelMode::Random, 3);
    let mut source = Poisoned {
        data,
        served: 0,
        poison_at: 8,
    };
    t.fit(&mut source, 5, &mut ()).unwrap();
    let good = t.save_checkpoint(&dir, &()).unwrap();
    match t.fit(&mut source, 10, &mut ()) {
        Err(Error::Diverged {
            iteration,
            last_checkpoint,
            ..
        }) => {
            assert_eq!(iteration, 8);
            assert_eq!(last_checkpoint.as_deref(), Some(good.as_path()));
        }
        other => panic!("expected divergence, got {other:?}"),
    }
    // The diverged state is never written over the good checkpoint.
    assert!(matches!(
        t.save_checkpoint(&dir, &()),
        Err(Error::Diverged { .. })
    ));
    let checkpoint = Checkpoint::open_latest(&dir).unwrap();
    assert_eq!(checkpoint.path(), good.as_path());
    assert_eq!(checkpoint.iteration(), 5);
    let (g, d) = models(3, 24, 0);
    let resumed = Trainer::from_checkpoint(&checkpoint, g, d, None).unwrap();
    assert!(
        parameter_values(resumed.generator())
            .unwrap()
            .iter()
            .all(|v| v.is_finite())
    );
    let message = Error::Diverged {
        iteration: 8,
        what: "discriminator loss",
        last_checkpoint: Some(good.clone()),
    }
    .to_string();
    assert!(message.contains("iteration 8") && message.contains(&good.display().to_string()));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn image_models_with_batchnorm_resume_bit_for_bit() {
    use selfcond_gan::data::{Mnist, StackedMnist};
    use selfcond_gan::model::DcganConfig;

    let mnist = Mnist {
        images: (0..100 * 784).map(|i| ((i * 31) % 256) as u8).collect(),
        labels: (0..100).map(|i| (i % 10) as u8).collect(),
    };
    let data = || StackedMnist::new(&mnist, 300, 6, &mut stream(3, 0), stream(3, 1)).unwrap();
    let models = DcganConfig::new(4)
        .with_width(4)
        .with_latent_dim(8)
        .with_embedding_dim(8);
    let device = device();
    let build = |init_seed| {
        let mut init = stream(init_seed, 2);
        (
            models.init_generator(&mut init, &device).unwrap(),
            models.init_discriminator(&mut init, &device).unwrap(),
        )
    };
    let config = TrainConfig::new(SelfCondConfig::new(4).with_recluster_every(2))
        .with_log_every(1)
        .with_beta1(0.0)
        .with_beta2(0.99);
    let start = |data: &StackedMnist| {
        let (g, d) = build(3);
        let set = data.head(60, &device).0;
        Trainer::new(config.clone(), g, d, Some(set)).unwrap().0
    };

    let mut whole_data = data();
    let mut whole = start(&whole_data);
    whole.fit(&mut whole_data, 6, &mut ()).unwrap();

    let dir = scratch("images");
    let mut split_data = data();
    let mut first = start(&split_data);
    first.fit(&mut split_data, 3, &mut ()).unwrap();
    first.save_checkpoint(&dir, split_data.batch_rng()).unwrap();
    drop(first);
    let mut resumed_data = data();
    let checkpoint = Checkpoint::open_latest(&dir).unwrap();
    resumed_data.set_batch_rng(checkpoint.extra::<SeededRng>().unwrap());
    let (g, d) = build(77);
    let set = resumed_data.head(60, &device).0;
    let mut second = Trainer::from_checkpoint(&checkpoint, g, d, Some(set)).unwrap();
    second.fit(&mut resumed_data, 3, &mut ()).unwrap();

    assert_bits_equal(whole.generator(), second.generator(), "DCGAN generator");
    assert_bits_equal(
        whole.discriminator(),
        second.discriminator(),
        "DCGAN discriminator",
    );
    assert_bits_equal(
        whole.conditioner().unwrap().snapshot(),
        second.conditioner().unwrap().snapshot(),
        "DCGAN snapshot",
    );
    fs::remove_dir_all(&dir).ok();
}

/// Bytes that the files under `dir` take on a tmpfs: whole 4 KiB pages.
fn pages_under(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| match entry.path().is_dir() {
            true => pages_under(&entry.path()),
            false => entry.metadata().unwrap().len().div_ceil(4096) * 4096,
        })
        .sum()
}

/// A tmpfs mounted for one test, unmounted when dropped (a failed assertion included).
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at a new directory; `None` where mounting is not permitted.
    fn mount(name: &str, bytes: u64) -> Option<Self> {
        let dir = scratch(name);
        fs::create_dir_all(&dir).unwrap();
        let size = format!("size={}k", bytes.div_ceil(1024));
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .ok();
        fs::remove_dir_all(&self.0).ok();
    }
}

/// A checkpoint write that runs out of disk fails with a typed error naming the file it was
/// writing, frees what it had staged, and the checkpoint before it still loads and resumes.
#[test]
fn a_full_disk_fails_the_write_and_keeps_the_previous_checkpoint() {
    let (mut t, mut data) = start(LabelMode::SelfConditioned, 4);
    losses(&mut t, &mut data, 3);
    let probe = scratch("disk-size");
    t.save_checkpoint(&probe, data.batch_rng()).unwrap();
    let one = pages_under(&checkpoints_dir(&probe));
    fs::remove_dir_all(&probe).ok();
    // Room for one checkpoint and half of another.
    let Some(disk) = SmallDisk::mount("full-disk", one + one / 2) else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let run = disk.0.clone();
    let first = t.save_checkpoint(&run, data.batch_rng()).unwrap();
    let after_first = losses(&mut t, &mut data, 2);
    let error = t.save_checkpoint(&run, data.batch_rng()).unwrap_err();
    match &error {
        Error::Io { path, source } => {
            assert!(
                path.starts_with(checkpoints_dir(&run)),
                "{}",
                path.display()
            );
            assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
        }
        other => panic!("expected an I/O error naming its file, got {other}"),
    }
    assert!(
        error.to_string().contains(&*run.to_string_lossy()),
        "{error}"
    );
    let left: Vec<_> = fs::read_dir(checkpoints_dir(&run))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(!left.iter().any(|name| name.ends_with(".tmp")), "{left:?}");

    let latest = Checkpoint::open_latest(&run).unwrap();
    assert_eq!(latest.path(), first);
    let mut resumed = resume(&run, &mut data);
    assert_eq!(losses(&mut resumed, &mut data, 2), after_first);
}
