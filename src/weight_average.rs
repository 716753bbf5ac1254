//! An exponential moving average of a module's weights, the generator's usual companion in GAN
//! training: samples come from the average, which does not swing with each step's gradient.
//!
//! After every update `average = decay * average + (1 - decay) * live`, for every float tensor
//! of the module, BatchNorm's running statistics included. The average lives on the live
//! module's inference device, outside any autodiff graph.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::error::{Error, Result};

/// The averaged copy of a module and its decay.
#[derive(Debug, Clone)]
pub(crate) struct WeightAverage<M> {
    average: M,
    decay: f64,
}

impl<M: Module + Clone> WeightAverage<M> {
    /// Starts the average at `live`'s current weights. `decay` must lie in `[0, 1)`.
    pub fn new(live: &M, decay: f64) -> Result<Self> {
        check_decay(decay)?;
        Ok(Self {
            average: live.valid(),
            decay,
        })
    }

    /// Resumes an average saved earlier (`average` on the inference device).
    pub fn from_average(average: M, decay: f64) -> Result<Self> {
        check_decay(decay)?;
        Ok(Self { average, decay })
    }

    /// The averaged module.
    pub fn module(&self) -> &M {
        &self.average
    }

    /// Moves the average towards `live`'s weights by `1 - decay`.
    pub fn update(&mut self, live: &M) -> Result<()> {
        let mut tensors = Tensors(Vec::new());
        live.valid().visit(&mut tensors);
        let count = tensors.0.len();
        // Tensors pair up by position: both modules have the same structure, and a module's
        // `visit` and `map` walk its fields in the same order.
        let mut blend = Blend {
            live: tensors.0.into_iter(),
            decay: self.decay,
            mismatch: false,
        };
        let average = self.average.clone().map(&mut blend);
        if blend.mismatch || blend.live.next().is_some() {
            return Err(Error::DimensionMismatch {
                what: "averaged module vs live module tensors",
                expected: self.average.num_params(),
                got: count,
            });
        }
        self.average = average;
        Ok(())
    }
}

/// Rejects a decay outside `[0, 1)`.
pub(crate) fn check_decay(decay: f64) -> Result<()> {
    if (0.0..1.0).contains(&decay) {
        Ok(())
    } else {
        Err(Error::config("ema_decay", "must lie in [0, 1)"))
    }
}

/// Every float tensor of a module, flattened, in visiting order.
struct Tensors(Vec<Tensor<1>>);

impl ModuleVisitor for Tensors {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let count = value.shape().num_elements();
        self.0.push(value.reshape([count]));
    }
}

/// Blends each float tensor of the average with the live one at the same position.
struct Blend<I> {
    live: I,
    decay: f64,
    mismatch: bool,
}

impl<I: Iterator<Item = Tensor<1>>> ModuleMapper for Blend<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let live = self.live.next();
        let decay = self.decay;
        let mismatch = &mut self.mismatch;
        param.map(|average| match live {
            Some(live) if live.shape().num_elements() == average.shape().num_elements() => {
                let shape = average.shape();
                average * decay + live.reshape(shape) * (1.0 - decay)
            }
            _ => {
                *mismatch = true;
                average
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatchNorm, Toy2dModelConfig};
    use crate::rng::stream;
    use burn::nn::LinearConfig;

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn each_update_moves_the_average_by_one_minus_decay() {
        let device = Device::default();
        let start = LinearConfig::new(3, 2).init(&device);
        let mut average = WeightAverage::new(&start, 0.75).unwrap();
        let live = LinearConfig::new(3, 2).init(&device);
        average.update(&live).unwrap();
        average.update(&live).unwrap();
        // Two steps towards a fixed target leave 0.75^2 of the gap.
        let (a, s, l) = (
            values(average.module().weight.val()),
            values(start.weight.val()),
            values(live.weight.val()),
        );
        for ((a, s), l) in a.iter().zip(&s).zip(&l) {
            let expected = l + 0.5625 * (s - l);
            assert!((a - expected).abs() < 1e-6, "{a} against {expected}");
        }
        // The live module is untouched.
        assert_eq!(values(live.weight.val()), l);
    }

    #[test]
    fn running_statistics_are_averaged_too() {
        let device = Device::default().autodiff();
        let norm = BatchNorm::new(2, &device);
        let mut average = WeightAverage::new(&norm, 0.5).unwrap();
        // One training pass moves the running mean away from 0.
        let x = Tensor::<2>::from_data([[1.0, 3.0], [3.0, 5.0]], &device);
        let _ = norm.forward(x);
        average.update(&norm).unwrap();
        let live = values(norm.valid().running_mean.value());
        let averaged = values(average.module().running_mean.value());
        assert!(live.iter().all(|v| *v != 0.0));
        for (a, l) in averaged.iter().zip(&live) {
            assert!((a - 0.5 * l).abs() < 1e-6, "{a} against half of {l}");
        }
    }

    #[test]
    fn a_decay_outside_zero_to_one_is_refused() {
        let device = Device::default();
        let model = Toy2dModelConfig::new(4)
            .init_generator(&mut stream(0, 0), &device)
            .unwrap();
        for decay in [1.0, -0.1, f64::NAN, 2.0] {
            assert!(matches!(
                WeightAverage::new(&model, decay),
                Err(Error::InvalidConfig { .. })
            ));
        }
        assert!(WeightAverage::new(&model, 0.0).is_ok());
    }
}
