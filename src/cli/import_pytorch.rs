//! `secnn import-pytorch`: a PyTorch `state_dict` of the seed's CNN (or of any member of its
//! family) turned into a weights file.

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use secnn::{interop, weights};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportPytorchArgs {
    /// `.pth` file holding the `state_dict` of the seed's CNN or of a member of its family
    /// (`torch.save`, either format); the architecture is read from its shapes.
    input: PathBuf,
    #[arg(long, short)]
    output: PathBuf,
    /// Class names (comma separated); default: CIFAR-10's for 10 outputs, else numbered.
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
    #[arg(long, default_value = "Imported from a PyTorch state_dict of the seed CNN")]
    description: String,
}

pub fn run(args: ImportPytorchArgs) -> Result<()> {
    if args.classes.as_ref().is_some_and(|c| c.len() < 2) {
        bail!("--classes needs at least two names");
    }
    let bytes = std::fs::read(&args.input).with_context(|| format!("{}", args.input.display()))?;
    // Converting is a one-off: the CPU is enough.
    let mut loaded = interop::load_pytorch(&bytes, args.classes, &Device::flex())
        .with_context(|| format!("{}", args.input.display()))?;
    loaded.info.description = args.description;
    let bytes = block_on(weights::to_bytes(&loaded.model, &loaded.info))?;
    std::fs::write(&args.output, bytes).with_context(|| format!("{}", args.output.display()))?;
    println!("wrote {} ({} classes)", args.output.display(), loaded.info.classes.len());
    Ok(())
}
