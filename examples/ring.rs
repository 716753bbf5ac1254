//! Self-conditioned GAN on the 2D ring: 8 Gaussians on a circle.
//!
//! `cargo run --release --example ring -- --help`

mod common;

use std::process::ExitCode;

use common::toy2d_run::{Toy2dArgs, run};
use selfcond_gan::data::GaussianMixture2d;

fn main() -> ExitCode {
    common::report(run(
        "ring",
        |args| GaussianMixture2d::ring(args.radius),
        Toy2dArgs::from_command_line(),
    ))
}
