//! `secnn`: train, evaluate, predict with and import the SE-CNN from the command line.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    cli::main();
}

/// The CLI is native only; `wasm-pack test` still compiles every target for wasm32.
#[cfg(target_arch = "wasm32")]
fn main() {}
