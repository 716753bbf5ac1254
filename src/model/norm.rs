//! Batch normalisation that takes its statistics where the data lie.
//!
//! Burn 0.22.1's `batch_norm_train` moves the channel axis to the front (a transposed copy of
//! the whole activation) before each of its reductions, forward and backward, and on flex those
//! copies cost more than the arithmetic. Here `[N, C, ...]` is viewed as `[N, C, L]` (free for a
//! contiguous tensor) and reduced over `L`, then over `N`; the gradients come from autodiff.
//! Forward + backward is faster than Burn's layer on the shapes of this crate's models
//! (`docs/performance.md`). On flex, images go one step further: one kernel each way
//! ([`crate::ops::batch_norm_train`]).
//!
//! The module is field for field Burn's `BatchNorm` (same names, same record), so checkpoints
//! written with either load into the other, and the semantics are the same: batch statistics on
//! an autodiff device while `training` is enabled, the running statistics otherwise, a running
//! variance that is the biased batch variance, momentum 0.1 and epsilon 1e-5 by default.

use burn::module::{Flag, Module, Param, RunningState};
use burn::prelude::*;

use crate::ops;
use crate::ops::batch_norm::per_channel;

/// Batch normalisation over the channel axis (dimension 1) of `[N, C, ...]`.
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Per-channel scale, initialised to 1.
    pub gamma: Param<Tensor<1>>,
    /// Per-channel shift, initialised to 0.
    pub beta: Param<Tensor<1>>,
    /// Whether the layer normalises with batch statistics (and updates the running ones) on an
    /// autodiff device. Disabled when the layer is frozen.
    pub training: Param<Flag>,
    /// Exponential moving average of the batch means.
    pub running_mean: RunningState<Tensor<1>>,
    /// Exponential moving average of the (biased) batch variances.
    pub running_var: RunningState<Tensor<1>>,
    /// Weight of the newest batch in the running statistics.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

impl BatchNorm {
    /// A layer over `channels` with PyTorch's defaults: gamma 1, beta 0, running mean 0,
    /// running variance 1, momentum 0.1, epsilon 1e-5.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            training: Param::from_bool(true),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalises `[N, C, ...]`; the output has the input's shape.
    ///
    /// # Panics
    ///
    /// When the input has fewer than two dimensions or `C` is not the layer's channel count,
    /// as Burn's layers do on a shape that does not fit them.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let expected = self.gamma.dims()[0];
        assert!(
            D >= 2 && dims[1] == expected,
            "BatchNorm over {expected} channels got a tensor of shape {dims:?}"
        );
        let (batch, channels) = (dims[0], dims[1]);
        let per_sample = dims[2..].iter().product::<usize>();
        let x = input.reshape([batch, channels, per_sample]);
        let out = if x.device().is_autodiff() && self.training.is_enabled() {
            self.forward_train(x)
        } else {
            self.forward_inference(x)
        };
        out.reshape(dims)
    }

    fn forward_train(&self, x: Tensor<3>) -> Tensor<3> {
        let device = x.device();
        let (out, mean, variance) =
            ops::batch_norm_train(x, self.gamma.val(), self.beta.val(), self.epsilon);
        let momentum = self.momentum;
        let update = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
            let running = state.value_sync().to_device(&device);
            state.update(
                (running.mul_scalar(1.0 - momentum) + batch.detach().mul_scalar(momentum)).detach(),
            );
        };
        update(&self.running_mean, mean);
        update(&self.running_var, variance);
        out
    }

    fn forward_inference(&self, x: Tensor<3>) -> Tensor<3> {
        let device = x.device();
        let mean = self.running_mean.value().to_device(&device);
        let variance = self.running_var.value().to_device(&device);
        // Fold the statistics into one scale and shift per channel: two passes over `x`.
        let scale = self.gamma.val() * variance.add_scalar(self.epsilon).sqrt().recip();
        let shift = self.beta.val() - mean * scale.clone();
        x * per_channel(scale) + per_channel(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::rng::{seeded, uniform_tensor};

    /// Burn's layer with the same parameters and running statistics as `ours`.
    fn burn_twin(ours: &BatchNorm) -> burn::nn::BatchNorm {
        let channels = ours.gamma.dims()[0];
        let device = ours.gamma.device();
        let mut twin = burn::nn::BatchNormConfig::new(channels).init(&device);
        twin.gamma = Param::from_tensor(ours.gamma.val());
        twin.beta = Param::from_tensor(ours.beta.val());
        twin.running_mean = RunningState::new(ours.running_mean.value());
        twin.running_var = RunningState::new(ours.running_var.value());
        twin
    }

    fn assert_close(a: Tensor<1>, b: Tensor<1>, tolerance: f32, what: &str) {
        let (a, b) = (host::floats(a).unwrap(), host::floats(b).unwrap());
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tolerance * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// Training and inference outputs, the input, gamma and beta gradients and the running
    /// statistics after two training passes all match Burn's `BatchNorm`, for points and images.
    fn matches_burn<const D: usize>(shape: [usize; D]) {
        let device = Device::default().autodiff();
        let mut rng = seeded(7);
        let channels = shape[1];
        let mut ours = BatchNorm::new(channels, &device);
        ours.gamma =
            Param::from_tensor(uniform_tensor(&mut rng, [channels], 1.0, &device).add_scalar(1.5));
        ours.beta = Param::from_tensor(uniform_tensor(&mut rng, [channels], 1.0, &device));
        let burn = burn_twin(&ours);
        let x = uniform_tensor(&mut rng, shape, 2.0, &device).add_scalar(0.7);
        let weights = uniform_tensor(&mut rng, shape, 1.0, &device);

        for _ in 0..2 {
            let xa = x.clone().detach().require_grad();
            let xb = x.clone().detach().require_grad();
            let ya = ours.forward(xa.clone());
            let yb = burn.forward(xb.clone());
            assert_close(
                ya.clone().flatten(0, D - 1),
                yb.clone().flatten(0, D - 1),
                1e-5,
                "output",
            );
            let ga = (ya * weights.clone()).sum().backward();
            let gb = (yb * weights.clone()).sum().backward();
            let grad = |t: &Tensor<D>, g| t.grad(g).unwrap().flatten::<1>(0, D - 1);
            assert_close(grad(&xa, &ga), grad(&xb, &gb), 1e-4, "input gradient");
            let gamma = |m: &Param<Tensor<1>>, g| m.val().grad(g).unwrap();
            assert_close(
                gamma(&ours.gamma, &ga),
                gamma(&burn.gamma, &gb),
                1e-4,
                "gamma gradient",
            );
            assert_close(
                gamma(&ours.beta, &ga),
                gamma(&burn.beta, &gb),
                1e-4,
                "beta gradient",
            );
        }
        assert_close(
            ours.running_mean.value(),
            burn.running_mean.value(),
            1e-5,
            "running mean",
        );
        assert_close(
            ours.running_var.value(),
            burn.running_var.value(),
            1e-5,
            "running variance",
        );

        let inner = x.inner();
        let (ours, burn) = (ours.valid(), burn.valid());
        assert_close(
            ours.forward(inner.clone()).flatten(0, D - 1),
            burn.forward(inner).flatten(0, D - 1),
            1e-5,
            "inference output",
        );
    }

    #[test]
    fn matches_burns_batch_norm_on_points() {
        matches_burn([32, 6]);
    }

    /// Images take the flex kernel there: 30 and 64 pixels cover a partial and only whole
    /// 16-lane chunks of its sums.
    #[test]
    fn matches_burns_batch_norm_on_images() {
        matches_burn([4, 3, 5, 6]);
        matches_burn([3, 4, 8, 8]);
    }

    #[test]
    fn a_disabled_layer_normalises_with_its_running_statistics_and_keeps_them() {
        let device = Device::default().autodiff();
        let mut layer = BatchNorm::new(2, &device);
        layer.running_mean = RunningState::new(Tensor::from_floats([1.0, -2.0], &device));
        layer.running_var = RunningState::new(Tensor::from_floats([4.0, 0.25], &device));
        layer.training = Param::from_bool(false);
        let x = Tensor::<2>::from_floats([[3.0, -2.0], [1.0, -1.5]], &device);
        let y = host::floats(layer.forward(x)).unwrap();
        let eps = 1e-5f32;
        let expected = [
            2.0 / (4.0 + eps).sqrt(),
            0.0,
            0.0,
            0.5 / (0.25 + eps).sqrt(),
        ];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(
            host::floats(layer.running_mean.value()).unwrap(),
            [1.0, -2.0]
        );
    }
}
