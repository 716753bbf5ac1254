//! Reading tensors back to the host. Each call synchronises the device, so callers keep them
//! off the per-step hot path.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use crate::error::{Error, Result};

/// All values of a float tensor, row-major.
pub fn floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Device(format!("{e:?}")))
}

/// All values of an integer tensor, row-major.
pub fn ints<const D: usize>(tensor: Tensor<D, Int>) -> Result<Vec<i64>> {
    tensor
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| Error::Device(format!("{e:?}")))
}

/// One float scalar.
pub fn scalar<const D: usize>(tensor: Tensor<D>) -> Result<f64> {
    floats(tensor)?
        .first()
        .map(|&v| v as f64)
        .ok_or(Error::Empty { what: "tensor" })
}

/// Errors with [`Error::NonFinite`] if any entry is NaN or infinite.
///
/// `x * 0` is 0 for finite entries and NaN otherwise, so one sum answers without overflow.
pub fn ensure_finite<const D: usize>(tensor: &Tensor<D>, what: &'static str) -> Result<()> {
    let probe = scalar(tensor.clone().mul_scalar(0.0).sum())?;
    if probe.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}

/// Every float parameter of `module`, flattened in visiting order. Running statistics are not
/// parameters and are left out. Meant for tests and checks, not hot paths.
pub fn parameter_values<M: Module>(module: &M) -> Result<Vec<f32>> {
    struct Collect {
        values: Vec<f32>,
        error: Option<Error>,
    }
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match floats(param.val()) {
                Ok(v) => self.values.extend(v),
                Err(e) => self.error = Some(e),
            }
        }
    }
    let mut collect = Collect {
        values: Vec::new(),
        error: None,
    };
    module.visit(&mut collect);
    match collect.error {
        Some(e) => Err(e),
        None => Ok(collect.values),
    }
}
