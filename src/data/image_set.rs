//! A labelled set of small RGB images held as bytes, served in random batches scaled to
//! [-1, 1]: CIFAR-10 from its binary files or from an image folder.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::data::cifar::CifarImages;
use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::train::{Batch, BatchSource};

/// Images `[n, 3, side, side]` (bytes) with labels, and the stream batches are drawn from.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    images: CifarImages,
    side: usize,
    batch_size: usize,
    rng: SeededRng,
}

impl ImageDataset {
    /// Serves `images` of `side` pixels in batches of `batch_size` drawn with `batch_rng`.
    pub fn new(
        images: CifarImages,
        side: usize,
        batch_size: usize,
        batch_rng: SeededRng,
    ) -> Result<Self> {
        if images.is_empty() {
            return Err(Error::Empty { what: "image set" });
        }
        if batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        if images.pixels.len() != images.len() * 3 * side * side {
            return Err(Error::DimensionMismatch {
                what: "image bytes vs n x 3 x side x side",
                expected: images.len() * 3 * side * side,
                got: images.pixels.len(),
            });
        }
        Ok(Self {
            images,
            side,
            batch_size,
            rng: batch_rng,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Label of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.images.labels[i]
    }

    /// Images `indices` as a `[n, 3, side, side]` tensor in [-1, 1].
    pub fn tensor(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let size = 3 * self.side * self.side;
        let values: Vec<f32> = indices
            .iter()
            .flat_map(|&i| &self.images.pixels[i * size..(i + 1) * size])
            .map(|&p| p as f32 / 127.5 - 1.0)
            .collect();
        let shape = [indices.len(), 3, self.side, self.side];
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The first `n` images and their labels.
    pub fn head(&self, n: usize, device: &Device) -> (Tensor<4>, Vec<u16>) {
        let indices: Vec<usize> = (0..n.min(self.len())).collect();
        let labels = indices.iter().map(|&i| self.label(i) as u16).collect();
        (self.tensor(&indices, device), labels)
    }

    /// The stream batches are drawn from.
    pub fn batch_rng(&self) -> &SeededRng {
        &self.rng
    }

    /// Continues drawing batches from `rng`.
    pub fn set_batch_rng(&mut self, rng: SeededRng) {
        self.rng = rng;
    }
}

impl BatchSource<4> for ImageDataset {
    fn next_batch(&mut self, device: &Device) -> Result<Batch<4>> {
        let n = self.len();
        let picks = crate::data::draw_indices(&mut self.rng, n, self.batch_size);
        Ok(Batch {
            samples: self.tensor(&picks, device),
            labels: Some(picks.iter().map(|&i| self.label(i) as i64).collect()),
        })
    }
}
