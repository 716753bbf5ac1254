//! Clustering on device and the matching of clusterings across refits.

pub mod kmeans;
pub mod matching;

pub use kmeans::{KMeansConfig, KMeansFit, KMeansInit, assign_nearest};
pub use matching::{Permutation, contingency, match_clusters};
