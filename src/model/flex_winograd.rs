//! Winograd's minimal filtering F(2 x 2, 3 x 3) for the 3 x 3, stride-1, padding-1
//! convolutions of the deep discriminator, on flex.
//!
//! The output is cut into 2 x 2 tiles, each read from a 4 x 4 window of the input. In the
//! transformed domain a tile's 4 output values are 16 products (one per point of the window)
//! instead of 36, so a pass becomes 16 matrix products over the tiles with 2.25x fewer
//! multiply-adds than the patch products of `flex_batched` (Lavin and Gray, "Fast Algorithms
//! for Convolutional Neural Networks", CVPR 2016):
//!
//! - forward: `Y = A^T [(G g G^T) . (B^T d B)] A`, summed over input channels;
//! - input gradient: the same with each kernel rotated by half a turn and the channels swapped.
//!
//! The weight gradient keeps the patch products. Its Winograd form (the adjoint, `G^T [sum over
//! tiles (A dY A^T) . (B^T d B)] G`) was measured no faster on these layers: its products have
//! only the tiles as inner dimension and write 16 gradients per kernel.
//!
//! The transforms only add and halve, so values differ from the direct sum by rounding alone
//! (tested against flex's kernels). PyTorch's CPU convolutions (oneDNN) are direct ones.

use std::ops::Range;

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::flex_gemm::{Strided, product};
use super::flex_patches::{Taps, row_major, values_of};
use super::flex_winograd_transforms::{self as transforms, POINTS, Padded, Plane, TILE};

/// Layers with fewer input or output channels keep the patch products: the transformed
/// products would be too thin for gemm's kernels (the first layer reads 3 channels).
const MIN_CHANNELS: usize = 16;

/// Fewest tiles (product columns) per chunk of images, and the target size of a chunk's
/// transformed input, in floats.
const MIN_TILES: usize = 64;
const CHUNK_FLOATS: usize = (1 << 20) / 4;

/// Whether a convolution with `taps` and weight `[c_out, c_in, k, k]` takes this path.
pub(super) fn applies(taps: Taps, weight: &FlexTensor) -> bool {
    let [c_out, c_in, _, _] = weight.layout().shape().dims::<4>();
    taps.kernel == 3 && taps.stride == 1 && taps.padding == 1 && c_in.min(c_out) >= MIN_CHANNELS
}

/// A batch of images cut into output tiles.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    n: usize,
    plane: Plane,
}

impl Tiling {
    fn of(x: &FlexTensor) -> Self {
        let [n, _, height, width] = x.layout().shape().dims::<4>();
        let plane = Plane {
            height,
            width,
            rows: height.div_ceil(TILE),
            columns: width.div_ceil(TILE),
        };
        Tiling { n, plane }
    }

    fn per_image(&self) -> usize {
        self.plane.rows * self.plane.columns
    }

    /// Images per chunk for `channels` input channels: at least [`MIN_TILES`] tiles, else
    /// about [`CHUNK_FLOATS`] transformed values.
    fn images_per_chunk(&self, channels: usize) -> usize {
        let per_image = self.per_image().max(1);
        (CHUNK_FLOATS / (POINTS * channels * per_image).max(1))
            .max(MIN_TILES.div_ceil(per_image))
            .max(1)
    }

    fn chunks(&self, per_chunk: usize) -> impl IndexedParallelIterator<Item = Range<usize>> {
        let n = self.n;
        (0..n.div_ceil(per_chunk))
            .into_par_iter()
            .map(move |index| index * per_chunk..((index + 1) * per_chunk).min(n))
    }
}

/// `[c_out, c_in, 3, 3]` kernels transformed, `G g G^T`, as `[c_out, POINTS, c_in]` (laid out
/// as [`transformed_planes`] lays out its values, the input channels in place of tiles). With `flipped`, the kernels of the input gradient: `[c_in, POINTS,
/// c_out]`, each kernel rotated by half a turn.
fn transformed_kernels(weight: &FlexTensor, flipped: bool) -> Vec<f32> {
    let weight = row_major(weight);
    let [c_out, c_in, _, _] = weight.layout().shape().dims::<4>();
    let values = values_of(&weight);
    let (rows, columns) = match flipped {
        false => (c_out, c_in),
        true => (c_in, c_out),
    };
    let mut out = vec![0f32; rows * POINTS * columns];
    out.par_chunks_mut(POINTS * columns)
        .enumerate()
        .for_each(|(row, out)| {
            for column in 0..columns {
                let u = match flipped {
                    false => transforms::kernel(&values[(row * c_in + column) * 9..][..9]),
                    true => {
                        let g = &values[(column * c_in + row) * 9..][..9];
                        transforms::kernel(&std::array::from_fn::<f32, 9, _>(|t| g[8 - t]))
                    }
                };
                for (point, value) in u.into_iter().enumerate() {
                    out[point * columns + column] = value;
                }
            }
        });
    out
}

/// Transforms every plane of `images` of `values` (`[n, c, h, w]`, row-major) with
/// `transform`, channels in parallel, into `[c, POINTS, tiles]`: point `p` of tile `t` of
/// channel `c` at `(c * POINTS + p) * tiles + t`, tiles in image, then raster order. Each point
/// is then a matrix `[c, tiles]` whose rows lie `POINTS * tiles` apart ([`point_matrix`]).
fn transformed_planes<S>(
    values: &[f32],
    c: usize,
    tiling: Tiling,
    images: Range<usize>,
    scratch: impl Fn() -> S + Sync + Send,
    transform: impl Fn(&mut S, &[f32], &mut [f32], usize, usize) + Sync + Send,
) -> (Vec<f32>, usize) {
    let plane = tiling.plane.height * tiling.plane.width;
    let tiles = images.len() * tiling.per_image();
    let mut out = vec![0f32; POINTS * c * tiles];
    out.par_chunks_mut((POINTS * tiles).max(1))
        .enumerate()
        .for_each_init(scratch, |scratch, (channel, out)| {
            for (local, image) in images.clone().enumerate() {
                let source = &values[(image * c + channel) * plane..][..plane];
                transform(scratch, source, out, tiles, local * tiling.per_image());
            }
        });
    (out, tiles)
}

/// `B^T d B` of every input window of `images`.
fn transformed_windows(
    values: &[f32],
    c: usize,
    tiling: Tiling,
    images: Range<usize>,
) -> (Vec<f32>, usize) {
    let plane = tiling.plane;
    transformed_planes(
        values,
        c,
        tiling,
        images,
        || Padded::new(plane),
        |padded, source, out, tiles, first| {
            transforms::windows(source, plane, padded, out, tiles, first)
        },
    )
}

/// Point `point` of values laid out `[rows, POINTS, columns]`: `[rows, columns]`.
fn point_matrix(values: &[f32], point: usize, [rows, columns]: [usize; 2]) -> Strided<'_> {
    Strided::spaced_rows(
        &values[point * columns..],
        [rows, columns],
        POINTS * columns,
    )
}

/// `x` (`[n, c_in, h, w]`) convolved with kernels transformed by [`transformed_kernels`]
/// (`[c_out, c_in]` per point), plus `bias`: `[n, c_out, h, w]`, `per_chunk` images to a
/// chunk (`None`: [`Tiling::images_per_chunk`]).
fn convolve(
    x: &FlexTensor,
    kernels: &[f32],
    c_out: usize,
    bias: Option<&[f32]>,
    per_chunk: Option<usize>,
) -> FlexTensor {
    let x = row_major(x);
    let c_in = x.layout().shape().dims::<4>()[1];
    let tiling = Tiling::of(&x);
    let Plane { height, width, .. } = tiling.plane;
    let values = values_of(&x);
    let per_chunk = per_chunk.unwrap_or_else(|| tiling.images_per_chunk(c_in));
    let plane = height * width;
    let mut out = vec![0f32; tiling.n * c_out * plane];
    out.par_chunks_mut((per_chunk * c_out * plane).max(1))
        .zip(tiling.chunks(per_chunk))
        .for_each(|(out, images)| {
            let (windows, tiles) = transformed_windows(values, c_in, tiling, images.clone());
            let products: Vec<Vec<f32>> = (0..POINTS)
                .map(|point| {
                    product(
                        point_matrix(kernels, point, [c_out, c_in]),
                        point_matrix(&windows, point, [c_in, tiles]),
                    )
                })
                .collect();
            out.par_chunks_mut(c_out * plane)
                .enumerate()
                .for_each(|(image, out)| {
                    transforms::output_tiles(&products, tiles, image, tiling.plane, bias, out)
                });
        });
    FlexTensor::from_data(TensorData::new(out, [tiling.n, c_out, height, width]))
}

/// The forward pass: `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, 3, 3]`, `bias` `[c_out]`.
pub(super) fn forward(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let c_out = weight.layout().shape().dims::<4>()[0];
    let bias = values_of(&row_major(bias)).to_vec();
    convolve(
        x,
        &transformed_kernels(weight, false),
        c_out,
        Some(&bias),
        None,
    )
}

/// The input gradient from the upstream gradient `grad` `[n, c_out, h, w]`.
pub(super) fn input_gradient(grad: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    let c_in = weight.layout().shape().dims::<4>()[1];
    convolve(grad, &transformed_kernels(weight, true), c_in, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::ops::ModuleOps;
    use burn::tensor::ops::ConvOptions;

    fn tensor(shape: [usize; 4], seed: u32) -> FlexTensor {
        let count = shape.iter().product::<usize>() as u32;
        let values = (0..count)
            .map(|i| {
                ((i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 1000) as f32 / 500.0
                    - 1.0
            })
            .collect::<Vec<_>>();
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn values(x: FlexTensor) -> Vec<f32> {
        values_of(&row_major(&x)).to_vec()
    }

    /// Close to flex's direct sums: the transforms change the rounding only.
    fn assert_close(ours: FlexTensor, expected: FlexTensor) {
        assert_eq!(ours.layout().shape(), expected.layout().shape());
        let expected = values(expected);
        let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (a, b) in values(ours).iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-5 * scale, "{a} against {b}");
        }
    }

    /// Even and odd sides (a last tile hanging over the edge), one image and several chunks:
    /// all three passes give flex's convolution and its gradients.
    #[test]
    fn all_three_passes_match_flex() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for [n, c_in, c_out, h, w] in [[3, 5, 7, 8, 8], [2, 4, 3, 5, 7], [1, 2, 2, 1, 1]] {
            let x = tensor([n, c_in, h, w], 1);
            let weight = tensor([c_out, c_in, 3, 3], 2);
            let bias = FlexTensor::from_data(TensorData::new(
                (0..c_out)
                    .map(|i| i as f32 * 0.25 - 0.5)
                    .collect::<Vec<_>>(),
                [c_out],
            ));
            let grad = tensor([n, c_out, h, w], 3);
            let forward_expected = Flex::conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            );
            let input_expected =
                Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            assert_close(forward(&x, &weight, &bias), forward_expected.clone());
            assert_close(input_gradient(&grad, &weight), input_expected.clone());
            // One image to a chunk, and two (a short last chunk when n is odd).
            for per_chunk in [Some(1), Some(2)] {
                let bias = values(bias.clone());
                let kernels = transformed_kernels(&weight, false);
                let ours = convolve(&x, &kernels, c_out, Some(&bias), per_chunk);
                assert_close(ours, forward_expected.clone());
                let kernels = transformed_kernels(&weight, true);
                let ours = convolve(&grad, &kernels, c_in, None, per_chunk);
                assert_close(ours, input_expected.clone());
            }
        }
    }

    #[test]
    fn only_wide_stride_one_three_by_three_layers_apply() {
        let taps = |kernel, stride| Taps {
            kernel,
            stride,
            padding: 1,
        };
        assert!(applies(taps(3, 1), &tensor([16, 16, 3, 3], 0)));
        assert!(!applies(taps(3, 1), &tensor([64, 3, 3, 3], 0)), "3 inputs");
        assert!(!applies(taps(3, 2), &tensor([16, 16, 3, 3], 0)), "stride 2");
        assert!(!applies(taps(4, 1), &tensor([16, 16, 4, 4], 0)), "4 x 4");
    }
}
