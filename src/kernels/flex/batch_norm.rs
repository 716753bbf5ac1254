//! BatchNorm's training pass in two passes over the activation each way, for Burn's flex
//! backend.
//!
//! `norm::BatchNorm` on `[N, C, L]` runs about a dozen flex operations forward and as many
//! backward (mean, centring, square, mean, scale, shift, and their gradients), each a pass over
//! the activation that allocates a tensor. Here, per channel, the forward pass takes the mean
//! and the biased variance (two passes, the second over the centred values as the composite
//! form does) and writes the output in a third; the backward pass takes the sums of `dy` and
//! `dy * x_hat` in one pass and writes the input gradient in another:
//!
//! `dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat))`.
//!
//! Sums run over 16 lanes so they vectorise (a plain `+=` loop cannot be reordered by the
//! compiler), in a fixed order, so results are deterministic. They are not the composite
//! form's bit for bit (its sums run in another order); values and gradients agree to float
//! rounding (tested).
//!
//! A Burn backend extension: `Autodiff<Flex>` records the op with its backward pass, `Flex`
//! runs the forward pass alone. The batch statistics come back beside the output, untracked,
//! for the running averages.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

/// Batch normalisation of `[N, C, L]` with batch statistics.
#[backend_extension(Autodiff, Flex)]
pub trait BatchNormTrain: burn::backend::Backend {
    /// `x: [n, c, l]`, `gamma`, `beta`: `[c]` -> the output `[n, c, l]` and the batch mean and
    /// biased variance as `[2, c]` (not tracked).
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Lanes of the vectorised sums.
const LANES: usize = 16;

/// What the backward pass needs: the input and, per channel, the mean and `1 / sigma`.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    gamma: Vec<f32>,
    mean: Vec<f32>,
    inverse_sigma: Vec<f32>,
}

impl BatchNormTrain for Flex {
    fn batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f32,
    ) -> (FlexTensor, FlexTensor) {
        let (output, statistics, _) = forward(&x, &values(&gamma), &values(&beta), epsilon);
        (output, statistics)
    }
}

impl<C: CheckpointStrategy> BatchNormTrain for Autodiff<Flex, C> {
    fn batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (gamma_values, beta_values) = (values(gamma.primitive()), values(beta.primitive()));
        let (output, statistics, saved) =
            forward(x.primitive(), &gamma_values, &beta_values, epsilon);
        // A fresh, untracked tensor: the statistics only feed the running averages.
        // (Flex has one device, the CPU.)
        let statistics = Self::float_from_data(statistics.into_data(), &Default::default());
        let output = match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(saved, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        (output, statistics)
    }
}

/// The values of a rank-1 tensor.
fn values(t: &FlexTensor) -> Vec<f32> {
    let t = t.to_contiguous();
    let count = t.layout().shape().num_elements();
    t.storage::<f32>()[t.layout().start_offset()..][..count].to_vec()
}

/// `sum(f(a[i], b[i]))` over 16 lanes, then across them.
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += f(a[lane], b[lane]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Channel `channel`'s rows of `[n, c, l]` values: one per image.
fn rows(values: &[f32], [n, c, l]: [usize; 3], channel: usize) -> impl Iterator<Item = &[f32]> {
    (0..n).map(move |image| &values[(image * c + channel) * l..][..l])
}

fn forward(
    x: &FlexTensor,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
) -> (FlexTensor, FlexTensor, Saved) {
    let x = x.to_contiguous();
    let dims = x.layout().shape().dims::<3>();
    let [n, c, l] = dims;
    let input = &x.storage::<f32>()[x.layout().start_offset()..][..n * c * l];
    let count = (n * l) as f32;
    let (mean, variance): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|channel| {
            let sum: f32 = rows(input, dims, channel)
                .map(|row| lane_sum(row, row, |x, _| x))
                .sum();
            let mean = sum / count;
            let squares: f32 = rows(input, dims, channel)
                .map(|row| lane_sum(row, row, |x, _| (x - mean) * (x - mean)))
                .sum();
            (mean, squares / count)
        })
        .unzip();
    let inverse_sigma: Vec<f32> = variance
        .iter()
        .map(|v| (v + epsilon).sqrt().recip())
        .collect();
    let mut out = vec![0f32; n * c * l];
    out.par_chunks_mut(l.max(1))
        .zip(input.par_chunks(l.max(1)))
        .enumerate()
        .for_each(|(plane, (out, input))| {
            let channel = plane % c;
            let (mean, shift) = (mean[channel], beta[channel]);
            let scale = gamma[channel] * inverse_sigma[channel];
            for (out, &x) in out.iter_mut().zip(input) {
                *out = (x - mean) * scale + shift;
            }
        });
    let mut statistics = mean.clone();
    statistics.extend_from_slice(&variance);
    let output = FlexTensor::from_data(TensorData::new(out, [n, c, l]));
    let statistics = FlexTensor::from_data(TensorData::new(statistics, [2, c]));
    let saved = Saved {
        x,
        gamma: gamma.to_vec(),
        mean,
        inverse_sigma,
    };
    (output, statistics, saved)
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let saved = ops.state;
        let dims = saved.x.layout().shape().dims::<3>();
        let [n, c, l] = dims;
        let upstream = &grad.storage::<f32>()[grad.layout().start_offset()..][..n * c * l];
        let input = &saved.x.storage::<f32>()[saved.x.layout().start_offset()..][..n * c * l];
        // Per channel: sum(dy) and sum(dy * x_hat).
        let (grad_beta, grad_gamma): (Vec<f32>, Vec<f32>) = (0..c)
            .into_par_iter()
            .map(|channel| {
                let (mean, inverse_sigma) = (saved.mean[channel], saved.inverse_sigma[channel]);
                let (sum, centred_dot) = rows(upstream, dims, channel)
                    .zip(rows(input, dims, channel))
                    .fold((0f32, 0f32), |(sum, dot), (dy, x)| {
                        let centred_dot = lane_sum(dy, x, |dy, x| dy * (x - mean));
                        (sum + lane_sum(dy, dy, |dy, _| dy), dot + centred_dot)
                    });
                (sum, centred_dot * inverse_sigma)
            })
            .unzip();
        if let Some(node) = node_x {
            let count = (n * l) as f32;
            let mut dx = vec![0f32; n * c * l];
            dx.par_chunks_mut(l.max(1))
                .zip(
                    upstream
                        .par_chunks(l.max(1))
                        .zip(input.par_chunks(l.max(1))),
                )
                .enumerate()
                .for_each(|(plane, (dx, (dy, x)))| {
                    let channel = plane % c;
                    let (mean, inverse_sigma) = (saved.mean[channel], saved.inverse_sigma[channel]);
                    let scale = saved.gamma[channel] * inverse_sigma;
                    let mean_dy = grad_beta[channel] / count;
                    let mean_dy_x_hat = grad_gamma[channel] / count;
                    for ((dx, &dy), &x) in dx.iter_mut().zip(dy).zip(x) {
                        let x_hat = (x - mean) * inverse_sigma;
                        *dx = scale * (dy - mean_dy - x_hat * mean_dy_x_hat);
                    }
                });
            let dx = FlexTensor::from_data(TensorData::new(dx, [n, c, l]));
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            let tensor = FlexTensor::from_data(TensorData::new(grad_gamma, [c]));
            grads.register::<Flex>(node.id, tensor);
        }
        if let Some(node) = node_beta {
            let tensor = FlexTensor::from_data(TensorData::new(grad_beta, [c]));
            grads.register::<Flex>(node.id, tensor);
        }
    }
}

/// The training pass through the kernels above: the output and the batch mean and biased
/// variance (`[2, c]`, untracked). The tensors must be f32 on a flex device.
pub(crate) fn batch_norm_train(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<3>, Tensor<2>) {
    let (output, statistics) = <Dispatch as BatchNormTrain>::batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon as f32,
    );
    (
        Tensor::from_dispatch(output),
        Tensor::from_dispatch(statistics),
    )
}
