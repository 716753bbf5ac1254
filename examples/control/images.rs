//! The control commands on a DCGAN (Stacked-MNIST or CIFAR-10) model: image grids.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use selfcond_gan::control::{self, InversionConfig, psnr};
use selfcond_gan::data::cifar::{CifarSplit, read_cifar10};
use selfcond_gan::data::folder::{read_image_folder, read_rgb_image};
use selfcond_gan::data::mnist::{MnistSplit, read_mnist};
use selfcond_gan::data::{ImageDataset, StackedMnist};
use selfcond_gan::model::{ConditionalGenerator, DcganDiscriminator, DcganGenerator};
use selfcond_gan::npy;
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::viz::{self, Tiles};
use serde_json::json;

use crate::loaded::Gan;

type ImageGan = Gan<DcganGenerator, DcganDiscriminator, 4>;
type Outcome = Result<(), Box<dyn std::error::Error>>;

const SIDE: usize = 32;
const IMAGE_BYTES: usize = 3 * SIDE * SIDE;

/// Writes `pixels` (channel-major bytes) as a grid PNG of `columns` and as NHWC `.npy`.
fn save_grid(pixels: &[u8], columns: usize, out: &Path, name: &str) -> Outcome {
    let tiles = Tiles {
        pixels,
        channels: 3,
        side: SIDE,
    };
    viz::save_png(
        &viz::grid(tiles, columns)?,
        &out.join(format!("{name}.png")),
    )?;
    let mut nhwc = Vec::with_capacity(pixels.len());
    for image in pixels.chunks_exact(IMAGE_BYTES) {
        for pixel in 0..SIDE * SIDE {
            nhwc.extend((0..3).map(|c| image[c * SIDE * SIDE + pixel]));
        }
    }
    let n = pixels.len() / IMAGE_BYTES;
    npy::write(&out.join(format!("{name}.npy")), &nhwc, &[n, SIDE, SIDE, 3])?;
    eprintln!("wrote {0}.png and {0}.npy", out.join(name).display());
    Ok(())
}

pub fn sample(
    gan: &ImageGan,
    cluster: Option<usize>,
    n: usize,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let images = match cluster {
        Some(c) => control::sample_cluster(&gan.generator, c, n, rng)?,
        None => {
            // Sorted by cluster, so rows of the grid group like clusters.
            let mut classes = gan.draw_classes(n, rng);
            classes.sort_unstable();
            let z = gan.draw_latents(n, rng)?;
            control::generate(&gan.generator, &z, &classes)?
        }
    };
    save_grid(&viz::to_bytes(images)?, 8, out, "sample")
}

pub fn sefa(
    gan: &ImageGan,
    directions: Option<usize>,
    latents_n: usize,
    alphas: &[f32],
    cluster: Option<usize>,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let found = control::sefa(&gan.generator, directions.unwrap_or(5))?;
    let mut pixels = Vec::new();
    for block in 0..latents_n {
        if block > 0 {
            pixels.extend(std::iter::repeat_n(255u8, alphas.len() * IMAGE_BYTES)); // a blank row
        }
        let z = gan.draw_latents(1, rng)?;
        let class = gan.class_or_drawn(cluster, rng);
        pixels.extend(viz::to_bytes(found.traversal(
            &gan.generator,
            &z,
            class,
            alphas,
        )?)?);
    }
    std::fs::write(
        out.join("sefa.json"),
        serde_json::to_string_pretty(&json!({
            "eigenvalues": found.eigenvalues,
            "alphas": alphas,
            "rows": "per latent, one row per direction (strongest first), one column per alpha",
        }))?,
    )?;
    let flat: Vec<f32> = found.directions.iter().flatten().copied().collect();
    npy::write(
        &out.join("directions.npy"),
        &flat,
        &[found.len(), gan.generator.latent_dim()],
    )?;
    eprintln!("eigenvalues {:?}", found.eigenvalues);
    save_grid(&pixels, alphas.len(), out, "sefa")
}

pub fn interpolate(
    gan: &ImageGan,
    pairs: usize,
    steps: usize,
    cluster: Option<usize>,
    rng: &mut SeededRng,
    out: &Path,
) -> Outcome {
    let latent = gan.generator.latent_dim();
    let mut pixels = Vec::new();
    for _ in 0..pairs {
        let ends = gan.draw_latents(2, rng)?;
        let class = gan.class_or_drawn(cluster, rng) as usize;
        let path = control::interpolate(
            &gan.generator,
            &ends[..latent],
            &ends[latent..],
            class,
            steps,
        )?;
        pixels.extend(viz::to_bytes(path)?);
    }
    save_grid(&pixels, steps, out, "interpolate")
}

/// Channel-major bytes of the given image files (32 x 32 RGB each, else a typed error).
pub fn read_files(files: &[PathBuf]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut pixels = Vec::with_capacity(files.len() * IMAGE_BYTES);
    for file in files {
        pixels.extend(read_rgb_image(file, SIDE).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    Ok(pixels)
}

/// `n` images the run never trained on: Stacked-MNIST triples of MNIST test digits, or
/// CIFAR-10 test images (binary `test_batch.bin` in `dir`, or the `test` folder beside it).
pub fn held_out(
    benchmark: &str,
    dir: &Path,
    n: usize,
    seed: u64,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let device = Device::default();
    let images = if benchmark == "stacked_mnist" {
        let test = read_mnist(dir, MnistSplit::Test)?;
        StackedMnist::new(&test, n, 1, &mut stream(seed, 5), stream(seed, 6))?
            .head(n, &device)
            .0
    } else {
        let images = if dir.join("test_batch.bin").is_file() {
            read_cifar10(dir, CifarSplit::Test)?
        } else {
            let folder = if dir.ends_with("train") {
                dir.with_file_name("test")
            } else {
                dir.to_path_buf()
            };
            read_image_folder(&folder, SIDE, Some(n))?.images
        };
        let set = ImageDataset::new(images, SIDE, 1, stream(seed, 6))?;
        // Spread over the classes: the folder lists them one after another.
        let stride = (set.len() / n.max(1)).max(1);
        let indices: Vec<usize> = (0..n.min(set.len())).map(|i| i * stride).collect();
        set.tensor(&indices, &device)
    };
    Ok(viz::to_bytes(images)?)
}

/// Inverts `targets` (channel-major bytes), `chunk` images at a time; writes target /
/// reconstruction pairs, the latents and PSNR before and after.
pub fn invert(
    gan: &ImageGan,
    targets: &[u8],
    candidates: usize,
    config: &InversionConfig,
    chunk: usize,
    out: &Path,
) -> Outcome {
    let device = Device::default();
    let n = targets.len() / IMAGE_BYTES;
    let chunks: Vec<&[u8]> = targets.chunks(chunk.max(1) * IMAGE_BYTES).collect();
    let bar = indicatif::ProgressBar::new((chunks.len() * config.steps) as u64);
    let started = Instant::now();
    let (mut z, mut classes, mut recon, mut assigned) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut mse_before, mut mse_after, mut feature_before, mut feature_after) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for part in chunks {
        let tensor = viz::from_bytes(part, 3, SIDE, &device)?;
        let (found, part_assigned) = gan.invert(tensor, candidates, config, |_| bar.inc(1))?;
        assigned.extend(part_assigned.unwrap_or_default());
        z.extend(found.z);
        classes.extend(found.classes);
        recon.extend(viz::to_bytes(found.reconstructions)?);
        mse_before.extend(found.mse_before);
        mse_after.extend(found.mse_after);
        feature_before.extend(found.feature_before);
        feature_after.extend(found.feature_after);
    }
    bar.finish_and_clear();
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    let mean_psnr =
        |v: &[f32]| v.iter().map(|&m| psnr(m, 2.0) as f64).sum::<f64>() / v.len().max(1) as f64;
    let summary = json!({
        "images": n,
        "starts": config.starts,
        "steps": config.steps,
        "learning_rate": config.learning_rate,
        "feature_weight": config.feature_weight,
        "mean_psnr_db_before": mean_psnr(&mse_before),
        "mean_psnr_db_after": mean_psnr(&mse_after),
        "mean_mse_before": mean(&mse_before),
        "mean_mse_after": mean(&mse_after),
        "mean_feature_distance_before": mean(&feature_before),
        "mean_feature_distance_after": mean(&feature_after),
        "candidate_clusters": candidates,
        "chosen_cluster_is_the_assigned_one": (!assigned.is_empty()).then(|| {
            assigned.iter().zip(&classes).filter(|(a, b)| a == b).count() as f64 / n as f64
        }),
        "before": "the best of the random starts before optimisation, by the same objective",
        "seconds": started.elapsed().as_secs_f64(),
        "psnr_db_after": mse_after.iter().map(|&m| psnr(m, 2.0)).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("invert.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    npy::write(
        &out.join("latents.npy"),
        &z,
        &[n, gan.generator.latent_dim()],
    )?;
    npy::write(&out.join("classes.npy"), &classes, &[n])?;
    // Pairs side by side: target, reconstruction, target, reconstruction, ...
    let shown = n.min(32);
    let mut pairs = Vec::with_capacity(2 * shown * IMAGE_BYTES);
    for i in 0..shown {
        pairs.extend_from_slice(&targets[i * IMAGE_BYTES..][..IMAGE_BYTES]);
        pairs.extend_from_slice(&recon[i * IMAGE_BYTES..][..IMAGE_BYTES]);
    }
    eprintln!(
        "{n} images: PSNR {:.2} dB -> {:.2} dB, feature distance {:.4} -> {:.4}",
        mean_psnr(&mse_before),
        mean_psnr(&mse_after),
        mean(&feature_before),
        mean(&feature_after)
    );
    save_grid(&pairs, 16, out, "invert")
}
