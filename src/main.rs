//! `secnn`: train, evaluate, predict with and import the SE-CNN from the command line.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    keep_freed_memory();
    // The whole command runs on rayon's pool, so that the CPU kernels' parallel loops start
    // inside it (`on_pool`: batch-1 in 0.6× the time, training 1.06×; BENCHMARKS.md).
    secnn::cpu::on_pool(cli::main);
}

/// Training allocates and frees the same few-megabyte activations every step. By default glibc
/// maps each such buffer fresh from the kernel and hands it back when freed, so every step
/// page-faults and zeroes them again; keeping freed memory in the heap (up to 32 MiB a buffer)
/// trains 1.28× faster (BENCHMARKS.md, "Levers").
#[cfg(not(target_arch = "wasm32"))]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The CLI is native only; `wasm-pack test` still compiles every target for wasm32.
#[cfg(target_arch = "wasm32")]
fn main() {}
