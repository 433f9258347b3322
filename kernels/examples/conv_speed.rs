//! The model's 16×16 and 8×8 convolutions at a training batch, forward and backward, timed
//! alone: a steadier A/B of the convolution path than a whole training step on a noisy host.
//!   cargo run --release -p secnn-kernels --features threads --example conv_speed -- [--repeats 20]
//! Prints each layer's median and fastest milliseconds for one forward and one backward (input
//! gradient too); on a host shared with others the fastest is the steadier figure.

use secnn_kernels::conv::{ConvShape, backward, forward};
use std::time::Instant;

fn main() {
    let repeats: usize = std::env::args().skip_while(|a| a != "--repeats").nth(1).map_or(20, |r| r.parse().expect("a count"));
    secnn_kernels::on_pool(|| {
        for (c_in, c_out, side) in [(32, 64, 16), (64, 128, 8)] {
            let shape = ConvShape { batch: 64, c_in, c_out, height: side, width: side, kernel: [3, 3], padding: [1; 4] };
            let x = values(shape.batch * c_in * side * side, 1);
            let weight = values(c_out * c_in * 9, 2);
            let grad = values(shape.batch * c_out * side * side, 3);
            let mut times: Vec<f64> = (0..repeats)
                .map(|_| {
                    let started = Instant::now();
                    std::hint::black_box(forward(&shape, &x, &weight, &vec![0.0; c_out]));
                    std::hint::black_box(backward(&shape, &x, &weight, &grad, true));
                    started.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            times.sort_by(f64::total_cmp);
            println!("{c_in}->{c_out} at {side}x{side}, batch 64: median {:.3} ms, fastest {:.3}", times[times.len() / 2], times[0]);
        }
    });
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0).collect()
}
