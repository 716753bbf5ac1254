//! The training images of either benchmark, as one batch source.

use std::path::Path;

use burn::prelude::*;
use selfcond_gan::data::cifar::{CifarSplit, read_cifar10};
use selfcond_gan::data::folder::read_image_folder;
use selfcond_gan::data::mnist::{MnistSplit, read_mnist};
use selfcond_gan::data::{ImageDataset, StackedMnist};
use selfcond_gan::rng::{SeededRng, stream};
use selfcond_gan::{Batch, BatchSource};

use super::{Benchmark, ImageArgs};
use crate::training::BatchStream;

/// The training images of either benchmark.
pub(super) enum Source {
    Stacked(StackedMnist),
    Images(ImageDataset),
}

impl Source {
    pub(super) fn load(
        benchmark: Benchmark,
        args: &ImageArgs,
        dir: &Path,
    ) -> selfcond_gan::Result<Self> {
        Ok(match benchmark {
            Benchmark::StackedMnist => Source::Stacked(StackedMnist::new(
                &read_mnist(dir, MnistSplit::Train)?,
                args.train_images,
                args.batch_size,
                &mut stream(args.seed, 0),
                stream(args.seed, 1),
            )?),
            Benchmark::Cifar10 => {
                let images = if dir.join("data_batch_1.bin").is_file() {
                    read_cifar10(dir, CifarSplit::Train)?
                } else {
                    read_image_folder(dir, 32, None)?.images
                };
                Source::Images(ImageDataset::new(
                    images,
                    32,
                    args.batch_size,
                    stream(args.seed, 1),
                )?)
            }
        })
    }

    /// The fixed clustering set: Stacked-MNIST's first triples (already random), or images
    /// spread evenly over the folder, whose classes come one after another.
    pub(super) fn clustering_set(&self, n: usize, device: &Device) -> (Tensor<4>, Vec<u16>) {
        match self {
            Source::Stacked(s) => s.head(n, device),
            Source::Images(s) => {
                let (len, n) = (s.len(), n.min(s.len()));
                let indices: Vec<usize> = (0..n).map(|i| i * len / n.max(1)).collect();
                let labels = indices.iter().map(|&i| s.label(i) as u16).collect();
                (s.tensor(&indices, device), labels)
            }
        }
    }
}

impl BatchStream for Source {
    fn batch_rng(&self) -> &SeededRng {
        match self {
            Source::Stacked(s) => s.batch_rng(),
            Source::Images(s) => s.batch_rng(),
        }
    }

    fn set_batch_rng(&mut self, rng: SeededRng) {
        match self {
            Source::Stacked(s) => s.set_batch_rng(rng),
            Source::Images(s) => s.set_batch_rng(rng),
        }
    }
}

impl BatchSource<4> for Source {
    fn next_batch(&mut self, device: &Device) -> selfcond_gan::Result<Batch<4>> {
        match self {
            Source::Stacked(s) => s.next_batch(device),
            Source::Images(s) => s.next_batch(device),
        }
    }
}
