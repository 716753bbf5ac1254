//! Self-conditioned DCGAN on Stacked-MNIST: three MNIST digits as R, G, B, 1,000 modes.
//!
//! `./scripts/fetch-mnist.sh && cargo run --release --example stacked_mnist -- --help`

mod common;

use std::process::ExitCode;

use common::image_run::{Benchmark, ImageArgs, run};

fn main() -> ExitCode {
    common::alloc::keep_freed_memory();
    common::report(run(Benchmark::StackedMnist, ImageArgs::from_command_line()))
}
