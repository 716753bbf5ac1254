//! Burn's Adam update in one pass per parameter tensor on flex.
//!
//! Burn's `Adam` runs about a dozen tensor operations per parameter tensor (scale, square, add,
//! square root, divide, ...), each a pass over the tensor. This step computes the same
//! arithmetic, in the same order and precision, in one loop (a Burn backend extension), so its
//! results are Burn's bit for bit (`docs/performance.md` says what it gains). Its state is
//! Burn's `AdamState`, so checkpoints are unchanged.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate};
use burn::prelude::*;
use rayon::prelude::*;

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

/// One Adam step of an f32 tensor on flex with Burn's settings `beta_1`, `beta_2`, `epsilon`:
/// the updated tensor and state, Burn's bit for bit.
pub(crate) fn step<const D: usize>(
    [beta_1, beta_2, epsilon]: [f32; 3],
    lr: LearningRate,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdamState<D>>,
) -> (Tensor<D>, AdamState<D>) {
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
    let bias_correction_2 = (1.0 - beta_2.powi(time as i32)).sqrt();
    let combined = bias_correction_2 / (1.0 - beta_1.powi(time as i32));
    let (param, moment_1, moment_2) = <Dispatch as FusedAdamBackend>::adam_update(
        tensor.into_dispatch(),
        grad.into_dispatch(),
        moment_1.into_dispatch(),
        moment_2.into_dispatch(),
        beta_1,
        beta_2,
        combined,
        epsilon * bias_correction_2,
        lr as f32,
    );
    let momentum = AdaptiveMomentumState::new(
        time,
        Tensor::from_dispatch(moment_1),
        Tensor::from_dispatch(moment_2),
    );
    (Tensor::from_dispatch(param), AdamState::new(momentum))
}
