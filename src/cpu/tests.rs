//! The CPU paths against Burn's own modules: values and gradients.

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

/// Pooling then scaling against Burn's scaling then pooling (the SE block's order), with
/// sigmoid weights and ties: values, and the gradients of both inputs.
#[test]
fn scaled_pooling_agrees_with_burn() {
    let device = device();
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    for shape in [[3, 4, 8, 8], [2, 3, 5, 7], [2, 13, 2, 2]] {
        let [batch, channels, ..] = shape;
        let x = random(shape, &device).clamp_min(0.0).require_grad();
        let weights = burn::tensor::activation::sigmoid(random([1, 1, batch, channels], &device).reshape([batch, channels])).require_grad();
        let run = |ours: bool| {
            let y = match ours {
                true => max_pool2d_scaled(&pool, x.clone(), weights.clone()),
                false => pool.forward(x.clone() * weights.clone().reshape([batch, channels, 1, 1])),
            };
            let grads = (y.clone() * probe(y.dims(), &device)).sum().backward();
            (y, x.grad(&grads).unwrap(), vec![weights.grad(&grads).unwrap().reshape([batch * channels])])
        };
        assert_same(run(true), run(false));
    }
    // Outside autodiff (classification): the pooling scaled in place.
    let plain = Device::flex();
    let x = random([2, 5, 6, 6], &plain).clamp_min(0.0);
    let weights = burn::tensor::activation::sigmoid(random([1, 1, 2, 5], &plain).reshape([2, 5]));
    let want = pool.forward(x.clone() * weights.clone().reshape([2, 5, 1, 1]));
    assert_close(max_pool2d_scaled(&pool, x, weights), want);
}
