//! The backward steps of the CPU operations under autodiff: each calls the matching kernel and
//! registers the gradients of the inputs that need one.

use super::{Values, conv_shape, flex_tensor, norm_shape, normalization, pool_shape};
use burn::backend::{
    Flex,
    ops::FloatTensorOps,
    autodiff::{
        NodeId,
        checkpoint::base::Checkpointer,
        grads::Gradients,
        ops::{Backward, Ops},
    },
    flex::FlexTensor,
};
use secnn_kernels::{batch_norm, conv, pool, scale};

#[derive(Debug)]
pub(super) struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// The forward's input and weight, and its padding.
    type State = (FlexTensor, FlexTensor, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        let (x, weight, padding) = ops.state;
        let shape = conv_shape(&x, &weight, padding);
        let (x, weight) = (Values::of(&x), Values::of(&weight));
        let found = conv::backward(&shape, x.f32s(), weight.f32s(), grad.f32s(), node_x.is_some());
        if let Some(grad_x) = found.x {
            register_like(grads, node_x.map(|node| node.id), grad_x, &x);
        }
        register_like(grads, node_weight.map(|node| node.id), found.weight, &weight);
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, flex_tensor(found.bias, [shape.c_out]));
        }
    }
}

#[derive(Debug)]
pub(super) struct MeansBackward;

impl Backward<Flex, 1> for MeansBackward {
    /// The forward's input shape.
    type State = [usize; 4];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let [batch, channels, height, width] = ops.state;
            let shares = flex_tensor(scale::means_backward(grad.f32s(), height * width), [batch, channels, 1, 1]);
            // Broadcast, not written out: Burn adds it in place to x's gradient from the
            // scaling (one pass), where a full tensor took a pass to write and one more to read.
            grads.register::<Flex>(node.id, Flex::float_expand(shares, ops.state.into()));
        }
    }
}

#[derive(Debug)]
pub(super) struct ScaleBackward;

impl Backward<Flex, 2> for ScaleBackward {
    /// The forward's input and weights.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weights] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        let (x, weights) = (Values::of(&ops.state.0), Values::of(&ops.state.1));
        let (grad_x, grad_weights) = scale::backward(x.f32s(), weights.f32s(), grad.f32s());
        register_like(grads, node_x.map(|node| node.id), grad_x, &x);
        register_like(grads, node_weights.map(|node| node.id), grad_weights, &weights);
    }
}

#[derive(Debug)]
pub(super) struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    /// The forward's input and output.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let (x, out) = (Values::of(&ops.state.0), Values::of(&ops.state.1));
            let grad_x = pool::backward(&pool_shape(&x.0), x.f32s(), out.f32s(), grad.f32s());
            register_like(grads, Some(node.id), grad_x, &x);
        }
    }
}

#[derive(Debug)]
pub(super) struct ScaledPoolBackward;

impl Backward<Flex, 2> for ScaledPoolBackward {
    /// The forward's input, its pooling (before the scaling) and the weights.
    type State = (FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weights] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        let (x, pooled, weights) = (Values::of(&ops.state.0), Values::of(&ops.state.1), Values::of(&ops.state.2));
        let (grad_x, grad_weights) = pool::scaled_backward(&pool_shape(&x.0), x.f32s(), pooled.f32s(), weights.f32s(), grad.f32s());
        register_like(grads, node_x.map(|node| node.id), grad_x, &x);
        register_like(grads, node_weights.map(|node| node.id), grad_weights, &weights);
    }
}

#[derive(Debug)]
pub(super) struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    /// The forward's input, gamma, beta, statistics, epsilon and whether a ReLU followed.
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor, f32, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        let (x, gamma, beta, statistics, epsilon, relu) = ops.state;
        let (x, gamma, beta, statistics) = (Values::of(&x), Values::of(&gamma), Values::of(&beta), Values::of(&statistics));
        let shape = norm_shape(&x.0);
        let norm = normalization(&gamma, &beta, &statistics, epsilon, relu);
        let found = batch_norm::backward(&shape, x.f32s(), &norm, grad.f32s());
        register_like(grads, node_x.map(|node| node.id), found.x, &x);
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(found.gamma, [shape.channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(found.beta, [shape.channels]));
        }
    }
}

/// Registers `values` as the gradient of the parent `node`, where it needs one, shaped like `like`.
fn register_like(grads: &mut Gradients, node: Option<NodeId>, values: Vec<f32>, like: &Values) {
    if let Some(node) = node {
        grads.register::<Flex>(node, flex_tensor(values, like.0.layout().shape().clone()));
    }
}
