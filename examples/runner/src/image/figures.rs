//! The pictures of an image run: progress grids and the paper's Figure 1.

use std::path::Path;

use burn::prelude::*;
use selfcond_gan::rng::stream;
use selfcond_gan::viz::{self, Tiles};

use super::ImageTrainer;

/// A 10 x 10 grid: one row per class (the first ten, or fewer), from a fixed latent stream so
/// grids of one run are comparable over time.
pub(super) fn progress_grid(trainer: &ImageTrainer, seed: u64, path: &Path) -> crate::RunResult {
    let k = trainer.config().selfcond.k;
    let classes: Vec<i64> = (0..10).flat_map(|c| [(c % k) as i64; 10]).collect();
    let images = viz::to_bytes(trainer.generate_with(&classes, 100, &mut stream(seed, 7))?)?;
    let tiles = Tiles {
        pixels: &images,
        channels: 3,
        side: 32,
    };
    viz::save_png(&viz::grid(tiles, 10)?, path)?;
    Ok(())
}

/// The paper's Figure 1: for the ten largest clusters, real images of the cluster beside
/// images generated for it.
pub(super) fn cluster_figure(
    trainer: &ImageTrainer,
    clustering_set: &Tensor<4>,
    seed: u64,
    path: &Path,
) -> crate::RunResult {
    let Some(conditioner) = trainer.conditioner() else {
        return Ok(());
    };
    let sizes = conditioner.cluster_sizes();
    let mut largest: Vec<usize> = (0..sizes.len()).collect();
    largest.sort_by_key(|&c| std::cmp::Reverse(sizes[c]));
    largest.truncate(10);
    let labels = conditioner.clustering_labels();
    let real_set = clustering_set.clone().without_autodiff();
    let per_side = 8;
    let mut rows = Vec::new();
    for &cluster in &largest {
        let members: Vec<i64> = (0..labels.len())
            .filter(|&i| labels[i] == cluster as i64)
            .take(per_side)
            .map(|i| i as i64)
            .collect();
        let real = if members.is_empty() {
            Vec::new()
        } else {
            let index = Tensor::<1, Int>::from_data(
                burn::tensor::TensorData::new(members.clone(), [members.len()]),
                &real_set.device(),
            );
            viz::to_bytes(real_set.clone().select(0, index))?
        };
        let fake = viz::to_bytes(trainer.generate_with(
            &[cluster as i64; 8],
            8,
            &mut stream(seed, 8 + cluster as u64),
        )?)?;
        rows.push((real, fake));
    }
    fn tile(pixels: &[u8]) -> Tiles<'_> {
        Tiles {
            pixels,
            channels: 3,
            side: 32,
        }
    }
    let tiles: Vec<(Tiles, Tiles)> = rows
        .iter()
        .map(|(real, fake)| (tile(real), tile(fake)))
        .collect();
    viz::save_png(&viz::cluster_rows(&tiles, per_side)?, path)?;
    Ok(())
}
