//! Scaling each channel of an `f32` NCHW activation by its own weight (the SE block's last
//! step), and the backward: one pass each way. Burn's broadcast multiply takes one pass forward
//! and three backward (a multiply for each input, then a reduction).

use super::parallel::{dot, for_each_row, map_range};

/// `x` `[rows, pixels]` times `weights` `[rows]`, row by row (a row is one image's channel).
pub fn forward(x: &[f32], weights: &[f32]) -> Vec<f32> {
    let pixels = x.len() / weights.len();
    let mut out = vec![0.0; x.len()];
    for_each_row(&mut out, pixels, |row, out| {
        let (x, w) = (&x[row * pixels..][..pixels], weights[row]);
        out.iter_mut().zip(x).for_each(|(o, x)| *o = x * w);
    });
    out
}

/// [`forward`] in place, for an `x` nobody else holds (inference).
pub fn forward_in_place(x: &mut [f32], weights: &[f32]) {
    let pixels = x.len() / weights.len();
    for_each_row(x, pixels, |row, x| x.iter_mut().for_each(|v| *v *= weights[row]));
}

/// Gradients with respect to `x` (`grad` scaled by each row's weight) and to `weights` (each
/// row's `Σ grad·x`).
pub fn backward(x: &[f32], weights: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let pixels = x.len() / weights.len();
    let mut grad_x = vec![0.0; x.len()];
    for_each_row(&mut grad_x, pixels, |row, out| {
        let (g, w) = (&grad[row * pixels..][..pixels], weights[row]);
        out.iter_mut().zip(g).for_each(|(o, g)| *o = g * w);
    });
    let grad_weights = map_range(weights.len(), |row| dot(&grad[row * pixels..][..pixels], &x[row * pixels..][..pixels]));
    (grad_x, grad_weights)
}
