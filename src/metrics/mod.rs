//! Evaluation of generated images: the MNIST classifier the crate trains itself,
//! Stacked-MNIST mode counting with it, FID with the standard Inception weights, and the
//! sample-based metrics on the same features: the Inception Score, KID, precision / recall,
//! density / coverage.

mod features;
pub mod fid;
pub mod inception_score;
pub mod kid;
pub mod mnist_classifier;
pub mod prdc;
pub mod stacked_modes;

pub use features::Features;
pub use inception_score::{InceptionLogits, InceptionScore, InceptionScoreConfig, inception_score};
pub use kid::{Kid, KidConfig, kernel_inception_distance};
pub use prdc::{NearestNeighbourMetrics, nearest_neighbour_metrics};

pub use mnist_classifier::{ClassifierTraining, MnistClassifier};
pub use stacked_modes::{StackedModes, count_stacked_modes};
