//! Typed errors for every fallible operation of the crate.

use std::path::{Path, PathBuf};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when configuring, clustering or training.
///
/// Bad user input always comes back as one of these variants, never as a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration field is out of its valid range.
    #[error("invalid configuration: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// A data set or tensor that must hold at least one row is empty.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// Fewer points than clusters were given to k-means.
    #[error("cannot form {k} clusters from {points} points")]
    TooFewPoints {
        /// Requested number of clusters.
        k: usize,
        /// Points available.
        points: usize,
    },
    /// A metric needs more samples than it was given.
    #[error("{metric} needs at least {needed} samples in each set, got {got}")]
    TooFewSamples {
        /// The metric and the setting that asks for the samples.
        metric: &'static str,
        /// Samples needed.
        needed: usize,
        /// Samples in the smaller set.
        got: usize,
    },
    /// Two tensors or arrays that must agree in one dimension do not.
    #[error("dimension mismatch for {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was compared.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Size found.
        got: usize,
    },
    /// NaN or infinite values were found where finite numbers are required.
    #[error("{what} contains NaN or infinite values")]
    NonFinite {
        /// Where the values were found.
        what: &'static str,
    },
    /// A class label is outside `0..k`.
    #[error("label {label} is out of range for {k} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: i64,
        /// Number of classes.
        k: usize,
    },
    /// Supervised conditioning was asked for but the batch carried no labels.
    #[error("supervised conditioning needs ground-truth labels with every batch")]
    MissingLabels,
    /// A loss became NaN or infinite: training diverged.
    #[error(
        "training diverged at iteration {iteration}: {what} is not finite; {}",
        describe_checkpoint(last_checkpoint)
    )]
    Diverged {
        /// Iteration whose loss was read.
        iteration: usize,
        /// Which loss.
        what: &'static str,
        /// The newest checkpoint written before (left intact), if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// A run directory holds no checkpoint to resume from.
    #[error("no checkpoint to resume in {}: {reason}", dir.display())]
    NoCheckpoint {
        /// The run directory.
        dir: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// A checkpoint is truncated, corrupted or unreadable.
    #[error("checkpoint {} is corrupt: {reason}", path.display())]
    CorruptCheckpoint {
        /// The checkpoint (or pointer file).
        path: PathBuf,
        /// What failed to verify.
        reason: String,
    },
    /// A checkpoint was written in a format version this build does not read.
    #[error(
        "checkpoint {} has format version {found}; this build reads version {supported}",
        path.display()
    )]
    CheckpointVersion {
        /// The checkpoint.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// A checkpoint does not fit the models or data it is being loaded into.
    #[error("checkpoint {} does not match: {reason}", path.display())]
    CheckpointMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A device read-back failed.
    #[error("reading a tensor from the device failed: {0}")]
    Device(String),
    /// A data set's files are not where they were looked for.
    #[error("{} not found: {hint}", path.display())]
    MissingData {
        /// Where the data was looked for.
        path: PathBuf,
        /// How to obtain it.
        hint: String,
    },
    /// A data file is truncated, malformed or not what its name says.
    #[error("bad data file {}: {reason}", path.display())]
    BadDataFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// More semantic directions were asked for than the latent space has.
    #[error("asked for {requested} directions, but only {available} exist (the latent width)")]
    TooManyDirections {
        /// Directions asked for.
        requested: usize,
        /// Directions that exist.
        available: usize,
    },
    /// An input's shape does not fit the model (an image of the wrong size or channel count).
    #[error("{what}: the model takes {expected:?}, got {got:?}")]
    InputShape {
        /// What was checked.
        what: &'static str,
        /// Shape of one input the model takes.
        expected: Vec<usize>,
        /// Shape of one input given.
        got: Vec<usize>,
    },
    /// Data could not be written in a file format (a header too large for it, say).
    #[error("could not encode {format}: {reason}")]
    Encoding {
        /// The format.
        format: &'static str,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document could not be written or read.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// [`Error::InvalidConfig`] for the first of `fields` that is zero.
    pub(crate) fn require_positive(fields: &[(&'static str, usize)]) -> Result<()> {
        match fields.iter().find(|(_, value)| *value == 0) {
            Some(&(field, _)) => Err(Error::config(field, "must be at least 1")),
            None => Ok(()),
        }
    }

    /// A closure that turns an I/O error on `path` into [`Error::Io`].
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}

fn describe_checkpoint(path: &Option<PathBuf>) -> String {
    match path.as_deref().map(Path::display) {
        Some(path) => format!("the last good checkpoint, {path}, is intact"),
        None => "no checkpoint had been written".to_string(),
    }
}
