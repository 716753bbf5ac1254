//! Checkpoints: a run directory that survives crashes, and exact resume.
//!
//! A checkpoint holds everything the next iteration depends on: G, D, the clustering snapshot
//! of D, both Adam states, the clusterer (centres, labels of the clustering set, schedule), the
//! trainer's RNG and iteration, and whatever state the caller adds (its data source's RNG, say).
//! Resuming from it and training on gives the same parameters, bit for bit, as never stopping.
//!
//! Layout of `<run>/checkpoints/`:
//!
//! ```text
//! LATEST                     "<name> <sha256 of <name>/manifest.json>", replaced atomically
//! iter-000012000-<nonce>/    one complete checkpoint (the newest two are kept)
//!     manifest.json          format version, iteration, config, RNG, clusterer state, the
//!                            caller's state, and the size and SHA-256 of every file below
//!     generator.bpk  discriminator.bpk  snapshot.bpk        burnpack module records
//!     optim_generator.bpk  optim_discriminator.bpk          optimiser states
//!     centroids.f32          stable-order cluster centres, little-endian f32
//! ```
//!
//! A checkpoint is written into a temporary directory, every file flushed to disk, the directory
//! renamed into place, and only then does `LATEST` move to it; a crash at any moment leaves the
//! previous checkpoint intact and `LATEST` pointing at a complete one. On reading, every byte is
//! checked against the digests, so truncation or bit flips are reported, never loaded.
//!
//! ```
//! # use burn::prelude::*;
//! # use selfcond_gan::data::{GaussianMixture2d, Toy2dDataset};
//! # use selfcond_gan::model::Toy2dModelConfig;
//! # use selfcond_gan::rng::{SeededRng, stream};
//! # use selfcond_gan::{Checkpoint, SelfCondConfig, TrainConfig, Trainer};
//! # fn main() -> selfcond_gan::Result<()> {
//! # let device = Device::default().autodiff();
//! # let ring = GaussianMixture2d::ring(2.0)?;
//! # let mut data = Toy2dDataset::new(ring, 500, 32, &mut stream(0, 0), stream(0, 1))?;
//! let models = Toy2dModelConfig::new(4).with_generator_width(16).with_maxout_units(8);
//! let g = models.init_generator(&mut stream(0, 2), &device)?;
//! let d = models.init_discriminator(&mut stream(0, 3), &device)?;
//! let set = data.head_tensor(100, &device);
//! let config = TrainConfig::new(SelfCondConfig::new(4));
//! let (mut trainer, _) = Trainer::new(config, g.clone(), d.clone(), Some(set.clone()))?;
//! trainer.fit(&mut data, 3, &mut ())?;
//! let run = std::env::temp_dir().join("selfcond-doc-run");
//! trainer.save_checkpoint(&run, data.batch_rng())?; // the data stream travels along
//!
//! // Later, perhaps in another process: the same architecture and clustering set.
//! let checkpoint = Checkpoint::open_latest(&run)?;
//! data.set_batch_rng(checkpoint.extra::<SeededRng>()?);
//! let mut resumed = Trainer::from_checkpoint(&checkpoint, g, d, Some(set))?;
//! assert_eq!(resumed.iteration(), 3);
//! resumed.fit(&mut data, 2, &mut ())?;
//! # std::fs::remove_dir_all(&run).ok();
//! # Ok(())
//! # }
//! ```

pub(crate) mod atomic;
mod inference;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, TensorData};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host;
use crate::model::{ConditionalGenerator, Discriminator};
use crate::rng::SeededRng;
use crate::selfcond::SelfConditioner;
use crate::train::{LabelMode, TrainConfig, Trainer};
use crate::weight_average::WeightAverage;

/// Version of the checkpoint format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const LATEST: &str = "LATEST";
const MANIFEST: &str = "manifest.json";
const GENERATOR: &str = "generator.bpk";
const GENERATOR_AVERAGE: &str = "generator_average.bpk";
const DISCRIMINATOR: &str = "discriminator.bpk";
const SNAPSHOT: &str = "snapshot.bpk";
const OPTIM_GENERATOR: &str = "optim_generator.bpk";
const OPTIM_DISCRIMINATOR: &str = "optim_discriminator.bpk";
const CENTROIDS: &str = "centroids.f32";

/// Size and digest of one file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileDigest {
    bytes: u64,
    sha256: String,
}

/// The clusterer's state besides its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConditionerState {
    labels: Vec<i64>,
    last_fit: usize,
    centroid_shape: [usize; 2],
    clustering_set_shape: Vec<usize>,
    clustering_set_sha256: String,
}

/// Everything in a checkpoint but the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    crate_version: String,
    iteration: usize,
    config: TrainConfig,
    generator_latent_dim: usize,
    discriminator_feature_dim: usize,
    rng: SeededRng,
    conditioner: Option<ConditionerState>,
    extra: serde_json::Value,
    files: BTreeMap<String, FileDigest>,
}

/// Just the version, read first so a newer format gets a clear error, not a parse failure.
#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

/// Writes a checkpoint's files and manifest into `staging`, each flushed to the disk.
fn stage(staging: &Path, files: &[(&str, Vec<u8>)], manifest: &[u8]) -> Result<()> {
    fs::create_dir_all(staging).map_err(Error::io(staging))?;
    for (file, bytes) in files {
        atomic::write_synced(&staging.join(file), bytes)?;
    }
    atomic::write_synced(&staging.join(MANIFEST), manifest)?;
    atomic::sync_dir(staging)
}

/// The checkpoints directory of a run directory.
pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// A verified checkpoint, read whole into memory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
}

impl Checkpoint {
    /// The newest complete checkpoint of `run_dir`, verified.
    pub fn open_latest(run_dir: &Path) -> Result<Self> {
        let dir = checkpoints_dir(run_dir);
        let pointer = fs::read(dir.join(LATEST)).map_err(|e| Error::NoCheckpoint {
            dir: run_dir.to_path_buf(),
            reason: format!("cannot read checkpoints/{LATEST}: {e}"),
        })?;
        let corrupt = |reason: String| Error::CorruptCheckpoint {
            path: dir.join(LATEST),
            reason,
        };
        let pointer = String::from_utf8(pointer).map_err(|_| corrupt("not UTF-8".into()))?;
        let mut parts = pointer.split_whitespace();
        let (Some(name), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt(format!(
                "expected `<name> <sha256>`, found {pointer:?}"
            )));
        };
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(corrupt(format!("`{name}` is not a checkpoint name")));
        }
        Self::open(&dir.join(name), Some(digest))
    }

    /// The checkpoint in `path` (one `iter-*` directory), verified; `manifest_sha256`, when
    /// given, must match its manifest.
    pub fn open(path: &Path, manifest_sha256: Option<&str>) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        let manifest_bytes = fs::read(path.join(MANIFEST))
            .map_err(|e| corrupt(format!("cannot read {MANIFEST}: {e}")))?;
        if let Some(expected) = manifest_sha256
            && atomic::sha256_hex(&manifest_bytes) != expected
        {
            return Err(corrupt(format!(
                "{MANIFEST} does not match its digest in {LATEST}"
            )));
        }
        let version: VersionOnly = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| corrupt(format!("{MANIFEST}: {e}")))?;
        if version.format_version != FORMAT_VERSION {
            return Err(Error::CheckpointVersion {
                path: path.to_path_buf(),
                found: version.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| corrupt(format!("{MANIFEST}: {e}")))?;
        let mut files = BTreeMap::new();
        for name in [
            GENERATOR,
            GENERATOR_AVERAGE,
            DISCRIMINATOR,
            SNAPSHOT,
            OPTIM_GENERATOR,
            OPTIM_DISCRIMINATOR,
            CENTROIDS,
        ] {
            let Some(expected) = manifest.files.get(name) else {
                continue;
            };
            let file = path.join(name);
            // Check the size before reading, so a forged manifest cannot make us allocate.
            let len = fs::metadata(&file)
                .map_err(|e| corrupt(format!("cannot read {name}: {e}")))?
                .len();
            if len != expected.bytes {
                return Err(corrupt(format!(
                    "{name} has {len} bytes, the manifest says {}",
                    expected.bytes
                )));
            }
            let bytes = fs::read(&file).map_err(|e| corrupt(format!("cannot read {name}: {e}")))?;
            if atomic::sha256_hex(&bytes) != expected.sha256 {
                return Err(corrupt(format!("{name} does not match its digest")));
            }
            files.insert(name.to_string(), bytes);
        }
        for name in [
            GENERATOR,
            DISCRIMINATOR,
            OPTIM_GENERATOR,
            OPTIM_DISCRIMINATOR,
        ] {
            if !files.contains_key(name) {
                return Err(corrupt(format!("the manifest lists no {name}")));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            manifest,
            files,
        })
    }

    /// Where this checkpoint lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Iterations completed when it was written.
    pub fn iteration(&self) -> usize {
        self.manifest.iteration
    }

    /// The training configuration of the run.
    pub fn config(&self) -> &TrainConfig {
        &self.manifest.config
    }

    /// The caller's state saved with it (see [`Trainer::save_checkpoint`]).
    pub fn extra<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.manifest.extra.clone()).map_err(|e| Error::CorruptCheckpoint {
            path: self.path.clone(),
            reason: format!("the caller's state does not parse: {e}"),
        })
    }

    fn mismatch(&self, reason: impl Into<String>) -> Error {
        Error::CheckpointMismatch {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn file(&self, name: &str) -> Result<&[u8]> {
        self.files
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::CorruptCheckpoint {
                path: self.path.clone(),
                reason: format!("the manifest lists no {name}"),
            })
    }

    /// [`Error::CheckpointMismatch`] unless `generator` has the checkpoint's classes and latent
    /// width.
    fn check_generator<G: ConditionalGenerator<R>, const R: usize>(
        &self,
        generator: &G,
    ) -> Result<()> {
        self.check_sizes(&[
            (
                "generator classes",
                generator.num_classes(),
                self.manifest.config.selfcond.k,
            ),
            (
                "generator latent width",
                generator.latent_dim(),
                self.manifest.generator_latent_dim,
            ),
        ])
    }

    /// [`Error::CheckpointMismatch`] unless `discriminator` has the checkpoint's classes and
    /// feature width.
    fn check_discriminator<M: Discriminator<R>, const R: usize>(
        &self,
        discriminator: &M,
    ) -> Result<()> {
        self.check_sizes(&[
            (
                "discriminator classes",
                discriminator.num_classes(),
                self.manifest.config.selfcond.k,
            ),
            (
                "discriminator feature width",
                discriminator.feature_dim(),
                self.manifest.discriminator_feature_dim,
            ),
        ])
    }

    fn check_sizes(&self, sizes: &[(&str, usize, usize)]) -> Result<()> {
        match sizes.iter().find(|(_, got, expected)| got != expected) {
            Some((what, got, expected)) => Err(self.mismatch(format!(
                "{what}: the checkpoint has {expected}, the model given has {got}"
            ))),
            None => Ok(()),
        }
    }

    /// The stable-order centres `[k, feature_dim]` saved with the clusterer state.
    fn centroids(&self, state: &ConditionerState, device: &Device) -> Result<Tensor<2>> {
        let k = self.manifest.config.selfcond.k;
        let [rows, cols] = state.centroid_shape;
        let values = f32_values(self.file(CENTROIDS)?);
        if rows != k
            || cols != self.manifest.discriminator_feature_dim
            || values.len() != rows * cols
        {
            return Err(Error::CorruptCheckpoint {
                path: self.path.clone(),
                reason: format!("{CENTROIDS} does not hold {k} x {cols} values"),
            });
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            device,
        ))
    }

    fn load_module<M: Module>(&self, module: M, name: &str) -> Result<M> {
        let bytes = Bytes::from_bytes_vec(self.file(name)?.to_vec());
        let record = ModuleRecord::from_bytes(bytes).map_err(|e| Error::CorruptCheckpoint {
            path: self.path.clone(),
            reason: format!("{name}: {e}"),
        })?;
        module
            .try_load_record(record)
            .map_err(|e| self.mismatch(format!("{name} does not fit the model given: {e}")))
    }
}

impl<G, M, const R: usize> Trainer<G, M, R>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    /// Writes a checkpoint of the whole training state into `<run_dir>/checkpoints/` and
    /// returns its path. `extra` is the caller's own state (data source RNG, run settings),
    /// handed back by [`Checkpoint::extra`].
    ///
    /// Refuses with [`Error::Diverged`] if the last iteration's losses are not finite, so a
    /// diverged state never replaces a good checkpoint.
    pub fn save_checkpoint(&mut self, run_dir: &Path, extra: &impl Serialize) -> Result<PathBuf> {
        self.ensure_last_losses_finite()?;
        let extra = serde_json::to_value(extra)?;
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            (GENERATOR, module_bytes(&self.generator)?),
            (DISCRIMINATOR, module_bytes(&self.discriminator)?),
            (OPTIM_GENERATOR, optimiser_bytes(&self.optim_g)?),
            (OPTIM_DISCRIMINATOR, optimiser_bytes(&self.optim_d)?),
        ];
        if let Some(average) = self.averaged_generator() {
            files.push((GENERATOR_AVERAGE, module_bytes(average)?));
        }
        let conditioner = match &self.conditioner {
            Some(c) => {
                files.push((SNAPSHOT, module_bytes(c.snapshot())?));
                let centroids = host::floats(c.centroids().clone())?;
                files.push((CENTROIDS, f32_bytes(&centroids)));
                Some(ConditionerState {
                    labels: c.clustering_labels().to_vec(),
                    last_fit: c.last_fit(),
                    centroid_shape: c.centroids().dims(),
                    clustering_set_shape: c.clustering_set().dims().to_vec(),
                    clustering_set_sha256: tensor_sha256(c.clustering_set())?,
                })
            }
            None => None,
        };
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            iteration: self.iteration,
            config: self.config.clone(),
            generator_latent_dim: self.generator.latent_dim(),
            discriminator_feature_dim: self.discriminator.feature_dim(),
            rng: self.rng.clone(),
            conditioner,
            extra,
            files: files
                .iter()
                .map(|(name, bytes)| {
                    let digest = FileDigest {
                        bytes: bytes.len() as u64,
                        sha256: atomic::sha256_hex(bytes),
                    };
                    (name.to_string(), digest)
                })
                .collect(),
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;

        let dir = checkpoints_dir(run_dir);
        fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("iter-{:09}-{nonce:x}", self.iteration);
        let staging = dir.join(format!(".{name}.tmp"));
        let path = dir.join(&name);
        let staged = stage(&staging, &files, &manifest_bytes)
            .and_then(|()| fs::rename(&staging, &path).map_err(Error::io(&path)));
        if let Err(e) = staged {
            // A full disk, say: free what was staged; LATEST still names the last checkpoint.
            fs::remove_dir_all(&staging).ok();
            return Err(e);
        }
        atomic::sync_dir(&dir)?;

        let previous = fs::read_to_string(dir.join(LATEST)).ok();
        let pointer = format!("{name} {}\n", atomic::sha256_hex(&manifest_bytes));
        atomic::replace(&dir.join(LATEST), pointer.as_bytes())?;
        // Keep the new checkpoint and the one before it; anything else is stale.
        let previous = previous.and_then(|p| p.split_whitespace().next().map(str::to_string));
        for entry in fs::read_dir(&dir).map_err(Error::io(&dir))?.flatten() {
            let entry_name = entry.file_name().to_string_lossy().to_string();
            let keep = entry_name == LATEST
                || entry_name == name
                || Some(&entry_name) == previous.as_ref();
            if !keep && entry.path().is_dir() {
                fs::remove_dir_all(entry.path()).ok();
            }
        }
        self.last_checkpoint = Some(path.clone());
        Ok(path)
    }

    /// Rebuilds a trainer from `checkpoint`. `generator` and `discriminator` give the
    /// architecture (freshly initialised is fine: every parameter is overwritten) and the
    /// device; `clustering_set` must be the one the run was started with (checked by digest).
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        generator: G,
        discriminator: M,
        clustering_set: Option<Tensor<R>>,
    ) -> Result<Self> {
        let manifest = &checkpoint.manifest;
        let config = manifest.config.clone();
        config.check()?;
        checkpoint.check_generator(&generator)?;
        checkpoint.check_discriminator(&discriminator)?;
        let template = discriminator.valid();
        let average = match config.ema_decay {
            Some(decay) => Some(WeightAverage::from_average(
                checkpoint.load_module(generator.valid(), GENERATOR_AVERAGE)?,
                decay,
            )?),
            None => None,
        };
        let generator = checkpoint.load_module(generator, GENERATOR)?;
        let discriminator = checkpoint.load_module(discriminator, DISCRIMINATOR)?;
        let device = crate::model::device_of(&generator);
        let optim_g = load_optimiser(checkpoint, &config, OPTIM_GENERATOR, &device)?;
        let optim_d = load_optimiser(checkpoint, &config, OPTIM_DISCRIMINATOR, &device)?;

        let conditioner = match (config.labels, &manifest.conditioner) {
            (LabelMode::SelfConditioned, Some(state)) => {
                if state.last_fit > manifest.iteration {
                    return Err(Error::CorruptCheckpoint {
                        path: checkpoint.path.clone(),
                        reason: "the last clustering is later than the iteration".into(),
                    });
                }
                let set = clustering_set.ok_or(Error::Empty {
                    what: "clustering set (required to resume self-conditioning)",
                })?;
                let set = set.without_autodiff();
                if set.dims().to_vec() != state.clustering_set_shape
                    || tensor_sha256(&set)? != state.clustering_set_sha256
                {
                    return Err(checkpoint.mismatch(
                        "the clustering set given is not the one the run was started with",
                    ));
                }
                let snapshot = checkpoint.load_module(template, SNAPSHOT)?;
                let centroids = checkpoint.centroids(state, &set.device())?;
                Some(SelfConditioner::from_parts(
                    config.selfcond.clone(),
                    set,
                    snapshot,
                    centroids,
                    state.labels.clone(),
                    state.last_fit,
                )?)
            }
            (LabelMode::SelfConditioned, None) => {
                return Err(Error::CorruptCheckpoint {
                    path: checkpoint.path.clone(),
                    reason: "a self-conditioned run without clusterer state".into(),
                });
            }
            _ => None,
        };

        Ok(Trainer::from_parts(
            config,
            generator,
            discriminator,
            optim_g,
            optim_d,
            conditioner,
            manifest.rng.clone(),
            manifest.iteration,
            average,
            Some(checkpoint.path.clone()),
        ))
    }
}

fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    // `valid()` first: a BatchNorm running statistic keeps its newest update pending until the
    // next forward pass, and a record taken straight from the module would miss it.
    let bytes = module
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::Device(format!("serialising a module: {e}")))?;
    Ok(bytes.to_vec())
}

fn optimiser_bytes(optimiser: &burn::optim::ModuleOptimizer) -> Result<Vec<u8>> {
    let bytes = optimiser
        .into_bytes()
        .map_err(|e| Error::Device(format!("serialising an optimiser: {e}")))?;
    Ok(bytes.to_vec())
}

fn load_optimiser(
    checkpoint: &Checkpoint,
    config: &TrainConfig,
    name: &str,
    device: &Device,
) -> Result<burn::optim::ModuleOptimizer> {
    let bytes = Bytes::from_bytes_vec(checkpoint.file(name)?.to_vec());
    config
        .adam(device)
        .from_bytes(bytes)
        .map_err(|e| Error::CorruptCheckpoint {
            path: checkpoint.path.clone(),
            reason: format!("{name}: {e}"),
        })
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// SHA-256 of a tensor's shape and values, to recognise the same data later.
fn tensor_sha256<const D: usize>(tensor: &Tensor<D>) -> Result<String> {
    let mut bytes: Vec<u8> = tensor
        .dims()
        .iter()
        .flat_map(|d| (*d as u64).to_le_bytes())
        .collect();
    bytes.extend(f32_bytes(&host::floats(tensor.clone())?));
    Ok(atomic::sha256_hex(&bytes))
}
