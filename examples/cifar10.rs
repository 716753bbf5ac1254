//! Self-conditioned DCGAN-deep on CIFAR-10, from the official binary batches
//! (`cifar-10-binary.tar.gz` from the data set's home page, unpacked so that `--data-dir` holds
//! `data_batch_1.bin` ...) or from any folder of class folders of images.
//!
//! `cargo run --release --example cifar10 -- --data-dir data/cifar10/train --help`

use std::process::ExitCode;

use selfcond_gan_runner::image::{Benchmark, ImageArgs, run};
use selfcond_gan_runner::{alloc, report};

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    report(run(Benchmark::Cifar10, ImageArgs::from_command_line()))
}
