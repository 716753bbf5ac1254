//! Batch normalisation's training pass: batch statistics and the normalised activation.

use burn::prelude::*;

#[cfg(feature = "flex")]
use crate::kernels::flex;

/// The normalised `[N, C, L]` and the batch mean and biased variance `[C]`, for a layer with
/// scale `gamma`, shift `beta` and `epsilon`. The reductions run over `L`, then `N` (the
/// contiguous axis first, with no transposed copy). On flex, f32 images (`L > 1`) take one
/// kernel each way; points keep the tensor operations, so the 2D model's runs stay bit for bit
/// what they were.
pub fn batch_norm_train(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
    #[cfg(feature = "flex")]
    if x.dims()[2] > 1 && flex::is_flex_f32(&x) {
        let (out, statistics) = flex::batch_norm::batch_norm_train(x, gamma, beta, epsilon);
        let channels = statistics.dims()[1];
        let [mean, variance] =
            [0, 1].map(|row| statistics.clone().narrow(0, row, 1).reshape([channels]));
        return (out, mean, variance);
    }
    let mean = channel_mean(x.clone());
    let centered = x - mean.clone();
    let variance = channel_mean(centered.clone().square());
    let scale = per_channel(gamma) * variance.clone().add_scalar(epsilon).sqrt().recip();
    let out = centered * scale + per_channel(beta);
    let flat = |t: Tensor<3>| t.flatten::<1>(0, 2);
    (out, flat(mean), flat(variance))
}

/// `[C]` -> `[1, C, 1]`, to broadcast over `[N, C, L]`.
pub(crate) fn per_channel(values: Tensor<1>) -> Tensor<3> {
    let channels = values.dims()[0];
    values.reshape([1, channels, 1])
}

/// Mean of `[N, C, L]` over `N` and `L`, as `[1, C, 1]`: the contiguous axis first.
fn channel_mean(x: Tensor<3>) -> Tensor<3> {
    let [_, _, per_sample] = x.dims();
    // Points (`[N, C]`) skip the size-1 reduction: one operation fewer on the 2D hot path.
    if per_sample == 1 {
        x.mean_dim(0)
    } else {
        x.mean_dim(2).mean_dim(0)
    }
}
