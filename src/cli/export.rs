//! `secnn export`: a weights file in another program's format; `safetensors` loads into the
//! seed's PyTorch class (`model.load_state_dict(safetensors.torch.load_file(path))`).

use super::{read_weights, shipped_model};
use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::{Args, ValueEnum};
use futures_lite::future::block_on;
use secnn::{data, inference, interop};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// For PyTorch: the seed's parameter names, f32, the class names in the metadata.
    Safetensors,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The weights to export (default: the shipped CIFAR-10 model, built into this binary).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "safetensors")]
    format: ExportFormat,
    #[arg(long, short)]
    output: PathBuf,
    /// Also write the model's logits on `data::fixed_test_patterns()` as JSON, for
    /// `tools/check_pytorch_export.py` to compare PyTorch's against.
    #[arg(long)]
    logits: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let device = Device::flex();
    let loaded = match &args.weights {
        Some(path) => read_weights(path, &device)?,
        None => shipped_model(&device)?,
    };
    let bytes = match args.format {
        ExportFormat::Safetensors => block_on(interop::to_safetensors(&loaded.model, &loaded.info))?,
    };
    std::fs::write(&args.output, bytes).with_context(|| format!("{}", args.output.display()))?;
    println!("wrote {} ({} classes: {})", args.output.display(), loaded.info.classes.len(), loaded.info.classes.join(", "));
    if let Some(path) = &args.logits {
        let inputs = data::fixed_test_patterns();
        let refs: Vec<&data::Planes> = inputs.iter().collect();
        let logits = block_on(inference::read_f32(loaded.model.forward(data::batch_tensor(&refs, &device))))?;
        let json = serde_json::json!({ "shape": [inputs.len(), loaded.info.classes.len()], "logits": logits });
        std::fs::write(path, json.to_string()).with_context(|| format!("{}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
