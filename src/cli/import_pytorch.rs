//! `secnn import-pytorch`: a PyTorch `state_dict` of the seed's CNN turned into a weights file.

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use secnn::{
    data,
    model::SeCnnConfig,
    interop,
    weights::{self, ModelInfo},
};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportPytorchArgs {
    /// `.pth` file holding the seed CNN's `state_dict`.
    input: PathBuf,
    #[arg(long, short)]
    output: PathBuf,
    /// Class names (comma separated); default: the CIFAR-10 classes.
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
    #[arg(long, default_value = "Imported from a PyTorch state_dict of the seed CNN")]
    description: String,
}

pub fn run(args: ImportPytorchArgs) -> Result<()> {
    // Converting is a one-off: the CPU is enough.
    let device = Device::flex();
    let classes = args
        .classes
        .unwrap_or_else(|| data::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    if classes.len() < 2 {
        bail!("--classes needs at least two names");
    }
    let model = interop::import_pytorch(&args.input, classes.len(), &device)
        .with_context(|| format!("{}", args.input.display()))?;
    let config = SeCnnConfig::new().with_num_classes(classes.len());
    let info = ModelInfo::new(&config, classes, "SE-CNN (PyTorch import)", &args.description);
    let bytes = block_on(weights::to_bytes(&model, &info))?;
    std::fs::write(&args.output, bytes).with_context(|| format!("{}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}
