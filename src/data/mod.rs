//! Data sets and their evaluation metrics.

pub mod toy2d;

pub use toy2d::{GaussianMixture2d, Toy2dDataset, Toy2dMetrics};
