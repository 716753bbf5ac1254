//! A convolution's three matrix products, each over chunks of the batch, for flex.
//!
//! A square convolution reads a large grid (its input) into a small one (its output); a
//! transposed convolution writes the small grid back onto the large one. Both layers store
//! their weight as `[c_small, c_large, k, k]`, a matrix `M [c_small, c_large * k * k]`, and
//! every pass of either layer is one of three products:
//!
//! - gather, `small = M x patches(large)`: a convolution's forward pass and a transposed
//!   convolution's input gradient;
//! - scatter, `large = col2im(M^T x small)`: a transposed convolution's forward pass and a
//!   convolution's input gradient;
//! - correlate, `dM = small x patches(large)^T`: both layers' weight gradients.
//!
//! Flex runs each image as its own thin product and packs the weight again for each. Here one
//! product covers a chunk of images ([`CHUNKING`]): wide enough for gemm's widest kernels,
//! small enough to stay in cache (one matrix over the whole batch is tens of MiB, and writing
//! it cost more than the product on the DCGAN layers).
//! `kernels::flex::conv` picks, product by product, where this beats flex's kernels.

use std::mem::MaybeUninit;
use std::ops::Range;

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Shape, Slice, TensorData};

use rayon::prelude::*;

use super::gemm::{Strided, add_product, product};
use super::patches::{
    Taps, batch_major, channel_major, patch_rows, row_major, scatter_columns, values_of,
};

/// How many images one product covers.
#[derive(Debug, Clone, Copy)]
struct Chunking {
    /// Target size of a chunk's patch (or column) matrix, in floats.
    floats: usize,
    /// Fewest small-grid pixels (matrix columns) per chunk.
    min_pixels: usize,
}

/// A chunk's matrices should stay in its core's cache (1 MiB of L2 here), but a weight
/// gradient's inner dimension (the chunk's pixels) below 256 sends gemm to its narrow kernels.
/// Whole shallow and deep steps with 2 MiB or 1 MiB chunks, alternated with 512 KiB ones, were
/// no faster (`docs/performance.md`, "What runs on the CPU, and why").
const CHUNKING: Chunking = Chunking {
    floats: (512 << 10) / 4,
    min_pixels: 256,
};

/// Weight gradients with fewer output channels than this are computed transposed, as
/// `patches x small^T`, and transposed back once summed: gemm runs that product much faster
/// when `small` has few rows. On whole-batch weight gradients (`[c_small, c_large * k * k]`)
/// of the DCGAN layers it was faster for every layer with fewer than 256 rows (several times
/// for 3 x 576, the generators' last layer), mixed from 256 rows and slower with 512
/// (`docs/performance.md`, "What runs on the CPU, and why").
const TRANSPOSED_CORRELATION_BELOW: usize = 256;

/// A weight gradient adds up its chunks' products in this many runs of consecutive chunks,
/// each run in one buffer that gemm adds every product into, then adds the runs in order: a
/// fixed count, so the result does not depend on the thread count. Writing one product per
/// chunk and summing them afterwards moved every partial gradient through memory twice.
/// On the whole-batch weight gradients of the 4 x 4 stride-2 layers (64->64 @32, 128->128
/// @16, the generators' 128->64 from 16 x 16) these runs were faster than one partial per
/// chunk's product; layers of at most 4 chunks were unchanged. Two runs did about the same,
/// eight no better.
const CORRELATION_RUNS: usize = 4;

/// Images per chunk for images of `floats_per_image` patch floats and `pixels` small-grid
/// pixels each, as `chunking` asks (at least one).
fn images_per_chunk([floats_per_image, pixels]: [usize; 2], chunking: Chunking) -> usize {
    (chunking.floats / floats_per_image.max(1))
        .max(chunking.min_pixels.div_ceil(pixels.max(1)))
        .max(1)
}

/// Chunk `index` of a batch of `n` images, `per_chunk` images to a chunk.
fn chunk(index: usize, per_chunk: usize, n: usize) -> Range<usize> {
    index * per_chunk..((index + 1) * per_chunk).min(n)
}

/// Images `range` of `[n, c, h, w]` (a view, no copy).
fn images(x: &FlexTensor, range: Range<usize>) -> FlexTensor {
    let [_, c, h, w] = x.layout().shape().dims::<4>();
    Flex::float_slice(
        x.clone(),
        &[
            Slice::from(range),
            Slice::from(0..c),
            Slice::from(0..h),
            Slice::from(0..w),
        ],
    )
}

/// A weight `[c_small, c_large, k, k]` (row-major) as the matrix `[c_small, c_large * k * k]`.
fn weight_matrix(weight: &FlexTensor) -> Strided<'_> {
    let [c_small, c_large, kh, kw] = weight.layout().shape().dims::<4>();
    Strided::row_major(values_of(weight), [c_small, c_large * kh * kw])
}

/// The values of a rank-1 `bias`.
fn bias_values(bias: &FlexTensor) -> Vec<f32> {
    values_of(&row_major(bias)).to_vec()
}

/// What one pass over `large`'s patches computes.
pub(super) struct PatchProducts {
    /// `M x patches`: `[n, c_small, oh, ow]`, when asked for.
    pub gathered: Option<FlexTensor>,
    /// `small x patches^T`, shaped like the weight `[c_small, c_large, k, k]`, when asked for.
    pub correlated: Option<FlexTensor>,
}

/// Gathers `large` (`[n, c_large, h, w]`) through `gather`'s weight (plus its bias) and/or
/// correlates it with `small` (`[n, c_small, oh, ow]`), building each chunk's patches once.
pub(super) fn patch_products(
    large: &FlexTensor,
    taps: Taps,
    gather: Option<(&FlexTensor, Option<&FlexTensor>)>,
    correlate: Option<&FlexTensor>,
) -> PatchProducts {
    patch_products_in_chunks(large, taps, gather, correlate, CHUNKING)
}

/// `M x patches(large)` plus `bias`: `[n, c_small, oh, ow]` (a convolution's forward pass).
pub(super) fn gather(
    large: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
) -> FlexTensor {
    patch_products(large, taps, Some((weight, bias)), None)
        .gathered
        .expect("a gather was asked for")
}

/// `small x patches(large)^T` as `[c_small, c_large, k, k]` (a convolution's weight gradient).
pub(super) fn correlate(large: &FlexTensor, small: &FlexTensor, taps: Taps) -> FlexTensor {
    patch_products(large, taps, None, Some(small))
        .correlated
        .expect("a correlation was asked for")
}

fn patch_products_in_chunks(
    large: &FlexTensor,
    taps: Taps,
    gather: Option<(&FlexTensor, Option<&FlexTensor>)>,
    correlate: Option<&FlexTensor>,
    chunking: Chunking,
) -> PatchProducts {
    let [n, c_large, h, w] = large.layout().shape().dims::<4>();
    let small = [taps.small_side(h), taps.small_side(w)];
    let pixels = small[0] * small[1];
    let k = taps.kernel;
    let gather = gather.map(|(weight, bias)| (row_major(weight), bias.map(bias_values)));
    let c_small = match (&gather, correlate) {
        (Some((weight, _)), _) => weight.layout().shape().dims::<4>()[0],
        (None, Some(small)) => small.layout().shape().dims::<4>()[1],
        (None, None) => 0,
    };
    let per_chunk = images_per_chunk([c_large * k * k * pixels, pixels], chunking);
    let transposed_correlation = c_small < TRANSPOSED_CORRELATION_BELOW;
    // One chunk at a time per task: its patches are built and used by the same core, in its
    // cache. `sum` is the correlation of the run so far.
    let products = |index: usize, out: Option<&mut [MaybeUninit<f32>]>, sum: &mut Vec<f32>| {
        let range = chunk(index, per_chunk, n);
        let columns = range.len() * pixels;
        let patches = patch_rows(&images(large, range.clone()), taps, small);
        let patches = Strided::row_major(&patches, [c_large * k * k, columns]);
        if let (Some((weight, bias)), Some(out)) = (&gather, out) {
            let values = product(weight_matrix(weight), patches);
            let dims = [range.len(), c_small, small[0], small[1]];
            batch_major(&values, out, dims, bias.as_deref());
        }
        if let Some(small_grid) = correlate {
            let rows = channel_major(&images(small_grid, range));
            let rows = Strided::row_major(values_of(&rows), [c_small, columns]);
            let (lhs, rhs) = match transposed_correlation {
                true => (patches, rows.transposed()),
                false => (rows, patches.transposed()),
            };
            match sum.is_empty() {
                true => *sum = product(lhs, rhs),
                false => add_product(sum, lhs, rhs),
            }
        }
    };
    let chunks = n.div_ceil(per_chunk);
    let runs = match correlate {
        Some(_) => chunks.min(CORRELATION_RUNS),
        None => chunks,
    };
    let run_chunks = |run: usize| run * chunks / runs..(run + 1) * chunks / runs;
    let gathered_len = n * c_small * pixels;
    let mut gathered = gather
        .as_ref()
        .map(|_| Vec::<f32>::with_capacity(gathered_len));
    // Each run's slice of the gathered output, when there is one.
    let mut outputs: Vec<Option<&mut [MaybeUninit<f32>]>> = Vec::with_capacity(runs);
    let mut rest = gathered
        .as_mut()
        .map(|out| &mut out.spare_capacity_mut()[..gathered_len]);
    for run in 0..runs {
        let run_range = run_chunks(run);
        let images = (run_range.end * per_chunk).min(n) - run_range.start * per_chunk;
        outputs.push(take_front(&mut rest, images * c_small * pixels));
    }
    let parts: Vec<Vec<f32>> = outputs
        .into_par_iter()
        .enumerate()
        .map(|(run, mut out)| {
            let mut sum = Vec::new();
            for index in run_chunks(run) {
                let len = chunk(index, per_chunk, n).len() * c_small * pixels;
                products(index, take_front(&mut out, len), &mut sum);
            }
            sum
        })
        .collect();
    // The runs added in order, so the result does not depend on the thread count or timing.
    let weight_size = c_small * c_large * k * k;
    let correlated = correlate.map(|_| {
        let sum = sum_in_order(parts, weight_size);
        let shape = [c_small, c_large, k, k];
        match transposed_correlation {
            true => FlexTensor::from_data(TensorData::new(sum, [c_large * k * k, c_small]))
                .permute(&[1, 0])
                .to_contiguous()
                .reshape(Shape::new(shape)),
            false => FlexTensor::from_data(TensorData::new(sum, shape)),
        }
    });
    if let Some(values) = gathered.as_mut() {
        // SAFETY: every chunk of the batch wrote all of its images (`batch_major` writes every
        // value of its slice), and the chunks cover the batch.
        unsafe { values.set_len(gathered_len) };
    }
    PatchProducts {
        gathered: gathered.map(|values| {
            FlexTensor::from_data(TensorData::new(values, [n, c_small, small[0], small[1]]))
        }),
        correlated,
    }
}

/// The first `len` values of `rest` (when there is one), leaving the others in it.
fn take_front<'a, T>(rest: &mut Option<&'a mut [T]>, len: usize) -> Option<&'a mut [T]> {
    rest.take().map(|values| {
        let (front, back) = values.split_at_mut(len);
        *rest = Some(back);
        front
    })
}

/// Slices of the sum of `parts` (each `len` values) that one task adds up.
const SUM_SLICE: usize = 4096;

/// `parts[0] + parts[1] + ...` in that order for every value (`len` zeros when there are
/// none), added into `parts[0]` with the values split among rayon's threads: summed on one
/// thread, the partial weight gradients of a generator layer (1024 x 128 values each) left
/// the other core idle.
fn sum_in_order(parts: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut parts = parts.into_iter();
    let Some(mut sum) = parts.next() else {
        return vec![0f32; len];
    };
    let rest: Vec<Vec<f32>> = parts.collect();
    if rest.is_empty() {
        return sum;
    }
    sum.par_chunks_mut(SUM_SLICE)
        .enumerate()
        .for_each(|(index, sum)| {
            let start = index * SUM_SLICE;
            for part in &rest {
                sum.iter_mut()
                    .zip(&part[start..])
                    .for_each(|(sum, part)| *sum += part);
            }
        });
    sum
}

/// `col2im(M^T x small)` onto a large grid of `large_side` (plus `bias` per channel):
/// `small` is `[n, c_small, oh, ow]`, the result `[n, c_large, h, w]`.
pub(super) fn scatter(
    small: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
    large_side: [usize; 2],
) -> FlexTensor {
    scatter_in_chunks(small, weight, bias, taps, large_side, CHUNKING)
}

fn scatter_in_chunks(
    small: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
    [h, w]: [usize; 2],
    chunking: Chunking,
) -> FlexTensor {
    let [n, c_small, oh, ow] = small.layout().shape().dims::<4>();
    let [_, c_large, k, _] = weight.layout().shape().dims::<4>();
    let weight = row_major(weight);
    let columns_of = weight_matrix(&weight).transposed();
    let bias = bias.map(bias_values);
    let per_chunk = images_per_chunk([c_large * k * k * oh * ow, oh * ow], chunking);
    let plane = c_large * h * w;
    let mut out = vec![0f32; n * plane];
    out.par_chunks_mut((per_chunk * plane).max(1))
        .enumerate()
        .for_each(|(index, out)| {
            let range = chunk(index, per_chunk, n);
            let rows = channel_major(&images(small, range.clone()));
            let rows = Strided::row_major(values_of(&rows), [c_small, range.len() * oh * ow]);
            let columns = product(columns_of, rows);
            let dims = [range.len(), c_large, h, w];
            scatter_columns(&columns, taps, out, dims, [oh, ow], bias.as_deref());
        });
    FlexTensor::from_data(TensorData::new(out, [n, c_large, h, w]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::ops::ModuleOps;
    use burn::tensor::Shape;
    use burn::tensor::ops::ConvOptions;

    use crate::kernels::flex::test_tensors::{tensor, values};

    fn assert_close(ours: FlexTensor, expected: FlexTensor) {
        assert_eq!(ours.layout().shape(), expected.layout().shape());
        for (a, b) in values(&ours).iter().zip(values(&expected)) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} against {b}");
        }
    }

    /// Chunks of one image, of two (with a short last chunk) and of the whole batch give
    /// flex's convolution, its input gradient and its weight gradient, computed transposed
    /// for 4 output channels and not for 256.
    #[test]
    fn every_chunking_matches_flex() {
        for c_small in [4, TRANSPOSED_CORRELATION_BELOW] {
            every_chunking_matches_flex_with(c_small);
        }
    }

    fn every_chunking_matches_flex_with(c_small: usize) {
        let taps = Taps {
            kernel: 4,
            stride: 2,
            padding: 1,
        };
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let (x, weight, bias) = (
            tensor([5, 3, 8, 8], 1),
            tensor([c_small, 3, 4, 4], 2),
            tensor([1, 1, 1, c_small], 3),
        );
        let bias = bias.reshape(Shape::new([c_small]));
        let grad = tensor([5, c_small, 4, 4], 4);
        let per_image = 3 * 16 * 16;
        for floats in [1, 2 * per_image, 100 * per_image] {
            let chunking = Chunking {
                floats,
                min_pixels: 1,
            };
            let products = patch_products_in_chunks(
                &x,
                taps,
                Some((&weight, Some(&bias))),
                Some(&grad),
                chunking,
            );
            let expected = Flex::conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            );
            assert_close(products.gathered.unwrap(), expected);
            let expected = Flex::conv2d_weight_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            assert_close(products.correlated.unwrap(), expected);
            let scattered = scatter_in_chunks(&grad, &weight, None, taps, [8, 8], chunking);
            let expected =
                Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            assert_close(scattered, expected);
        }
    }

    #[test]
    fn chunks_cover_the_batch_once() {
        let by_floats = Chunking {
            floats: 25,
            min_pixels: 1,
        };
        let per_chunk = images_per_chunk([10, 4], by_floats);
        let ranges: Vec<_> = (0..4).map(|i| chunk(i, per_chunk, 7)).collect();
        assert_eq!(ranges, vec![0..2, 2..4, 4..6, 6..7]);
        let tiny = Chunking {
            floats: 5,
            min_pixels: 1,
        };
        assert_eq!(images_per_chunk([10, 4], tiny), 1, "one image at least");
        let by_pixels = Chunking {
            floats: 25,
            min_pixels: 10,
        };
        assert_eq!(
            images_per_chunk([10, 4], by_pixels),
            3,
            "10 pixels need 3 images"
        );
    }
}
