//! Where a DCGAN training iteration spends its time: every layer of G and D alone, forward and
//! forward + backward, at the shapes of a batch-64 iteration, plus the Adam steps. Layers run
//! through the same convolution paths as the models. `tools/compare_layer_profile.sh` prints
//! it beside the same measurement in PyTorch.
//!
//! `cargo run --release -p selfcond-gan-tools --bin layer_profile -- --width 64 --depth shallow|deep`

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::relu;
use clap::Parser;
use selfcond_gan::model::{DcganConfig, DcganDepth, init};
use selfcond_gan::ops::{conv_transpose2d, conv2d, leaky_relu};
use selfcond_gan::rng::{stream, uniform_tensor};
use selfcond_gan::{SelfCondConfig, TrainConfig};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Which discriminator: `shallow` (Stacked-MNIST) or `deep` (CIFAR-10).
    #[arg(long, default_value = "shallow", value_parser = ["shallow", "deep"])]
    depth: String,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 100)]
    k: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 7)]
    repeats: usize,
}

/// Median milliseconds of `f` over `repeats` runs after `warmup`, device synchronised.
fn median_ms(device: &Device, warmup: usize, repeats: usize, mut f: impl FnMut()) -> f64 {
    let mut times = Vec::with_capacity(repeats);
    for i in 0..warmup + repeats {
        device.sync().ok();
        let started = Instant::now();
        f();
        device.sync().ok();
        if i >= warmup {
            times.push(1e3 * started.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    selfcond_gan_runner::alloc::keep_freed_memory();
    let args = Args::parse();
    let device = Device::default().autodiff();
    let (w, b) = (args.width, args.batch);
    let mut rng = stream(0, 0);
    let report = |name: &str, forward: f64, both: f64| {
        println!(
            "{{\"layer\": \"{name}\", \"forward_ms\": {forward:.3}, \"forward_backward_ms\": {both:.3}}}"
        );
    };
    let time = |input: &Tensor<4>, layer: &dyn Fn(Tensor<4>) -> Tensor<4>| -> (f64, f64) {
        let forward = median_ms(&device, args.warmup, args.repeats, || {
            let _: f32 = layer(input.clone().detach()).sum().into_scalar();
        });
        let both = median_ms(&device, args.warmup, args.repeats, || {
            let x = input.clone().detach().require_grad();
            let _ = layer(x).sum().backward();
        });
        (forward, both)
    };

    // Generator: three transposed convolutions, each with BatchNorm + ReLU, then a 3x3 conv.
    let mut side = 4;
    for [from, to] in [[8 * w, 4 * w], [4 * w, 2 * w], [2 * w, w]] {
        let conv = init::conv_transpose2d(&mut rng, [from, to], 4, 2, 1, &device);
        let norm = init::batch_norm(to, &device);
        let x = uniform_tensor(&mut rng, [b, from, side, side], 1.0, &device);
        let (f, fb) = time(&x, &|x| conv_transpose2d(&conv, x));
        report(&format!("G conv_transpose {from}->{to} @{side}"), f, fb);
        let y = uniform_tensor(&mut rng, [b, to, 2 * side, 2 * side], 1.0, &device);
        let (f, fb) = time(&y, &|y| relu(norm.forward(y)));
        report(&format!("G batchnorm+relu {to} @{}", 2 * side), f, fb);
        side *= 2;
    }
    let out = init::conv2d(&mut rng, [w, 3], 3, 1, 1, &device);
    let x = uniform_tensor(&mut rng, [b, w, 32, 32], 1.0, &device);
    let (f, fb) = time(&x, &|x| conv2d(&out, x));
    report(&format!("G conv3x3 {w}->3 @32"), f, fb);

    let depth = if args.depth == "deep" {
        DcganDepth::Deep
    } else {
        DcganDepth::Shallow
    };
    match depth {
        // Four stride-2 convolutions with BatchNorm + LeakyReLU 0.2.
        DcganDepth::Shallow => {
            let mut side = 32;
            for [from, to] in [[3, w], [w, 2 * w], [2 * w, 4 * w], [4 * w, 8 * w]] {
                let conv = init::conv2d(&mut rng, [from, to], 4, 2, 1, &device);
                let norm = init::batch_norm(to, &device);
                let x = uniform_tensor(&mut rng, [b, from, side, side], 1.0, &device);
                let (f, fb) = time(&x, &|x| conv2d(&conv, x));
                report(&format!("D conv4x4s2 {from}->{to} @{side}"), f, fb);
                let y = uniform_tensor(&mut rng, [b, to, side / 2, side / 2], 1.0, &device);
                let (f, fb) = time(&y, &|y| leaky_relu(norm.forward(y), 0.2));
                report(&format!("D batchnorm+leaky {to} @{}", side / 2), f, fb);
                side /= 2;
            }
        }
        // Seven convolutions alternating 3x3 s1 and 4x4 s2, LeakyReLU 0.1, no normalisation.
        DcganDepth::Deep => {
            let mut side = 32;
            let layers = [
                ([3, w], 3, 1),
                ([w, w], 4, 2),
                ([w, 2 * w], 3, 1),
                ([2 * w, 2 * w], 4, 2),
                ([2 * w, 4 * w], 3, 1),
                ([4 * w, 4 * w], 4, 2),
                ([4 * w, 8 * w], 3, 1),
            ];
            for ([from, to], kernel, stride) in layers {
                let conv = init::conv2d(&mut rng, [from, to], kernel, stride, 1, &device);
                let x = uniform_tensor(&mut rng, [b, from, side, side], 1.0, &device);
                let (f, fb) = time(&x, &|x| conv2d(&conv, x));
                report(
                    &format!("D conv{kernel}x{kernel}s{stride} {from}->{to} @{side}"),
                    f,
                    fb,
                );
                side /= stride;
                let y = uniform_tensor(&mut rng, [b, to, side, side], 1.0, &device);
                let (f, fb) = time(&y, &|y| leaky_relu(y, 0.1));
                report(&format!("D leaky {to} @{side}"), f, fb);
            }
        }
    }

    // The optimiser: one Adam step on each full network.
    let models = DcganConfig::new(args.k).with_depth(depth).with_width(w);
    let g = models.init_generator(&mut rng, &device)?;
    let d = models.init_discriminator(&mut rng, &device)?;
    let ms = adam_step_ms(&device, &args, g.clone());
    report(&format!("adam step G ({} params)", g.num_params()), ms, ms);
    let ms = adam_step_ms(&device, &args, d.clone());
    report(&format!("adam step D ({} params)", d.num_params()), ms, ms);
    Ok(())
}

/// One Adam step of `module` with gradients of ones (the gradient computation is not timed),
/// by the optimiser training uses (on flex, the crate's one-pass Adam), with the DCGAN
/// examples' betas.
fn adam_step_ms<M: Module + Clone>(device: &Device, args: &Args, module: M) -> f64 {
    let config = TrainConfig::new(SelfCondConfig::new(args.k))
        .with_beta1(0.0)
        .with_beta2(0.99);
    let mut optimiser = config.adam(device);
    let mut module = module;
    let mut times = Vec::new();
    for i in 0..args.warmup + args.repeats {
        let grads = sum_of_parameters(&module).backward();
        let grads = GradientsParams::from_grads(grads, &module);
        device.sync().ok();
        let started = Instant::now();
        module = optimiser.step(1e-4, module, grads);
        device.sync().ok();
        if i >= args.warmup {
            times.push(1e3 * started.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn sum_of_parameters<M: Module>(module: &M) -> Tensor<1> {
    struct Sum(Option<Tensor<1>>);
    impl burn::module::ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let s = param.val().sum();
            self.0 = Some(match self.0.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
    let mut sum = Sum(None);
    module.visit(&mut sum);
    sum.0.expect("a module with parameters")
}
