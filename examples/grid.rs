//! Self-conditioned GAN on the 2D grid: 25 Gaussians at (2i - 4, 2j - 4).
//!
//! `cargo run --release --example grid -- --help`

mod common;

use std::process::ExitCode;

use common::toy2d_run::{Toy2dArgs, run};
use selfcond_gan::data::GaussianMixture2d;

fn main() -> ExitCode {
    common::report(run(
        "grid",
        |_| Ok(GaussianMixture2d::grid()),
        Toy2dArgs::from_command_line(),
    ))
}
