//! `secnn eval`: accuracy, per-class accuracy, confusion matrix and the SE weights' per-class
//! profiles of a weights file on a dataset; `--record` stores the accuracy and the profiles in
//! the file (optionally as f16, 8-bit or 4-bit weights). A project file as `--data` is measured
//! with its own model unless `--weights` names another.

use super::{BackendArg, SHIPPED_WEIGHTS, device, load_data, print, project_model, read_weights};
use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use secnn::{
    data::{self, ImageSet, Split},
    model::SeCnn,
    profiles::{self, SeProfiles},
    training::{self, Evaluation},
    weights::{self, LoadedModel, ModelInfo, Storage},
};
use std::{
    path::{Path, PathBuf},
    time::Instant,
};

#[derive(Args)]
pub struct EvalArgs {
    /// Dataset folder (image folder, CIFAR-10 batches or CIFAR-100's train.bin / test.bin), or a
    /// `.zip`: a project the page saved, or a zip of class folders.
    #[arg(long)]
    data: PathBuf,
    /// Which split when the folder has train/ and test/ (or binary batches).
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// The weights to measure (any weights file, or a project `.zip`'s model). Default: the
    /// project's own model when `--data` is a project that has one, else the shipped model
    /// (www/secnn/model/secnn-cifar10.bpk).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Store the measured accuracy and the SE profiles in the weights file's description.
    #[arg(long)]
    record: bool,
    /// With --record: store the convolution and linear weights as f16 (half the download).
    /// The accuracy is measured with those f16 weights.
    #[arg(long, requires = "record")]
    half: bool,
    /// Store (with --record) or just measure the convolution and linear weights in 8 bits, one
    /// scale per output channel (a quarter of the f32 download). The accuracy is measured with
    /// those 8-bit weights.
    #[arg(long, conflicts_with = "half")]
    int8: bool,
    /// As --int8, but the classifier's large linear weight (fc1) in 4 bits with a scale per 64
    /// inputs of each output (about 60 % of the 8-bit download).
    #[arg(long, conflicts_with_all = ["half", "int8"])]
    int4: bool,
    /// Also measure with test-time flip averaging (each image's logits averaged with its
    /// mirror image's); with --record both figures are stored.
    #[arg(long)]
    tta: bool,
    /// With --record: also replace the description stored in the weights file.
    #[arg(long, requires = "record")]
    description: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    Train,
    Test,
}

impl SplitArg {
    fn split(self) -> Split {
        match self {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// The accuracy measured plainly and (with `--tta`) with flip averaging.
struct Measured {
    plain: Evaluation,
    tta: Option<Evaluation>,
    profiles: SeProfiles,
    seconds: f64,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let (mut loaded, file) = model_to_evaluate(&args, &device)?;
    if args.record && file.is_none() {
        bail!("--record rewrites a weights file: to record a project's model, export it and pass it as --weights");
    }
    if let Some(storage) = smaller_storage(&args) {
        loaded = round_trip(&loaded, storage, &device)?;
    }
    let set = load_data(&args.data, args.split.split(), loaded.info.input_size)?.set;
    if set.classes != loaded.info.classes {
        bail!(
            "the dataset's classes {:?} differ from the model's {:?}",
            set.classes,
            loaded.info.classes
        );
    }
    let measured = measure(&loaded.model, &set, &args, &device)?;
    if args.json {
        let report = serde_json::json!({ "plain": measured.plain, "tta": measured.tta, "profiles": measured.profiles });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print::evaluation(&args.data, &loaded.info.classes, &measured.plain, measured.seconds);
        if let Some(tta) = &measured.tta {
            println!("\nwith test-time flip averaging:");
            print::evaluation(&args.data, &loaded.info.classes, tta, measured.seconds);
        }
        let specificity: Vec<String> = measured.profiles.blocks.iter().map(|b| format!("{:.2}", b.specificity)).collect();
        println!("\nSE class-specificity by block (between-class distance / within-class spread): {}", specificity.join(", "));
    }
    if let (true, Some(file)) = (args.record, &file) {
        record_accuracy(&args, file, &loaded, &measured)?;
    }
    Ok(())
}

/// The model `eval` measures, and the weights file `--record` rewrites: `--weights`; else the
/// model of the project `--data` names, when it has one (no file to rewrite); else the shipped one.
fn model_to_evaluate(args: &EvalArgs, device: &Device) -> Result<(LoadedModel, Option<PathBuf>)> {
    if let Some(path) = &args.weights {
        return Ok((read_weights(path, device)?, Some(path.clone())));
    }
    if data::is_archive(&args.data)
        && let Some(loaded) = project_model(&args.data, device)?
    {
        eprintln!("{}: measuring the project's own model", args.data.display());
        return Ok((loaded, None));
    }
    let shipped = PathBuf::from(SHIPPED_WEIGHTS);
    Ok((read_weights(&shipped, device)?, Some(shipped)))
}

/// The storage `--half`, `--int8` or `--int4` asks for, if any.
fn smaller_storage(args: &EvalArgs) -> Option<Storage> {
    match (args.half, args.int8, args.int4) {
        (true, ..) => Some(Storage::F16),
        (_, true, _) => Some(Storage::Int8),
        (.., true) => Some(Storage::Int4),
        _ => None,
    }
}

/// The model as read back from a file with `storage`, so that the accuracy measured is that of
/// what gets written.
fn round_trip(loaded: &LoadedModel, storage: Storage, device: &Device) -> Result<LoadedModel> {
    let info = ModelInfo { storage, ..loaded.info.clone() };
    let bytes = block_on(weights::to_bytes(&loaded.model, &info))?;
    eprintln!("{storage:?} weights file: {} bytes", bytes.len());
    Ok(weights::load(&bytes, device)?)
}

fn measure(model: &SeCnn, set: &ImageSet, args: &EvalArgs, device: &Device) -> Result<Measured> {
    let started = Instant::now();
    let progress = print::bar(1, "evaluating {spinner} {elapsed}");
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let plain = block_on(training::evaluate(model, set, args.batch_size, false, device))?;
    let tta = match args.tta {
        true => Some(block_on(training::evaluate(model, set, args.batch_size, true, device))?),
        false => None,
    };
    let profiles = block_on(profiles::measure(model, set, &measured_on(args, set.len()), args.batch_size, device))?;
    progress.finish_and_clear();
    Ok(Measured { plain, tta, profiles, seconds: started.elapsed().as_secs_f64() })
}

/// What was measured, in words: "the test split of data/cifar10 (10000 images)".
fn measured_on(args: &EvalArgs, count: usize) -> String {
    let split = args.split.split().folder();
    match args.data.join(split).is_dir() {
        true => format!("the {split} split of {} ({count} images)", args.data.display()),
        false => format!("{} ({count} images)", args.data.display()),
    }
}

/// Rewrites the weights file with the measured accuracy, the SE profiles (and `--description`) in it.
fn record_accuracy(args: &EvalArgs, file: &Path, loaded: &LoadedModel, measured: &Measured) -> Result<()> {
    let mut info = loaded.info.clone();
    info.accuracy = Some(measured.plain.accuracy);
    info.accuracy_tta = measured.tta.as_ref().map(|e| e.accuracy);
    info.accuracy_on = Some(measured_on(args, measured.plain.count));
    info.profiles = Some(measured.profiles.clone());
    if let Some(description) = &args.description {
        info.description = description.clone();
    }
    let bytes = block_on(weights::to_bytes(&loaded.model, &info))?;
    std::fs::write(file, bytes)?;
    eprintln!("recorded the accuracy and SE profiles in {}", file.display());
    Ok(())
}
