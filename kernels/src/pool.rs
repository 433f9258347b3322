//! 2×2 max pooling with stride 2 (the model's only pooling) on `f32` NCHW slices, with its
//! backward; and the pooling then each plane scaled (the SE block's scaling moved past the
//! pooling). Burn's flex pooling handles every window and stride, with an index tensor and a
//! division per value; this one reads each window directly.

use crate::parallel::{dot, filled_rows, map_range};
use crate::scale;

/// Sizes of one pooling: `planes` = batch × channels planes of `height × width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    pub planes: usize,
    pub height: usize,
    pub width: usize,
}

impl PoolShape {
    /// Output `[height, width]`: odd last rows and columns are dropped (floor mode).
    pub fn output_size(&self) -> [usize; 2] {
        [self.height / 2, self.width / 2]
    }
}

/// The larger of two values, the first on a tie, and a NaN wins (as in Burn and PyTorch);
/// branch-free, so the loops below vectorize.
#[inline(always)]
fn larger(first: f32, second: f32) -> f32 {
    if second > first || second.is_nan() { second } else { first }
}

/// `x` `[planes, height, width]` → `[planes, height / 2, width / 2]`.
pub fn forward(shape: &PoolShape, x: &[f32]) -> Vec<f32> {
    let [out_h, out_w] = shape.output_size();
    let plane_len = shape.height * shape.width;
    filled_rows(shape.planes * out_h * out_w, out_h * out_w, |p, out| {
        let plane = &x[p * plane_len..][..plane_len];
        for (y, out) in out.chunks_exact_mut(out_w).enumerate() {
            let top = &plane[2 * y * shape.width..][..2 * out_w];
            let bottom = &plane[(2 * y + 1) * shape.width..][..2 * out_w];
            for ((out, top), bottom) in out.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                out.write(larger(larger(larger(top[0], top[1]), bottom[0]), bottom[1]));
            }
        }
    })
}

/// The input gradient: each output gradient goes to the first value of its window that equals
/// the window's maximum `out` (what [`forward`] returned), zero elsewhere.
pub fn backward(shape: &PoolShape, x: &[f32], out: &[f32], grad: &[f32]) -> Vec<f32> {
    routed(shape, x, out, grad, |_| 1.0)
}

/// [`forward`], then each plane scaled by its weight (`weights`: `[planes]`): returns the pooled
/// planes (what [`scaled_backward`] reads) and the scaled ones.
///
/// Why: for positive weights (the SE block's sigmoids) this is exactly the pooling of the scaled
/// planes, `pool(x·w) = pool(x)·w` (rounding keeps order), with the scaling on a quarter of the
/// values and no scaled copy of `x`, forward or backward: in training, the scaling and the
/// pooling apart took seven more passes over a block's activations.
pub fn scaled_forward(shape: &PoolShape, x: &[f32], weights: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let pooled = forward(shape, x);
    let scaled = scale::forward(&pooled, weights);
    (pooled, scaled)
}

/// Gradients of [`scaled_forward`]'s scaled planes with respect to `x` (each output gradient
/// times its plane's weight, routed as in [`backward`]) and to `weights` (each plane's
/// `Σ grad·pooled`).
pub fn scaled_backward(shape: &PoolShape, x: &[f32], pooled: &[f32], weights: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let plane_out = pooled.len() / shape.planes;
    let grad_weights = map_range(shape.planes, |p| dot(&grad[p * plane_out..][..plane_out], &pooled[p * plane_out..][..plane_out]));
    (routed(shape, x, pooled, grad, |p| weights[p]), grad_weights)
}

/// [`backward`] with each plane's output gradients times `factor(plane)`.
fn routed(shape: &PoolShape, x: &[f32], out: &[f32], grad: &[f32], factor: impl Fn(usize) -> f32 + Sync + Send) -> Vec<f32> {
    let [out_h, out_w] = shape.output_size();
    let plane_len = shape.height * shape.width;
    filled_rows(shape.planes * plane_len, plane_len, |p, grad_x| {
        // Odd sizes leave a last row or column no window reads.
        grad_x[out_h * 2 * shape.width..].iter_mut().for_each(|v| {
            v.write(0.0);
        });
        let plane = &x[p * plane_len..][..plane_len];
        let out = &out[p * out_h * out_w..][..out_h * out_w];
        let grad = &grad[p * out_h * out_w..][..out_h * out_w];
        let factor = factor(p);
        for y in 0..out_h {
            let (rows, at) = (2 * y * shape.width, y * out_w);
            let (top, bottom) = (&plane[rows..][..2 * out_w], &plane[rows + shape.width..][..2 * out_w]);
            let (grad_rows, _) = grad_x[rows..].split_at_mut(2 * shape.width);
            let (grad_top, grad_bottom) = grad_rows.split_at_mut(shape.width);
            if shape.width % 2 == 1 {
                grad_top[shape.width - 1].write(0.0);
                grad_bottom[shape.width - 1].write(0.0);
            }
            for x in 0..out_w {
                let (m, g) = (out[at + x], grad[at + x] * factor);
                // Branch-free (ties are common after ReLU and would defeat branch prediction):
                // which of the four is the first equal to the maximum, as 0/1 factors.
                let is_max = |v: f32| (v == m) | v.is_nan();
                let (a, b, c) = (is_max(top[2 * x]), is_max(top[2 * x + 1]), is_max(bottom[2 * x]));
                let first = [a, b & !a, c & !a & !b].map(|hit| hit as u8 as f32);
                grad_top[2 * x].write(g * first[0]);
                grad_top[2 * x + 1].write(g * first[1]);
                grad_bottom[2 * x].write(g * first[2]);
                grad_bottom[2 * x + 1].write(g * (1.0 - first[0] - first[1] - first[2]));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_and_routes_the_gradient_to_the_first_maximum() {
        // One 3×5 plane: the odd last row and column are dropped; ties go to the first.
        let x = [
            1.0, 5.0, 2.0, 2.0, 9.0, //
            3.0, 4.0, 2.0, 0.0, 9.0, //
            7.0, 7.0, 7.0, 7.0, 7.0,
        ];
        let shape = PoolShape { planes: 1, height: 3, width: 5 };
        assert_eq!(forward(&shape, &x), vec![5.0, 2.0]);
        let grad_x = backward(&shape, &x, &forward(&shape, &x), &[10.0, 20.0]);
        let mut expected = vec![0.0; 15];
        expected[1] = 10.0;
        expected[2] = 20.0;
        assert_eq!(grad_x, expected);
    }

    /// Pooling by its definition: each window's first maximum, its gradient routed there.
    fn reference(shape: &PoolShape, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let [out_h, out_w] = shape.output_size();
        let (mut out, mut grad_x) = (Vec::new(), vec![0.0; x.len()]);
        for p in 0..shape.planes {
            for y in 0..out_h {
                for x_out in 0..out_w {
                    let at = |dy: usize, dx: usize| (p * shape.height + 2 * y + dy) * shape.width + 2 * x_out + dx;
                    let window = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    let best = window.into_iter().reduce(|best, i| if x[i] > x[best] { i } else { best }).unwrap();
                    grad_x[best] += grad[out.len()];
                    out.push(x[best]);
                }
            }
        }
        (out, grad_x)
    }

    /// Planes of every width the model family has (one channel, odd counts) at sizes other than
    /// the seed's: 64×64, 2×2 (down to 1×1, the last block of a deep member), odd and uneven sides.
    #[test]
    fn edge_sizes_match_the_definition() {
        let shapes = [(3, 64, 64), (5, 2, 2), (13, 6, 10), (20, 7, 3), (1, 12, 12), (40, 4, 4)];
        for (planes, height, width) in shapes {
            let shape = PoolShape { planes, height, width };
            // Coarse levels make ties common, as ReLU zeros do.
            let x: Vec<f32> = (0..planes * height * width).map(|i| ((i * 7919) % 5) as f32).collect();
            let [out_h, out_w] = shape.output_size();
            let grad: Vec<f32> = (0..planes * out_h * out_w).map(|i| (i % 13) as f32 - 6.0).collect();
            let (want_out, want_grad) = reference(&shape, &x, &grad);
            let out = forward(&shape, &x);
            assert_eq!(out, want_out, "{shape:?}");
            assert_eq!(backward(&shape, &x, &out, &grad), want_grad, "{shape:?}");
        }
    }

    /// Pooling then scaling against its definition, scaling then pooling (the SE block's order),
    /// with weights that scale exactly (powers of 2: no ties appear or vanish) and ties as ReLU
    /// leaves them; gradients against the definition's with the scaled planes.
    #[test]
    fn scaling_after_pooling_matches_scaling_before() {
        for (planes, height, width) in [(6, 8, 8), (13, 6, 10), (20, 7, 3), (64, 32, 32)] {
            let shape = PoolShape { planes, height, width };
            let x: Vec<f32> = (0..planes * height * width).map(|i| ((i * 7919) % 9) as f32 / 2.0 - 1.0).map(|v| v.max(0.0)).collect();
            let weights: Vec<f32> = (0..planes).map(|p| 1.0 / (1 << (p % 5)) as f32).collect();
            let [out_h, out_w] = shape.output_size();
            let grad: Vec<f32> = (0..planes * out_h * out_w).map(|i| (i % 13) as f32 - 6.0).collect();
            let (want_out, want_scaled_grad) = reference(&shape, &scale::forward(&x, &weights), &grad);
            let (pooled, out) = scaled_forward(&shape, &x, &weights);
            assert_eq!(out, want_out, "{shape:?}");
            let (grad_x, grad_weights) = scaled_backward(&shape, &x, &pooled, &weights, &grad);
            // The definition's gradient with respect to x: its gradient at the scaled planes, scaled.
            let want_x: Vec<f32> = want_scaled_grad.iter().enumerate().map(|(i, g)| g * weights[i / (height * width)]).collect();
            assert_eq!(grad_x, want_x, "{shape:?}");
            let plane_out = out_h * out_w;
            for (p, got) in grad_weights.iter().enumerate() {
                let want: f32 = (0..plane_out).map(|j| grad[p * plane_out + j] * pooled[p * plane_out + j]).sum();
                assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "plane {p}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_nan_wins_its_window() {
        let x = [1.0, f32::NAN, 3.0, 2.0];
        let shape = PoolShape { planes: 1, height: 2, width: 2 };
        assert!(forward(&shape, &x)[0].is_nan());
        assert_eq!(backward(&shape, &x, &forward(&shape, &x), &[1.0]), vec![0.0, 1.0, 0.0, 0.0]);
    }
}
