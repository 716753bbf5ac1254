//! The autodiff side of [`BatchedConv`]: each layer is recorded as one op whose backward pass
//! computes the input, weight and bias gradients asked for.

use burn::backend::Autodiff;
use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;

use super::super::patches::bias_gradient;
use super::BatchedConv;
use super::layer::Layer;

impl<C: CheckpointStrategy> BatchedConv for Autodiff<Flex, C> {
    fn batched_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let layer = Layer::new(false, weight.primitive(), stride, padding);
        record::<C>(layer, x, weight, bias)
    }

    fn batched_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let layer = Layer::new(true, weight.primitive(), stride, padding);
        record::<C>(layer, x, weight, bias)
    }
}

/// The forward pass of `layer`, recorded with its backward pass when gradients are tracked.
fn record<C: CheckpointStrategy>(
    layer: Layer,
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    match LayerBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
            let output = layer.forward(&x, &weight, bias.primitive());
            prep.finish((x, weight, layer), output)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(layer.forward(x.primitive(), weight.primitive(), bias.primitive()))
        }
    }
}

#[derive(Debug)]
struct LayerBackward;

impl Backward<Flex, 3> for LayerBackward {
    /// The input, the weight and the layer.
    type State = (FlexTensor, FlexTensor, Layer);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, layer) = ops.state;
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, bias_gradient(&grad));
        }
        let wanted = [node_x.is_some(), node_weight.is_some()];
        let (dx, dw) = layer.gradients(x, weight, grad, wanted);
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, dw);
        }
    }
}
