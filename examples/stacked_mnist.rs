//! Self-conditioned DCGAN on Stacked-MNIST: three MNIST digits as R, G, B, 1,000 modes.
//!
//! `./scripts/fetch-mnist.sh && cargo run --release --example stacked_mnist -- --help`

use std::process::ExitCode;

use selfcond_gan_runner::image::{Benchmark, ImageArgs, run};
use selfcond_gan_runner::{alloc, report};

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    report(run(Benchmark::StackedMnist, ImageArgs::from_command_line()))
}
