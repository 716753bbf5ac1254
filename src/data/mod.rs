//! Data sets, their readers and their evaluation metrics.

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod image_set;
pub mod mnist;
pub(crate) mod resize;
pub mod toy2d;

pub use cifar::{CifarImages, CifarSplit, read_cifar10};
pub use folder::{ImageFolder, read_image_folder};
pub use idx::{IdxArray, read_idx};
pub use image_set::ImageDataset;
pub use mnist::{Mnist, MnistSplit, StackedMnist, read_mnist};
pub use toy2d::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};

/// `count` indices drawn uniformly, with replacement, from `0..n`: how every data set here
/// draws its batches.
pub(crate) fn draw_indices(rng: &mut crate::rng::SeededRng, n: usize, count: usize) -> Vec<usize> {
    use rand::Rng;
    (0..count).map(|_| rng.random_range(0..n)).collect()
}
