//! Every metric that applies to finished runs of one setting (seeds): `evaluation.json` in each
//! run directory and a Markdown table row with mean +- standard deviation over the runs.
//!
//! ```text
//! ./scripts/fetch-fid-weights.sh
//! cargo run --release --example evaluate -- runs/cifar10-selfconditioned-seed0 \
//!     runs/cifar10-selfconditioned-seed1 --real cifar10-train --table cifar10.md
//! ```
//!
//! 2D runs get modes, high-quality fraction and reverse KL; Stacked-MNIST runs modes and
//! reverse KL with the MNIST classifier; image runs FID, IS (given pytorch-fid's weights:
//! `--is-weights`, `$SELFCOND_IS_WEIGHTS` or beside the FID weights), KID, precision / recall and density / coverage on the Inception features;
//! self-conditioned runs the NMI, purity and ARI their training recorded. Real features are
//! cached per data set. `--help` lists every option.

use std::process::ExitCode;

use clap::Parser;
use selfcond_gan_runner::evaluation::{EvaluateArgs, run};
use selfcond_gan_runner::{alloc, report};

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    report(run(EvaluateArgs::parse()))
}
