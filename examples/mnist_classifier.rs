//! Trains (or loads from its cache) the MNIST classifier used for Stacked-MNIST mode counting,
//! and prints its test accuracy.
//!
//! `./scripts/fetch-mnist.sh && cargo run --release --example mnist_classifier`

use std::path::PathBuf;
use std::process::ExitCode;

use burn::prelude::*;
use clap::Parser;

/// Train or load the MNIST classifier and report its test accuracy.
#[derive(Parser)]
struct Args {
    /// Directory with the MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Where the trained classifier is cached.
    #[arg(long, default_value = "data/mnist-classifier.bpk")]
    classifier: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    selfcond_gan_runner::alloc::keep_freed_memory();
    let args = Args::parse();
    selfcond_gan_runner::report((|| {
        let device = Device::default();
        let (_, accuracy) = selfcond_gan_runner::classifier::load_or_train(
            &args.classifier,
            &args.data_dir,
            &device,
            args.quiet,
        )?;
        match accuracy {
            Some(a) => println!("MNIST test accuracy: {:.2}%", 100.0 * a),
            None => println!("no MNIST test files in {}", args.data_dir.display()),
        }
        Ok(())
    })())
}
