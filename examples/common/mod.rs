//! Code shared by the example launchers: argument parsing, the 2D and image runs, plots.

// Each example compiles this whole module but uses only its own run.
#![allow(dead_code)]

pub mod alloc;
pub mod classifier;
pub mod image_run;
pub mod plot;
pub mod progress;
pub mod threads;
pub mod toy2d_run;

use std::process::ExitCode;

/// Prints an error as a sentence (not a Debug dump) and turns it into a failing exit code.
pub fn report(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
