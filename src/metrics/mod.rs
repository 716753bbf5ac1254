//! Evaluation of generated images: the MNIST classifier the crate trains itself,
//! Stacked-MNIST mode counting with it, and FID with the standard Inception weights.

pub mod fid;
pub mod mnist_classifier;
pub mod stacked_modes;

pub use mnist_classifier::{ClassifierTraining, MnistClassifier};
pub use stacked_modes::{StackedModes, count_stacked_modes};
