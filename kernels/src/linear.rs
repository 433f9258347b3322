//! A fully connected layer with a bias, `y = x·W + b`, and its gradients, on row-major `f32`
//! slices, each product one GEMM shared between the threads. Burn's flex backend runs its own
//! matrix products on one thread in the browser (its rayon feature costs 115 kB of module), and
//! the classifier's are all of head-only fine-tuning's arithmetic.

use crate::matmul::{Matrix, matmul};
use crate::parallel::{add_parts, filled_rows, gemm_parallelism, threads};

/// Sizes of one fully connected layer on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearShape {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl LinearShape {
    fn macs(&self) -> usize {
        self.batch * self.inputs * self.outputs
    }
}

fn rows(data: &[f32], row_len: usize) -> Matrix<'_> {
    Matrix { data, row_stride: row_len, col_stride: 1 }
}

/// The transpose of a row-major matrix with rows `row_len` long.
fn transposed(data: &[f32], row_len: usize) -> Matrix<'_> {
    Matrix { data, row_stride: 1, col_stride: row_len }
}

/// `x [batch, inputs] · weight [inputs, outputs] + bias [outputs]` → `[batch, outputs]`
/// (Burn's `Linear` keeps its weight as `[inputs, outputs]`).
pub fn forward(shape: &LinearShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let LinearShape { batch, inputs, outputs } = *shape;
    // Each row starts as the bias; the GEMM adds onto it.
    let mut out = filled_rows(batch * outputs, outputs, |_, row| {
        row.iter_mut().zip(bias).for_each(|(o, b)| {
            o.write(*b);
        });
    });
    let parallelism = gemm_parallelism(shape.macs());
    // Natively only: Web Workers wake too slowly for one row's product.
    if batch == 1 && !cfg!(target_arch = "wasm32") && !matches!(parallelism, gemm::Parallelism::None) {
        add_one_row_by_inputs(&mut out, x, weight);
        return out;
    }
    matmul(&mut out, true, batch, outputs, inputs, rows(x, inputs), rows(weight, outputs), parallelism);
    out
}

/// `out [outputs] += x [inputs] · weight [inputs, outputs]` for one row, each thread on its own
/// run of inputs, the weight's rows ([`add_parts`]). gemm takes one row on one thread, whatever
/// its parallelism. This product only streams the weight (4 MB for the seed's classifier), and a
/// thread's contiguous share of it can stay in its core's cache from one image to the next
/// (BENCHMARKS.md, issue 35, eleventh session).
fn add_one_row_by_inputs(out: &mut [f32], x: &[f32], weight: &[f32]) {
    let (inputs, outputs) = (x.len(), out.len());
    let per_thread = inputs.div_ceil(threads());
    add_parts(out, inputs.div_ceil(per_thread), |part, out| {
        let first = part * per_thread;
        let count = per_thread.min(inputs - first);
        let (x, weight) = (&x[first..first + count], &weight[first * outputs..]);
        matmul(out, true, 1, outputs, count, rows(x, count), rows(weight, outputs), gemm::Parallelism::None);
    });
}

/// `grad [batch, outputs] · weightᵀ` → the input's gradient `[batch, inputs]`.
pub fn backward_x(shape: &LinearShape, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let LinearShape { batch, inputs, outputs } = *shape;
    let mut grad_x = vec![0.0; batch * inputs];
    let parallelism = gemm_parallelism(shape.macs());
    matmul(&mut grad_x, false, batch, inputs, outputs, rows(grad, outputs), transposed(weight, outputs), parallelism);
    grad_x
}

/// `xᵀ · grad` → the weight's gradient `[inputs, outputs]`.
pub fn backward_weight(shape: &LinearShape, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let LinearShape { batch, inputs, outputs } = *shape;
    let mut grad_weight = vec![0.0; inputs * outputs];
    let parallelism = gemm_parallelism(shape.macs());
    matmul(&mut grad_weight, false, inputs, outputs, batch, transposed(x, inputs), rows(grad, outputs), parallelism);
    grad_weight
}

/// The bias's gradient: `grad` summed over the batch, `[outputs]`.
pub fn backward_bias(shape: &LinearShape, grad: &[f32]) -> Vec<f32> {
    let mut total = vec![0.0; shape.outputs];
    for row in grad.chunks_exact(shape.outputs) {
        total.iter_mut().zip(row).for_each(|(t, g)| *t += g);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 31 + seed * 17) % 23) as f32 / 11.0 - 1.0).collect()
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what} {i}: {g} vs {w}");
        }
    }

    /// Values and all three gradients against the definition, one multiply-add at a time, at
    /// one image, odd sizes, the classifier's size on a batch (big enough to be shared), and one
    /// image big enough to be split by inputs between the threads (natively).
    #[test]
    fn forward_and_gradients_match_the_definition() {
        for (batch, inputs, outputs) in [(1, 7, 3), (5, 13, 1), (3, 1, 9), (64, 2048, 40), (1, 1001, 300)] {
            let shape = LinearShape { batch, inputs, outputs };
            let (x, weight, bias) = (values(batch * inputs, 1), values(inputs * outputs, 2), values(outputs, 3));
            let grad = values(batch * outputs, 4);
            let (x64, w64, g64): (Vec<f64>, Vec<f64>, Vec<f64>) =
                (x.iter().map(|&v| v as f64).collect(), weight.iter().map(|&v| v as f64).collect(), grad.iter().map(|&v| v as f64).collect());
            let y: Vec<f64> = (0..batch * outputs)
                .map(|k| bias[k % outputs] as f64 + (0..inputs).map(|i| x64[k / outputs * inputs + i] * w64[i * outputs + k % outputs]).sum::<f64>())
                .collect();
            assert_close(&forward(&shape, &x, &weight, &bias), &y, "output");
            let grad_x: Vec<f64> = (0..batch * inputs)
                .map(|k| (0..outputs).map(|o| g64[k / inputs * outputs + o] * w64[k % inputs * outputs + o]).sum())
                .collect();
            assert_close(&backward_x(&shape, &weight, &grad), &grad_x, "input gradient");
            let grad_w: Vec<f64> = (0..inputs * outputs)
                .map(|k| (0..batch).map(|b| x64[b * inputs + k / outputs] * g64[b * outputs + k % outputs]).sum())
                .collect();
            assert_close(&backward_weight(&shape, &x, &grad), &grad_w, "weight gradient");
            let grad_b: Vec<f64> = (0..outputs).map(|o| (0..batch).map(|b| g64[b * outputs + o]).sum()).collect();
            assert_close(&backward_bias(&shape, &grad), &grad_b, "bias gradient");
        }
    }
}
