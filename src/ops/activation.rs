//! Activations: LeakyReLU and Maxout's max over pieces.

use burn::prelude::*;
use burn::tensor::activation::relu;

#[cfg(feature = "flex")]
use crate::kernels::flex;

/// LeakyReLU: `x` where `x >= 0`, `slope * x` below; the same values and input gradients as
/// Burn's `leaky_relu` (bit for bit, away from an input of exactly 0, where this gradient is 0).
///
/// Burn 0.22.1 differentiates its `leaky_relu` through a comparison mask and a masked select.
/// On an autodiff device this is written as `relu(x) - slope * relu(-x)` instead, whose
/// backward is two ReLU masks: forward + backward several times faster at the DCGAN
/// discriminators' shapes on flex (`docs/performance.md`). On flex, for a positive slope, one
/// pass each way gives the same values and gradients (the flex kernels). Without autodiff
/// Burn's single kernel is faster, and is used.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    if !x.device().is_autodiff() {
        return burn::tensor::activation::leaky_relu(x, slope);
    }
    #[cfg(feature = "flex")]
    if slope > 0.0 && flex::is_flex_f32(&x) {
        return flex::leaky_relu::leaky_relu(x, slope);
    }
    composite_leaky_relu(x, slope)
}

/// `relu(x) - slope * relu(-x)`.
fn composite_leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    relu(x.clone()) - relu(x.neg()).mul_scalar(slope)
}

/// Maxout's max over pieces: `[B, units * pieces]` (each unit's pieces adjacent) ->
/// `[B, units]`. On flex, f32 inputs take one kernel each way: the same values and gradients
/// without Burn's scatter in the backward pass.
pub fn maxout(linear: Tensor<2>, pieces: usize) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if flex::is_flex_f32(&linear) {
        return flex::maxout::max_over_pieces(linear, pieces);
    }
    let [batch, width] = linear.dims();
    let units = width / pieces.max(1);
    linear
        .reshape([batch, units, pieces])
        .max_dim(2)
        .reshape([batch, units])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::rng::seeded;

    #[test]
    fn leaky_relu_matches_burns_values_and_gradients_exactly() {
        let autodiff = Device::default().autodiff();
        for slope in [0.2, 0.1] {
            // Normal values: none is exactly 0, where the two gradients differ by definition.
            let x = crate::rng::normal_tensor(&mut seeded(5), 64, 50, &autodiff);
            let upstream = crate::rng::normal_tensor(&mut seeded(6), 64, 50, &autodiff);
            let run = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
                let input = x.clone().require_grad();
                let out = f(input.clone());
                let grads = (out.clone() * upstream.clone()).sum().backward();
                let grad = input.grad(&grads).unwrap();
                (host::floats(out).unwrap(), host::floats(grad).unwrap())
            };
            let ours = run(&|x| leaky_relu(x, slope));
            let burns = run(&|x| burn::tensor::activation::leaky_relu(x, slope));
            assert_eq!(ours, burns, "slope {slope}");
            assert!(ours.0.iter().any(|v| *v < 0.0) && ours.0.iter().any(|v| *v > 0.0));
            // Without autodiff: Burn's kernel, the same values.
            let plain = x.clone().inner();
            assert_eq!(host::floats(leaky_relu(plain, slope)).unwrap(), ours.0);
        }
    }

    /// Whether the device's arithmetic keeps subnormal floats instead of flushing them to 0.
    fn keeps_subnormals(device: &Device) -> bool {
        let tiny = Tensor::<1>::from_floats([f32::MIN_POSITIVE / 4.0], device).mul_scalar(0.5);
        host::floats(tiny).unwrap()[0] != 0.0
    }

    /// On flex the one-pass kernel gives the composite form's values and gradients bit for
    /// bit, zeros of either sign included (gradient 0 there), and inputs whose product with
    /// the slope underflows (value +0, gradient `g * slope`).
    #[test]
    fn leaky_relu_kernel_is_the_composite_form_zeros_included() {
        let autodiff = Device::default().autodiff();
        let x = crate::rng::normal_tensor(&mut seeded(7), 30, 40, &autodiff);
        let edges = Tensor::<2>::from_floats([[0.0, -0.0, -1e-45, 1e-45, 1.0, -1.0]], &autodiff)
            .pad((0, 34, 0, 0), burn::tensor::ops::PadMode::Constant(0.0));
        let x = Tensor::cat(vec![x, edges], 0).reshape([31, 4, 10]);
        let upstream =
            crate::rng::normal_tensor(&mut seeded(8), 31, 40, &autodiff).reshape([31, 4, 10]);
        let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let input = x.clone().require_grad();
            let out = f(input.clone());
            let grads = (out.clone() * upstream.clone()).sum().backward();
            let grad = input.grad(&grads).unwrap();
            let bits = |t: Tensor<3>| -> Vec<u32> {
                host::floats(t)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            (bits(out), bits(grad))
        };
        let ours = run(&|x| leaky_relu(x, 0.2));
        assert_eq!(ours, run(&|x| composite_leaky_relu(x, 0.2)));
        let edge_gradients = &ours.1[30 * 40..][..4];
        assert_eq!(&edge_gradients[..2], &[0, 0], "no gradient at ±0");
        // GPUs may flush subnormals to zero (NVIDIA's Vulkan driver does): there -1e-45 is 0.
        let subnormals = keeps_subnormals(&autodiff);
        #[cfg(feature = "flex")]
        assert!(
            subnormals || !flex::is_flex_f32(&x),
            "flex keeps subnormals"
        );
        if subnormals {
            assert_ne!(
                edge_gradients[2], 0,
                "-1e-45 * 0.2 underflows to -0 but has a gradient"
            );
        }
        // Untracked on an autodiff device: the same values.
        let untracked = host::floats(leaky_relu(x.clone(), 0.2)).unwrap();
        assert_eq!(
            untracked.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            ours.0
        );
    }
}
