//! The `secnn` command line: train, evaluate, predict, import, bench.
//!
//! The top layer: it lives in the binary, and nothing in the library depends on it. Each
//! subcommand has its own module; what several of them need (the device, datasets and weights
//! files read with the user's paths in the errors) is here, and all printing is in [`print`].

mod architecture;
mod bench;
mod eval;
mod export;
mod import_pytorch;
mod predict;
mod print;
mod train;

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::{Args, Parser, Subcommand};
use secnn::{
    backend::{BackendKind, open_device},
    data::{self, Loaded, Split},
    interop, weights,
};
use std::path::Path;

/// The weights the page ships: where `eval` reads (and `--record` writes) them by default.
const SHIPPED_WEIGHTS: &str = "www/secnn/model/secnn-cifar10.bpk";
/// The same weights, built into the binary: `predict` works from any folder after `cargo install`.
const SHIPPED_BYTES: &[u8] = include_bytes!("../../www/secnn/model/secnn-cifar10.bpk");

#[derive(Parser)]
#[command(name = "secnn", version, about = "Squeeze-and-Excitation CNNs (the seed's CIFAR-10 model and its family): train, evaluate, predict, import")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process: boxing would save nothing")]
enum Command {
    /// Train a model (from scratch, from weights, or resuming a run directory).
    Train(train::TrainArgs),
    /// Accuracy, per-class accuracy and confusion matrix on a dataset.
    Eval(eval::EvalArgs),
    /// Classify image files; `--attention` also prints the channel-attention weights.
    Predict(predict::PredictArgs),
    /// Convert a PyTorch `state_dict` of the seed's CNN into a weights file.
    ImportPytorch(import_pytorch::ImportPytorchArgs),
    /// Write weights for another program: `--format safetensors` loads into the seed's PyTorch class.
    Export(export::ExportArgs),
    /// Time training and inference on random data (medians of several runs), as JSON.
    Bench(bench::BenchArgs),
}

#[derive(Args)]
struct BackendArg {
    /// Where to compute: flex (CPU), wgpu (GPU; lavapipe/CPU Vulkan works too), or vulkan
    /// (wgpu on Vulkan with SPIR-V kernels; builds with `--features vulkan` only).
    #[arg(long, value_enum, default_value = "flex")]
    backend: BackendKind,
}

pub fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::ImportPytorch(args) => import_pytorch::run(args),
        Command::Export(args) => export::run(args),
        Command::Bench(args) => bench::run(args),
    };
    if let Err(error) = result {
        // `:#` prints the whole chain of causes on one line.
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn device(backend: &BackendArg) -> Result<Device> {
    if backend.backend == BackendKind::Flex && std::env::var_os("BURN_DEVICE").is_none() {
        // Burn puts restored optimizer state on the default device, which would be wgpu.
        // SAFETY: called before any other thread of ours is started.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    open_device(backend.backend).map_err(anyhow::Error::msg)
}

/// Loads a dataset at `size` px (the model's input size) with a progress bar and reports
/// skipped files.
fn load_data(root: &Path, split: Split, size: usize) -> Result<Loaded> {
    if !root.exists() {
        bail!("{}: no such folder or file", root.display());
    }
    let progress = print::bar(0, "decoding {bar:30} {pos}/{len} images {elapsed}");
    let update = |done: usize, total: usize| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    };
    let loaded = data::load_dataset(root, split, size, &update)?;
    progress.finish_and_clear();
    print::skipped_files(&loaded.skipped);
    if loaded.set.is_empty() {
        bail!("{}: no usable images", root.display());
    }
    eprintln!(
        "{}: {} images, {} classes",
        root.display(),
        loaded.set.len(),
        loaded.set.classes.len()
    );
    Ok(loaded)
}

/// The shipped CIFAR-10 model built into the binary.
fn shipped_model(device: &Device) -> Result<weights::LoadedModel> {
    weights::load(SHIPPED_BYTES, device).context("the built-in CIFAR-10 weights")
}

/// A weights file of any format the page reads, or a project file's model (`.zip`).
fn read_weights(path: &Path, device: &Device) -> Result<weights::LoadedModel> {
    if data::is_archive(path) {
        return project_model(path, device)?.with_context(|| format!("{}: the project holds no model yet (model.safetensors); train one first", path.display()));
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read weights", path.display()))?;
    interop::load_any(&bytes, device).with_context(|| format!("{}", path.display()))
}

/// The model of the project file at `path`, named with its classes; `None` when the project
/// has no weights.
fn project_model(path: &Path, device: &Device) -> Result<Option<weights::LoadedModel>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the project", path.display()))?;
    let archive = data::read_archive(&bytes).with_context(|| format!("{}", path.display()))?;
    interop::load_project(&archive, device).with_context(|| format!("{}", path.display()))
}
