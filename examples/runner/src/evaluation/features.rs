//! The 2048-d Inception features of an image set, with a progress bar, cached per data set
//! (`<cache>/features/<key>.npy`, float32 `[n, 2048]`); a long pass saves what it has every
//! `checkpoint_images` images and goes on from there when it is run again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use selfcond_gan::metrics::fid::{FID_FEATURE_DIM, FidExtractor};
use selfcond_gan::npy::{self, NpyData};

use super::sources::{ImageSet, cache_dir};
use crate::create_dir;

/// How a features pass runs.
pub struct FeaturePass<'a> {
    pub extractor: &'a FidExtractor,
    pub batch_size: usize,
    pub checkpoint_images: usize,
    /// Read and write the cache (sets with a cache key only).
    pub use_cache: bool,
    pub quiet: bool,
}

/// Features of a set and the seconds the network took on them (0 when all were cached).
pub struct SetFeatures {
    pub values: Vec<f32>,
    pub seconds: f64,
    pub computed: usize,
}

impl FeaturePass<'_> {
    /// The features of `set`, row-major `[set.len(), 2048]`; `role` labels the bar.
    pub fn run(
        &self,
        set: &ImageSet,
        role: &str,
    ) -> Result<SetFeatures, Box<dyn std::error::Error>> {
        let cache = set
            .cache_key
            .as_ref()
            .filter(|_| self.use_cache)
            .map(|key| cache_dir().join("features").join(format!("{key}.npy")));
        if let Some(path) = cache.as_ref().filter(|p| p.is_file()) {
            let values = read_features(path, set.len())?;
            eprintln!("{role}: cached features {}", path.display());
            return Ok(SetFeatures {
                values,
                seconds: 0.0,
                computed: 0,
            });
        }
        let partial = cache
            .as_ref()
            .map(|path| path.with_extension("partial.npy"));
        let mut values = match partial.as_ref().filter(|p| p.is_file()) {
            Some(path) => read_partial(path, set.len())?,
            None => Vec::new(),
        };
        let done = values.len() / FID_FEATURE_DIM;
        let bar = self.bar(set.len(), done, role)?;
        if done > 0 {
            bar.println(format!("{role}: going on after {done} images"));
        }
        let per_image = 3 * set.side * set.side;
        let started = Instant::now();
        for part in set.pixels[done * per_image..].chunks(self.checkpoint_images.max(1) * per_image)
        {
            for batch in part.chunks(self.batch_size * per_image) {
                values.extend(self.extractor.features(batch, [set.side, set.side])?);
                bar.set_position((values.len() / FID_FEATURE_DIM) as u64);
            }
            if let Some(path) = &partial {
                save(path, &values)?;
            }
        }
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        if let Some(path) = &cache {
            save(path, &values)?;
            if let Some(partial) = &partial {
                std::fs::remove_file(partial).ok();
            }
            eprintln!("{role}: features cached in {}", path.display());
        }
        Ok(SetFeatures {
            values,
            seconds,
            computed: set.len() - done,
        })
    }

    fn bar(
        &self,
        len: usize,
        position: usize,
        role: &str,
    ) -> Result<ProgressBar, Box<dyn std::error::Error>> {
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(len as u64)
        };
        bar.set_style(ProgressStyle::with_template(
            "{msg} {elapsed_precise} [{bar:40}] {pos}/{len} images ({per_sec}, eta {eta})",
        )?);
        bar.set_message(format!("Inception features, {role}"));
        bar.set_position(position as u64);
        bar.reset_eta();
        Ok(bar)
    }
}

/// Writes float32 `[n, 2048]` features, creating the folder.
pub fn save(path: &Path, values: &[f32]) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    npy::write(
        path,
        values,
        &[values.len() / FID_FEATURE_DIM, FID_FEATURE_DIM],
    )?;
    Ok(())
}

fn read_features(path: &Path, count: usize) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let values = read_partial(path, count)?;
    if values.len() != count * FID_FEATURE_DIM {
        return Err(stale(path, values.len() / FID_FEATURE_DIM, count).into());
    }
    Ok(values)
}

/// Cached rows of at most `count` images.
fn read_partial(path: &Path, count: usize) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let array = npy::read(path)?;
    match (array.data, array.shape.as_slice()) {
        (NpyData::F32(values), &[rows, FID_FEATURE_DIM]) if rows <= count => Ok(values),
        (_, &[rows, FID_FEATURE_DIM]) => Err(stale(path, rows, count).into()),
        (_, shape) => Err(format!(
            "{}: expected float32 features [n, {FID_FEATURE_DIM}], got {shape:?}",
            path.display()
        )
        .into()),
    }
}

fn stale(path: &Path, rows: usize, count: usize) -> String {
    format!(
        "{}: cached features of {rows} images, the set has {count}; delete the file or pass --no-cache",
        path.display()
    )
}

/// Where `--save-features` puts one run's generated features.
pub fn fake_features_path(dir: &Path, run: &Path, runs: usize) -> PathBuf {
    if runs == 1 {
        return dir.join("fake.npy");
    }
    let name = run
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
    dir.join(name).join("fake.npy")
}
