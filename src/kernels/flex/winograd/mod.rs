//! Winograd's minimal filtering for the discriminators' and generators' convolutions, on flex:
//! F(4 x 4, 3 x 3) or F(2 x 2, 3 x 3) for 3 x 3 stride-1 layers and F(2 x 2, 2 x 2) for
//! 4 x 4 stride-2 ones.
//!
//! The output is cut into square tiles, each read from a small window of the input. In the
//! transformed domain a tile's output values are one product per point of the window, so a
//! pass becomes one matrix product per point over the tiles of a chunk of images (Lavin and
//! Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016):
//! `Y = A^T [(G g G^T) . (B^T d B)] A`, summed over input channels.
//!
//! - 3 x 3, stride 1, padding 1: 4 x 4 tiles read 6 x 6 windows, 36 points for 144
//!   multiply-adds (4x fewer), on grids of at least [`LARGE_TILE_SIDE`] pixels down and
//!   across; 2 x 2 tiles read 4 x 4 windows, 16 points for 36 (2.25x fewer). The input
//!   gradient is the same pass with each kernel rotated by half a turn.
//! - 4 x 4, stride 2, padding 1: the kernel splits into four 2 x 2 kernels, one per phase
//!   (even or odd row and column) of the input; each phase is a stride-1 2 x 2 correlation,
//!   3 x 3 windows, 9 points for 16 multiply-adds (1.78x fewer). The four phases are four
//!   groups of input channels of one product. The adjoint (a convolution's input gradient, a
//!   transposed convolution's forward pass) writes each phase of the output with its own 2 x 2
//!   kernels from its own windows: four products per point. F(4 x 4, 2 x 2) (25 points per
//!   4 x 4 tile, 1.44x fewer products again) was measured on every such layer of the models
//!   and gained nowhere: its larger windows and kernels cost what the products saved.
//!
//! The weight gradients keep the patch products of `batched`. Their Winograd form (the
//! adjoint, `G^T [sum over tiles (A dY A^T) . (B^T d B)] G`) was measured on both shapes and
//! won on one layer of the seven (`docs/performance.md`): its products have only the tiles as
//! inner dimension, and each chunk writes `W x W` partial gradients for every kernel.
//!
//! The transforms only add and scale by small constants, so values differ from the direct sums
//! by rounding alone (tested against flex's kernels). PyTorch's CPU convolutions (oneDNN) are
//! direct ones.

use std::ops::Range;

mod transforms;

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::gemm::{Strided, product};
use super::patches::{Taps, row_major, values_of};
use transforms::{F22, F23, F43, Minimal, Padded, Placement, Sampling};

/// Layers with fewer channels on either side keep the patch products: the transformed
/// products would be too thin for gemm's kernels (the first layers read 3 channels).
const MIN_CHANNELS: usize = 16;

/// Fewest tiles (product columns) per chunk of images, and the target size of a chunk's
/// transformed input, in floats. Timing the forward passes of the deep discriminator's 3 x 3
/// layers with 2 to 64 images per chunk, 64->128 @16 was fastest at 2-4 images, 128->256 @8
/// at 2-8, 256->512 @4 at 4-16; this target picks 4, 8 and 16.
const MIN_TILES: usize = 64;
const CHUNK_FLOATS: usize = (1 << 20) / 4;

/// The layer shapes this module computes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// 3 x 3, stride 1, padding 1: F(4 x 4, 3 x 3) or F(2 x 2, 3 x 3).
    Same3,
    /// 4 x 4, stride 2, padding 1: F(2 x 2, 2 x 2) per phase.
    Halving4,
}

/// 3 x 3 passes onto grids at least this many pixels down and across take 4 x 4 tiles,
/// smaller ones 2 x 2 tiles. 4 x 4 tiles need 1.78x fewer products, but their kernels have 36
/// points instead of 16 and their products fewer columns. In `layer_profile --depth deep`
/// (`docs/performance.md`, "Per layer") 4 x 4 tiles made the forward passes faster on the
/// 16 x 16 and 8 x 8 grids and slower on the 4 x 4 grid, one tile per image.
const LARGE_TILE_SIDE: usize = 8;

fn large_tiles([height, width]: [usize; 2]) -> bool {
    height.min(width) >= LARGE_TILE_SIDE
}

fn shape(taps: Taps) -> Option<Shape> {
    match (taps.kernel, taps.stride, taps.padding) {
        (3, 1, 1) => Some(Shape::Same3),
        (4, 2, 1) => Some(Shape::Halving4),
        _ => None,
    }
}

/// Small grids of fewer pixels keep the patch products. On one tile per image (the shallow
/// discriminator's last layer, 4 x 4 to 2 x 2) transforming the kernels, which makes them
/// 2.25x larger, costs more than the products save: its forward pass was slower than on the
/// patch products (`layer_profile --depth shallow`; `docs/performance.md`, "Per layer").
const MIN_SMALL_PIXELS: usize = 16;

/// Whether a layer with `taps` and weight `[c_small, c_large, k, k]` (a convolution's
/// `[c_out, c_in, k, k]`, a transposed convolution's `[c_in, c_out, k, k]`) takes this path
/// on a small grid of `[oh, ow]`.
pub(crate) fn applies(taps: Taps, [c_small, c_large]: [usize; 2], [oh, ow]: [usize; 2]) -> bool {
    shape(taps).is_some() && c_small.min(c_large) >= MIN_CHANNELS && oh * ow >= MIN_SMALL_PIXELS
}

/// The four phases (even or odd row, even or odd column) of a 4 x 4 stride-2 layer.
const PHASES: [[usize; 2]; 4] = [[0, 0], [0, 1], [1, 0], [1, 1]];

/// The layer's kernels for a pass with `rows` output channels and `channels` input channels,
/// transformed by `M`, laid out `[rows, W * W, channels]` ([`point_matrix`]).
/// `tap(row, channel, ky, kx)` says which weight value each kernel tap is.
fn transformed_kernels<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
    [rows, channels]: [usize; 2],
    tap: impl Fn(usize, usize, usize, usize) -> f32 + Sync,
) -> Vec<f32> {
    let points = W * W;
    let mut out = vec![0f32; rows * points * channels];
    out.par_chunks_mut((points * channels).max(1))
        .enumerate()
        .for_each(|(row, out)| {
            for channel in 0..channels {
                let tap = |ky, kx| tap(row, channel, ky, kx);
                transforms::kernel::<M, W, K, T>(tap, &mut out[channel..], channels);
            }
        });
    out
}

/// Point `point` of values laid out `[rows, points, columns]`: `[rows, columns]`.
fn point_matrix(
    values: &[f32],
    point: usize,
    points: usize,
    [rows, columns]: [usize; 2],
) -> Strided<'_> {
    Strided::spaced_rows(
        &values[point * columns..],
        [rows, columns],
        points * columns,
    )
}

/// One pass over a batch: which source planes its windows read, where its tiles go, and
/// through which kernels.
struct Pass<'a, Tap> {
    /// The source, row-major `[n, c, height, width]`.
    source: &'a [f32],
    source_dims: [usize; 4],
    /// One group of transformed channels per sampling: channel `c * groups + g` is source
    /// channel `c` read as `samplings[g]` says.
    samplings: Vec<Sampling>,
    placement: Placement,
    /// `tap(out_channel, channel, ky, kx)`: tap `(ky, kx)` of the kernel from transformed
    /// channel `channel` to output channel `out_channel`.
    tap: Tap,
    c_out: usize,
    bias: Option<&'a [f32]>,
}

impl<Tap: Fn(usize, usize, usize, usize) -> f32 + Sync> Pass<'_, Tap> {
    fn channels(&self) -> usize {
        self.source_dims[1] * self.samplings.len()
    }

    /// A 3 x 3 pass: 4 x 4 tiles where the grid holds them ([`large_tiles`]).
    fn run_3x3(&self, out: &mut [f32], per_chunk: Option<usize>) {
        match large_tiles(self.placement.grid) {
            true => self.run::<F43, 6, 3, 4>(out, per_chunk),
            false => self.run::<F23, 4, 3, 2>(out, per_chunk),
        }
    }

    /// A 2 x 2 pass (a phase of a 4 x 4 stride-2 layer).
    fn run_2x2(&self, out: &mut [f32], per_chunk: Option<usize>) {
        self.run::<F22, 3, 2, 2>(out, per_chunk)
    }

    /// Images per chunk: at least [`MIN_TILES`] tiles of side `tile`, else about
    /// [`CHUNK_FLOATS`] transformed values (`per_chunk` when given).
    fn images_per_chunk(&self, points: usize, tile: usize, per_chunk: Option<usize>) -> usize {
        let per_image = self.placement.tiles_per_image(tile).max(1);
        per_chunk.unwrap_or_else(|| {
            (CHUNK_FLOATS / (points * self.channels() * per_image).max(1))
                .max(MIN_TILES.div_ceil(per_image))
                .max(1)
        })
    }

    /// Runs the pass with `M`, writing its tiles into `out` (`[n, c_out, plane]`).
    fn run<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
        &self,
        out: &mut [f32],
        per_chunk: Option<usize>,
    ) {
        let n = self.source_dims[0];
        let [height, width] = self.placement.plane;
        let kernels = transformed_kernels::<M, W, K, T>([self.c_out, self.channels()], &self.tap);
        let per_chunk = self.images_per_chunk(W * W, T, per_chunk);
        out.par_chunks_mut((per_chunk * self.c_out * height * width).max(1))
            .enumerate()
            .for_each(|(index, out)| {
                let images = index * per_chunk..((index + 1) * per_chunk).min(n);
                let (windows, tiles) = self.windows::<M, W, K, T>(images);
                let points = W * W;
                let products: Vec<Vec<f32>> = (0..points)
                    .map(|point| {
                        product(
                            point_matrix(&kernels, point, points, [self.c_out, self.channels()]),
                            point_matrix(&windows, point, points, [self.channels(), tiles]),
                        )
                    })
                    .collect();
                out.par_chunks_mut(self.c_out * height * width)
                    .enumerate()
                    .for_each(|(image, out)| {
                        transforms::output_tiles::<M, W, K, T>(
                            &products,
                            tiles,
                            image,
                            self.placement,
                            self.bias,
                            out,
                        )
                    });
            });
    }

    /// `B^T d B` of every window of `images`, source channels in parallel, laid out
    /// `[channels, W * W, tiles]` (tiles in image, then raster order), and the tile count.
    fn windows<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
        &self,
        images: Range<usize>,
    ) -> (Vec<f32>, usize) {
        let [_, c, height, width] = self.source_dims;
        let groups = self.samplings.len();
        let tiles_per_image = self.placement.tiles_per_image(T);
        let tiles = images.len() * tiles_per_image;
        let grid = self.placement.tiles(T);
        let group_len = (W * W * tiles).max(1);
        let mut out = vec![0f32; W * W * c * groups * tiles];
        // Each source plane is copied into the padded scratch once, then read by every group.
        out.par_chunks_mut(groups * group_len)
            .enumerate()
            .for_each_init(
                || Padded::new::<W, T>([height, width], self.samplings[0].step, grid),
                |padded, (source_channel, out)| {
                    for (local, image) in images.clone().enumerate() {
                        let plane = (image * c + source_channel) * height * width;
                        padded.fill(&self.source[plane..][..height * width], width);
                        let groups = self.samplings.iter().zip(out.chunks_exact_mut(group_len));
                        for (&sampling, out) in groups {
                            let first_tile = local * tiles_per_image;
                            transforms::windows::<M, W, K, T>(
                                padded, sampling, grid, out, tiles, first_tile,
                            );
                        }
                    }
                },
            );
        (out, tiles)
    }
}

/// A layer's weight `[c_small, c_large, k, k]` as a row-major `[rows, columns, k, k]`, read
/// tap by tap: the weight itself (rows are small channels) or its channels swapped.
#[derive(Clone, Copy)]
struct Weight<'a> {
    values: &'a [f32],
    columns: usize,
    k: usize,
}

impl<'a> Weight<'a> {
    /// `weight`, which must be row-major ([`row_major`]): rows are small channels.
    fn of(weight: &'a FlexTensor) -> Self {
        let [_, c_large, k, _] = weight.layout().shape().dims::<4>();
        Weight {
            values: values_of(weight),
            columns: c_large,
            k,
        }
    }

    /// This weight's kernels with rows and columns swapped, into `swapped`. A scatter's
    /// kernel transforms read the kernels large channel by large channel; from the weight
    /// itself each read lands a whole row of kernels away from the last, and in a `perf`
    /// profile those reads were a large share of the shallow discriminator's 128 -> 256 input
    /// gradient; swapped, the copy and the reads together cost a fraction of that.
    fn swapped(&self, swapped: &'a mut Vec<f32>) -> Weight<'a> {
        let kernel = self.k * self.k;
        let rows = self.values.len() / (self.columns * kernel).max(1);
        swapped.resize(self.values.len(), 0.0);
        swapped
            .par_chunks_mut((rows * kernel).max(1))
            .enumerate()
            .for_each(|(column, out)| {
                for (row, out) in out.chunks_exact_mut(kernel).enumerate() {
                    out.copy_from_slice(
                        &self.values[(row * self.columns + column) * kernel..][..kernel],
                    );
                }
            });
        Weight {
            values: swapped,
            columns: rows,
            k: self.k,
        }
    }

    /// Tap `(ky, kx)` of the kernel at `[row, column]`.
    fn tap(&self, [row, column]: [usize; 2], [ky, kx]: [usize; 2]) -> f32 {
        self.values[((row * self.columns + column) * self.k + ky) * self.k + kx]
    }
}

/// `large` (`[n, c_large, h, w]`) read through the layer's kernels, plus `bias`: the small grid
/// `[n, c_small, oh, ow]`. A convolution's forward pass, a transposed convolution's input
/// gradient. The layer must be one [`applies`] accepts.
pub(super) fn gather(
    large: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
) -> FlexTensor {
    gather_in_chunks(large, weight, bias, taps, None)
}

fn gather_in_chunks(
    large: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
    per_chunk: Option<usize>,
) -> FlexTensor {
    let large = row_major(large);
    let source_dims = large.layout().shape().dims::<4>();
    let [n, _, h, w] = source_dims;
    let weight = row_major(weight);
    let c_small = weight.layout().shape().dims::<4>()[0];
    let kernel = Weight::of(&weight);
    let bias = bias.map(row_major);
    let small = [taps.small_side(h), taps.small_side(w)];
    let mut out = vec![0f32; n * c_small * small[0] * small[1]];
    let source = values_of(&large);
    let bias = bias.as_ref().map(values_of);
    match shape(taps).expect("a layer this module computes") {
        Shape::Same3 => Pass {
            source,
            source_dims,
            samplings: vec![Sampling::DENSE],
            placement: Placement::whole(small),
            tap: |o, i, ky, kx| kernel.tap([o, i], [ky, kx]),
            c_out: c_small,
            bias,
        }
        .run_3x3(&mut out, per_chunk),
        // Transformed channel `4 * i + g` is phase `g` of large channel `i`, whose 2 x 2
        // kernel holds the taps of that phase.
        Shape::Halving4 => Pass {
            source,
            source_dims,
            samplings: PHASES.map(|origin| Sampling { step: 2, origin }).to_vec(),
            placement: Placement::whole(small),
            tap: |o, channel: usize, qy, qx| {
                let [py, px] = PHASES[channel % 4];
                kernel.tap([o, channel / 4], [2 * qy + py, 2 * qx + px])
            },
            c_out: c_small,
            bias,
        }
        .run_2x2(&mut out, per_chunk),
    }
    FlexTensor::from_data(TensorData::new(out, [n, c_small, small[0], small[1]]))
}

/// `small` (`[n, c_small, oh, ow]`) written back through the layer's kernels onto a large grid
/// of `large_side`, plus `bias`: `[n, c_large, h, w]`, the adjoint of [`gather`]. A
/// convolution's input gradient, a transposed convolution's forward pass. The layer must be
/// one [`applies`] accepts.
pub(super) fn scatter(
    small: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
    large_side: [usize; 2],
) -> FlexTensor {
    scatter_in_chunks(small, weight, bias, taps, large_side, None)
}

fn scatter_in_chunks(
    small: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    taps: Taps,
    large @ [h, w]: [usize; 2],
    per_chunk: Option<usize>,
) -> FlexTensor {
    let small = row_major(small);
    let source_dims = small.layout().shape().dims::<4>();
    let n = source_dims[0];
    let weight = row_major(weight);
    let c_large = weight.layout().shape().dims::<4>()[1];
    let mut swapped = Vec::new();
    // `kernel.tap([large, small], ..)`.
    let kernel = Weight::of(&weight).swapped(&mut swapped);
    let bias = bias.map(row_major);
    let mut out = vec![0f32; n * c_large * h * w];
    let source = values_of(&small);
    let bias = bias.as_ref().map(values_of);
    match shape(taps).expect("a layer this module computes") {
        // A correlation with each kernel rotated by half a turn.
        Shape::Same3 => Pass {
            source,
            source_dims,
            samplings: vec![Sampling::DENSE],
            placement: Placement::whole(large),
            tap: |i, o, ky, kx| kernel.tap([i, o], [2 - ky, 2 - kx]),
            c_out: c_large,
            bias,
        }
        .run_3x3(&mut out, per_chunk),
        // Large pixel `2 m + r` (per axis) takes small pixels `m - 1 + r` and `m + r`
        // through taps `3 - r` and `1 - r`: a 2 x 2 correlation per phase `r`.
        Shape::Halving4 => {
            for phase @ [ry, rx] in PHASES {
                Pass {
                    source,
                    source_dims,
                    samplings: vec![Sampling {
                        step: 1,
                        origin: phase,
                    }],
                    placement: Placement {
                        grid: [
                            h.saturating_sub(ry).div_ceil(2),
                            w.saturating_sub(rx).div_ceil(2),
                        ],
                        step: 2,
                        phase,
                        plane: large,
                    },
                    tap: |i, o, qy, qx| kernel.tap([i, o], [3 - ry - 2 * qy, 3 - rx - 2 * qx]),
                    c_out: c_large,
                    bias,
                }
                .run_2x2(&mut out, per_chunk);
            }
        }
    }
    FlexTensor::from_data(TensorData::new(out, [n, c_large, h, w]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::ops::ModuleOps;
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

    use crate::kernels::flex::test_tensors::{tensor, values};

    /// Close to flex's direct sums: the transforms change the rounding only.
    fn assert_close(ours: &FlexTensor, expected: &FlexTensor) {
        assert_eq!(ours.layout().shape(), expected.layout().shape());
        let expected = values(expected);
        let scale = expected.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (a, b) in values(ours).iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-5 * scale, "{a} against {b}");
        }
    }

    /// Both shapes on even and odd sides (tiles and phases hanging over the edge), with the
    /// automatic chunks, one image to a chunk and two (a short last chunk when n is odd): the
    /// gather is flex's convolution, the scatter its input gradient and, with a bias, flex's
    /// transposed convolution.
    #[test]
    fn gather_and_scatter_match_flex() {
        for (kernel, stride) in [(3, 1), (4, 2)] {
            let taps = Taps {
                kernel,
                stride,
                padding: 1,
            };
            let conv = ConvOptions::new([stride; 2], [1, 1], [1, 1], 1);
            let transposed = ConvTransposeOptions::new([stride; 2], [1, 1], [0, 0], [1, 1], 1);
            // 3 x 3: 4 x 4 tiles on the first two, 2 x 2 on the last two (`large_tiles`).
            let shapes = [
                [3, 5, 7, 8, 8],
                [2, 4, 3, 9, 11],
                [2, 4, 3, 3, 5],
                [1, 2, 2, 2, 2],
            ];
            for [n, c_large, c_small, h, w] in shapes {
                let x = tensor([n, c_large, h, w], 1);
                let weight = tensor([c_small, c_large, kernel, kernel], 2);
                let bias_of = |c: usize| {
                    let values: Vec<f32> = (0..c).map(|i| i as f32 * 0.25 - 0.5).collect();
                    FlexTensor::from_data(TensorData::new(values, [c]))
                };
                let (small_bias, large_bias) = (bias_of(c_small), bias_of(c_large));
                let small = [taps.small_side(h), taps.small_side(w)];
                let grad = tensor([n, c_small, small[0], small[1]], 3);
                let conv_expected = Flex::conv2d(
                    x.clone(),
                    weight.clone(),
                    Some(small_bias.clone()),
                    conv.clone(),
                );
                let input_expected =
                    Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), conv.clone());
                // A transposed convolution from the small grid grows it to `grown`.
                let grown = small.map(|side| (side - 1) * stride + kernel - 2);
                let transposed_expected = Flex::conv_transpose2d(
                    grad.clone(),
                    weight.clone(),
                    Some(large_bias.clone()),
                    transposed.clone(),
                );
                for per_chunk in [None, Some(1), Some(2)] {
                    let ours = gather_in_chunks(&x, &weight, Some(&small_bias), taps, per_chunk);
                    assert_close(&ours, &conv_expected);
                    let ours = scatter_in_chunks(&grad, &weight, None, taps, [h, w], per_chunk);
                    assert_close(&ours, &input_expected);
                    let bias = Some(&large_bias);
                    let ours = scatter_in_chunks(&grad, &weight, bias, taps, grown, per_chunk);
                    assert_close(&ours, &transposed_expected);
                }
            }
        }
    }

    #[test]
    fn an_empty_batch_gives_an_empty_grid() {
        let taps = Taps {
            kernel: 4,
            stride: 2,
            padding: 1,
        };
        let weight = tensor([16, 16, 4, 4], 0);
        let small = gather(&tensor([0, 16, 8, 8], 1), &weight, None, taps);
        assert_eq!(small.layout().shape().dims::<4>(), [0, 16, 4, 4]);
        let large = scatter(&small, &weight, None, taps, [8, 8]);
        assert_eq!(large.layout().shape().dims::<4>(), [0, 16, 8, 8]);
    }

    #[test]
    fn only_wide_layers_of_the_two_shapes_on_several_tiles_apply() {
        let taps = |kernel, stride| Taps {
            kernel,
            stride,
            padding: 1,
        };
        let grid = [4, 4];
        assert!(applies(taps(3, 1), [16, 16], grid));
        assert!(applies(taps(4, 2), [16, 32], grid));
        assert!(!applies(taps(4, 2), [16, 16], [2, 2]), "one tile per image");
        assert!(!applies(taps(3, 1), [64, 3], grid), "3 inputs");
        assert!(!applies(taps(4, 2), [3, 64], grid), "3 outputs");
        assert!(!applies(taps(3, 2), [16, 16], grid), "stride 2");
        assert!(!applies(taps(4, 1), [16, 16], grid), "4 x 4, stride 1");
    }
}
