//! Self-conditioned GAN on the 2D ring: 8 Gaussians on a circle.
//!
//! `cargo run --release --example ring -- --help`

mod common;

use clap::Parser;
use common::toy2d_run::{Toy2dArgs, run};
use selfcond_gan::data::GaussianMixture2d;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Toy2dArgs::parse();
    let ring = GaussianMixture2d::ring(args.radius)?;
    run("ring", ring, args)
}
