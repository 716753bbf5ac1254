//! The optimiser the trainer builds for each network: Burn's Adam, whose update runs in one
//! pass per tensor on flex.

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;

#[cfg(feature = "flex")]
use crate::kernels::flex;

/// Adam with `beta_1`, `beta_2` and `epsilon` (learning rate per step) for a module on `device`:
/// Burn's own, or on flex for f32 tensors the same arithmetic in one pass, bit for bit, with
/// Burn's `AdamState` (so checkpoints do not depend on the backend's choice).
pub fn adam(beta_1: f32, beta_2: f32, epsilon: f32, device: &Device) -> ModuleOptimizer {
    let config = AdamConfig::new()
        .with_beta_1(beta_1)
        .with_beta_2(beta_2)
        .with_epsilon(epsilon);
    #[cfg(feature = "flex")]
    if flex::is_flex(device) {
        return ModuleOptimizer::from(FlexAdam {
            settings: [beta_1, beta_2, epsilon],
            burns: config.build(),
        });
    }
    let _ = device; // only flex has its own update
    config.init()
}

/// Adam whose f32 tensors on flex take the one-pass update; others take Burn's.
#[cfg(feature = "flex")]
#[derive(Clone)]
struct FlexAdam {
    /// `[beta_1, beta_2, epsilon]`.
    settings: [f32; 3],
    burns: burn::optim::Adam,
}

#[cfg(feature = "flex")]
impl burn::optim::Optimizer for FlexAdam {
    type State<const D: usize> = burn::optim::AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: burn::optim::LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !flex::is_flex_f32(&tensor) {
            return self.burns.step(lr, tensor, grad, state);
        }
        let (tensor, state) = flex::adam::step(self.settings, lr, tensor, grad, state);
        (tensor, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        burn::optim::Adam::to_device(state, device)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::host;
    use crate::kernels::flex::{is_flex, is_flex_f32};
    use crate::model::init;
    use crate::rng::{normal_tensor, seeded};
    use burn::nn::Linear;
    use burn::optim::GradientsParams;
    use burn::optim::{AdamConfig, ModuleOptimizer};

    /// Three steps of each optimiser from the same start and gradients.
    fn train(mut optim: ModuleOptimizer, device: &Device) -> Vec<Vec<f32>> {
        let mut model: Linear = init::linear(&mut seeded(1), 7, 5, device);
        for step in 0..3 {
            let x = normal_tensor(&mut seeded(10 + step), 4, 7, device);
            let loss = model.forward(x).powi_scalar(2).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
        let bias = model.bias.as_ref().map(|b| b.val()).into_iter();
        std::iter::once(model.weight.val().flatten::<1>(0, 1))
            .chain(bias)
            .map(|t| host::floats(t).unwrap())
            .collect()
    }

    #[test]
    fn flex_adam_gives_burns_adam_bit_for_bit() {
        let device = Device::default().autodiff();
        if !is_flex(&device) {
            return; // other backends run Burn's Adam itself
        }
        // The optimiser sees the parameters without autodiff: those must take the loop.
        let param = normal_tensor(&mut seeded(2), 3, 3, &device.clone().inner());
        assert!(
            is_flex_f32(&param),
            "the comparison below must not be Burn's against Burn's"
        );
        let (beta_1, beta_2, epsilon) = (0.8, 0.999, 1e-8);
        let burns = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .init();
        let expected = train(burns, &device);
        let ours = train(adam(beta_1, beta_2, epsilon, &device), &device);
        assert_eq!(ours, expected);
        assert_ne!(
            ours[0],
            train(AdamConfig::new().init(), &device)[0],
            "Adam's settings matter"
        );
    }
}
