//! The two data movements of a convolution done over the whole batch at once, for flex.
//!
//! A convolution with kernel `k`, stride `s` and padding `p` links each pixel of its (small)
//! output grid to `k * k` pixels of its (large) input grid. [`patch_rows`] gathers, for every
//! output pixel of every image, the input values each tap sees (im2col); [`scatter_columns`]
//! is its adjoint, adding each tap's value back onto the input pixel it came from (col2im).
//! With them a convolution, a transposed convolution and all their gradients become single
//! matrix products over the batch, which gemm runs far better than flex's one thin product per
//! image when the small grid has few pixels (`flex_conv`, `flex_conv_transpose`).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Shape, TensorData};
use rayon::prelude::*;

/// Kernel, stride and padding of a square convolution, the same on both axes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Taps {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Taps {
    /// Side of the small grid these taps read from a large grid of side `large`.
    pub fn small_side(&self, large: usize) -> usize {
        (large + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// The large-grid coordinate tap `i` of small-grid coordinate `small` reads, if inside
    /// a large grid of `size`.
    fn source(&self, small: usize, i: usize, size: usize) -> Option<usize> {
        (small * self.stride + i)
            .checked_sub(self.padding)
            .filter(|&v| v < size)
    }
}

/// `[c * k * k, n * oh * ow]`: row `(channel, i, j)` holds, for every image and small-grid
/// pixel in order, the value of `large` (`[n, c, h, w]`) tap `(i, j)` sees (0 in the padding).
pub(super) fn patch_rows(large: &FlexTensor, taps: Taps, [oh, ow]: [usize; 2]) -> FlexTensor {
    let large = large.to_contiguous();
    let [n, c, h, w] = large.layout().shape().dims::<4>();
    let values = &large.storage::<f32>()[large.layout().start_offset()..];
    let (kernel, pixels) = (taps.kernel, oh * ow);
    let mut rows = vec![0f32; c * kernel * kernel * n * pixels];
    // `max(1)`: an empty batch has empty rows (chunks of length 0 are not allowed).
    rows.par_chunks_mut((n * pixels).max(1))
        .enumerate()
        .for_each(|(row_index, row)| {
            let channel = row_index / (kernel * kernel);
            let (i, j) = ((row_index / kernel) % kernel, row_index % kernel);
            for (image, out) in row.chunks_mut(pixels).enumerate() {
                let plane = &values[(image * c + channel) * h * w..][..h * w];
                for (y, out_row) in out.chunks_mut(ow).enumerate() {
                    let Some(source_y) = taps.source(y, i, h) else {
                        continue;
                    };
                    let source = &plane[source_y * w..][..w];
                    for (x, value) in out_row.iter_mut().enumerate() {
                        if let Some(source_x) = taps.source(x, j, w) {
                            *value = source[source_x];
                        }
                    }
                }
            }
        });
    FlexTensor::from_data(TensorData::new(rows, [c * kernel * kernel, n * pixels]))
}

/// The adjoint of [`patch_rows`]: `columns` (`[c * k * k, n * oh * ow]`, contiguous) added
/// onto `out`, a large grid `[n, c, h, w]` of zeros, after filling it with `bias` per channel.
pub(super) fn scatter_columns(
    columns: &FlexTensor,
    taps: Taps,
    out: &mut [f32],
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    bias: Option<&[f32]>,
) {
    let columns = columns.to_contiguous();
    let columns = &columns.storage::<f32>()[columns.layout().start_offset()..];
    let (kernel, pixels) = (taps.kernel, oh * ow);
    out.par_chunks_mut((h * w).max(1))
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, channel) = (plane_index / c, plane_index % c);
            if let Some(bias) = bias {
                plane.fill(bias[channel]);
            }
            for i in 0..kernel {
                for j in 0..kernel {
                    let row = (channel * kernel + i) * kernel + j;
                    let source = &columns[row * n * pixels + image * pixels..][..pixels];
                    for (y, values) in source.chunks_exact(ow).enumerate() {
                        let Some(target_y) = taps.source(y, i, h) else {
                            continue;
                        };
                        let target = &mut plane[target_y * w..][..w];
                        for (x, value) in values.iter().enumerate() {
                            if let Some(target_x) = taps.source(x, j, w) {
                                target[target_x] += value;
                            }
                        }
                    }
                }
            }
        });
}

/// `[n, c, h, w]` -> `[c, n * h * w]`: the layout the batched products take and give.
pub(super) fn channel_major(x: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = x.layout().shape().dims::<4>();
    x.clone()
        .reshape(Shape::new([n, c, h * w]))
        .permute(&[1, 0, 2])
        .to_contiguous()
        .reshape(Shape::new([c, n * h * w]))
}

/// `[c, n * h * w]` -> `[n, c, h, w]` written to `out`, the inverse of [`channel_major`], plus
/// `bias` per channel when given.
pub(super) fn batch_major(
    x: &FlexTensor,
    out: &mut [f32],
    [n, c, h, w]: [usize; 4],
    bias: Option<&[f32]>,
) {
    let x = x.to_contiguous();
    let values = &x.storage::<f32>()[x.layout().start_offset()..][..n * c * h * w];
    let pixels = h * w;
    out.par_chunks_mut(pixels.max(1))
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, channel) = (plane_index / c, plane_index % c);
            let source = &values[(channel * n + image) * pixels..][..pixels];
            let shift = bias.map_or(0.0, |bias| bias[channel]);
            for (out, value) in plane.iter_mut().zip(source) {
                *out = value + shift;
            }
        });
}

/// A convolution's bias gradient: `[n, c, h, w]` summed over pixels, then images, as `[c]`.
/// (Burn's first swaps batch and channels, a copy of the whole gradient.)
pub(super) fn bias_gradient(grad: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = grad.layout().shape().dims::<4>();
    let per_pixel = grad.clone().reshape(Shape::new([n, c, h * w]));
    Flex::float_sum_dim(Flex::float_sum_dim(per_pixel, 2), 0).reshape(Shape::new([c]))
}
