//! The run code behind selfcond-gan's examples: each example is a short launcher over one of
//! these runs. The library never prints; this crate draws the progress bars, writes the
//! pictures and the `metrics.json` of a run, and turns errors into sentences.
//!
//! - [`toy2d`]: the 2D ring and grid (Table 1 of the paper);
//! - [`image`]: Stacked-MNIST and CIFAR-10 with the DCGANs;
//! - [`evaluation`]: every metric of finished runs, one table row per setting (`evaluate`),
//!   and where the images compared come from (also `fid`);
//! - [`options`]: argument checks with the flag's name, and how a resumed run merges the
//!   command line with its saved settings;
//! - [`training`]: the training loop in stretches between checkpoints;
//! - [`alloc`], [`threads`]: process-wide settings a program (never the library) chooses;
//! - [`progress`], [`plot`], [`classifier`]: progress bars, scatter plots, the MNIST classifier.

pub mod alloc;
pub mod classifier;
pub mod evaluation;
pub mod image;
pub mod options;
pub mod plot;
pub mod progress;
pub mod threads;
pub mod toy2d;
pub mod training;

use std::path::Path;
use std::process::ExitCode;

/// What a run returns: any error becomes one line on stderr.
pub type RunResult = Result<(), Box<dyn std::error::Error>>;

/// Prints an error as a sentence (not a Debug dump) and turns it into a failing exit code.
pub fn report(result: RunResult) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An I/O error that names the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathError {
    /// The file or directory.
    pub path: std::path::PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// Creates `dir` and its parents, with an error that names it.
pub fn create_dir(dir: &Path) -> Result<(), PathError> {
    std::fs::create_dir_all(dir).map_err(|source| PathError {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON to `path`, with an error that names it.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> RunResult {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).map_err(|source| PathError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}
