//! Fuzzing the checkpoint reader (proptest): damaged files of every kind, and manifests whose
//! numbers are replaced by hostile values, must give a typed error or a consistent trainer,
//! never a panic or a huge allocation. `PROPTEST_CASES` raises the number of inputs tried.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use proptest::prelude::*;
use proptest::sample::Index;
use selfcond_gan::checkpoint::checkpoints_dir;
use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
use selfcond_gan::model::{Toy2dDiscriminator, Toy2dGenerator, Toy2dModelConfig};
use selfcond_gan::rng::stream;
use selfcond_gan::{Checkpoint, SelfCondConfig, TrainConfig, Trainer};

const K: usize = 4;

fn device() -> Device {
    Device::default().autodiff()
}

fn data() -> Toy2dDataset {
    let ring = GaussianMixture2d::ring(2.0).unwrap();
    Toy2dDataset::new(ring, 300, 16, &mut stream(1, 0), stream(1, 1)).unwrap()
}

fn models() -> (Toy2dGenerator, Toy2dDiscriminator) {
    let config = Toy2dModelConfig::new(K)
        .with_generator_width(8)
        .with_generator_depth(2)
        .with_maxout_units(6)
        .with_maxout_pieces(2)
        .with_discriminator_depth(2);
    let mut init = stream(1, 2);
    let device = device();
    (
        config.init_generator(&mut init, &device).unwrap(),
        config.init_discriminator(&mut init, &device).unwrap(),
    )
}

/// The files of one small saved run, relative to the run directory.
fn pristine() -> &'static Vec<(PathBuf, Vec<u8>)> {
    static FILES: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let run = std::env::temp_dir().join(format!("selfcond-fuzz-src-{}", std::process::id()));
        fs::remove_dir_all(&run).ok();
        let mut data = data();
        let (g, d) = models();
        let config = TrainConfig::new(SelfCondConfig::new(K).with_recluster_every(3));
        let set = data.head_tensor(100, &device());
        let (mut trainer, _) = Trainer::new(config, g, d, Some(set)).unwrap();
        trainer.fit(&mut data, 4, &mut ()).unwrap();
        trainer.save_checkpoint(&run, data.batch_rng()).unwrap();
        let mut files = Vec::new();
        let mut stack = vec![run.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = fs::read(&path).unwrap();
                    files.push((path.strip_prefix(&run).unwrap().to_path_buf(), bytes));
                }
            }
        }
        files.sort();
        fs::remove_dir_all(&run).ok();
        files
    })
}

/// A fresh copy of the pristine run in a scratch directory of this test thread.
fn scratch_copy() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let run = std::env::temp_dir().join(format!(
        "selfcond-fuzz-case-{}-{thread}",
        std::process::id()
    ));
    fs::remove_dir_all(&run).ok();
    for (relative, bytes) in pristine() {
        let path = run.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    run
}

/// Opens and resumes `run` (or the checkpoint `direct`, skipping the pointer); whatever
/// happens must be an `Ok` or a typed `Err`.
fn load(run: &Path, direct: Option<&Path>) -> Result<usize, selfcond_gan::Error> {
    let checkpoint = match direct {
        Some(path) => Checkpoint::open(path, None)?,
        None => Checkpoint::open_latest(run)?,
    };
    let (g, d) = models();
    let set = data().head_tensor(100, &device());
    let trainer = Trainer::from_checkpoint(&checkpoint, g, d, Some(set))?;
    Ok(trainer.iteration())
}

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: Index, bit: u8 },
    Truncate { keep: Index },
    Overwrite { at: Index, bytes: Vec<u8> },
    Append { bytes: Vec<u8> },
    Remove,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        any::<Index>().prop_map(|keep| Damage::Truncate { keep }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Overwrite { at, bytes }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Damage::Append { bytes }),
        Just(Damage::Remove),
    ]
}

/// Hostile numbers for manifest fields.
fn number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::json!(0)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1u64 << 40)),
        Just(serde_json::json!(f64::MAX)),
        Just(serde_json::json!(-0.5)),
        Just(serde_json::Value::Null),
        (0u64..1000).prop_map(|n| serde_json::json!(n)),
    ]
}

/// Every number in `value`, by JSON pointer.
fn number_paths(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Number(_) => out.push(at),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                number_paths(item, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                number_paths(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any damage to any file: refused (the digests catch it) unless it left the bytes as
    /// they were, or only reformatted the pointer file.
    #[test]
    fn damaged_files_are_refused(file in any::<Index>(), damage in damage()) {
        let run = scratch_copy();
        let (relative, original) = &pristine()[file.index(pristine().len())];
        let path = run.join(relative);
        let mut bytes = original.clone();
        let len = bytes.len();
        match &damage {
            Damage::Flip { at, bit } => bytes[at.index(len)] ^= 1 << bit,
            Damage::Truncate { keep } => bytes.truncate(keep.index(len)),
            Damage::Overwrite { at, bytes: new } => {
                let start = at.index(len);
                for (i, b) in new.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(start + i) {
                        *slot = *b;
                    }
                }
            }
            Damage::Append { bytes: extra } => bytes.extend(extra),
            Damage::Remove => {}
        }
        if matches!(damage, Damage::Remove) {
            fs::remove_file(&path).unwrap();
        } else {
            fs::write(&path, &bytes).unwrap();
        }
        let result = load(&run, None);
        let pointer = relative.ends_with("LATEST");
        let unchanged = !matches!(damage, Damage::Remove) && &bytes == original;
        if !(unchanged || pointer) {
            prop_assert!(result.is_err(), "{relative:?} damaged by {damage:?} was accepted");
        }
        if let Ok(iteration) = result {
            prop_assert_eq!(iteration, 4);
        }
    }

    /// Any number of the manifest replaced by a hostile value, read without the pointer's
    /// digest: a typed error or a trainer, never a panic or an allocation bomb.
    #[test]
    fn hostile_manifest_numbers_are_handled(pick in any::<Index>(), value in number()) {
        let run = scratch_copy();
        let checkpoint = fs::read_dir(checkpoints_dir(&run))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let manifest_path = checkpoint.join("manifest.json");
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
        let mut paths = Vec::new();
        number_paths(&manifest, String::new(), &mut paths);
        let target = paths[pick.index(paths.len())].clone();
        *manifest.pointer_mut(&target).unwrap() = value;
        fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let _ = load(&run, Some(&checkpoint));
    }
}
