//! Self-conditioned GAN on the 2D grid: 25 Gaussians at (2i - 4, 2j - 4).
//!
//! `cargo run --release --example grid -- --help`

use std::process::ExitCode;

use selfcond_gan::data::GaussianMixture2d;
use selfcond_gan_runner::report;
use selfcond_gan_runner::toy2d::{Toy2dArgs, run};

fn main() -> ExitCode {
    report(run(
        "grid",
        |_| Ok(GaussianMixture2d::grid()),
        Toy2dArgs::from_command_line(),
    ))
}
