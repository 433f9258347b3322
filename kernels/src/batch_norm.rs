//! Batch normalization on `f32` NCHW slices: the batch statistics, the normalized output (also
//! written over the input, for inference) and the backward, each in one or two passes over the
//! activation as it lies.
//! Burn's default (`batch_norm_train` in burn-backend) transposes the activation to
//! `[channels, batch · pixels]` twice each way and makes about ten passes over it.

use crate::parallel::{dot, filled_rows, for_each_row, map_range, squared_deviation, sum};

/// Sizes: `batch × channels` rows of `pixels` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormShape {
    pub batch: usize,
    pub channels: usize,
    pub pixels: usize,
}

impl NormShape {
    /// Values per channel.
    fn count(&self) -> f32 {
        (self.batch * self.pixels) as f32
    }

    /// The rows of channel `c` in `x`.
    fn rows<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.batch).map(move |b| &x[(b * self.channels + c) * self.pixels..][..self.pixels])
    }
}

/// Per channel: the mean and the biased variance (what Burn keeps running averages of).
pub fn statistics(shape: &NormShape, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    map_range(shape.channels, |c| {
        let mean = shape.rows(x, c).map(sum).sum::<f32>() / shape.count();
        let variance = shape.rows(x, c).map(|row| squared_deviation(row, mean)).sum::<f32>() / shape.count();
        (mean, variance)
    })
    .into_iter()
    .unzip()
}

/// One batch normalization's parameters and statistics (per channel), and whether a ReLU
/// follows it: fused, that saves the ReLU's own pass each way over the activation and runs it on
/// every thread (the model's blocks are conv → BN → ReLU).
#[derive(Clone, Copy)]
pub struct Normalization<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub mean: &'a [f32],
    pub variance: &'a [f32],
    pub epsilon: f32,
    pub relu: bool,
}

impl Normalization<'_> {
    /// Channel `c`'s `(scale, shift)`: `x · scale + shift` normalizes `x`.
    fn affine(&self, c: usize) -> (f32, f32) {
        let scale = self.gamma[c] / (self.variance[c] + self.epsilon).sqrt();
        (scale, self.beta[c] - self.mean[c] * scale)
    }
}

/// What follows the normalization, chosen once per call so that each loop is compiled for one
/// case.
trait Activation: Copy + Sync {
    /// The output for a normalized value `value`.
    fn apply(self, value: f32) -> f32;
    /// The gradient `g` at the output, taken back to `value`.
    fn back(self, g: f32, value: f32) -> f32;
}

#[derive(Clone, Copy)]
struct Identity;

impl Activation for Identity {
    #[inline(always)]
    fn apply(self, value: f32) -> f32 {
        value
    }
    #[inline(always)]
    fn back(self, g: f32, _: f32) -> f32 {
        g
    }
}

/// The ReLU: passes the gradient only where `value > 0`, as Burn's does.
#[derive(Clone, Copy)]
struct Relu;

impl Activation for Relu {
    /// Not `value.max(0.0)`: in wasm that is a call to libm's `fmaxf` per value (9 % of the
    /// browser's fine-tuning), wasm's own `max` treating NaN otherwise.
    #[inline(always)]
    fn apply(self, value: f32) -> f32 {
        if value > 0.0 { value } else { 0.0 }
    }
    #[inline(always)]
    fn back(self, g: f32, value: f32) -> f32 {
        if value > 0.0 { g } else { 0.0 }
    }
}

/// `gamma · (x - mean) / sqrt(variance + epsilon) + beta` per channel, then the ReLU if asked.
pub fn forward(shape: &NormShape, x: &[f32], norm: &Normalization) -> Vec<f32> {
    match norm.relu {
        true => forward_with(shape, x, norm, Relu),
        false => forward_with(shape, x, norm, Identity),
    }
}

fn forward_with(shape: &NormShape, x: &[f32], norm: &Normalization, activation: impl Activation) -> Vec<f32> {
    filled_rows(x.len(), shape.pixels, |row, out| {
        let (scale, shift) = norm.affine(row % shape.channels);
        let x = &x[row * shape.pixels..][..shape.pixels];
        out.iter_mut().zip(x).for_each(|(o, x)| {
            o.write(activation.apply(x * scale + shift));
        });
    })
}

/// [`forward`] over `x` itself: inference, where nothing else holds the activation, allocates no
/// output (a batch of 256 images' first activation is 32 MiB, fresh pages from the kernel).
pub fn forward_in_place(shape: &NormShape, x: &mut [f32], norm: &Normalization) {
    match norm.relu {
        true => forward_in_place_with(shape, x, norm, Relu),
        false => forward_in_place_with(shape, x, norm, Identity),
    }
}

fn forward_in_place_with(shape: &NormShape, x: &mut [f32], norm: &Normalization, activation: impl Activation) {
    for_each_row(x, shape.pixels, |row, x| {
        let (scale, shift) = norm.affine(row % shape.channels);
        x.iter_mut().for_each(|x| *x = activation.apply(*x * scale + shift));
    });
}

/// Gradients of [`forward`] with the batch statistics computed from `x` (so the input gradient
/// includes their dependence on it).
pub struct Gradients {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

pub fn backward(shape: &NormShape, x: &[f32], norm: &Normalization, grad: &[f32]) -> Gradients {
    match norm.relu {
        true => backward_with(shape, x, norm, grad, Relu),
        false => backward_with(shape, x, norm, grad, Identity),
    }
}

fn backward_with(shape: &NormShape, x: &[f32], norm: &Normalization, grad: &[f32], activation: impl Activation) -> Gradients {
    let inv_std: Vec<f32> = norm.variance.iter().map(|v| 1.0 / (v + norm.epsilon).sqrt()).collect();
    let mean = norm.mean;
    // Per channel Σ g and Σ g·x̂ (g past the ReLU), with x̂ = (x - mean)·inv_std:
    // Σ g·x̂ = (Σ g·x - mean·Σ g)·inv_std. One pass over g and x.
    let (beta, gamma): (Vec<f32>, Vec<f32>) = map_range(shape.channels, |c| {
        let (scale, shift) = norm.affine(c);
        let (g_sum, gx_sum) = shape
            .rows(grad, c)
            .zip(shape.rows(x, c))
            .map(|(g, x)| gradient_sums(g, x, |g, x| activation.back(g, x * scale + shift)))
            .fold((0.0, 0.0), |(a, b), (g, gx)| (a + g, b + gx));
        (g_sum, (gx_sum - mean[c] * g_sum) * inv_std[c])
    })
    .into_iter()
    .unzip();
    // dx = gamma·inv_std · (g - Σg/n - x̂·Σg·x̂/n)
    let grad_x = filled_rows(x.len(), shape.pixels, |row, out| {
        let c = row % shape.channels;
        let (scale, shift) = norm.affine(c);
        let (g_mean, gx_mean) = (beta[c] / shape.count(), gamma[c] / shape.count());
        let offset = row * shape.pixels;
        let (x, g) = (&x[offset..][..shape.pixels], &grad[offset..][..shape.pixels]);
        for ((out, x), g) in out.iter_mut().zip(x).zip(g) {
            let normalized = (x - mean[c]) * inv_std[c];
            out.write(scale * (activation.back(*g, x * scale + shift) - g_mean - normalized * gx_mean));
        }
    });
    Gradients { x: grad_x, gamma, beta }
}

/// `(Σ g'[i], Σ g'[i]·x[i])` with `g'[i] = passed(g[i], x[i])`. `g'` goes through a small
/// buffer, a run at a time: computed inside the sums, the compiler tested and summed each
/// vector lane behind its own branch (training 0.9× the speed).
#[inline(always)]
fn gradient_sums(g: &[f32], x: &[f32], passed: impl Fn(f32, f32) -> f32) -> (f32, f32) {
    const RUN: usize = 256;
    let mut buffer = [0.0f32; RUN];
    let (mut g_sum, mut gx_sum) = (0.0, 0.0);
    for (g, x) in g.chunks(RUN).zip(x.chunks(RUN)) {
        let passed_g = &mut buffer[..g.len()];
        passed_g.iter_mut().zip(g).zip(x).for_each(|((out, g), x)| *out = passed(*g, *x));
        g_sum += sum(passed_g);
        gx_sum += dot(passed_g, x);
    }
    (g_sum, gx_sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 2_654_435_761 + seed * 97) % 1000) as f32 / 250.0 - 2.0).collect()
    }

    fn assert_close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what} {i}: {a} vs {b}");
        }
    }

    /// Widths of the model family (one channel, odd counts) at spatial sizes from 1×1 (the last
    /// block of a deep member) to 64×64, with and without the fused ReLU, against the definition
    /// computed in f64.
    #[test]
    fn edge_widths_and_sizes_match_the_definition() {
        for (batch, channels, pixels) in [(4, 1, 4096), (3, 3, 1), (2, 5, 49), (5, 13, 4), (2, 20, 144), (64, 3, 1)] {
            for relu in [false, true] {
                check(NormShape { batch, channels, pixels }, relu);
            }
        }
    }

    fn check(shape: NormShape, relu: bool) {
        let NormShape { batch, channels, pixels } = shape;
        let x = values(batch * channels * pixels, channels);
        let gamma = values(channels, 1);
        let beta = values(channels, 2);
        let grad = values(x.len(), 3);
        let epsilon = 1e-5;
        let at = |b: usize, c: usize, p: usize| (b * channels + c) * pixels + p;
        let n = (batch * pixels) as f64;
        let (mut want_mean, mut want_var) = (vec![0.0; channels], vec![0.0; channels]);
        let (mut want_out, mut want_dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let (mut want_gamma, mut want_beta) = (vec![0.0; channels], vec![0.0; channels]);
        for c in 0..channels {
            let indices: Vec<usize> = (0..batch).flat_map(|b| (0..pixels).map(move |p| at(b, c, p))).collect();
            let mean = indices.iter().map(|&i| x[i] as f64).sum::<f64>() / n;
            let var = indices.iter().map(|&i| (x[i] as f64 - mean).powi(2)).sum::<f64>() / n;
            let inv_std = 1.0 / (var + epsilon as f64).sqrt();
            let normalized = |i: usize| (x[i] as f64 - mean) * inv_std;
            let before_relu = |i: usize| gamma[c] as f64 * normalized(i) + beta[c] as f64;
            // The ReLU's gradient: through where its input is positive.
            let g = |i: usize| if relu && before_relu(i) <= 0.0 { 0.0 } else { grad[i] as f64 };
            let g_mean = indices.iter().map(|&i| g(i)).sum::<f64>() / n;
            let gx_mean = indices.iter().map(|&i| g(i) * normalized(i)).sum::<f64>() / n;
            for &i in &indices {
                want_out[i] = if relu { before_relu(i).max(0.0) } else { before_relu(i) };
                want_dx[i] = gamma[c] as f64 * inv_std * (g(i) - g_mean - normalized(i) * gx_mean);
            }
            (want_mean[c], want_var[c], want_beta[c], want_gamma[c]) = (mean, var, g_mean * n, gx_mean * n);
        }
        let (mean, variance) = statistics(&shape, &x);
        assert_close(&mean, &want_mean, "mean");
        assert_close(&variance, &want_var, "variance");
        let norm = Normalization { gamma: &gamma, beta: &beta, mean: &mean, variance: &variance, epsilon, relu };
        assert_close(&forward(&shape, &x, &norm), &want_out, "output");
        let mut in_place = x.clone();
        forward_in_place(&shape, &mut in_place, &norm);
        assert_close(&in_place, &want_out, "output in place");
        let found = backward(&shape, &x, &norm, &grad);
        assert_close(&found.x, &want_dx, "input gradient");
        assert_close(&found.gamma, &want_gamma, "gamma gradient");
        assert_close(&found.beta, &want_beta, "beta gradient");
    }
}
