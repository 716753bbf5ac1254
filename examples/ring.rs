//! Self-conditioned GAN on the 2D ring: 8 Gaussians on a circle.
//!
//! `cargo run --release --example ring -- --help`

use std::process::ExitCode;

use selfcond_gan::data::GaussianMixture2d;
use selfcond_gan_runner::report;
use selfcond_gan_runner::toy2d::{Toy2dArgs, run};

fn main() -> ExitCode {
    report(run(
        "ring",
        |args| GaussianMixture2d::ring(args.radius),
        Toy2dArgs::from_command_line(),
    ))
}
