//! `secnn export`: a weights file in another program's format; `safetensors` loads into the
//! seed's PyTorch class (`model.load_state_dict(safetensors.torch.load_file(path))`), `onnx`
//! runs in ONNX Runtime and the rest (written from that safetensors file by `secnn_onnx`).

use super::{read_weights, shipped_model};
use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::{Args, ValueEnum};
use futures_lite::future::block_on;
use secnn::{data, inference, interop, weights};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// For PyTorch: the seed's parameter names, f32, the class names in the metadata.
    Safetensors,
    /// For ONNX Runtime, TensorRT, OpenVINO, OpenCV…: one graph (opset 17) whose outputs are
    /// the logits and each block's SE weights, the class names and input rule in its metadata.
    Onnx,
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
    /// Also write the model's logits on `data::fixed_test_patterns` (at its input size) as JSON, for
    /// `tools/check_pytorch_export.py` to compare PyTorch's against.
    #[arg(long)]
    logits: Option<PathBuf>,
    /// Also write each block's SE weights on the same images as JSON, for
    /// `tools/check_onnx_export.py` to compare ONNX Runtime's `se1` … `seN` against.
    #[arg(long)]
    se: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let device = Device::flex();
    let loaded = match &args.weights {
        Some(path) => read_weights(path, &device)?,
        None => shipped_model(&device)?,
    };
    let bytes = match args.format {
        ExportFormat::Safetensors => block_on(interop::to_safetensors(&loaded.model, &loaded.info))?,
        ExportFormat::Onnx => onnx(&loaded)?,
    };
    std::fs::write(&args.output, bytes).with_context(|| format!("{}", args.output.display()))?;
    println!("wrote {} ({} classes: {})", args.output.display(), loaded.info.classes.len(), loaded.info.classes.join(", "));
    if let Some(path) = &args.logits {
        let inputs = data::fixed_test_patterns(loaded.info.input_size);
        let refs: Vec<&data::Planes> = inputs.iter().collect();
        let logits = block_on(inference::read_f32(loaded.model.forward(data::batch_tensor(&refs, &device))))?;
        let json = serde_json::json!({ "shape": [inputs.len(), loaded.info.classes.len()], "logits": logits });
        std::fs::write(path, json.to_string()).with_context(|| format!("{}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.se {
        write_se_weights(path, &loaded, &device)?;
    }
    Ok(())
}

/// The ONNX file of `loaded`: its safetensors file (the seed's names) through `secnn_onnx`,
/// the input normalised by secnn's rule; the input size comes from the weights.
fn onnx(loaded: &weights::LoadedModel) -> Result<Vec<u8>> {
    let safetensors = block_on(interop::to_safetensors(&loaded.model, &loaded.info))?;
    let rule = secnn_onnx::InputRule { size: None, mean: data::MEAN, std: data::STD };
    Ok(secnn_onnx::to_onnx(&safetensors, &rule)?)
}

/// Each block's SE weights on `data::fixed_test_patterns` as JSON:
/// `{"blocks": [{"shape": [images, channels], "weights": [...]}, ...]}`, images in order.
fn write_se_weights(path: &Path, loaded: &weights::LoadedModel, device: &Device) -> Result<()> {
    let mut blocks: Vec<(usize, Vec<f32>)> = Vec::new();
    let inputs = data::fixed_test_patterns(loaded.info.input_size);
    for image in &inputs {
        let per_block = block_on(inference::se_weights(&loaded.model, image, device))?;
        blocks.resize(per_block.len(), (0, Vec::new()));
        for ((channels, values), block) in blocks.iter_mut().zip(per_block) {
            *channels = block.len();
            values.extend(block);
        }
    }
    let blocks: Vec<_> = blocks.iter().map(|(channels, values)| serde_json::json!({ "shape": [inputs.len(), channels], "weights": values })).collect();
    std::fs::write(path, serde_json::json!({ "blocks": blocks }).to_string()).with_context(|| format!("{}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
