//! The `secnn` command line: train, evaluate, predict, import, bench.

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand};
use futures_lite::future::block_on;
use indicatif::{ProgressBar, ProgressStyle};
use secnn::{
    backend::{BackendKind, open_device},
    checkpoint::{self, EpochRecord, RunState},
    data::{self, ImageSet, Loaded, Split},
    inference,
    model::{SeCnn, SeCnnConfig},
    distill::{Teacher, TeacherLogits},
    session::{EpochReport, ReadPacer, StepReport, TrainingSession},
    training::{self, Schedule, Trainer, TrainingConfig, TrainingOptions},
    weights::{self, ModelInfo},
};
use std::{
    path::{Path, PathBuf},
    time::Instant,
};

/// The weights the page ships, used when `--weights` is not given.
const SHIPPED_WEIGHTS: &str = "www/model/secnn-cifar10.bpk";

#[derive(Parser)]
#[command(name = "secnn", version, about = "Squeeze-and-Excitation CNN for CIFAR-10: train, evaluate, predict, import")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (from scratch, from weights, or resuming a run directory).
    Train(TrainArgs),
    /// Accuracy, per-class accuracy and confusion matrix on a dataset.
    Eval(EvalArgs),
    /// Classify image files; `--attention` also prints the channel-attention weights.
    Predict(PredictArgs),
    /// Convert a PyTorch `state_dict` of the seed's CNN into a weights file.
    ImportPytorch(ImportArgs),
    /// Time training and inference on random data (medians of several runs), as JSON.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    train_batch: usize,
    /// Training steps per measured run.
    #[arg(long, default_value_t = 30)]
    train_steps: usize,
    /// Measured runs (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Read the training metrics back every this many steps (1: after every step, as training
    /// loops used to); 0 reads once per run.
    #[arg(long, default_value_t = 0)]
    read_every: usize,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendArg,
}

#[derive(Args)]
struct BackendArg {
    /// Where to compute: flex (CPU), wgpu (GPU; lavapipe/CPU Vulkan works too), or vulkan
    /// (wgpu on Vulkan with SPIR-V kernels; builds with `--features vulkan` only).
    #[arg(long, value_enum, default_value = "flex")]
    backend: BackendKind,
}

#[derive(Args)]
struct TrainArgs {
    /// Dataset: an image folder (root/<class>/*.jpg, or root/train/<class>/...) or a folder of
    /// CIFAR-10 binary batches.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run directory for checkpoints and the final `model.bpk`.
    #[arg(long, short, default_value = "runs/latest")]
    out: PathBuf,
    /// Continue the run in `--out` from its last completed epoch.
    #[arg(long)]
    resume: bool,
    /// Start from these weights instead of a random initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Distil from a teacher: the logits file `tools/teacher.py` writes (see --kd-temperature,
    /// --kd-weight). Augmentation then uses the teacher's crop/flip views.
    #[arg(long)]
    teacher: Option<PathBuf>,
    #[command(flatten)]
    options: TrainingOptions,
    /// Turn off random-crop + flip augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Use only the first N images of every class (quick experiments and tests).
    #[arg(long)]
    limit_per_class: Option<usize>,
    /// Stop after this many optimisation steps (checkpoints are written at epoch ends only).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Description stored in the weights file.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    backend: BackendArg,
}

#[derive(Args)]
struct EvalArgs {
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
    /// Store the measured accuracy in the weights file's description.
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

#[derive(Args)]
struct PredictArgs {
    /// Image files (any size; JPEG, PNG, GIF, BMP, WebP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[arg(long, default_value = SHIPPED_WEIGHTS)]
    weights: PathBuf,
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

#[derive(Args)]
struct ImportArgs {
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

pub fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(args),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::ImportPytorch(args) => import_pytorch(args),
        Command::Bench(args) => bench(args),
    };
    if let Err(error) = result {
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

fn bar(len: usize, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// Loads a dataset with a progress bar and reports skipped files.
fn load_data(root: &Path, split: Split) -> Result<Loaded> {
    if !root.exists() {
        bail!("{}: no such folder", root.display());
    }
    let progress = bar(0, "decoding {bar:30} {pos}/{len} images {elapsed}");
    let update = |done: usize, total: usize| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    };
    let loaded = data::load_dataset(root, split, &update)?;
    progress.finish_and_clear();
    if !loaded.skipped.is_empty() {
        eprintln!("skipped {} file(s) that are not usable images:", loaded.skipped.len());
        for skipped in loaded.skipped.iter().take(10) {
            eprintln!("  {}: {}", skipped.path.display(), skipped.reason);
        }
        if loaded.skipped.len() > 10 {
            eprintln!("  … and {} more", loaded.skipped.len() - 10);
        }
    }
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

fn limit_per_class(set: ImageSet, limit: usize) -> ImageSet {
    let mut seen = vec![0usize; set.classes.len()];
    let mut out = ImageSet { classes: set.classes.clone(), ..Default::default() };
    for (index, (image, label)) in set.images.into_iter().zip(set.labels).enumerate() {
        if seen[label] < limit {
            seen[label] += 1;
            out.images.push(image);
            out.labels.push(label);
            if let Some(name) = set.names.get(index) {
                out.names.push(name.clone());
            }
        }
    }
    out
}

fn read_weights(path: &Path, device: &Device) -> Result<weights::LoadedModel> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read weights", path.display()))?;
    weights::load(&bytes, device).with_context(|| format!("{}", path.display()))
}

/// The run `--resume` continues, or `None` for a new run (refused where `--out` holds one).
fn previous_run(args: &TrainArgs) -> Result<Option<RunState>> {
    let run_state_path = args.out.join("state.json");
    if args.resume {
        let bytes = std::fs::read(&run_state_path)
            .with_context(|| format!("--resume: no checkpoint in {}", args.out.display()))?;
        return Ok(Some(serde_json::from_slice(&bytes).context("state.json")?));
    }
    if run_state_path.exists() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            args.out.display()
        );
    }
    Ok(None)
}

fn train(args: TrainArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let previous = previous_run(&args)?;
    let data_root = match (&args.data, &previous) {
        (Some(path), _) => path.clone(),
        (None, Some(state)) => state.data.clone(),
        (None, None) => bail!("--data is required for a new run"),
    };
    let kd_option = args.options.kd_temperature.is_some() || args.options.kd_weight.is_some();
    if kd_option && args.teacher.is_none() && previous.is_none() {
        bail!("--kd-temperature and --kd-weight need --teacher");
    }
    let mut set = load_data(&data_root, Split::Train)?.set;
    if let Some(limit) = args.limit_per_class {
        set = limit_per_class(set, limit);
    }

    let config = match &previous {
        // A resumed run keeps its recipe; only --epochs may change its length.
        Some(state) => state.config.clone(),
        None => {
            let mut options = args.options.clone();
            if args.no_augment {
                options.augment = Some(false);
            }
            options.resolve(TrainingConfig::default())
        }
    };
    let (train_set, validation) = config.split(set);
    if previous.is_none() {
        write_validation_list(&args.out, validation.as_ref())?;
    }
    let steps_per_epoch = train_set.len().div_ceil(config.batch_size);

    let (trainer, info, state) = match previous {
        Some(_) => {
            let restored = checkpoint::restore(&args.out, steps_per_epoch, args.options.epochs, &device).map_err(anyhow::Error::msg)?;
            eprintln!(
                "resuming {} at epoch {}/{}",
                args.out.display(),
                restored.state.progress.epoch + 1,
                restored.trainer.config.epochs
            );
            (restored.trainer, restored.info, restored.state)
        }
        None => new_run(&args, &config, &train_set, &data_root, steps_per_epoch, &device)?,
    };

    eprintln!(
        "training on {} images ({} for validation), {} steps/epoch, {:?} {:?} lr {} batch {}",
        train_set.len(),
        validation.as_ref().map_or(0, |v| v.len()),
        steps_per_epoch,
        config.optimizer,
        config.schedule,
        config.lr,
        config.batch_size
    );
    let teacher = match state.teacher.as_deref() {
        Some(path) => Some(read_teacher(path, &train_set)?),
        None => None,
    };
    let session = TrainingSession::new(trainer, train_set, validation, &device);
    let session = match teacher {
        Some(teacher) => session.with_teacher(teacher),
        None => session,
    };
    run_epochs(&args, session, info, state)
}

fn read_teacher(path: &Path, train_set: &ImageSet) -> Result<Teacher> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the teacher's logits", path.display()))?;
    let logits = TeacherLogits::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    eprintln!("distilling from {} ({} views per image)", path.display(), logits.views);
    logits.for_set(train_set).with_context(|| format!("{}", path.display()))
}

/// Records which images a new run holds out (`validation.txt`, one name per line), so that a
/// teacher for distillation can be trained without them (`tools/teacher.py --exclude`).
fn write_validation_list(out: &Path, validation: Option<&ImageSet>) -> Result<()> {
    let Some(names) = validation.map(|v| &v.names).filter(|names| !names.is_empty()) else {
        return Ok(());
    };
    let path = out.join("validation.txt");
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    std::fs::write(&path, names.join("\n") + "\n").with_context(|| format!("{}", path.display()))
}

/// A fresh run: the model from `--init` (a new last layer when the classes differ) or a random
/// initialisation, and its description.
fn new_run(
    args: &TrainArgs,
    config: &TrainingConfig,
    train_set: &ImageSet,
    data_root: &Path,
    steps_per_epoch: usize,
    device: &Device,
) -> Result<(Trainer, ModelInfo, RunState)> {
    let (model, mut info) = match &args.init {
        Some(path) => {
            let loaded = read_weights(path, device)?;
            let mut model = loaded.model;
            if loaded.info.classes != train_set.classes {
                eprintln!("classes differ from {}: re-initialising the last layer", path.display());
                model = model.with_new_head(train_set.classes.len(), device);
            }
            (model, loaded.info)
        }
        None => {
            let model_config = SeCnnConfig::new().with_num_classes(train_set.classes.len());
            device.seed(config.seed);
            let info = ModelInfo::new(&model_config, vec![], "SE-CNN", "");
            (model_config.init(device), info)
        }
    };
    info.classes = train_set.classes.clone();
    info.accuracy = None;
    info.accuracy_tta = None;
    info.accuracy_on = None;
    info.description = args.description.clone().unwrap_or_else(|| {
        format!(
            "Trained with `secnn train` on {} ({} images, {} classes).",
            data_root.display(),
            train_set.len(),
            train_set.classes.len()
        )
    });
    if data_root.to_string_lossy().contains("cifar") && train_set.classes.len() == 10 {
        info.name = "SE-CNN CIFAR-10".into();
    }
    let trainer = Trainer::new(model, config.clone(), steps_per_epoch, device);
    let state = RunState {
        config: config.clone(),
        progress: trainer.progress.clone(),
        data: data_root.to_path_buf(),
        teacher: args.teacher.clone(),
        history: Vec::new(),
    };
    Ok((trainer, info, state))
}

/// Steps `session` to its end (or `--max-steps`), printing progress and writing a checkpoint
/// after every epoch. Steps are read back from the device in groups (about every half second).
fn run_epochs(args: &TrainArgs, mut session: TrainingSession, mut info: ModelInfo, mut state: RunState) -> Result<()> {
    let mut steps_left = args.max_steps.unwrap_or(usize::MAX);
    let mut progress: Option<ProgressBar> = None;
    let mut epoch_started = Instant::now();
    let mut pacer = ReadPacer::new(500.0, 64);
    while !session.is_done() && steps_left > 0 {
        let bar = progress.get_or_insert_with(|| {
            epoch_started = Instant::now();
            let bar = bar(session.steps_per_epoch(), "epoch {prefix} {bar:30} {pos}/{len} [{elapsed}<{eta}] {msg}");
            bar.set_prefix(format!("{}/{}", session.trainer.progress.epoch + 1, session.trainer.config.epochs));
            bar
        });
        let started = Instant::now();
        let reports = block_on(session.steps(pacer.steps().min(steps_left)))?;
        pacer.record(reports.len(), started.elapsed().as_secs_f64() * 1e3);
        steps_left -= reports.len();
        let mut ended = None;
        for report in reports {
            if !report.metrics.loss.is_finite() {
                bar.abandon();
                bail!(
                    "training diverged (loss {}) in epoch {}; the last good checkpoint in {} is kept",
                    report.metrics.loss,
                    report.epoch + 1,
                    args.out.display()
                );
            }
            show_step(bar, &report, session.trainer.config.batch_size, epoch_started);
            ended = report.epoch_end.map(|end| (end, report.metrics.lr));
        }
        let Some((end, lr)) = ended else { continue };
        bar.finish_and_clear();
        progress = None;
        finish_epoch(args, &session, end, lr, epoch_started.elapsed().as_secs_f64(), &mut info, &mut state)?;
    }
    let model = args.out.join(checkpoint::MODEL_FILE);
    if model.exists() {
        println!("weights: {}", model.display());
    } else {
        println!("no epoch completed: nothing written to {}", args.out.display());
    }
    Ok(())
}

/// Moves the epoch's progress bar to `report`'s step.
fn show_step(bar: &ProgressBar, report: &StepReport, batch_size: usize, epoch_started: Instant) {
    bar.set_position(report.step_in_epoch as u64);
    let seconds = epoch_started.elapsed().as_secs_f64();
    let message = format!(
        "loss {:.4} acc {:.1}% lr {:.2e} {:.0} img/s",
        report.running_loss,
        100.0 * report.running_accuracy,
        report.metrics.lr,
        (report.step_in_epoch * batch_size) as f64 / seconds
    );
    // Without a terminal (logs, CI) the bar is hidden: print a line now and then instead.
    if bar.is_hidden() && report.step_in_epoch % 50 == 0 {
        eprintln!("epoch {}/{} step {}/{}: {message}", report.epoch + 1, report.epochs, report.step_in_epoch, report.steps_per_epoch);
    }
    bar.set_message(message);
}

/// Prints an epoch's line, records it and writes the checkpoint.
fn finish_epoch(
    args: &TrainArgs,
    session: &TrainingSession,
    end: EpochReport,
    lr: f64,
    seconds: f64,
    info: &mut ModelInfo,
    state: &mut RunState,
) -> Result<()> {
    let record = EpochRecord {
        epoch: end.epoch,
        train_loss: end.train_loss,
        train_accuracy: end.train_accuracy,
        validation_loss: end.validation.as_ref().map(|e| e.loss),
        validation_accuracy: end.validation.as_ref().map(|e| e.accuracy),
        lr,
        seconds,
    };
    println!(
        "epoch {:>3}/{}: train loss {:.4} acc {:.2}% | validation {} | lr {:.2e} | {:.0} s ({:.0} img/s)",
        record.epoch,
        session.trainer.config.epochs,
        record.train_loss,
        100.0 * record.train_accuracy,
        match &end.validation {
            Some(e) => format!("loss {:.4} acc {:.2}%", e.loss, 100.0 * e.accuracy),
            None => "-".into(),
        },
        record.lr,
        record.seconds,
        session.train_set().len() as f64 / record.seconds
    );
    if let Some(e) = &end.validation {
        info.accuracy = Some(e.accuracy);
        info.accuracy_on = Some(format!("validation split ({} images held out of the training data)", e.count));
    }
    state.history.push(record);
    state.progress = session.trainer.progress.clone();
    state.config = session.trainer.config.clone();
    checkpoint::save(&args.out, &session.trainer, info, state).map_err(anyhow::Error::msg)
}

fn eval(args: EvalArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let mut loaded = read_weights(&args.weights, &device)?;
    let storage = match (args.half, args.int8) {
        (true, _) => Some(weights::Storage::F16),
        (_, true) => Some(weights::Storage::Int8),
        _ => None,
    };
    if let Some(storage) = storage {
        // Round-trip through the smaller file first, so the accuracy is that of what gets written.
        let info = ModelInfo { storage, ..loaded.info.clone() };
        let bytes = block_on(weights::to_bytes(&loaded.model, &info))?;
        eprintln!("{storage:?} weights file: {} bytes", bytes.len());
        loaded = weights::load(&bytes, &device)?;
    }
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
    let set = load_data(&args.data, split)?.set;
    if set.classes != loaded.info.classes {
        bail!(
            "the dataset's classes {:?} differ from the model's {:?}",
            set.classes,
            loaded.info.classes
        );
    }
    let started = Instant::now();
    let progress = bar(1, "evaluating {spinner} {elapsed}");
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let evaluation = block_on(training::evaluate(&loaded.model, &set, args.batch_size, false, &device))?;
    let with_tta = match args.tta {
        true => Some(block_on(training::evaluate(&loaded.model, &set, args.batch_size, true, &device))?),
        false => None,
    };
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let report = serde_json::json!({ "plain": evaluation, "tta": with_tta });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_evaluation(&args.data, &loaded.info.classes, &evaluation, seconds);
        if let Some(tta) = &with_tta {
            println!("\nwith test-time flip averaging:");
            print_evaluation(&args.data, &loaded.info.classes, tta, seconds);
        }
    }
    if args.record {
        let mut info = loaded.info.clone();
        info.accuracy = Some(evaluation.accuracy);
        info.accuracy_tta = with_tta.map(|e| e.accuracy);
        let split = match args.split {
            SplitArg::Train => "train",
            SplitArg::Test => "test",
        };
        info.accuracy_on = Some(match args.data.join(split).is_dir() {
            true => format!("the {split} split of {} ({} images)", args.data.display(), evaluation.count),
            false => format!("{} ({} images)", args.data.display(), evaluation.count),
        });
        if let Some(description) = &args.description {
            info.description = description.clone();
        }
        let bytes = block_on(weights::to_bytes(&loaded.model, &info))?;
        std::fs::write(&args.weights, bytes)?;
        eprintln!("recorded the accuracy in {}", args.weights.display());
    }
    Ok(())
}

fn print_evaluation(data: &Path, classes: &[String], evaluation: &training::Evaluation, seconds: f64) {
    println!(
        "{}: accuracy {:.2}% ({} images, loss {:.4}, {:.1} s)",
        data.display(),
        100.0 * evaluation.accuracy,
        evaluation.count,
        evaluation.loss,
        seconds
    );
    println!("\nper class:");
    for (class, accuracy) in classes.iter().zip(&evaluation.per_class_accuracy) {
        println!("  {class:>12} {:6.2}%", 100.0 * accuracy);
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted):");
    let short: Vec<String> = classes.iter().map(|c| c.chars().take(5).collect()).collect();
    println!("{:>12} {}", "", short.iter().map(|c| format!("{c:>6}")).collect::<String>());
    for (class, row) in classes.iter().zip(&evaluation.confusion) {
        println!("{class:>12} {}", row.iter().map(|n| format!("{n:>6}")).collect::<String>());
    }
}

fn predict(args: PredictArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let loaded = read_weights(&args.weights, &device)?;
    let classes = &loaded.info.classes;
    let mut reports = Vec::new();
    let mut failures = 0;
    for path in &args.images {
        let planes = match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| data::decode_image(&bytes).map_err(|e| e.to_string()))
        {
            Ok(planes) => planes,
            Err(reason) => {
                eprintln!("{}: {reason}", path.display());
                failures += 1;
                continue;
            }
        };
        if args.attention {
            let explanation = block_on(inference::explain(&loaded.model, &planes, classes, args.top_k, 3, None, args.tta, &device))?;
            if args.json {
                reports.push(serde_json::json!({ "image": path, "explanation": explanation }));
                continue;
            }
            print_top(path, &explanation.top);
            for (index, block) in explanation.blocks.iter().enumerate() {
                let line: Vec<String> = block.se_weights.iter().map(|w| format!("{w:.2}")).collect();
                println!("  SE weights block {} ({} channels): {}", index + 1, block.se_weights.len(), line.join(" "));
                let most: Vec<String> = block.most_attended.iter().map(|c| format!("#{} {:.3}", c.channel, c.weight)).collect();
                let least: Vec<String> = block.least_attended.iter().map(|c| format!("#{} {:.3}", c.channel, c.weight)).collect();
                println!("    most attended: {}; least attended: {}", most.join(", "), least.join(", "));
            }
        } else {
            let top = block_on(inference::classify(&loaded.model, &[&planes], classes, args.top_k, args.tta, &device))?.remove(0);
            if args.json {
                reports.push(serde_json::json!({ "image": path, "top": top }));
                continue;
            }
            print_top(path, &top);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    if failures == args.images.len() {
        bail!("none of the {} file(s) could be read as an image", failures);
    }
    Ok(())
}

fn print_top(path: &Path, top: &[inference::ClassScore]) {
    println!("{}:", path.display());
    for score in top {
        let bar = "#".repeat((score.probability * 30.0).round() as usize);
        println!("  {:>12} {:6.2}% {bar}", score.label, 100.0 * score.probability);
    }
}

fn import_pytorch(args: ImportArgs) -> Result<()> {
    let device = Device::flex();
    let classes = args
        .classes
        .unwrap_or_else(|| data::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    if classes.len() < 2 {
        bail!("--classes needs at least two names");
    }
    let model = weights::import_pytorch(&args.input, classes.len(), &device)
        .with_context(|| format!("{}", args.input.display()))?;
    let config = SeCnnConfig::new().with_num_classes(classes.len());
    let info = ModelInfo::new(&config, classes, "SE-CNN (PyTorch import)", &args.description);
    let bytes = block_on(weights::to_bytes(&model, &info))?;
    std::fs::write(&args.output, bytes).with_context(|| format!("{}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench(args: BenchArgs) -> Result<()> {
    use rand::SeedableRng;
    let device = device(&args.backend)?;
    device.seed(0);
    let runs = args.runs.max(1);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let train_set = random_images(args.train_batch, &mut rng);
    let config = TrainingConfig { schedule: Schedule::Constant, ..TrainingConfig::default() };
    let mut trainer = Trainer::new(SeCnnConfig::new().init(&device), config, 1, &device);
    let indices: Vec<usize> = (0..train_set.len()).collect();
    let read_every = if args.read_every == 0 { usize::MAX } else { args.read_every };
    // Each step builds its batch from host memory, as real training does; the metrics are read
    // every `read_every` steps and at the end (which waits for the device to finish every step).
    let mut train_run = |steps: usize| -> Result<f64> {
        let started = Instant::now();
        let mut pending = Vec::new();
        for step in 1..=steps {
            let (images, labels) = training::make_batch(&train_set, &indices, true, &mut rng, &device);
            pending.push(trainer.queue_step(images, labels));
            if step % read_every == 0 || step == steps {
                block_on(training::read_metrics(std::mem::take(&mut pending)))?;
            }
        }
        Ok((steps * args.train_batch) as f64 / started.elapsed().as_secs_f64())
    };
    let started = Instant::now();
    train_run(3)?;
    let first_steps_s = started.elapsed().as_secs_f64();
    let train: Vec<f64> = (0..runs).map(|_| train_run(args.train_steps)).collect::<Result<_>>()?;
    // The host's share of a step: one augmented batch (what augmenting on the device could save).
    let prepare: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..20 {
                drop(training::make_batch(&train_set, &indices, true, &mut rng, &device));
            }
            started.elapsed().as_secs_f64() * 1e3 / 20.0
        })
        .collect();
    let (latency, throughput) = bench_inference(&trainer.inference_model(), runs, &mut rng, &device)?;
    let report = serde_json::json!({
        "backend": format!("{:?}", args.backend.backend).to_lowercase(),
        "features": secnn::backend::gpu_features(),
        "train_images_per_s": median(train),
        "train_batch": args.train_batch,
        "read_every": args.read_every,
        "first_steps_s": first_steps_s,
        "prepare_batch_ms": median(prepare),
        "infer_batch1_ms": median(latency),
        "infer_batch256_images_per_s": median(throughput),
        "runs": runs,
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = args.json {
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// `n` images of random pixels, labelled round the ten CIFAR-10 classes.
fn random_images(n: usize, rng: &mut rand::rngs::SmallRng) -> ImageSet {
    use rand::Rng;
    ImageSet {
        images: (0..n).map(|_| std::array::from_fn(|_| rng.random())).collect(),
        labels: (0..n).map(|i| i % 10).collect(),
        classes: data::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
        names: vec![],
    }
}

/// Batch-1 latencies (ms) and batch-256 throughputs (images/s), one per run, each read back.
fn bench_inference(model: &SeCnn, runs: usize, rng: &mut rand::rngs::SmallRng, device: &Device) -> Result<(Vec<f64>, Vec<f64>)> {
    let set = random_images(256, rng);
    let infer = |batch: &[&data::Planes], repeats: usize| -> Result<f64> {
        let started = Instant::now();
        for _ in 0..repeats {
            block_on(inference::classify(model, batch, &set.classes, 1, false, device))?;
        }
        Ok(started.elapsed().as_secs_f64() / repeats as f64)
    };
    let one = [&set.images[0]];
    infer(&one, 10)?;
    let latency = (0..runs).map(|_| infer(&one, 50).map(|s| s * 1e3)).collect::<Result<_>>()?;
    let big: Vec<&data::Planes> = set.images.iter().collect();
    infer(&big, 2)?;
    let throughput = (0..runs).map(|_| infer(&big, 5).map(|s| 256.0 / s)).collect::<Result<_>>()?;
    Ok((latency, throughput))
}
