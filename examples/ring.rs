//! Self-conditioned GAN on the 2D ring: 8 Gaussians on a circle.
//!
//! `cargo run --release --example ring -- --help`

mod common;

use std::process::ExitCode;

use clap::Parser;
use common::toy2d_run::{Toy2dArgs, run};
use selfcond_gan::data::GaussianMixture2d;

fn main() -> ExitCode {
    let args = Toy2dArgs::parse();
    common::report(
        GaussianMixture2d::ring(args.radius)
            .map_err(Into::into)
            .and_then(|ring| run("ring", ring, args)),
    )
}
