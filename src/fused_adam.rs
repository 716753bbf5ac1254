//! Burn's Adam in one pass per parameter tensor on flex.
//!
//! Burn's `Adam` runs about a dozen tensor operations per parameter tensor (scale, square, add,
//! square root, divide, ...), each a pass over the tensor. On flex this optimiser computes the
//! same arithmetic, in the same order and precision, in one loop (a Burn backend extension), so
//! its results are Burn's bit for bit: 2-8% off the DCGAN steps, no measurable change on the 2D
//! step (README, "Images"). Its state is Burn's `AdamState`, so checkpoints are unchanged. Other
//! backends and dtypes run Burn's `Adam` itself.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use rayon::prelude::*;

use crate::model::is_flex_f32;

#[backend_extension(Flex)]
trait FusedAdamBackend: burn::backend::Backend {
    /// `(param, moment_1, moment_2)` after one update with `grad`.
    #[allow(clippy::too_many_arguments)]
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        beta_1: f32,
        beta_2: f32,
        combined: f32,
        epsilon: f32,
        learning_rate: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl FusedAdamBackend for Flex {
    fn adam_update(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        beta_1: f32,
        beta_2: f32,
        combined: f32,
        epsilon: f32,
        learning_rate: f32,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let n = param.layout().shape().num_elements();
        let grad = grad.to_contiguous();
        let g = &grad.storage::<f32>()[grad.layout().start_offset()..][..n];
        let (mut param, mut moment_1, mut moment_2) =
            (owned(param), owned(moment_1), owned(moment_2));
        let (keep_1, keep_2) = (1.0 - beta_1, 1.0 - beta_2);
        // Burn's order of operations, one rounding per operation: the same bits.
        let update = |(((p, m), v), g): (((&mut f32, &mut f32), &mut f32), &f32)| {
            *m = *m * beta_1 + *g * keep_1;
            *v = *v * beta_2 + (*g * *g) * keep_2;
            let step = (*m * combined) / (v.sqrt() + epsilon);
            *p -= step * learning_rate;
        };
        let p = param.storage_mut::<f32>();
        let m = moment_1.storage_mut::<f32>();
        let v = moment_2.storage_mut::<f32>();
        if n < PARALLEL_ELEMENTS {
            p.iter_mut()
                .zip(m.iter_mut())
                .zip(v.iter_mut())
                .zip(g)
                .for_each(update);
        } else {
            p.par_iter_mut()
                .zip(m.par_iter_mut())
                .zip(v.par_iter_mut())
                .zip(g.par_iter())
                .with_min_len(PARALLEL_ELEMENTS)
                .for_each(update);
        }
        (param, moment_1, moment_2)
    }
}

/// Tensors below this size are updated on the calling thread.
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// `t` as a contiguous tensor at offset 0 whose buffer holds exactly its elements, ready to be
/// written in place (a copy only when `t` is a view or its buffer is shared, copied on write).
fn owned(t: FlexTensor) -> FlexTensor {
    let n = t.layout().shape().num_elements();
    match t.layout().contiguous_offsets() {
        Some((0, end)) if end == n && t.storage::<f32>().len() == n => t,
        _ => FlexTensor::from_data(t.into_data()),
    }
}

/// Adam with Burn's arithmetic and state, one pass per tensor on flex.
#[derive(Clone)]
pub(crate) struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Burn's own Adam, for other backends and dtypes.
    burns: Adam,
}

impl FusedAdam {
    /// An optimiser for a whole module.
    pub(crate) fn module_optimizer(beta_1: f32, beta_2: f32, epsilon: f32) -> ModuleOptimizer {
        let burns = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        ModuleOptimizer::from(Self {
            beta_1,
            beta_2,
            epsilon,
            burns,
        })
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !is_flex_f32(&tensor) {
            return self.burns.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(state) => (
                state.momentum.time,
                state.momentum.moment_1,
                state.momentum.moment_2,
            ),
            // Zero moments: `0 * beta + x` is exactly `x`, Burn's first step.
            None => (0, grad.zeros_like(), grad.zeros_like()),
        };
        let time = time + 1;
        // As Burn computes them, in f32.
        let bias_correction_2 = (1.0 - self.beta_2.powi(time as i32)).sqrt();
        let combined = bias_correction_2 / (1.0 - self.beta_1.powi(time as i32));
        let (param, moment_1, moment_2) = <Dispatch as FusedAdamBackend>::adam_update(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            self.beta_1,
            self.beta_2,
            combined,
            self.epsilon * bias_correction_2,
            lr as f32,
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        );
        (Tensor::from_dispatch(param), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Adam::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use crate::model::{init, is_flex};
    use crate::rng::{normal_tensor, seeded};
    use burn::nn::Linear;
    use burn::optim::GradientsParams;

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
    fn fused_adam_gives_burns_adam_bit_for_bit() {
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
        let ours = train(
            FusedAdam::module_optimizer(beta_1, beta_2, epsilon),
            &device,
        );
        assert_eq!(ours, expected);
        assert_ne!(
            ours[0],
            train(AdamConfig::new().init(), &device)[0],
            "Adam's settings matter"
        );
    }
}
