//! Data sets, their readers and their evaluation metrics.

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod image_set;
pub mod mnist;
pub mod toy2d;

pub use cifar::{CifarImages, CifarSplit, read_cifar10};
pub use folder::{ImageFolder, read_image_folder};
pub use idx::{IdxArray, read_idx};
pub use image_set::ImageDataset;
pub use mnist::{Mnist, MnistSplit, StackedMnist, read_mnist};
pub use toy2d::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};
