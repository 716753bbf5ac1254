//! One layer's passes: which products (flex's, the batched patch products or Winograd's) each
//! forward pass and gradient takes on a given input.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::super::batched::{correlate, gather, patch_products, scatter};
use super::super::patches::Taps;
use super::super::winograd;
use super::scatters_batched;

/// A layer's direction and geometry: what the backward pass needs besides its tensors.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layer {
    transposed: bool,
    taps: Taps,
}

impl Layer {
    pub(super) fn new(
        transposed: bool,
        weight: &FlexTensor,
        stride: usize,
        padding: usize,
    ) -> Self {
        let kernel = weight.layout().shape().dims::<4>()[2];
        let taps = Taps {
            kernel,
            stride,
            padding,
        };
        Layer { transposed, taps }
    }

    /// Whether this layer's scatter (a transposed convolution's forward pass, a convolution's
    /// input gradient) takes the batched product on input `x`.
    fn scatters_batched(&self, x: &FlexTensor, weight: &FlexTensor) -> bool {
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let [c_small, c_large, _, _] = weight.layout().shape().dims::<4>();
        let pixels = match self.transposed {
            true => h * w,
            false => self.taps.small_side(h) * self.taps.small_side(w),
        };
        scatters_batched(pixels, [c_small, c_large])
    }

    /// Whether this layer's gathers and scatters on input `x` take Winograd's products.
    fn takes_winograd(&self, x: &FlexTensor, weight: &FlexTensor) -> bool {
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let small = match self.transposed {
            true => [h, w],
            false => [self.taps.small_side(h), self.taps.small_side(w)],
        };
        let [c_small, c_large, _, _] = weight.layout().shape().dims::<4>();
        winograd::applies(self.taps, [c_small, c_large], small)
    }

    fn conv_options(&self) -> ConvOptions<2> {
        let Taps {
            stride, padding, ..
        } = self.taps;
        ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1)
    }

    fn transpose_options(&self) -> ConvTransposeOptions<2> {
        let Taps {
            stride, padding, ..
        } = self.taps;
        ConvTransposeOptions::new([stride; 2], [padding; 2], [0, 0], [1, 1], 1)
    }

    /// Large side of a transposed convolution's output from its input side.
    fn grown(&self, side: usize) -> usize {
        let Taps {
            kernel,
            stride,
            padding,
        } = self.taps;
        (side - 1) * stride + kernel - 2 * padding
    }

    pub(super) fn forward(
        &self,
        x: &FlexTensor,
        weight: &FlexTensor,
        bias: &FlexTensor,
    ) -> FlexTensor {
        let winograd = self.takes_winograd(x, weight);
        if !self.transposed {
            return match winograd {
                true => winograd::gather(x, weight, Some(bias), self.taps),
                false => gather(x, weight, Some(bias), self.taps),
            };
        }
        let [_, _, h, w] = x.layout().shape().dims::<4>();
        let large = [self.grown(h), self.grown(w)];
        if winograd {
            winograd::scatter(x, weight, Some(bias), self.taps, large)
        } else if self.scatters_batched(x, weight) {
            scatter(x, weight, Some(bias), self.taps, large)
        } else {
            let options = self.transpose_options();
            Flex::conv_transpose2d(x.clone(), weight.clone(), Some(bias.clone()), options)
        }
    }

    /// The input and weight gradients asked for, from the upstream gradient `grad`.
    pub(super) fn gradients(
        &self,
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        [want_input, want_weight]: [bool; 2],
    ) -> (Option<FlexTensor>, Option<FlexTensor>) {
        let winograd = self.takes_winograd(&x, &weight);
        if self.transposed && winograd {
            let dx = want_input.then(|| winograd::gather(&grad, &weight, None, self.taps));
            let dw = want_weight.then(|| correlate(&grad, &x, self.taps));
            return (dx, dw);
        }
        if self.transposed {
            // Both gradients read the patches of the upstream gradient (the large grid).
            let products = patch_products(
                &grad,
                self.taps,
                want_input.then_some((&weight, None)),
                want_weight.then_some(&x),
            );
            return (products.gathered, products.correlated);
        }
        let dw = want_weight.then(|| correlate(&x, &grad, self.taps));
        let dx = want_input.then(|| {
            let [_, _, h, w] = x.layout().shape().dims::<4>();
            if winograd {
                winograd::scatter(&grad, &weight, None, self.taps, [h, w])
            } else if self.scatters_batched(&x, &weight) {
                scatter(&grad, &weight, None, self.taps, [h, w])
            } else {
                Flex::conv2d_x_backward(x, weight, grad, self.conv_options())
            }
        });
        (dx, dw)
    }
}
