//! Fast CPU paths for the model's layers: [`conv2d`], [`batch_norm`] (and with its ReLU:
//! [`batch_norm_relu`]), [`channel_means`] and [`scale_channels`] (the SE block's squeeze and
//! scaling), [`max_pool2d`] (and after the scaling, in one operation: [`max_pool2d_scaled`]) and
//! [`linear`]; and for Adam's step: [`adam_step`].
//!
//! On the CPU backend (flex, natively and in the browser's CPU module) these run hand-written
//! kernels with their own backward passes (the `secnn-kernels` crate, `kernels/`): a
//! convolution as im2col + GEMM per image, batch normalization in place, 2×2 pooling, the SE
//! block's squeeze and per-channel scaling. BENCHMARKS.md has the same-run A/B against Burn's own. Everything else
//! (wgpu/WebGPU, other strides or windows, other dtypes) keeps Burn's modules, unchanged.

mod dense;
mod extension;

use burn::{
    nn::{BatchNorm, Linear, PaddingConfig2d, conv::Conv2d, pool::MaxPool2d},
    prelude::*,
    tensor::DType,
};
use std::sync::atomic::{AtomicU8, Ordering};

/// How many threads the CPU kernels share work between (1 in the browser's single-threaded
/// module, and in the threaded one until its pool has started: `build_pool`).
pub use secnn_kernels::{adam::AdamStep, on_pool, threads, with_helper};
#[cfg(feature = "threads")]
pub use secnn_kernels::pool_threads::{build_pool, run_pool_thread};

/// A layer kind (or the optimizer) with a CPU kernel here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Layer {
    Conv,
    Norm,
    Pool,
    /// The SE block's per-channel scaling, and its squeeze (each channel's mean).
    Scale,
    /// A fully connected layer with a bias (the classifier's).
    Linear,
    /// Adam's step: one pass over each parameter (Burn's takes about a dozen).
    Adam,
}

/// One bit per [`Layer`] that uses Burn's module everywhere: the other side of the A/Bs.
static BURN_LAYERS: AtomicU8 = AtomicU8::new(0);

/// Makes `layer` use Burn's module everywhere (`true`) or the CPU kernel where it applies
/// (`false`, the default). For same-run comparisons (`secnn bench --burn-layers`).
pub fn use_burn_for(layer: Layer, burn: bool) {
    let bit = 1 << layer as u8;
    match burn {
        true => BURN_LAYERS.fetch_or(bit, Ordering::Relaxed),
        false => BURN_LAYERS.fetch_and(!bit, Ordering::Relaxed),
    };
}

/// f32 on the flex device (with or without autodiff), unless `layer` is switched to Burn.
fn runs_here<const D: usize>(layer: Layer, x: &Tensor<D>) -> bool {
    BURN_LAYERS.load(Ordering::Relaxed) & (1 << layer as u8) == 0
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_))
}

/// `conv.forward(x)`.
///
/// - `x`: `[batch, c_in, height, width]`
/// - returns `[batch, c_out, out height, out width]`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let weight = conv.weight.val();
    match (&conv.bias, gemm_padding(conv, height, width)) {
        (Some(bias), Some(padding))
            if runs_here(Layer::Conv, &x) && weight.dtype() == DType::F32 && bias.val().dtype() == DType::F32 =>
        {
            extension::conv2d_stride1(x, weight, bias.val(), padding)
        }
        _ => conv.forward(x),
    }
}

/// `bn.forward(x)`: in training (an autodiff device and a layer not frozen) normalizes with the
/// batch statistics and updates the running ones, as Burn does; in inference (no autodiff)
/// normalizes with the running ones in one pass, where Burn's takes four (8 % of batch-1's
/// time went there).
///
/// - `x`: `[batch, channels, height, width]`, returned in the same shape
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalized(bn, x, false)
}

/// `relu(bn.forward(x))`, as [`batch_norm`] with the ReLU in the same passes over `x` (each way:
/// no pass of its own, and on every thread).
pub fn batch_norm_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalized(bn, x, true)
}

fn normalized(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    let burns = |x| match relu {
        true => burn::tensor::activation::relu(bn.forward(x)),
        false => bn.forward(x),
    };
    if !runs_here(Layer::Norm, &x) {
        return burns(x);
    }
    if !device.is_autodiff() {
        // The running statistics as a `[2, channels]` batch_statistics result.
        let statistics = Tensor::stack(vec![bn.running_mean.value(), bn.running_var.value()], 0);
        return extension::normalize(x, bn.gamma.val(), bn.beta.val(), statistics, bn.epsilon as f32, relu);
    }
    if !bn.training.is_enabled() {
        return burns(x);
    }
    let statistics = extension::batch_statistics(x.clone());
    let [_, channels] = statistics.dims();
    let running = |state: &burn::module::RunningState<Tensor<1>>, row: usize| {
        let batch = statistics.clone().slice([row..row + 1, 0..channels]).reshape([channels]);
        let old = state.value_sync().to_device(&device);
        state.update(old.mul_scalar(1.0 - bn.momentum).add(batch.mul_scalar(bn.momentum)).detach());
    };
    running(&bn.running_mean, 0);
    running(&bn.running_var, 1);
    extension::normalize(x, bn.gamma.val(), bn.beta.val(), statistics, bn.epsilon as f32, relu)
}

/// Each channel's mean over its pixels, the SE block's squeeze (one of [`Layer::Scale`]'s two
/// passes).
///
/// - `x`: `[batch, channels, height, width]`
/// - returns `[batch, channels]`
pub fn channel_means(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    match runs_here(Layer::Scale, &x) {
        true => extension::channel_means(x),
        false => x.reshape([batch, channels, height * width]).mean_dim(2).reshape([batch, channels]),
    }
}

/// `x * weights.reshape([batch, channels, 1, 1])`: each channel scaled by its weight.
///
/// - `x`: `[batch, channels, height, width]`, `weights`: `[batch, channels]`
pub fn scale_channels(x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
    let [batch, channels] = weights.dims();
    match runs_here(Layer::Scale, &x) && weights.dtype() == DType::F32 && x.dims()[..2] == [batch, channels] {
        true => extension::scale_channels(x, weights),
        false => x * weights.reshape([batch, channels, 1, 1]),
    }
}

/// `linear.forward(x)`.
///
/// - `x`: `[batch, inputs]`
/// - returns `[batch, outputs]`
pub fn linear(linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    match &linear.bias {
        Some(bias) if runs_here(Layer::Linear, &x) && linear.weight.val().dtype() == DType::F32 && bias.val().dtype() == DType::F32 => {
            dense::linear(x, linear.weight.val(), bias.val())
        }
        _ => linear.forward(x),
    }
}

/// `pool.forward(x)`.
///
/// - `x`: `[batch, channels, height, width]`
/// - returns `[batch, channels, height / 2, width / 2]` for the model's 2×2 pooling
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    match pools_here(pool, &x) {
        true => extension::max_pool2x2(x),
        false => pool.forward(x),
    }
}

/// `pool.forward(scale_channels(x, weights))` for positive `weights` (the SE block's), as the
/// pooling then the scaling: exactly equal (rounding keeps order), in one pass over `x` each way
/// where the two layers apart take ten. On another device, or with either layer switched to
/// Burn's, it is the two layers in the SE block's order.
///
/// - `x`: `[batch, channels, height, width]`, `weights`: `[batch, channels]`
/// - returns `[batch, channels, height / 2, width / 2]` for the model's 2×2 pooling
pub fn max_pool2d_scaled(pool: &MaxPool2d, x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
    let [batch, channels] = weights.dims();
    let fits = weights.dtype() == DType::F32 && x.dims()[..2] == [batch, channels];
    match fits && pools_here(pool, &x) && runs_here(Layer::Scale, &x) {
        true => extension::max_pool2x2_scaled(x, weights),
        false => max_pool2d(pool, scale_channels(x, weights)),
    }
}

/// Whether the kernel takes this pooling: 2×2, stride 2, no padding, on at least 2×2 planes.
fn pools_here(pool: &MaxPool2d, x: &Tensor<4>) -> bool {
    let [_, _, height, width] = x.dims();
    let two_by_two = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && pool.padding == PaddingConfig2d::Valid;
    two_by_two && height >= 2 && width >= 2 && runs_here(Layer::Pool, x)
}

/// Whether [`adam_step`] takes this weight and its gradient: both f32 on flex, and Adam not
/// switched to Burn's.
pub fn adam_runs_here<const D: usize>(param: &Tensor<D>, grad: &Tensor<D>) -> bool {
    runs_here(Layer::Adam, param) && grad.dtype() == DType::F32 && grad.dims() == param.dims()
}

/// One Adam step with the CPU kernel, in place where nothing else holds the tensors (only
/// where [`adam_runs_here`]).
pub use dense::adam_step;

/// `[top, bottom, left, right]` zero padding of a stride-1, dilation-1, single-group
/// convolution; `None` for any other.
fn gemm_padding(conv: &Conv2d, height: usize, width: usize) -> Option<[usize; 4]> {
    if conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    let [kh, kw] = conv.kernel_size;
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        // At stride 1 "same" pads k - 1 in all, the odd one at the end (Burn's rule).
        PaddingConfig2d::Same => [(kh - 1) / 2, kh / 2, (kw - 1) / 2, kw / 2],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, bottom, left, right],
    };
    let [top, bottom, left, right] = padding;
    (height + top + bottom >= kh && width + left + right >= kw).then_some(padding)
}

#[cfg(test)]
mod tests;
