//! Convolutions with a tiny output, computed as patches times weights.
//!
//! Burn's generic convolution backward takes the weight gradient as a convolution with batch
//! and channels swapped. When the output is only a few pixels (the DCGAN discriminator's last
//! layer maps 4 x 4 to 2 x 2) that costs about 3x PyTorch on flex. Gathering the patches with
//! strided slices and doing one matrix product, whose backward is two more products, is faster
//! there; elsewhere Burn's own kernels win, so only tiny outputs take this path.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use burn::tensor::s;

/// Outputs of at most this many pixels per image and channel take the matrix-product form.
const TINY_OUTPUT_PIXELS: usize = 4;

/// `conv.forward(x)`, through patches times weights when the output is tiny and the layer is
/// a plain one (one group, no dilation, explicit padding).
pub(crate) fn conv2d_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    match tiny_output(conv, [height, width]) {
        Some(plan) => conv2d_as_matmul(conv, x, plan),
        None => conv.forward(x),
    }
}

/// Output size and padding of a layer that takes the matrix-product form.
#[derive(Debug, PartialEq)]
struct TinyOutput {
    size: [usize; 2],
    /// `[(top, bottom), (left, right)]`.
    padding: [(usize, usize); 2],
}

/// The plan for `conv` on `[height, width]` inputs, when it applies: a plain layer whose
/// output has at most [`TINY_OUTPUT_PIXELS`] pixels.
fn tiny_output(conv: &Conv2d, [height, width]: [usize; 2]) -> Option<TinyOutput> {
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
    let size = [(padded_h - kh) / sh + 1, (padded_w - kw) / sw + 1];
    (size[0] * size[1] <= TINY_OUTPUT_PIXELS).then_some(TinyOutput {
        size,
        padding: [(top, bottom), (left, right)],
    })
}

/// One row per output pixel (`[n * oh * ow, c * kh * kw]`, built from `kh * kw` strided slices
/// of the padded input) times the weights (`[c * kh * kw, c_out]`), plus the bias.
fn conv2d_as_matmul(conv: &Conv2d, x: Tensor<4>, plan: TinyOutput) -> Tensor<4> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init;
    use crate::rng::{normal_tensor, seeded};

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Values and all three gradients (input, weight, bias) match Burn's convolution.
    #[test]
    fn matches_burn_convolution_and_its_gradients() {
        let device = Device::default().autodiff();
        // (channels in, out, input side, kernel, stride, padding): the DCGAN's last
        // discriminator layer (4 -> 2), a 3 x 3 same-size layer on 2 x 2, a valid 2 x 2 on 3 x 3.
        for (cin, cout, side, kernel, stride, padding) in
            [(5, 7, 4, 4, 2, 1), (3, 4, 2, 3, 1, 1), (2, 3, 3, 2, 1, 0)]
        {
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
            assert!(
                tiny_output(&conv, [side, side]).is_some(),
                "the case must take the matmul path"
            );
            let expected = conv.forward(x.clone());
            let [_, _, oh, ow] = expected.dims();
            let ours = conv2d_forward(&conv, x.clone());
            assert_eq!(ours.dims(), expected.dims());
            // A non-uniform upstream gradient, so every gradient term is exercised.
            let upstream = normal_tensor(&mut seeded(3), 3, cout * oh * ow, &device)
                .reshape([3, cout, oh, ow]);
            let grads_expected = (expected.clone() * upstream.clone()).sum().backward();
            let grads_ours = (ours.clone() * upstream).sum().backward();
            assert!(max_abs_diff(ours.inner(), expected.inner()) < 1e-5);
            let gx = |g| x.grad(g).unwrap();
            assert!(max_abs_diff(gx(&grads_ours), gx(&grads_expected)) < 1e-5);
            let gw = |g| conv.weight.grad(g).unwrap();
            assert!(max_abs_diff(gw(&grads_ours), gw(&grads_expected)) < 1e-5);
            let bias = conv.bias.as_ref().unwrap();
            let gb = |g| bias.grad(g).unwrap();
            assert!(max_abs_diff(gb(&grads_ours), gb(&grads_expected)) < 1e-5);
        }
    }

    #[test]
    fn larger_outputs_and_other_layers_keep_burns_convolution() {
        let device = Device::default();
        let conv = init::conv2d(&mut seeded(1), [2, 3], 4, 2, 1, &device);
        assert_eq!(
            tiny_output(&conv, [8, 8]),
            None,
            "4 x 4 outputs keep Burn's kernels"
        );
        let expected = TinyOutput {
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
