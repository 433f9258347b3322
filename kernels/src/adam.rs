//! One Adam step over a parameter in a single pass: both moments and the parameter updated in
//! place. Burn's Adam takes about a dozen element-wise passes, each with a new buffer, which
//! cost more than the GEMMs when only the classifier head trains (BENCHMARKS.md).

use crate::parallel::for_each_chunk3;

/// The step's scalars, as Burn's `AdamConfig` and its `AdaptiveMomentumState` hold them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// This step's number, 1 for the first (bias correction).
    pub time: usize,
}

impl AdamStep {
    /// `(√(1 − β₂ᵗ) / (1 − β₁ᵗ), ε·√(1 − β₂ᵗ))`: Burn folds the bias corrections into these two
    /// factors, and so does this, so the results agree to the last bit or two.
    fn corrections(&self) -> (f32, f32) {
        let time = self.time as i32;
        let correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        (correction_2 / (1.0 - self.beta_1.powi(time)), self.epsilon * correction_2)
    }
}

/// Values a thread takes at a time: big enough to be worth waking it for.
const CHUNK: usize = 1 << 14;

/// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`, `param ← param − lr·c·m / (√v + ε′)`, in
/// place (`c`, `ε′`: [`AdamStep::corrections`]). All four slices have the same length; the
/// moments start at zero.
pub fn step(param: &mut [f32], grad: &[f32], moment_1: &mut [f32], moment_2: &mut [f32], step: &AdamStep) {
    assert!(grad.len() == param.len() && moment_1.len() == param.len() && moment_2.len() == param.len());
    let (combined, epsilon) = step.corrections();
    let (beta_1, beta_2, lr) = (step.beta_1, step.beta_2, step.lr);
    let (keep_1, keep_2) = (1.0 - beta_1, 1.0 - beta_2);
    for_each_chunk3(param, moment_1, moment_2, CHUNK, |start, param, moment_1, moment_2| {
        let grad = &grad[start..][..param.len()];
        for (((p, m), v), g) in param.iter_mut().zip(moment_1.iter_mut()).zip(moment_2.iter_mut()).zip(grad) {
            *m = *m * beta_1 + g * keep_1;
            *v = *v * beta_2 + g * g * keep_2;
            *p -= (*m * combined) / (v.sqrt() + epsilon) * lr;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam as the paper writes it, in f64: bias-corrected moments, then the update.
    fn reference(param: &mut [f64], grads: &[Vec<f32>], step: &AdamStep) {
        let (mut m, mut v) = (vec![0.0; param.len()], vec![0.0; param.len()]);
        let (b1, b2, eps, lr) = (step.beta_1 as f64, step.beta_2 as f64, step.epsilon as f64, step.lr as f64);
        for (t, grad) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..param.len() {
                let g = grad[i] as f64;
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                let (m_hat, v_hat) = (m[i] / (1.0 - b1.powi(t)), v[i] / (1.0 - b2.powi(t)));
                param[i] -= lr * m_hat / (v_hat.sqrt() + eps);
            }
        }
    }

    /// Five steps over lengths around the chunk size, with gradients of every sign and size
    /// (zeros included), against the definition.
    #[test]
    fn steps_match_the_definition() {
        for len in [1, 7, CHUNK - 1, CHUNK + 3, 3 * CHUNK] {
            let grads: Vec<Vec<f32>> = (0..5)
                .map(|s| (0..len).map(|i| (((i * 7 + s * 13) % 23) as f32 - 11.0) * 10f32.powi((i % 5) as i32 - 3)).collect())
                .collect();
            let start: Vec<f32> = (0..len).map(|i| ((i % 19) as f32 - 9.0) / 9.0).collect();
            let mut want: Vec<f64> = start.iter().map(|&p| p as f64).collect();
            let hyper = AdamStep { lr: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, time: 0 };
            reference(&mut want, &grads, &hyper);
            let (mut param, mut m, mut v) = (start.clone(), vec![0.0; len], vec![0.0; len]);
            for (t, grad) in grads.iter().enumerate() {
                step(&mut param, grad, &mut m, &mut v, &AdamStep { time: t + 1, ..hyper });
            }
            for (i, (got, want)) in param.iter().zip(&want).enumerate() {
                assert!((*got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()), "len {len}, value {i}: {got} vs {want}");
            }
        }
    }
}
