//! Convolutions that Burn's flex kernels handle slowly, computed from matrix products.
//!
//! Burn's generic convolution backward takes the weight gradient as a convolution with batch
//! and channels swapped, and its forward and input gradient go through an im2col matrix with one
//! row per output pixel and one column per input channel and tap. Two shapes suffer:
//!
//! - a tiny output (the DCGAN discriminator's last layer maps 4 x 4 to 2 x 2): far slower
//!   than PyTorch. Gathering the patches with strided slices and doing one matrix product,
//!   whose backward is two more products, is faster there;
//! - few output channels (the DCGAN generator's last layer, 64 -> 3 at 32 x 32): the im2col
//!   matrix is 192x the size of the output, built forward and again in both gradients. One
//!   product gives every tap's contribution at every pixel (`c_out` numbers per tap), and the
//!   output is the sum of those contributions shifted into place.
//!
//! Elsewhere Burn's own kernels win, so only these layers take the other paths. On flex,
//! the flex kernels' batched products beat both forms and take precedence over them.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use burn::tensor::s;

#[cfg(feature = "flex")]
use crate::kernels::flex;

/// Outputs of at most this many pixels per image and channel take the matrix-product form.
const TINY_OUTPUT_PIXELS: usize = 4;

/// Stride-1 layers with at most this many output channels take the shifted-taps form.
const FEW_OUTPUT_CHANNELS: usize = 4;

/// `conv.forward(x)`, through matrix products when the layer is a plain one (one group, no
/// dilation, explicit padding) and its output is tiny or has few channels, and on flex through
/// the flex kernels' batched products. The reference models call it for every convolution; a
/// custom model gets the same speed by calling it instead of `conv.forward`.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    match plan(conv, [height, width]) {
        Some(Plan::TinyOutput(plan)) => conv2d_as_matmul(conv, x, plan),
        Some(Plan::FewChannels(plan)) => conv2d_as_shifted_taps(conv, x, plan),
        #[cfg(feature = "flex")]
        Some(Plan::Batched { stride, padding }) => match &conv.bias {
            Some(bias) => flex::conv::conv2d(x, conv.weight.val(), bias.val(), stride, padding),
            None => conv.forward(x),
        },
        None => conv.forward(x),
    }
}

/// `conv.forward(x)`; on flex, a plain square f32 layer runs through the flex kernels' batched
/// products. The reference generators call it for every transposed convolution.
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let (Some(bias), true) = (&conv.bias, takes_batched_transpose(conv, &x)) {
        let [stride, _] = conv.stride;
        let [padding, _] = conv.padding;
        return flex::conv::conv_transpose2d(x, conv.weight.val(), bias.val(), stride, padding);
    }
    conv.forward(x)
}

/// Whether `conv` on `x` takes the batched transposed convolution: an f32 layer on flex with a
/// bias, one group, no dilation or output padding, a square kernel, stride and padding, and a
/// non-empty output.
#[cfg(feature = "flex")]
fn takes_batched_transpose(conv: &ConvTranspose2d, x: &Tensor<4>) -> bool {
    let square = |pair: [usize; 2]| pair[0] == pair[1];
    let [_, _, height, width] = x.dims();
    flex::is_flex_f32(&conv.weight)
        && conv.bias.is_some()
        && conv.groups == 1
        && conv.dilation == [1, 1]
        && conv.padding_out == [0, 0]
        && square(conv.kernel_size)
        && square(conv.stride)
        && square(conv.padding)
        && height.min(width) > 0
        && (height.min(width) - 1) * conv.stride[0] + conv.kernel_size[0] > 2 * conv.padding[0]
}

/// Which matrix-product form a layer takes on a given input size.
#[derive(Debug, PartialEq)]
enum Plan {
    TinyOutput(Geometry),
    FewChannels(Geometry),
    /// Some passes as matrix products over chunks of the batch (the flex kernels).
    #[cfg(feature = "flex")]
    Batched {
        stride: usize,
        padding: usize,
    },
}

/// The form for `conv` on `[height, width]` inputs, if any. On flex the batched products come
/// first: on the generators' last layer (64 -> 3 at 32 x 32) they beat the shifted taps
/// (`docs/performance.md`, "Per layer").
fn plan(conv: &Conv2d, input: [usize; 2]) -> Option<Plan> {
    let few = || few_channels(conv, input).map(Plan::FewChannels);
    #[cfg(feature = "flex")]
    if let Some(plan) = batched(conv, input) {
        return Some(plan);
    }
    tiny_output(conv, input).map(Plan::TinyOutput).or_else(few)
}

/// On flex, a plain square f32 layer with bias and the same padding on every side: the flex
/// kernels run some of its passes as batched products (every such layer has at least one).
#[cfg(feature = "flex")]
fn batched(conv: &Conv2d, input: [usize; 2]) -> Option<Plan> {
    if !flex::is_flex_f32(&conv.weight) || conv.bias.is_none() {
        return None;
    }
    let geometry = output_geometry(conv, input)?;
    let [(top, bottom), (left, right)] = geometry.padding;
    let [stride, stride_w] = conv.stride;
    let square = conv.kernel_size[0] == conv.kernel_size[1] && stride == stride_w;
    if !square || [bottom, left, right].iter().any(|&side| side != top) {
        return None;
    }
    Some(Plan::Batched {
        stride,
        padding: top,
    })
}

/// The output size and padding of a stride-1 `conv` with at most [`FEW_OUTPUT_CHANNELS`]
/// output channels, when it is a plain layer.
fn few_channels(conv: &Conv2d, input: [usize; 2]) -> Option<Geometry> {
    let c_out = conv.weight.dims()[0];
    if conv.stride != [1, 1] || c_out > FEW_OUTPUT_CHANNELS {
        return None;
    }
    output_geometry(conv, input)
}

/// Output size and padding of a layer that takes a matrix-product form.
#[derive(Debug, PartialEq)]
struct Geometry {
    size: [usize; 2],
    /// `[(top, bottom), (left, right)]`.
    padding: [(usize, usize); 2],
}

/// The output size and padding of `conv` on `[height, width]` inputs when that output has at
/// most [`TINY_OUTPUT_PIXELS`] pixels and the layer is a plain one.
fn tiny_output(conv: &Conv2d, input: [usize; 2]) -> Option<Geometry> {
    output_geometry(conv, input).filter(|plan| plan.size[0] * plan.size[1] <= TINY_OUTPUT_PIXELS)
}

/// Output size and explicit padding of a plain layer: one group, no dilation, explicit padding,
/// an input (padded) at least as large as the kernel.
fn output_geometry(conv: &Conv2d, [height, width]: [usize; 2]) -> Option<Geometry> {
    let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
        return None;
    };
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return None;
    }
    let [kh, kw] = conv.kernel_size;
    let [sh, sw] = conv.stride;
    let (padded_h, padded_w) = (height + top + bottom, width + left + right);
    if padded_h < kh || padded_w < kw {
        return None;
    }
    Some(Geometry {
        size: [(padded_h - kh) / sh + 1, (padded_w - kw) / sw + 1],
        padding: [(top, bottom), (left, right)],
    })
}

/// One row per output pixel (`[n * oh * ow, c * kh * kw]`, built from `kh * kw` strided slices
/// of the padded input) times the weights (`[c * kh * kw, c_out]`), plus the bias.
fn conv2d_as_matmul(conv: &Conv2d, x: Tensor<4>, plan: Geometry) -> Tensor<4> {
    let [n, c, _, _] = x.dims();
    let [oh, ow] = plan.size;
    let [kh, kw] = conv.kernel_size;
    let [sh, sw] = conv.stride;
    let padded = x.pad(plan.padding, PadMode::Constant(0.0));
    let mut taps = Vec::with_capacity(kh * kw);
    for i in 0..kh {
        for j in 0..kw {
            taps.push(padded.clone().slice(s![
                ..,
                ..,
                i..i + sh * (oh - 1) + 1; sh,
                j..j + sw * (ow - 1) + 1; sw
            ]));
        }
    }
    // [n, c, kh*kw, oh, ow] -> [n, oh, ow, c, kh*kw]: the weight's [c, kh, kw] order per row.
    let patches = Tensor::stack::<5>(taps, 2)
        .permute([0, 3, 4, 1, 2])
        .reshape([n * oh * ow, c * kh * kw]);
    let weight = conv.weight.val();
    let c_out = weight.dims()[0];
    let mut out = patches.matmul(weight.reshape([c_out, c * kh * kw]).transpose());
    if let Some(bias) = &conv.bias {
        out = out + bias.val().reshape([1, c_out]);
    }
    out.reshape([n, oh * ow, c_out])
        .swap_dims(1, 2)
        .reshape([n, c_out, oh, ow])
}

/// Stride 1: every input pixel times every tap's weights in one product (`[n * h * w, c]` x
/// `[c, kh * kw * c_out]`), padded as the input would be; output pixel `(y, x)` then sums tap
/// `(i, j)`'s contribution at padded position `(y + i, x + j)`.
fn conv2d_as_shifted_taps(conv: &Conv2d, x: Tensor<4>, plan: Geometry) -> Tensor<4> {
    let [n, c, height, width] = x.dims();
    let [oh, ow] = plan.size;
    let weight = conv.weight.val();
    let [c_out, _, kh, kw] = weight.dims();
    let pixels = x.permute([0, 2, 3, 1]).reshape([n * height * width, c]);
    // [c_out, c, kh, kw] -> [c, kh, kw, c_out]: tap (i, j) owns c_out columns from
    // (i * kw + j) * c_out.
    let per_tap = weight.permute([1, 2, 3, 0]).reshape([c, kh * kw * c_out]);
    let [rows, cols] = plan.padding;
    let contributions = pixels
        .matmul(per_tap)
        .reshape([n, height, width, kh * kw * c_out])
        .pad([rows, cols, (0, 0)], PadMode::Constant(0.0));
    let device = contributions.device();
    let shifted = (0..kh * kw).map(|tap| {
        let (i, j, t) = (tap / kw, tap % kw, tap * c_out);
        contributions
            .clone()
            .slice(s![.., i..i + oh, j..j + ow, t..t + c_out])
    });
    // An empty kernel sums no taps.
    let out = shifted
        .reduce(|sum, tap| sum + tap)
        .unwrap_or_else(|| Tensor::zeros([n, oh, ow, c_out], &device));
    let out = out.permute([0, 3, 1, 2]);
    match &conv.bias {
        Some(bias) => out + bias.val().reshape([1, c_out, 1, 1]),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init;
    use crate::rng::{normal_tensor, seeded};
    use burn::module::Param;

    /// Equal up to float rounding: 1e-5 relative to the largest expected magnitude (sums over
    /// many pixels run in a different order than Burn's, and on wgpu in yet another).
    fn assert_close<const D: usize>(ours: Tensor<D>, expected: Tensor<D>) {
        let scale: f32 = expected.clone().abs().max().into_scalar();
        let diff: f32 = (ours - expected).abs().max().into_scalar();
        assert!(
            diff <= 1e-5 * scale.max(1.0),
            "difference {diff} at scale {scale}"
        );
    }

    /// `ours` against `expected`, both computed from `x` by a layer with `weight` and `bias`:
    /// the values, then the input, weight and bias gradients under an upstream gradient drawn
    /// from `seed` (non-uniform, so every gradient term is exercised).
    fn assert_layer_matches(
        ours: Tensor<4>,
        expected: Tensor<4>,
        x: &Tensor<4>,
        weight: &Param<Tensor<4>>,
        bias: &Param<Tensor<1>>,
        seed: u64,
    ) {
        assert_eq!(ours.dims(), expected.dims());
        let [n, c, oh, ow] = expected.dims();
        let upstream = normal_tensor(&mut seeded(seed), n, c * oh * ow, &expected.device())
            .reshape([n, c, oh, ow]);
        let grads_expected = (expected.clone() * upstream.clone()).sum().backward();
        let grads_ours = (ours.clone() * upstream).sum().backward();
        assert_close(ours.inner(), expected.inner());
        assert_close(
            x.grad(&grads_ours).unwrap(),
            x.grad(&grads_expected).unwrap(),
        );
        let gw = |g| weight.grad(g).unwrap();
        assert_close(gw(&grads_ours), gw(&grads_expected));
        let gb = |g| bias.grad(g).unwrap();
        assert_close(gb(&grads_ours), gb(&grads_expected));
    }

    /// Values and all three gradients (input, weight, bias) match Burn's convolution.
    #[test]
    fn matches_burn_convolution_and_its_gradients() {
        let device = Device::default().autodiff();
        // (channels in, out, input side, kernel, stride, padding, tiny output?): the DCGAN's
        // last discriminator layer (4 -> 2), a 3 x 3 same-size layer on 2 x 2, a valid 2 x 2 on
        // 3 x 3; then few output channels: the DCGAN generator's output layer (at a smaller
        // width), a valid 2 x 2, and a 5 x 5 padded by 3 on a 3 x 3 input (output larger than
        // input).
        for (cin, cout, side, kernel, stride, padding, tiny) in [
            (5, 7, 4, 4, 2, 1, true),
            (3, 4, 2, 3, 1, 1, true),
            (2, 3, 3, 2, 1, 0, true),
            (6, 3, 8, 3, 1, 1, false),
            (4, 2, 5, 2, 1, 0, false),
            (3, 1, 3, 5, 1, 3, false),
        ] {
            let conv = init::conv2d(
                &mut seeded(1),
                [cin, cout],
                kernel,
                stride,
                padding,
                &device,
            );
            let x = normal_tensor(&mut seeded(2), 3, cin * side * side, &device)
                .reshape([3, cin, side, side])
                .require_grad();
            // Each form is called directly: on flex `plan` prefers the batched products.
            let ours = match (
                tiny_output(&conv, [side, side]),
                few_channels(&conv, [side, side]),
            ) {
                (Some(geometry), _) if tiny => conv2d_as_matmul(&conv, x.clone(), geometry),
                (_, Some(geometry)) if !tiny => conv2d_as_shifted_taps(&conv, x.clone(), geometry),
                _ => panic!("{cin} -> {cout} on {side} must take the expected form"),
            };
            let expected = conv.forward(x.clone());
            let bias = conv.bias.as_ref().unwrap();
            assert_layer_matches(ours, expected, &x, &conv.weight, bias, 3);
        }
    }

    /// On flex, the batched products, with the input gradient batched or flex's, and on wide
    /// layers Winograd's products, give Burn's values and all three gradients, and the same
    /// values without autodiff.
    #[cfg(feature = "flex")]
    #[test]
    fn batched_convolution_matches_burn_on_flex() {
        use crate::kernels::flex::conv::scatters_batched;
        let device = Device::default().autodiff();
        if !crate::kernels::flex::is_flex(&device) {
            return; // a flex-only path; other backends keep Burn's kernels
        }
        // (channels in, out, input side, kernel, stride, input gradient batched unless
        // Winograd's?, Winograd's?)
        for (cin, cout, side, kernel, stride, batched_input_gradient, winograd) in [
            (6, 5, 7, 3, 1, true, false),  // a 7 x 7 stride-1 output, thin: batched
            (3, 8, 18, 4, 2, true, false), // 3 input channels, 9 x 9 output
            (6, 5, 8, 4, 2, true, false),  // a 4 x 4 output
            (6, 5, 4, 4, 2, true, false),  // 2 x 2: also a tiny output
            (16, 20, 9, 3, 2, false, false), // wide, 5 x 5 output, 3 x 3 stride 2: flex's
            (16, 20, 8, 3, 1, false, true), // wide enough for Winograd's F(2 x 2, 3 x 3)
            (20, 16, 9, 4, 2, true, true), // Winograd's F(2 x 2, 2 x 2) per phase, odd side
        ] {
            let conv = init::conv2d(&mut seeded(4), [cin, cout], kernel, stride, 1, &device);
            let out_side = (side + 2 - kernel) / stride + 1;
            assert_eq!(
                scatters_batched(out_side * out_side, [cout, cin]),
                batched_input_gradient,
                "{cin} -> {cout} on {side}"
            );
            assert!(matches!(
                plan(&conv, [side, side]),
                Some(Plan::Batched { .. })
            ));
            // The wide layers are the ones that exercise Winograd's products.
            let taps = crate::kernels::flex::patches::Taps {
                kernel,
                stride,
                padding: 1,
            };
            let applies = crate::kernels::flex::winograd::applies(taps, [cout, cin], [out_side; 2]);
            assert_eq!(applies, winograd, "{cin} -> {cout} on {side}");
            let x = normal_tensor(&mut seeded(5), 2, cin * side * side, &device)
                .reshape([2, cin, side, side])
                .require_grad();
            let expected = conv.forward(x.clone());
            let ours = conv2d(&conv, x.clone());
            let bias = conv.bias.as_ref().unwrap();
            assert_layer_matches(ours.clone(), expected, &x, &conv.weight, bias, 6);
            let plain = conv.valid();
            assert_close(conv2d(&plain, x.inner()), ours.inner());
        }
    }

    /// On flex, transposed convolutions take the batched products (the forward pass on small
    /// inputs only) or, on wide layers, Winograd's; values and all three gradients match
    /// Burn's layer, with and without autodiff.
    #[cfg(feature = "flex")]
    #[test]
    fn batched_transposed_convolution_matches_burn_on_flex() {
        let device = Device::default().autodiff();
        if !crate::kernels::flex::is_flex(&device) {
            return; // a flex-only path; other backends keep Burn's kernels
        }
        // (channels in, out, input height, width, kernel, stride, padding)
        for (cin, cout, height, width, kernel, stride, padding) in [
            (6, 5, 4, 4, 4, 2, 1), // the DCGAN generator's first upsampling, 4 x 4 -> 8 x 8
            (3, 4, 3, 3, 3, 1, 0), // stride 1, no padding: 3 x 3 -> 5 x 5
            (2, 3, 2, 2, 3, 2, 1), // taps that fall outside the output
            (6, 5, 8, 8, 4, 2, 1), // 8 x 8 inputs: flex's forward pass, batched gradients
            (4, 3, 3, 6, 4, 2, 1), // a non-square input
            (16, 20, 4, 4, 4, 2, 1), // wide enough for Winograd's F(2 x 2, 2 x 2) per phase
            (20, 16, 5, 7, 4, 2, 1), // the same on an odd, non-square input
        ] {
            let conv = init::conv_transpose2d(
                &mut seeded(7),
                [cin, cout],
                kernel,
                stride,
                padding,
                &device,
            );
            let x = normal_tensor(&mut seeded(8), 3, cin * height * width, &device)
                .reshape([3, cin, height, width]);
            assert!(takes_batched_transpose(&conv, &x), "{cin} -> {cout}");
            // The wide layers are the ones that exercise Winograd's products.
            let taps = crate::kernels::flex::patches::Taps {
                kernel,
                stride,
                padding,
            };
            let winograd =
                crate::kernels::flex::winograd::applies(taps, [cin, cout], [height, width]);
            assert_eq!(winograd, cin.min(cout) >= 16, "{cin} -> {cout}");
            let x = x.require_grad();
            let expected = conv.forward(x.clone());
            let ours = conv_transpose2d(&conv, x.clone());
            let bias = conv.bias.as_ref().unwrap();
            assert_layer_matches(ours.clone(), expected, &x, &conv.weight, bias, 9);
            // Without autodiff (sampling): the same values.
            let plain = conv.valid();
            let values = conv_transpose2d(&plain, x.clone().inner());
            assert_close(values, ours.inner());
        }
    }

    /// An empty batch through the batched paths gives an empty output of the right shape and
    /// empty gradients, as Burn's layers do.
    #[cfg(feature = "flex")]
    #[test]
    fn batched_paths_take_an_empty_batch() {
        let device = Device::default().autodiff();
        let conv = init::conv2d(&mut seeded(1), [6, 5], 4, 2, 1, &device);
        let x = Tensor::<4>::zeros([0, 6, 8, 8], &device).require_grad();
        let y = conv2d(&conv, x.clone());
        assert_eq!(y.dims(), [0, 5, 4, 4]);
        let grads = y.sum().backward();
        assert_eq!(x.grad(&grads).map(|g| g.dims()), Some([0, 6, 8, 8]));
        let weight_grad = conv.weight.grad(&grads).map(|g| g.dims());
        assert_eq!(weight_grad, Some([5, 6, 4, 4]));
        let transposed = init::conv_transpose2d(&mut seeded(2), [6, 5], 4, 2, 1, &device);
        let x = Tensor::<4>::zeros([0, 6, 4, 4], &device).require_grad();
        let y = conv_transpose2d(&transposed, x.clone());
        assert_eq!(y.dims(), [0, 5, 8, 8]);
        let grads = y.sum().backward();
        assert_eq!(x.grad(&grads).map(|g| g.dims()), Some([0, 6, 4, 4]));
        let weight_grad = transposed.weight.grad(&grads).map(|g| g.dims());
        assert_eq!(weight_grad, Some([6, 5, 4, 4]));
    }

    #[test]
    fn larger_outputs_and_other_layers_keep_burns_convolution() {
        let device = Device::default();
        let conv = init::conv2d(&mut seeded(1), [2, 3], 4, 2, 1, &device);
        // (On flex, the batched kernels may still take such layers: not a matrix-product form.)
        let matrix_form = |plan| matches!(plan, Some(Plan::TinyOutput(_) | Plan::FewChannels(_)));
        assert!(
            !matrix_form(plan(&conv, [8, 8])),
            "4 x 4 outputs of a strided layer keep Burn's kernels, however few their channels"
        );
        let wide = init::conv2d(
            &mut seeded(1),
            [2, FEW_OUTPUT_CHANNELS + 1],
            3,
            1,
            1,
            &device,
        );
        assert!(!matrix_form(plan(&wide, [8, 8])), "more output channels");
        let narrow = init::conv2d(&mut seeded(1), [2, FEW_OUTPUT_CHANNELS], 3, 1, 1, &device);
        assert!(few_channels(&narrow, [8, 8]).is_some());
        let narrow_plan = plan(&narrow, [8, 8]);
        #[cfg(feature = "flex")]
        if crate::kernels::flex::is_flex(&device) {
            // On flex the batched products come first.
            assert!(matches!(narrow_plan, Some(Plan::Batched { .. })));
        } else {
            assert!(matches!(narrow_plan, Some(Plan::FewChannels(_))));
        }
        #[cfg(not(feature = "flex"))]
        assert!(matches!(narrow_plan, Some(Plan::FewChannels(_))));
        let expected = Geometry {
            size: [2, 2],
            padding: [(1, 1), (1, 1)],
        };
        assert_eq!(tiny_output(&conv, [4, 4]), Some(expected));
        let mut dilated = conv.clone();
        dilated.dilation = [2, 2];
        assert_eq!(tiny_output(&dilated, [4, 4]), None);
        let mut same = conv;
        same.padding = PaddingConfig2d::Same;
        assert_eq!(tiny_output(&same, [4, 4]), None);
    }
}
