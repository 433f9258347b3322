//! `secnn predict`: the top classes of image files, with `--attention` the SE channel weights
//! (and, as JSON, the full explanation).

use super::{BackendArg, device, print, read_weights, shipped_model};
use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use secnn::{
    data::{self, Planes},
    inference::{self, ExplainOptions},
    weights::LoadedModel,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Channels listed as most and least attended in every block.
const ATTENDED_CHANNELS: usize = 3;

#[derive(Args)]
pub struct PredictArgs {
    /// Image files (any size; JPEG, PNG, GIF, BMP, WebP; other formats are named and refused).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// A weights file, or a project `.zip` (its model; default: the shipped CIFAR-10 model,
    /// built into this binary).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long, short = 'k', default_value_t = 5)]
    top_k: usize,
    /// Also print the SE channel weights of every block.
    #[arg(long)]
    attention: bool,
    /// Print JSON (with `--attention`: the full explanation, Grad-CAM included).
    #[arg(long)]
    json: bool,
    /// Test-time flip averaging: average the logits of the image and its mirror image.
    #[arg(long)]
    tta: bool,
    #[command(flatten)]
    backend: BackendArg,
}

/// Files that are not images are reported and skipped; the command fails only when none is.
pub fn run(args: PredictArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let loaded = match &args.weights {
        Some(path) => read_weights(path, &device)?,
        None => shipped_model(&device)?,
    };
    let mut reports = Vec::new();
    let mut failures = 0;
    for path in &args.images {
        let planes = match read_image(path, loaded.info.input_size) {
            Ok(planes) => planes,
            Err(reason) => {
                eprintln!("{}: {reason}", path.display());
                failures += 1;
                continue;
            }
        };
        let report = match args.attention {
            true => explain(&args, &loaded, path, &planes, &device)?,
            false => classify(&args, &loaded, path, &planes, &device)?,
        };
        reports.extend(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    if failures == args.images.len() {
        bail!("none of the {} file(s) could be read as an image", failures);
    }
    Ok(())
}

/// The image file at `path` as a model of `size` px sees it.
fn read_image(path: &Path, size: usize) -> Result<Planes, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    data::decode_image(&bytes, size).map_err(|e| e.to_string())
}

/// Prints the image's top classes, or with `--json` returns them.
fn classify(args: &PredictArgs, loaded: &LoadedModel, path: &Path, planes: &Planes, device: &Device) -> Result<Option<Value>> {
    let classes = &loaded.info.classes;
    let top = block_on(inference::classify(&loaded.model, &[planes], classes, args.top_k, args.tta, device))?.remove(0);
    if args.json {
        return Ok(Some(json!({ "image": path, "top": top })));
    }
    print::top(path, &top);
    Ok(None)
}

/// Prints the image's top classes and SE weights, or with `--json` returns the explanation.
fn explain(args: &PredictArgs, loaded: &LoadedModel, path: &Path, planes: &Planes, device: &Device) -> Result<Option<Value>> {
    let classes = &loaded.info.classes;
    let options = ExplainOptions { top_k: args.top_k, channels: ATTENDED_CHANNELS, tta: args.tta, ..Default::default() };
    let explanation = block_on(inference::explain(&loaded.model, planes, classes, &options, device))?;
    if args.json {
        return Ok(Some(json!({ "image": path, "explanation": explanation })));
    }
    print::top(path, &explanation.top);
    print::attention(&explanation.blocks);
    Ok(None)
}
