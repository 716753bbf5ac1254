//! Self-conditioned DCGAN-deep on CIFAR-10, from the official binary batches or an image folder
//! such as the JPEG copy (`mkdir -p data/cifar10 && tar xzf ../shared/data/cifar10-jpeg.tar.gz -C data/cifar10`).
//!
//! `cargo run --release --example cifar10 -- --data-dir data/cifar10/train --help`

mod common;

use std::process::ExitCode;

use common::image_run::{Benchmark, ImageArgs, run};

fn main() -> ExitCode {
    common::alloc::keep_freed_memory();
    common::report(run(Benchmark::Cifar10, ImageArgs::from_command_line()))
}
