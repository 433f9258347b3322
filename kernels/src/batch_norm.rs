//! Training-mode batch normalization on `f32` NCHW slices: the batch statistics, the normalized
//! output and the backward, each in one or two passes that read the activation in place.
//! Burn's default (`batch_norm_train` in burn-backend) transposes the activation to
//! `[channels, batch · pixels]` twice each way and makes about ten passes over it.

use crate::parallel::{dot, filled_rows, map_range, squared_deviation, sum};

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

/// `gamma · (x - mean) / sqrt(variance + epsilon) + beta`, per channel.
pub fn forward(shape: &NormShape, x: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], variance: &[f32], epsilon: f32) -> Vec<f32> {
    filled_rows(x.len(), shape.pixels, |row, out| {
        let c = row % shape.channels;
        let scale = gamma[c] / (variance[c] + epsilon).sqrt();
        let shift = beta[c] - mean[c] * scale;
        let x = &x[row * shape.pixels..][..shape.pixels];
        out.iter_mut().zip(x).for_each(|(o, x)| {
            o.write(x * scale + shift);
        });
    })
}

/// Gradients of [`forward`] with the batch statistics computed from `x` (so the input gradient
/// includes their dependence on it).
pub struct Gradients {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

pub fn backward(shape: &NormShape, x: &[f32], gamma: &[f32], mean: &[f32], variance: &[f32], epsilon: f32, grad: &[f32]) -> Gradients {
    let inv_std: Vec<f32> = variance.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
    // Per channel Σ g and Σ g·x̂, with x̂ = (x - mean)·inv_std: Σ g·x̂ = (Σ g·x - mean·Σ g)·inv_std.
    let (beta, gamma_grad): (Vec<f32>, Vec<f32>) = map_range(shape.channels, |c| {
        let g_sum: f32 = shape.rows(grad, c).map(sum).sum();
        let gx_sum: f32 = shape.rows(grad, c).zip(shape.rows(x, c)).map(|(g, x)| dot(g, x)).sum();
        (g_sum, (gx_sum - mean[c] * g_sum) * inv_std[c])
    })
    .into_iter()
    .unzip();
    // dx = gamma·inv_std · (g - Σg/n - x̂·Σg·x̂/n)
    let grad_x = filled_rows(x.len(), shape.pixels, |row, out| {
        let c = row % shape.channels;
        let scale = gamma[c] * inv_std[c];
        let (g_mean, gx_mean) = (beta[c] / shape.count(), gamma_grad[c] / shape.count());
        let offset = row * shape.pixels;
        let (x, g) = (&x[offset..][..shape.pixels], &grad[offset..][..shape.pixels]);
        for ((out, x), g) in out.iter_mut().zip(x).zip(g) {
            let normalized = (x - mean[c]) * inv_std[c];
            out.write(scale * (g - g_mean - normalized * gx_mean));
        }
    });
    Gradients { x: grad_x, gamma: gamma_grad, beta }
}
