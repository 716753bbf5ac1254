//! The 2048-d Inception features of an image set, with a progress bar, cached per data set
//! (`<cache>/features/<key>.npy`, float32 `[n, 2048]`); a long pass saves what it has every
//! `checkpoint_images` images and goes on from there when it is run again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use selfcond_gan::metrics::fid::cache_dir;
use selfcond_gan::metrics::fid::{FID_FEATURE_DIM, FidExtractor};
use selfcond_gan::npy;

use super::sources::ImageSet;
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
            let values = read_cached(path, set.len(), false)?;
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
            Some(path) => read_cached(path, set.len(), true)?,
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
        let bar = crate::progress::bar(
            len,
            position,
            self.quiet,
            "{msg} {elapsed_precise} [{bar:40}] {pos}/{len} images ({per_sec}, eta {eta})",
        )?;
        bar.set_message(format!("Inception features, {role}"));
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

/// Cached features of a set of `count` images: all of them, or with `partial` at most that.
fn read_cached(
    path: &Path,
    count: usize,
    partial: bool,
) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let (values, [rows, _]) = npy::read_f32_matrix(path, Some(FID_FEATURE_DIM))?;
    if rows > count || (!partial && rows != count) {
        return Err(format!(
            "{}: cached features of {rows} images, the set has {count}; delete the file or \
             pass --no-cache",
            path.display()
        )
        .into());
    }
    Ok(values)
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
