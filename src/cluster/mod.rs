//! Clustering on device, the matching of clusterings across refits, and agreement metrics.

pub mod kmeans;
pub mod matching;
pub mod metrics;

pub use kmeans::{KMeansConfig, KMeansFit, KMeansInit, assign_nearest};
pub use matching::{Permutation, contingency, match_clusters};
pub use metrics::{ClusterAgreement, cluster_agreement};
