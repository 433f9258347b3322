//! secnn's CPU kernels: the model's layers on plain `f32` slices in NCHW order, forward and
//! backward (convolution, batch norm, pooling, channel scaling, fully connected), and Adam's
//! step, with no Burn types (secnn's `cpu` module wraps them as Burn operations on flex).
//!
//! A crate of its own so that the browser's CPU module, built for size (`opt-level = "z"`),
//! can still compile these loops at `opt-level = 3` (a profile override per package): at "z"
//! they fine-tuned 1.4× slower in the browser, and the whole of secnn at 3 grows the module
//! past 1.0 MB gzipped (BENCHMARKS.md).
//!
//! Work is shared between threads with rayon natively; in wasm everything runs on one thread.

pub mod adam;
pub mod batch_norm;
pub mod conv;
pub mod linear;
mod matmul;
mod parallel;
pub mod pool;
#[cfg(feature = "threads")]
pub mod pool_threads;
pub mod scale;

pub use parallel::{on_pool, threads, with_helper};
