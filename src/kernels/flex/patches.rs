//! The two data movements of a convolution done over many images at once, for flex.
//!
//! A convolution with kernel `k`, stride `s` and padding `p` links each pixel of its (small)
//! output grid to `k * k` pixels of its (large) input grid. [`patch_rows`] gathers, for every
//! output pixel of every image, the input values each tap sees (im2col); [`scatter_columns`]
//! is its adjoint, adding each tap's value back onto the input pixel it came from (col2im).
//! With them a convolution, a transposed convolution and all their gradients become matrix
//! products over chunks of the batch (`batched`).

use std::mem::MaybeUninit;
use std::ops::Range;

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::Shape;
use rayon::prelude::*;

/// Kernel, stride and padding of a square convolution, the same on both axes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taps {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Taps {
    /// Side of the small grid these taps read from a large grid of side `large`.
    pub fn small_side(&self, large: usize) -> usize {
        (large + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// The small-grid coordinates (of `small` in all) whose tap `i` lands inside a large grid
    /// of `large`, and the large coordinate the first of them lands on; the next ones follow
    /// `stride` apart. Computing the range once keeps bounds tests out of the inner loops.
    fn inside(&self, i: usize, small: usize, large: usize) -> (Range<usize>, usize) {
        let start = self.padding.saturating_sub(i).div_ceil(self.stride);
        let end = (large + self.padding)
            .saturating_sub(i)
            .div_ceil(self.stride)
            .min(small)
            .max(start);
        (
            start..end,
            (start * self.stride + i).saturating_sub(self.padding),
        )
    }
}

/// `[c * k * k, n * oh * ow]`, row-major: row `(channel, i, j)` holds, for every image and
/// small-grid pixel in order, the value of `large` (`[n, c, h, w]`) tap `(i, j)` sees (0 in the
/// padding).
///
/// Each channel's planes are first copied into a small zero-padded buffer, split into
/// `stride` column phases ([`stage_planes`]). There every tap's row of output pixels is one
/// contiguous run, so the patches (`k * k` times larger than the input) are written with
/// whole-row copies and no edge tests. That is several times faster than reading each tap's
/// values from the plane itself, on the chunks the weight gradients use, both for the 4 x 4
/// stride-2 layer 64 -> 64 at 32 x 32 and for the 3 x 3 layer 128 -> 256 at 8 x 8
/// (`docs/performance.md`, "What runs on the CPU, and why").
pub(super) fn patch_rows(large: &FlexTensor, taps: Taps, [oh, ow]: [usize; 2]) -> Vec<f32> {
    let large = row_major(large);
    let [n, c, h, w] = large.layout().shape().dims::<4>();
    let values = values_of(&large);
    let (kernel, stride, pixels) = (taps.kernel, taps.stride, oh * ow);
    let staged = StagedPlane::new(taps, [h, w]);
    let len = c * kernel * kernel * n * pixels;
    let mut rows = Vec::<f32>::with_capacity(len);
    // One task per channel: its `k * k` rows read the same staged planes. `max(1)`: an empty
    // batch has empty rows (chunks of length 0 are not allowed).
    rows.spare_capacity_mut()[..len]
        .par_chunks_mut((kernel * kernel * n * pixels).max(1))
        .enumerate()
        .for_each_init(Vec::new, |buffer, (channel, block)| {
            let planes = (0..n).map(|image| &values[(image * c + channel) * h * w..][..h * w]);
            stage_planes(planes, staged, buffer);
            for (tap, row) in block.chunks_mut((n * pixels).max(1)).enumerate() {
                let (i, j) = (tap / kernel, tap % kernel);
                for (image, out) in row.chunks_mut(pixels.max(1)).enumerate() {
                    let phase = &buffer[(image * stride + j % stride) * staged.len()..];
                    let first = i * staged.phase_width + j / stride;
                    copy_rows(out, phase, [oh, ow], first, stride * staged.phase_width);
                }
            }
        });
    // SAFETY: the loop above wrote all `len` values: every channel's block holds `k * k` rows
    // of `n` images of `oh` rows of `ow` values, each written by `copy_rows`.
    unsafe { rows.set_len(len) };
    rows
}

/// The shape of one staged column phase: a plane of `[h, w]` padded by `padding` on every
/// side, keeping every `stride`-th column (from column `phase`).
#[derive(Debug, Clone, Copy)]
struct StagedPlane {
    taps: Taps,
    source: [usize; 2],
    height: usize,
    phase_width: usize,
}

impl StagedPlane {
    fn new(taps: Taps, [h, w]: [usize; 2]) -> Self {
        StagedPlane {
            taps,
            source: [h, w],
            height: h + 2 * taps.padding,
            phase_width: (w + 2 * taps.padding).div_ceil(taps.stride),
        }
    }

    /// Floats in one phase.
    fn len(&self) -> usize {
        self.height * self.phase_width
    }
}

/// Writes into `buffer`, for each plane in turn, its `stride` column phases as `staged`
/// describes them: value `(row, q)` of phase `b` is the padded plane's `(row, q * stride + b)`.
fn stage_planes<'a>(
    planes: impl ExactSizeIterator<Item = &'a [f32]>,
    staged: StagedPlane,
    buffer: &mut Vec<f32>,
) {
    let (stride, padding) = (staged.taps.stride, staged.taps.padding);
    let [h, w] = staged.source;
    buffer.clear();
    buffer.resize(planes.len() * stride * staged.len(), 0.0);
    for (plane, phases) in planes.zip(buffer.chunks_mut((stride * staged.len()).max(1))) {
        for (phase_index, phase) in phases.chunks_mut(staged.len().max(1)).enumerate() {
            // Phase column q reads source column q * stride + phase_index - padding.
            let first = padding.saturating_sub(phase_index).div_ceil(stride);
            let end = (w + padding)
                .saturating_sub(phase_index)
                .div_ceil(stride)
                .min(staged.phase_width)
                .max(first);
            if first == end {
                continue;
            }
            let first_source = first * stride + phase_index - padding;
            for (y, source) in plane.chunks_exact(w.max(1)).enumerate().take(h) {
                let target = &mut phase[(y + padding) * staged.phase_width..][first..end];
                let source = &source[first_source..];
                match stride {
                    1 => target.copy_from_slice(&source[..target.len()]),
                    _ => target
                        .iter_mut()
                        .zip(source.iter().step_by(stride))
                        .for_each(|(t, s)| *t = *s),
                }
            }
        }
    }
}

/// `out[y * ow + x] = source[first + y * step + x]` for the `oh` rows of `out`. The widths of
/// the DCGAN grids get fixed-size copies the compiler turns into a few vector moves.
fn copy_rows(
    out: &mut [MaybeUninit<f32>],
    source: &[f32],
    [oh, ow]: [usize; 2],
    first: usize,
    step: usize,
) {
    fn fixed<const W: usize>(
        out: &mut [MaybeUninit<f32>],
        source: &[f32],
        first: usize,
        step: usize,
    ) {
        for (y, out) in out.chunks_exact_mut(W).enumerate() {
            let row: &[f32; W] = source[first + y * step..][..W]
                .try_into()
                .expect("a row of W values");
            let out: &mut [MaybeUninit<f32>; W] = out.try_into().expect("a row of W values");
            for x in 0..W {
                out[x].write(row[x]);
            }
        }
    }
    match ow {
        2 => fixed::<2>(out, source, first, step),
        4 => fixed::<4>(out, source, first, step),
        8 => fixed::<8>(out, source, first, step),
        16 => fixed::<16>(out, source, first, step),
        32 => fixed::<32>(out, source, first, step),
        _ => {
            for (y, out) in out.chunks_mut(ow.max(1)).enumerate().take(oh) {
                out.write_copy_of_slice(&source[first + y * step..][..ow]);
            }
        }
    }
}

/// `x` itself when its values are already in row-major order (as a chunk of whole images
/// sliced from a batch is), else a row-major copy. Flex's `to_contiguous` copies every view
/// that starts past its buffer's first value, so each chunk's images were copied once more.
pub(super) fn row_major(x: &FlexTensor) -> FlexTensor {
    match x.is_contiguous() {
        true => x.clone(),
        false => x.to_contiguous(),
    }
}

/// The values of a row-major `x` ([`row_major`]), in order.
pub(super) fn values_of(x: &FlexTensor) -> &[f32] {
    let count = x.layout().shape().num_elements();
    &x.storage::<f32>()[x.layout().start_offset()..][..count]
}

/// Small grids at most this wide are scattered pixel by pixel ([`sum_pixel_sources`]), wider
/// ones tap by tap ([`add_tap_rows`]). Per tap, each small-grid row is one short strided add
/// whose setup costs more than its few values on small grids; per pixel, the loads are not
/// vectorised, which costs more on wide rows. On whole-batch col2im of the DCGAN layers'
/// columns, pixel by pixel was faster from small grids 2, 4 and 8 wide (by most on the
/// smallest), tap by tap from 16 and 32 wide (4 x 4 stride 2 with 3 channels, 3 x 3 stride 1
/// with 64); see `docs/performance.md`, "What runs on the CPU, and why".
const SCATTER_BY_PIXEL_MAX_WIDTH: usize = 8;

/// The adjoint of [`patch_rows`]: `columns` (`[c * k * k, n * oh * ow]`, row-major) added up
/// onto the large grid `out` (`[n, c, h, w]`, overwritten), plus `bias` per channel.
pub(super) fn scatter_columns(
    columns: &[f32],
    taps: Taps,
    out: &mut [f32],
    dims: [usize; 4],
    small: [usize; 2],
    bias: Option<&[f32]>,
) {
    match small[1] <= SCATTER_BY_PIXEL_MAX_WIDTH {
        true => sum_pixel_sources(columns, taps, out, dims, small, bias),
        false => add_tap_rows(columns, taps, out, dims, small, bias),
    }
}

/// [`scatter_columns`] plane by plane and tap by tap: each tap's row of columns is added onto
/// the large pixels it came from.
fn add_tap_rows(
    columns: &[f32],
    taps: Taps,
    out: &mut [f32],
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    bias: Option<&[f32]>,
) {
    let (kernel, pixels) = (taps.kernel, oh * ow);
    out.par_chunks_mut((h * w).max(1))
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, channel) = (plane_index / c, plane_index % c);
            match bias {
                Some(bias) => plane.fill(bias[channel]),
                None => plane.fill(0.0),
            }
            for i in 0..kernel {
                let (ys, first_y) = taps.inside(i, oh, h);
                for j in 0..kernel {
                    let (xs, first_x) = taps.inside(j, ow, w);
                    if xs.is_empty() {
                        continue; // this tap lands only in the padding
                    }
                    let row = (channel * kernel + i) * kernel + j;
                    let source = &columns[row * n * pixels + image * pixels..][..pixels];
                    for (step, y) in ys.clone().enumerate() {
                        let target_y = first_y + step * taps.stride;
                        let target = &mut plane[target_y * w + first_x..(target_y + 1) * w];
                        add_strided(target, &source[y * ow..][xs.clone()], taps.stride);
                    }
                }
            }
        });
}

/// [`scatter_columns`] plane by plane and pixel by pixel: each large pixel is the sum of the
/// column values that came from it, found in a table built once for the geometry.
fn sum_pixel_sources(
    columns: &[f32],
    taps: Taps,
    out: &mut [f32],
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    bias: Option<&[f32]>,
) {
    let (kernel, pixels) = (taps.kernel, oh * ow);
    let row_len = n * pixels;
    // Pixel `p`'s sources are `sources[starts[p]..starts[p + 1]]`: offsets into a plane's
    // columns (tap row, then small pixel).
    let mut starts = Vec::with_capacity(h * w + 1);
    let mut sources = Vec::new();
    starts.push(0);
    for y in 0..h {
        for x in 0..w {
            for i in 0..kernel {
                for j in 0..kernel {
                    let (Some(dy), Some(dx)) = (
                        (y + taps.padding).checked_sub(i),
                        (x + taps.padding).checked_sub(j),
                    ) else {
                        continue;
                    };
                    let (small_y, small_x) = (dy / taps.stride, dx / taps.stride);
                    let lands = dy % taps.stride == 0 && dx % taps.stride == 0;
                    if lands && small_y < oh && small_x < ow {
                        sources.push((i * kernel + j) * row_len + small_y * ow + small_x);
                    }
                }
            }
            starts.push(sources.len());
        }
    }
    out.par_chunks_mut((h * w).max(1))
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, channel) = (plane_index / c, plane_index % c);
            let shift = bias.map_or(0.0, |bias| bias[channel]);
            let first = channel * kernel * kernel * row_len + image * pixels;
            for (pixel, value) in plane.iter_mut().enumerate() {
                let from = &sources[starts[pixel]..starts[pixel + 1]];
                *value = from.iter().fold(shift, |sum, &s| sum + columns[first + s]);
            }
        });
}

/// `target[i * stride] += values[i]`. Strides 1 and 2 get loops the compiler vectorises
/// (`step_by` stays scalar).
fn add_strided(target: &mut [f32], values: &[f32], stride: usize) {
    match stride {
        1 => {
            for (target, value) in target.iter_mut().zip(values) {
                *target += value;
            }
        }
        2 => {
            for (pair, value) in target.chunks_mut(2).zip(values) {
                pair[0] += value;
            }
        }
        _ => {
            for (target, value) in target.iter_mut().step_by(stride).zip(values) {
                *target += value;
            }
        }
    }
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

/// `[c, n * h * w]` (row-major `values`) -> `[n, c, h, w]` written to every value of `out`,
/// the inverse of [`channel_major`], plus `bias` per channel when given.
pub(super) fn batch_major(
    values: &[f32],
    out: &mut [MaybeUninit<f32>],
    [n, c, h, w]: [usize; 4],
    bias: Option<&[f32]>,
) {
    let pixels = h * w;
    let values = &values[..n * c * pixels];
    out.par_chunks_mut(pixels.max(1))
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, channel) = (plane_index / c, plane_index % c);
            let source = &values[(channel * n + image) * pixels..][..pixels];
            let shift = bias.map_or(0.0, |bias| bias[channel]);
            for (out, value) in plane.iter_mut().zip(source) {
                out.write(value + shift);
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(count: usize, seed: usize) -> Vec<f32> {
        (0..count)
            .map(|i| ((i * 7919 + seed * 104_729) % 997) as f32 / 498.5 - 1.0)
            .collect()
    }

    /// Against a direct reading of the definition, on geometries whose taps fall partly or
    /// wholly in the padding; and `scatter_columns` is `patch_rows`' adjoint:
    /// `<patches(x), y> = <x, scatter(y)>`.
    #[test]
    fn patches_read_the_taps_and_scatter_is_their_adjoint() {
        // (kernel, stride, padding, large height, large width)
        for (kernel, stride, padding, h, w) in [
            (4, 2, 1, 8, 8),
            (3, 1, 1, 5, 4),
            (5, 1, 3, 2, 3),
            (3, 2, 1, 2, 2),
            (2, 3, 0, 7, 5),
        ] {
            let taps = Taps {
                kernel,
                stride,
                padding,
            };
            let (n, c) = (2, 3);
            let (oh, ow) = (taps.small_side(h), taps.small_side(w));
            let x = values(n * c * h * w, 1);
            let large = FlexTensor::from_data(TensorData::new(x.clone(), [n, c, h, w]));
            let patches = patch_rows(&large, taps, [oh, ow]);
            let (rows, columns) = (c * kernel * kernel, n * oh * ow);
            for row in 0..rows {
                let (channel, i, j) = (
                    row / (kernel * kernel),
                    (row / kernel) % kernel,
                    row % kernel,
                );
                for column in 0..columns {
                    let (image, y, x_small) = (column / (oh * ow), (column / ow) % oh, column % ow);
                    let source_y = (y * stride + i) as isize - padding as isize;
                    let source_x = (x_small * stride + j) as isize - padding as isize;
                    let inside =
                        (0..h as isize).contains(&source_y) && (0..w as isize).contains(&source_x);
                    let expected = match inside {
                        true => {
                            x[((image * c + channel) * h + source_y as usize) * w
                                + source_x as usize]
                        }
                        false => 0.0,
                    };
                    assert_eq!(
                        patches[row * columns + column],
                        expected,
                        "k{kernel} s{stride} p{padding}"
                    );
                }
            }
            let y = values(rows * columns, 2);
            let dot =
                |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
            for scatter in [add_tap_rows, sum_pixel_sources] {
                // Leftovers in `out` must not survive: both strategies overwrite it.
                let mut scattered = vec![f32::NAN; n * c * h * w];
                scatter(&y, taps, &mut scattered, [n, c, h, w], [oh, ow], None);
                let (left, right) = (dot(&patches, &y), dot(&x, &scattered));
                assert!((left - right).abs() < 1e-3, "{left} against {right}");
            }
        }
    }
}
