//! Scaling each channel of an `f32` NCHW activation by its own weight (the SE block's last
//! step), and the backward: one pass each way. Burn's broadcast multiply takes one pass forward
//! and three backward (a multiply for each input, then a reduction).

use crate::parallel::{dot, filled_rows, for_each_row, map_range};

/// `x` `[rows, pixels]` times `weights` `[rows]`, row by row (a row is one image's channel).
pub fn forward(x: &[f32], weights: &[f32]) -> Vec<f32> {
    let pixels = x.len() / weights.len();
    filled_rows(x.len(), pixels, |row, out| {
        let (x, w) = (&x[row * pixels..][..pixels], weights[row]);
        out.iter_mut().zip(x).for_each(|(o, x)| {
            o.write(x * w);
        });
    })
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
    let grad_x = filled_rows(x.len(), pixels, |row, out| {
        let (g, w) = (&grad[row * pixels..][..pixels], weights[row]);
        out.iter_mut().zip(g).for_each(|(o, g)| {
            o.write(g * w);
        });
    });
    let grad_weights = map_range(weights.len(), |row| dot(&grad[row * pixels..][..pixels], &x[row * pixels..][..pixels]));
    (grad_x, grad_weights)
}
