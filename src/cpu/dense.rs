//! The classifier's fully connected layers and Adam's step as Burn backend operations on
//! flex, as `extension` does for the convolutional blocks' layers: head-only fine-tuning is
//! these two and nothing else.

use super::extension::{Values, flex_tensor};
use burn::{
    backend::{
        Autodiff, Backend, Dispatch, Flex,
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind},
        },
        backend_extension,
        flex::FlexTensor,
        tensor::FloatTensor,
    },
    prelude::*,
};
use secnn_kernels::{
    adam::{self, AdamStep},
    linear::{self, LinearShape},
};

#[backend_extension(Autodiff, Flex)]
pub trait DenseOps: Backend {
    /// `x [batch, inputs] · weight [inputs, outputs] + bias [outputs]`.
    fn linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;

    /// One Adam step (`secnn_kernels::adam::step`, not differentiated): `lr_betas_epsilon` is
    /// `[lr, β₁, β₂, ε]`, `time` this step's number. Returns `(param, moment_1, moment_2)`.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr_betas_epsilon: [f32; 4],
        time: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `linear` on `Tensor`s (f32 on flex).
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::linear(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()))
}

/// `adam_step` on `Tensor`s: `(param, moment_1, moment_2)` after the step.
///
/// - `param`, `grad` and both moments (f32 on flex) have the same shape
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: [Tensor<D>; 2],
    step: &AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let [moment_1, moment_2] = moments;
    let (param, moment_1, moment_2) = <Dispatch as DenseOps>::adam_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        moment_1.into_dispatch(),
        moment_2.into_dispatch(),
        [step.lr, step.beta_1, step.beta_2, step.epsilon],
        step.time,
    );
    (Tensor::from_dispatch(param), Tensor::from_dispatch(moment_1), Tensor::from_dispatch(moment_2))
}

fn linear_shape(x: &FlexTensor, weight: &FlexTensor) -> LinearShape {
    let [batch, inputs] = x.layout().shape().dims::<2>();
    let [w_inputs, outputs] = weight.layout().shape().dims::<2>();
    assert_eq!(inputs, w_inputs, "{inputs} inputs against a weight for {w_inputs}");
    LinearShape { batch, inputs, outputs }
}

/// `tensor` contiguous from its buffer's start, so its buffer can be written in place (a
/// tensor someone else also holds is copied on the first write).
fn writable(tensor: FlexTensor) -> FlexTensor {
    match tensor.is_contiguous() && tensor.layout().start_offset() == 0 {
        true => tensor,
        false => tensor.to_contiguous(),
    }
}

impl DenseOps for Flex {
    fn linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let shape = linear_shape(&x, &weight);
        let (x, weight, bias) = (Values::of(&x), Values::of(&weight), Values::of(&bias));
        flex_tensor(linear::forward(&shape, x.f32s(), weight.f32s(), bias.f32s()), [shape.batch, shape.outputs])
    }

    fn adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        lr_betas_epsilon: [f32; 4],
        time: usize,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [lr, beta_1, beta_2, epsilon] = lr_betas_epsilon;
        let step = AdamStep { lr, beta_1, beta_2, epsilon, time };
        let n = param.layout().num_elements();
        let (mut param, mut moment_1, mut moment_2) = (writable(param), writable(moment_1), writable(moment_2));
        adam::step(
            &mut param.storage_mut::<f32>()[..n],
            Values::of(&grad).f32s(),
            &mut moment_1.storage_mut::<f32>()[..n],
            &mut moment_2.storage_mut::<f32>()[..n],
            &step,
        );
        (param, moment_1, moment_2)
    }
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// The forward's input and weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = Values::of(&grads.consume::<Flex>(&ops.node));
        let shape = linear_shape(&ops.state.0, &ops.state.1);
        // Cached features need no gradient: head-only fine-tuning skips that product.
        if let Some(node) = node_x {
            let weight = Values::of(&ops.state.1);
            grads.register::<Flex>(node.id, flex_tensor(linear::backward_x(&shape, weight.f32s(), grad.f32s()), [shape.batch, shape.inputs]));
        }
        if let Some(node) = node_weight {
            let x = Values::of(&ops.state.0);
            let grad_weight = linear::backward_weight(&shape, x.f32s(), grad.f32s());
            grads.register::<Flex>(node.id, flex_tensor(grad_weight, [shape.inputs, shape.outputs]));
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, flex_tensor(linear::backward_bias(&shape, grad.f32s()), [shape.outputs]));
        }
    }
}

impl<C: CheckpointStrategy> DenseOps for Autodiff<Flex, C> {
    fn linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let prepared = LinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful();
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = Flex::linear(x.clone(), weight.clone(), bias);
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::linear(x, weight, bias)),
        }
    }

    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        lr_betas_epsilon: [f32; 4],
        time: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [param, grad, moment_1, moment_2] = [param, grad, moment_1, moment_2].map(|t| t.into_primitive());
        let (param, moment_1, moment_2) = Flex::adam_step(param, grad, moment_1, moment_2, lr_betas_epsilon, time);
        (<FloatTensor<Self>>::new(param), <FloatTensor<Self>>::new(moment_1), <FloatTensor<Self>>::new(moment_2))
    }
}
