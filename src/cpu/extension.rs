//! The CPU kernels as Burn backend operations on flex, with and without autodiff.
//!
//! Burn's `backend_extension` routes a call on `Dispatch` tensors to the implementation for the
//! backend they live on; each autodiff implementation registers a backward step that calls the
//! matching kernel. Only flex is listed (any other backend would panic), so callers check the
//! device first: [`super::runs_here`].

use secnn_kernels::{
    batch_norm::{self, NormShape, Normalization},
    conv::{self, ConvShape},
    pool::{self, PoolShape},
    scale,
};
use burn::{
    backend::{
        Autodiff, Backend, Dispatch, Flex,
        autodiff::{checkpoint::strategy::CheckpointStrategy, ops::{Backward, OpsKind}},
        backend_extension,
        flex::FlexTensor,
        tensor::FloatTensor,
    },
    prelude::*,
};

mod backward;

use backward::{ConvBackward, MeansBackward, NormBackward, PoolBackward, ScaleBackward, ScaledPoolBackward};

#[backend_extension(Autodiff, Flex)]
pub trait CpuOps: Backend {
    /// A stride-1 convolution with bias and `[top, bottom, left, right]` zero padding.
    fn conv2d_stride1(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 4],
    ) -> FloatTensor<Self>;

    /// `[batch, channels]`: the mean of each channel of `x` `[batch, channels, height, width]`.
    fn channel_means(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x` `[batch, channels, height, width]` times `weights` `[batch, channels]`, per channel.
    fn scale_channels(x: FloatTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self>;

    /// 2×2 max pooling, stride 2.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// [`Self::max_pool2x2`], then each channel scaled by its weight (`weights`
    /// `[batch, channels]`): for positive weights, the pooling of `scale_channels(x, weights)`.
    fn max_pool2x2_scaled(x: FloatTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `[2, channels]`: each channel's batch mean and biased variance (not differentiated).
    fn batch_statistics(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch normalization with `statistics` `[2, channels]` (mean and variance), then a ReLU
    /// when `relu`: in training those of `x` from [`Self::batch_statistics`], differentiated as
    /// a whole (their dependence on `x` included); in inference (no autodiff) the running ones.
    fn normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        statistics: FloatTensor<Self>,
        epsilon: f32,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// `conv2d_stride1` on `Tensor`s (f32 on flex).
pub fn conv2d_stride1(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, padding: [usize; 4]) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::conv2d_stride1(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        padding,
    ))
}

/// `channel_means` on `Tensor`s (f32 on flex): `[batch, channels]`.
pub fn channel_means(x: Tensor<4>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::channel_means(x.into_dispatch()))
}

/// `scale_channels` on `Tensor`s (f32 on flex).
pub fn scale_channels(x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::scale_channels(x.into_dispatch(), weights.into_dispatch()))
}

/// `max_pool2x2` on `Tensor`s (f32 on flex).
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::max_pool2x2(x.into_dispatch()))
}

/// `max_pool2x2_scaled` on `Tensor`s (f32 on flex).
pub fn max_pool2x2_scaled(x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::max_pool2x2_scaled(x.into_dispatch(), weights.into_dispatch()))
}

/// `batch_statistics` on `Tensor`s (f32 on flex): `[2, channels]`.
pub fn batch_statistics(x: Tensor<4>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::batch_statistics(x.into_dispatch()))
}

/// `normalize` on `Tensor`s (f32 on flex).
pub fn normalize(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, statistics: Tensor<2>, epsilon: f32, relu: bool) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::normalize(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        statistics.into_dispatch(),
        epsilon,
        relu,
    ))
}

fn dims4(tensor: &FlexTensor) -> [usize; 4] {
    tensor.layout().shape().dims::<4>()
}

/// The values of a tensor, contiguous (copying only a strided one).
pub(super) struct Values(FlexTensor);

impl Values {
    pub(super) fn of(tensor: &FlexTensor) -> Self {
        Self(tensor.to_contiguous())
    }

    pub(super) fn f32s(&self) -> &[f32] {
        self.0.as_slice::<f32>().expect("a contiguous f32 tensor")
    }
}

pub(super) fn flex_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

fn conv_shape(x: &FlexTensor, weight: &FlexTensor, padding: [usize; 4]) -> ConvShape {
    let [batch, c_in, height, width] = dims4(x);
    let [c_out, w_in, kh, kw] = dims4(weight);
    assert_eq!(c_in, w_in, "input channels {c_in} against weight channels {w_in}");
    ConvShape { batch, c_in, c_out, height, width, kernel: [kh, kw], padding }
}

fn pool_shape(x: &FlexTensor) -> PoolShape {
    let [batch, channels, height, width] = dims4(x);
    PoolShape { planes: batch * channels, height, width }
}

fn norm_shape(x: &FlexTensor) -> NormShape {
    let [batch, channels, height, width] = dims4(x);
    NormShape { batch, channels, pixels: height * width }
}

/// The values of `x` to change in place, where nothing else holds them and they are exactly its
/// elements, in order.
fn sole_values(x: &mut FlexTensor) -> Option<&mut [f32]> {
    let elements = x.layout().num_elements();
    if !x.is_contiguous() || x.layout().start_offset() != 0 {
        return None;
    }
    x.try_storage_mut::<f32>().filter(|values| values.len() == elements)
}

/// The kernels' view of one batch normalization: gamma, beta, a `batch_statistics` result.
fn normalization<'a>(gamma: &'a Values, beta: &'a Values, statistics: &'a Values, epsilon: f32, relu: bool) -> Normalization<'a> {
    let (mean, variance) = split_statistics(statistics.f32s());
    Normalization { gamma: gamma.f32s(), beta: beta.f32s(), mean, variance, epsilon, relu }
}

/// Mean and variance rows of a `batch_statistics` result.
fn split_statistics(statistics: &[f32]) -> (&[f32], &[f32]) {
    statistics.split_at(statistics.len() / 2)
}

impl CpuOps for Flex {
    fn conv2d_stride1(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, padding: [usize; 4]) -> FlexTensor {
        let shape = conv_shape(&x, &weight, padding);
        let (x, weight, bias) = (Values::of(&x), Values::of(&weight), Values::of(&bias));
        let out = conv::forward(&shape, x.f32s(), weight.f32s(), bias.f32s());
        let [height, width] = shape.output_size().expect("the kernel fits the padded input");
        flex_tensor(out, [shape.batch, shape.c_out, height, width])
    }

    fn channel_means(x: FlexTensor) -> FlexTensor {
        let [batch, channels, height, width] = dims4(&x);
        flex_tensor(scale::means(Values::of(&x).f32s(), height * width), [batch, channels])
    }

    fn scale_channels(mut x: FlexTensor, weights: FlexTensor) -> FlexTensor {
        let weights = Values::of(&weights);
        if let Some(values) = sole_values(&mut x) {
            // Nobody else holds x (inference): no new buffer.
            scale::forward_in_place(values, weights.f32s());
            return x;
        }
        let x = Values::of(&x);
        flex_tensor(scale::forward(x.f32s(), weights.f32s()), x.0.layout().shape().clone())
    }

    fn max_pool2x2(x: FlexTensor) -> FlexTensor {
        let [batch, channels, ..] = dims4(&x);
        let shape = pool_shape(&x);
        let out = pool::forward(&shape, Values::of(&x).f32s());
        let [height, width] = shape.output_size();
        flex_tensor(out, [batch, channels, height, width])
    }

    fn max_pool2x2_scaled(x: FlexTensor, weights: FlexTensor) -> FlexTensor {
        // Nothing keeps the pooling (no backward): scaled in place.
        Self::scale_channels(Self::max_pool2x2(x), weights)
    }

    fn batch_statistics(x: FlexTensor) -> FlexTensor {
        let shape = norm_shape(&x);
        let (mut mean, variance) = batch_norm::statistics(&shape, Values::of(&x).f32s());
        mean.extend(variance);
        flex_tensor(mean, [2, shape.channels])
    }

    fn normalize(mut x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, statistics: FlexTensor, epsilon: f32, relu: bool) -> FlexTensor {
        let shape = norm_shape(&x);
        let (gamma, beta, statistics) = (Values::of(&gamma), Values::of(&beta), Values::of(&statistics));
        let norm = normalization(&gamma, &beta, &statistics, epsilon, relu);
        if let Some(values) = sole_values(&mut x) {
            // Nobody else holds x (inference; training keeps x for the backward): no new buffer.
            batch_norm::forward_in_place(&shape, values, &norm);
            return x;
        }
        let x = Values::of(&x);
        let out = batch_norm::forward(&shape, x.f32s(), &norm);
        flex_tensor(out, x.0.layout().shape().clone())
    }
}

/// `x` pooled, and pooled then scaled by `weights`: both `[batch, channels, height / 2, width / 2]`.
fn pooled_and_scaled(x: &FlexTensor, weights: &FlexTensor) -> (FlexTensor, FlexTensor) {
    let [batch, channels, ..] = dims4(x);
    let shape = pool_shape(x);
    let (pooled, scaled) = pool::scaled_forward(&shape, Values::of(x).f32s(), Values::of(weights).f32s());
    let [height, width] = shape.output_size();
    let dims = [batch, channels, height, width];
    (flex_tensor(pooled, dims), flex_tensor(scaled, dims))
}

impl<C: CheckpointStrategy> CpuOps for Autodiff<Flex, C> {
    fn conv2d_stride1(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        padding: [usize; 4],
    ) -> FloatTensor<Self> {
        let prepared = ConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful();
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = Flex::conv2d_stride1(x.clone(), weight.clone(), bias, padding);
                prep.finish((x, weight, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d_stride1(x, weight, bias, padding)),
        }
    }

    fn channel_means(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let prepared = MeansBackward.prepare::<C>([x.node()]).compute_bound().stateful();
        let x = x.into_primitive();
        match prepared {
            OpsKind::Tracked(prep) => {
                let shape = dims4(&x);
                prep.finish(shape, Flex::channel_means(x))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::channel_means(x)),
        }
    }

    fn scale_channels(x: FloatTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self> {
        let prepared = ScaleBackward.prepare::<C>([x.node(), weights.node()]).compute_bound().stateful();
        let (x, weights) = (x.into_primitive(), weights.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = Flex::scale_channels(x.clone(), weights.clone());
                prep.finish((x, weights), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::scale_channels(x, weights)),
        }
    }

    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let prepared = PoolBackward.prepare::<C>([x.node()]).compute_bound().stateful();
        let x = x.into_primitive();
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = Flex::max_pool2x2(x.clone());
                prep.finish((x, out.clone()), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::max_pool2x2(x)),
        }
    }

    fn max_pool2x2_scaled(x: FloatTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self> {
        let prepared = ScaledPoolBackward.prepare::<C>([x.node(), weights.node()]).compute_bound().stateful();
        let (x, weights) = (x.into_primitive(), weights.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let (pooled, scaled) = pooled_and_scaled(&x, &weights);
                prep.finish((x, pooled, weights), scaled)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::max_pool2x2_scaled(x, weights)),
        }
    }

    fn batch_statistics(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(Flex::batch_statistics(x.into_primitive()))
    }

    fn normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        statistics: FloatTensor<Self>,
        epsilon: f32,
        relu: bool,
    ) -> FloatTensor<Self> {
        let prepared = NormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let (x, gamma, beta) = (x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
        let statistics = statistics.into_primitive();
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = Flex::normalize(x.clone(), gamma.clone(), beta.clone(), statistics.clone(), epsilon, relu);
                prep.finish((x, gamma, beta, statistics, epsilon, relu), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::normalize(x, gamma, beta, statistics, epsilon, relu)),
        }
    }
}
