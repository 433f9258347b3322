//! Fast CPU paths for the model's layers: [`conv2d`], [`batch_norm`] (and with its ReLU:
//! [`batch_norm_relu`]), [`channel_means`] and [`scale_channels`] (the SE block's squeeze and
//! scaling), [`max_pool2d`] and [`linear`]; and for Adam's step: [`adam_step`].
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
    let [_, _, height, width] = x.dims();
    let two_by_two = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && pool.padding == PaddingConfig2d::Valid;
    match two_by_two && height >= 2 && width >= 2 && runs_here(Layer::Pool, &x) {
        true => extension::max_pool2x2(x),
        false => pool.forward(x),
    }
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
mod tests {
    use super::*;
    use burn::{
        nn::{BatchNormConfig, conv::Conv2dConfig, pool::MaxPool2dConfig},
        tensor::Distribution,
    };

    fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>) {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "index {i}: {a} vs {b}");
        }
    }

    fn device() -> Device {
        let device = Device::flex().autodiff();
        device.seed(7);
        device
    }

    fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::random(shape, Distribution::Normal(0.5, 1.0), device)
    }

    /// A fixed, uneven output gradient for `shape` (the same for both sides of a comparison,
    /// whatever other tests do to the device's random seed).
    fn probe(shape: [usize; 4], device: &Device) -> Tensor<4> {
        let n = shape.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 113) as f32 / 56.0 - 1.0).collect();
        Tensor::<1>::from_floats(values.as_slice(), device).reshape(shape)
    }

    /// Runs `layer` on `x` and returns its output and the gradient of `Σ output·probe` with
    /// respect to `x` and to each of `params`.
    fn with_grads(x: &Tensor<4>, params: &[Tensor<1>], layer: impl Fn(Tensor<4>) -> Tensor<4>) -> (Tensor<4>, Tensor<4>, Vec<Tensor<1>>) {
        let y = layer(x.clone());
        let grads = (y.clone() * probe(y.dims(), &x.device())).sum().backward();
        let params = params.iter().map(|p| p.grad(&grads).unwrap()).collect();
        (y, x.grad(&grads).unwrap(), params)
    }

    fn assert_same(ours: (Tensor<4>, Tensor<4>, Vec<Tensor<1>>), burns: (Tensor<4>, Tensor<4>, Vec<Tensor<1>>)) {
        assert_close(ours.0, burns.0);
        assert_close(ours.1, burns.1);
        for (a, b) in ours.2.into_iter().zip(burns.2) {
            assert_close(a, b);
        }
    }

    /// The GEMM convolution and Burn's agree on values and on all three gradients, for the
    /// model's padding, "same" (with an even kernel: uneven padding) and "valid".
    #[test]
    fn convolution_agrees_with_burn() {
        let device = device();
        for (padding, kernel) in [
            (PaddingConfig2d::Explicit(1, 1, 1, 1), [3, 3]),
            (PaddingConfig2d::Same, [2, 3]),
            (PaddingConfig2d::Valid, [3, 3]),
        ] {
            let conv = Conv2dConfig::new([3, 8], kernel).with_padding(padding).init(&device);
            let x = random([4, 3, 9, 7], &device).require_grad();
            let params = [conv.bias.as_ref().unwrap().val()];
            let weight_grad = |x: &Tensor<4>, ours: bool| {
                let y = if ours { conv2d(&conv, x.clone()) } else { conv.forward(x.clone()) };
                y.sum().backward()
            };
            let (ours, burns) = (weight_grad(&x, true), weight_grad(&x, false));
            let weight = conv.weight.val();
            assert_close(weight.grad(&ours).unwrap(), weight.grad(&burns).unwrap());
            let ours = with_grads(&x, &params, |x| conv2d(&conv, x));
            let burns = with_grads(&x, &params, |x| conv.forward(x));
            assert_same(ours, burns);
        }
    }

    /// Training-mode batch norm: output, gradients of input, gamma and beta, and the running
    /// statistics it leaves behind, against Burn's module; and the same with the fused ReLU,
    /// against Burn's module then Burn's ReLU.
    #[test]
    fn batch_norm_agrees_with_burn() {
        for relu in [false, true] {
            batch_norm_agrees_with_burn_with(relu);
        }
    }

    /// Ours, and Burn's module (then Burn's ReLU when `relu`).
    fn norms(relu: bool) -> (impl Fn(&BatchNorm, Tensor<4>) -> Tensor<4>, impl Fn(&BatchNorm, Tensor<4>) -> Tensor<4>) {
        let ours = move |bn: &BatchNorm, x| if relu { batch_norm_relu(bn, x) } else { batch_norm(bn, x) };
        let burns = move |bn: &BatchNorm, x| if relu { burn::tensor::activation::relu(bn.forward(x)) } else { bn.forward(x) };
        (ours, burns)
    }

    fn batch_norm_agrees_with_burn_with(relu: bool) {
        let device = device();
        let (ours, burns) = (BatchNormConfig::new(6).init(&device), BatchNormConfig::new(6).init(&device));
        let (ours_norm, burns_norm) = norms(relu);
        let x = random([5, 6, 4, 3], &device).mul_scalar(3.0).require_grad();
        let params = |bn: &BatchNorm| [bn.gamma.val(), bn.beta.val()];
        let ours_run = with_grads(&x, &params(&ours), |x| ours_norm(&ours, x));
        let burns_run = with_grads(&x, &params(&burns), |x| burns_norm(&burns, x));
        assert_same(ours_run, burns_run);
        assert_close(ours.running_mean.value().unsqueeze::<4>(), burns.running_mean.value().unsqueeze());
        assert_close(ours.running_var.value().unsqueeze::<4>(), burns.running_var.value().unsqueeze());
        // Outside autodiff: one pass with the running statistics, against Burn's inference path,
        // every parameter and statistic away from its initial value.
        let plain = Device::flex();
        let x = random([2, 6, 4, 3], &plain).mul_scalar(3.0);
        let mut ours = ours.valid();
        let uniform = |low, high| Tensor::<1>::random([6], Distribution::Uniform(low, high), &plain);
        ours.gamma = burn::module::Param::from_tensor(uniform(0.5, 2.0));
        ours.beta = burn::module::Param::from_tensor(uniform(-1.0, 1.0));
        ours.running_mean = burn::module::RunningState::new(uniform(-2.0, 2.0));
        ours.running_var = burn::module::RunningState::new(uniform(0.1, 4.0));
        let want = burns_norm(&ours, x.clone());
        // x is now held by nobody else, so the kernel writes over it.
        assert_close(ours_norm(&ours, x), want);
    }

    /// Per-channel scaling, gradients of both inputs, against Burn's broadcast multiply.
    #[test]
    fn channel_scaling_agrees_with_burn() {
        let device = device();
        let x = random([3, 5, 4, 6], &device).require_grad();
        let weights = random([1, 1, 3, 5], &device).reshape([3, 5]).require_grad();
        let flat = |w: &Tensor<2>| w.clone().reshape([15]);
        let ours = with_grads(&x, &[], |x| scale_channels(x, weights.clone()));
        let ours_weights = {
            let grads = (scale_channels(x.clone(), weights.clone()) * probe([3, 5, 4, 6], &device)).sum().backward();
            flat(&weights.grad(&grads).unwrap())
        };
        let burns = with_grads(&x, &[], |x| x * weights.clone().reshape([3, 5, 1, 1]));
        let burns_weights = {
            let grads = (x.clone() * weights.clone().reshape([3, 5, 1, 1]) * probe([3, 5, 4, 6], &device)).sum().backward();
            flat(&weights.grad(&grads).unwrap())
        };
        assert_same(ours, burns);
        assert_close(ours_weights, burns_weights);
    }

    /// The SE squeeze (each channel's mean) and its input gradient against Burn's `mean_dim`,
    /// at the seed's first block on a small batch and at odd sizes down to one pixel.
    #[test]
    fn channel_means_agree_with_burn() {
        let device = device();
        for shape in [[2, 32, 32, 32], [3, 5, 7, 3], [2, 13, 1, 1]] {
            let [batch, channels, height, width] = shape;
            let x = random(shape, &device).require_grad();
            let as_4d = |means: Tensor<2>| means.reshape([batch, channels, 1, 1]);
            let burns = |x: Tensor<4>| as_4d(x.reshape([batch, channels, height * width]).mean_dim(2).reshape([batch, channels]));
            assert_same(with_grads(&x, &[], |x| as_4d(channel_means(x))), with_grads(&x, &[], burns));
        }
    }

    /// Every layer at the widths a member of the model family may have (one channel, odd
    /// counts, fewer channels than an SE reduction ratio) and at spatial sizes other than the
    /// seed's: values and gradients against Burn's modules.
    #[test]
    fn edge_widths_and_sizes_agree_with_burn() {
        let device = device();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        for (c_in, c_out, side) in [(3, 1, 64), (1, 3, 12), (3, 5, 6), (5, 13, 2), (13, 20, 1), (20, 5, 10)] {
            let conv = Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&device);
            let x = random([2, c_in, side, side], &device).require_grad();
            let params = [conv.bias.as_ref().unwrap().val()];
            assert_same(with_grads(&x, &params, |x| conv2d(&conv, x)), with_grads(&x, &params, |x| conv.forward(x)));

            let (ours, burns) = (BatchNormConfig::new(c_out).init(&device), BatchNormConfig::new(c_out).init(&device));
            let y = random([3, c_out, side, side], &device).mul_scalar(2.0).require_grad();
            let norm_params = |bn: &BatchNorm| [bn.gamma.val(), bn.beta.val()];
            for relu in [false, true] {
                let (ours_norm, burns_norm) = norms(relu);
                assert_same(with_grads(&y, &norm_params(&ours), |y| ours_norm(&ours, y)), with_grads(&y, &norm_params(&burns), |y| burns_norm(&burns, y)));
            }

            let weights = random([1, 1, 3, c_out], &device).reshape([3, c_out]);
            let scaled = |y: Tensor<4>| scale_channels(y, weights.clone());
            assert_same(with_grads(&y, &[], scaled), with_grads(&y, &[], |y| y * weights.clone().reshape([3, c_out, 1, 1])));
            if side >= 2 {
                assert_same(with_grads(&y, &[], |y| max_pool2d(&pool, y)), with_grads(&y, &[], |y| pool.forward(y)));
            }
        }
    }

    /// The fully connected layer: values and the gradients of its input, weight and bias
    /// against Burn's module, at one image, an odd size and the classifier's on a batch; and
    /// with an input that needs no gradient (cached features).
    #[test]
    fn linear_agrees_with_burn() {
        let device = device();
        for (batch, inputs, outputs) in [(1, 5, 3), (7, 13, 1), (64, 2048, 24)] {
            let layer = burn::nn::LinearConfig::new(inputs, outputs).init(&device);
            let x = random([1, 1, batch, inputs], &device).reshape([batch, inputs]);
            let run = |ours: bool, x: Tensor<2>| {
                let y = if ours { linear(&layer, x.clone()) } else { layer.forward(x.clone()) };
                let probe = probe([1, 1, batch, outputs], &device).reshape([batch, outputs]);
                let grads = (y.clone() * probe).sum().backward();
                let bias = layer.bias.as_ref().unwrap().val().grad(&grads).unwrap();
                let weight = layer.weight.val().grad(&grads).unwrap().reshape([inputs * outputs]);
                (y.unsqueeze::<4>(), x.grad(&grads).map(|g| g.unsqueeze::<4>()), vec![weight, bias])
            };
            for tracked in [true, false] {
                let x = if tracked { x.clone().require_grad() } else { x.clone() };
                let (ours, burns) = (run(true, x.clone()), run(false, x));
                assert_close(ours.0, burns.0);
                assert_eq!(ours.1.is_some(), tracked);
                if let (Some(a), Some(b)) = (ours.1, burns.1) {
                    assert_close(a, b);
                }
                for (a, b) in ours.2.into_iter().zip(burns.2) {
                    assert_close(a, b);
                }
            }
        }
    }

    /// 2×2 pooling with ties (ReLU zeros) and odd sizes, against Burn's module.
    #[test]
    fn max_pooling_agrees_with_burn() {
        let device = device();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        for shape in [[3, 4, 8, 8], [2, 3, 5, 7]] {
            let x = random(shape, &device).clamp_min(0.0).require_grad();
                let ours = with_grads(&x, &[], |x| max_pool2d(&pool, x));
                let burns = with_grads(&x, &[], |x| pool.forward(x));
            assert_same(ours, burns);
        }
    }
}
