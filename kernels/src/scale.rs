//! The SE block's two passes over a whole activation (`f32`, NCHW), each with its backward:
//! the squeeze (each channel's mean) and scaling each channel by its own weight. Burn's broadcast
//! multiply takes one pass forward and three backward (a multiply for each input, then a
//! reduction); its mean takes three backward (a tensor of ones, a multiply, a scaling), on one
//! thread.

use crate::parallel::{dot, filled_rows, for_each_row, map_range, map_rows, sum};

/// Each row's mean, `x` `[rows, pixels]` (a row is one image's channel).
pub fn means(x: &[f32], pixels: usize) -> Vec<f32> {
    map_rows(x, pixels, |row| sum(row) / pixels as f32)
}

/// The gradient of [`means`] from the means' gradient `grad` `[rows]`, one value per row: each
/// of its `pixels` gets that same share (the caller broadcasts it rather than writing it out).
pub fn means_backward(grad: &[f32], pixels: usize) -> Vec<f32> {
    grad.iter().map(|g| g / pixels as f32).collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of one pixel (a 1×1 last block) up to 64×64 planes, with one channel or odd counts;
    /// and a batch's first block, big enough for the threads.
    #[test]
    fn squeeze_matches_the_definition() {
        for (rows, pixels) in [(1, 4096), (3 * 13, 1), (2 * 5, 49), (4 * 20, 144), (7, 2), (64 * 32, 1024)] {
            let x: Vec<f32> = (0..rows * pixels).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
            let got = means(&x, pixels);
            for (r, got) in got.iter().enumerate() {
                let want = x[r * pixels..][..pixels].iter().map(|v| *v as f64).sum::<f64>() / pixels as f64;
                assert!((*got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "row {r}: {got} vs {want}");
            }
            let grad: Vec<f32> = (0..rows).map(|r| (r % 5) as f32 - 2.0).collect();
            let want: Vec<f32> = grad.iter().map(|g| g / pixels as f32).collect();
            assert_eq!(means_backward(&grad, pixels), want);
        }
    }

    /// Rows of one pixel (a 1×1 last block) up to 64×64 planes, with one channel or odd counts.
    #[test]
    fn edge_widths_and_sizes_match_the_definition() {
        for (rows, pixels) in [(1, 4096), (3 * 13, 1), (2 * 5, 49), (4 * 20, 144), (7, 2)] {
            let x: Vec<f32> = (0..rows * pixels).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
            let weights: Vec<f32> = (0..rows).map(|r| (r % 7) as f32 / 7.0).collect();
            let grad: Vec<f32> = (0..x.len()).map(|i| ((i * 13) % 11) as f32 - 5.0).collect();
            let want: Vec<f32> = x.iter().enumerate().map(|(i, v)| v * weights[i / pixels]).collect();
            assert_eq!(forward(&x, &weights), want);
            let mut in_place = x.clone();
            forward_in_place(&mut in_place, &weights);
            assert_eq!(in_place, want);
            let (grad_x, grad_weights) = backward(&x, &weights, &grad);
            let want_x: Vec<f32> = grad.iter().enumerate().map(|(i, g)| g * weights[i / pixels]).collect();
            assert_eq!(grad_x, want_x);
            for (r, got) in grad_weights.iter().enumerate() {
                let want: f32 = (0..pixels).map(|p| grad[r * pixels + p] * x[r * pixels + p]).sum();
                assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "row {r}: {got} vs {want}");
            }
        }
    }
}
