//! `secnn eval`: accuracy, per-class accuracy, confusion matrix and the SE weights' per-class
//! profiles of a weights file on a dataset; `--record` stores the accuracy and the profiles in
//! the file (optionally as f16, 8-bit or 4-bit weights).

use super::{BackendArg, SHIPPED_WEIGHTS, device, load_data, print, read_weights};
use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use secnn::{
    data::{ImageSet, Split},
    model::SeCnn,
    profiles::{self, SeProfiles},
    training::{self, Evaluation},
    weights::{self, LoadedModel, ModelInfo, Storage},
};
use std::{path::PathBuf, time::Instant};

#[derive(Args)]
pub struct EvalArgs {
    /// Dataset folder (image folder or CIFAR-10 binary batches).
    #[arg(long)]
    data: PathBuf,
    /// Which split when the folder has train/ and test/ (or binary batches).
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    #[arg(long, default_value = SHIPPED_WEIGHTS)]
    weights: PathBuf,
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

    /// The split's sub-folder in an image folder.
    fn folder(self) -> &'static str {
        match self {
            SplitArg::Train => "train",
            SplitArg::Test => "test",
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
    let mut loaded = read_weights(&args.weights, &device)?;
    if let Some(storage) = smaller_storage(&args) {
        loaded = round_trip(&loaded, storage, &device)?;
    }
    let set = load_data(&args.data, args.split.split())?.set;
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
    if args.record {
        record_accuracy(&args, &loaded, &measured)?;
    }
    Ok(())
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
    let split = args.split.folder();
    match args.data.join(split).is_dir() {
        true => format!("the {split} split of {} ({count} images)", args.data.display()),
        false => format!("{} ({count} images)", args.data.display()),
    }
}

/// Rewrites the weights file with the measured accuracy, the SE profiles (and `--description`) in it.
fn record_accuracy(args: &EvalArgs, loaded: &LoadedModel, measured: &Measured) -> Result<()> {
    let mut info = loaded.info.clone();
    info.accuracy = Some(measured.plain.accuracy);
    info.accuracy_tta = measured.tta.as_ref().map(|e| e.accuracy);
    info.accuracy_on = Some(measured_on(args, measured.plain.count));
    info.profiles = Some(measured.profiles.clone());
    if let Some(description) = &args.description {
        info.description = description.clone();
    }
    let bytes = block_on(weights::to_bytes(&loaded.model, &info))?;
    std::fs::write(&args.weights, bytes)?;
    eprintln!("recorded the accuracy and SE profiles in {}", args.weights.display());
    Ok(())
}
