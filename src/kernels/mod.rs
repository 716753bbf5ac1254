//! The crate's own kernels, one tree per backend. Only [`crate::ops`] calls them: it decides,
//! per operation and shape, whether Burn's kernel or ours runs.

#[cfg(feature = "flex")]
pub(crate) mod flex;
