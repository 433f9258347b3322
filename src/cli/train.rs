//! `secnn train`: a new run (from random or `--init` weights) or `--resume` of a run directory,
//! with a checkpoint written after every epoch.

use super::{BackendArg, architecture::ArchitectureArgs, device, load_data, print, read_weights};
use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use clap::Args;
use futures_lite::future::block_on;
use indicatif::ProgressBar;
use secnn::{
    checkpoint::{self, EpochRecord, RunState},
    data::{ImageSet, Split},
    distill::{Teacher, TeacherLogits},
    model::SeCnn,
    session::{self, EpochReport, ReadPacer, TrainingSession},
    training::{Trainer, TrainingConfig, TrainingOptions},
    weights::{self, LoadedModel, ModelInfo},
};
use std::{
    path::{Path, PathBuf},
    time::Instant,
};

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset: an image folder (root/<class>/*.jpg, or root/train/<class>/...), a folder of
    /// CIFAR-10 binary batches or CIFAR-100's train.bin / test.bin (fine labels, named by
    /// fine_label_names.txt beside them), or a `.zip`: a project the page saved, or a zip of
    /// class folders.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run directory for checkpoints and the final `model.bpk`.
    #[arg(long, short, default_value = "runs/latest")]
    out: PathBuf,
    /// Continue the run in `--out` from its last completed epoch.
    #[arg(long)]
    resume: bool,
    /// Start from these weights instead of a random initialisation (any weights file, or a
    /// project `.zip`'s model with its class names).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Distil from a teacher: the logits file `tools/teacher.py` writes (see --kd-temperature,
    /// --kd-weight). Augmentation then uses the teacher's crop/flip views.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// The architecture of a new model (`--init` and `--resume` take the file's).
    #[command(flatten)]
    architecture: ArchitectureArgs,
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

/// What a run trains: the model with its description, and the state its checkpoints record.
type Run = (Trainer, ModelInfo, RunState);

/// Where a run's model comes from.
enum Start {
    /// `--resume`: the run's own checkpoint, whose description says its input size.
    Resume(Box<RunState>, usize),
    /// `--init`: these weights.
    Init(Box<LoadedModel>),
    /// A new model of the architecture flags' member.
    Fresh,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let device = device(&args.backend)?;
    let start = start(&args, &device)?;
    let data_root = match (&args.data, &start) {
        (Some(path), _) => path.clone(),
        (None, Start::Resume(state, _)) => state.data.clone(),
        (None, _) => bail!("--data is required for a new run"),
    };
    let kd_option = args.options.kd_temperature.is_some() || args.options.kd_weight.is_some();
    if kd_option && args.teacher.is_none() && !matches!(start, Start::Resume(..)) {
        bail!("--kd-temperature and --kd-weight need --teacher");
    }
    let input_size = match &start {
        Start::Resume(_, size) => *size,
        Start::Init(loaded) => loaded.info.input_size,
        Start::Fresh => args.architecture.input_size(),
    };
    let mut set = load_data(&data_root, Split::Train, input_size)?.set;
    if let Some(limit) = args.limit_per_class {
        set = limit_per_class(set, limit);
    }
    let config = match &start {
        // A resumed run keeps its recipe; only --epochs may change its length.
        Start::Resume(state, _) => state.config.clone(),
        _ => new_recipe(&args),
    };
    let (train_set, validation) = config.split(set);
    if !matches!(start, Start::Resume(..)) {
        write_validation_list(&args.out, validation.as_ref())?;
    }
    let steps_per_epoch = train_set.len().div_ceil(config.batch_size);
    let (trainer, info, state) = match start {
        Start::Resume(..) => resume(&args, steps_per_epoch, &device)?,
        start => new_run(&args, start, &config, &train_set, &data_root, steps_per_epoch, &device)?,
    };
    print::training_plan(&config, train_set.len(), validation.as_ref().map_or(0, |v| v.len()), steps_per_epoch);
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

/// Where the run's model comes from: the run in `--out` (`--resume`), `--init`'s weights, or
/// a new model of the architecture flags (checked before any data is read).
fn start(args: &TrainArgs, device: &Device) -> Result<Start> {
    let previous = previous_run(args)?;
    if args.architecture.given() && (previous.is_some() || args.init.is_some()) {
        bail!("--widths, --reduction, --hidden and --input-size describe a new model: --init and --resume take the file's architecture");
    }
    if let Some(state) = previous {
        let path = args.out.join(checkpoint::MODEL_FILE);
        let bytes = std::fs::read(&path).with_context(|| format!("--resume: {}", path.display()))?;
        let info = weights::read_info(&bytes).with_context(|| format!("{}", path.display()))?;
        return Ok(Start::Resume(Box::new(state), info.input_size));
    }
    match &args.init {
        Some(path) => Ok(Start::Init(Box::new(read_weights(path, device)?))),
        None => {
            args.architecture.check_early()?;
            Ok(Start::Fresh)
        }
    }
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

/// The recipe of a new run: the defaults with the command line's options applied.
fn new_recipe(args: &TrainArgs) -> TrainingConfig {
    let mut options = args.options.clone();
    if args.no_augment {
        options.augment = Some(false);
    }
    options.resolve(TrainingConfig::default())
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

fn read_teacher(path: &Path, train_set: &ImageSet) -> Result<Teacher> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the teacher's logits", path.display()))?;
    let logits = TeacherLogits::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    eprintln!("distilling from {} ({} views per image)", path.display(), logits.views);
    logits.for_set(train_set).with_context(|| format!("{}", path.display()))
}

/// The run in `--out`, read back from its last checkpoint.
fn resume(args: &TrainArgs, steps_per_epoch: usize, device: &Device) -> Result<Run> {
    let restored = checkpoint::restore(&args.out, steps_per_epoch, args.options.epochs, device)?;
    eprintln!(
        "resuming {} at epoch {}/{}",
        args.out.display(),
        restored.state.progress.epoch + 1,
        restored.trainer.config.epochs
    );
    Ok((restored.trainer, restored.info, restored.state))
}

/// A fresh run on `train_set` with the recipe `config`, from `start` (`--init`'s weights or a
/// new model).
fn new_run(
    args: &TrainArgs,
    start: Start,
    config: &TrainingConfig,
    train_set: &ImageSet,
    data_root: &Path,
    steps_per_epoch: usize,
    device: &Device,
) -> Result<Run> {
    let (model, mut info) = initial_model(args, start, config, &train_set.classes, device)?;
    info.classes = train_set.classes.clone();
    // Whatever `--init` measured described other weights.
    info.forget_accuracy();
    describe(&mut info, args.description.as_deref(), data_root, train_set);
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

/// `--init`'s weights (with a new last layer when its classes differ from `classes`), or a
/// model of the architecture flags with a random initialisation drawn from the recipe's seed.
fn initial_model(args: &TrainArgs, start: Start, config: &TrainingConfig, classes: &[String], device: &Device) -> Result<(SeCnn, ModelInfo)> {
    let Start::Init(loaded) = start else {
        let model_config = args.architecture.config(classes.len())?;
        device.seed(config.seed);
        let info = ModelInfo::new(&model_config, vec![], "SE-CNN", "");
        return Ok((model_config.init(device), info));
    };
    let mut model = loaded.model;
    if loaded.info.classes != classes {
        let path = args.init.as_deref().unwrap_or(Path::new("--init"));
        eprintln!("classes differ from {}: re-initialising the last layer", path.display());
        loaded.info.config().with_num_classes(classes.len()).check()?;
        model = model.with_new_head(classes.len(), device);
    }
    Ok((model, loaded.info))
}

/// The name and description the weights file of a new run carries.
fn describe(info: &mut ModelInfo, description: Option<&str>, data_root: &Path, train_set: &ImageSet) {
    info.description = match description {
        Some(text) => text.to_string(),
        None => format!(
            "Trained with `secnn train` on {} ({} images, {} classes).",
            data_root.display(),
            train_set.len(),
            train_set.classes.len()
        ),
    };
    if data_root.to_string_lossy().contains("cifar") && train_set.classes.len() == 10 {
        info.name = "SE-CNN CIFAR-10".into();
    }
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
            print::epoch_bar(&session)
        });
        let started = Instant::now();
        let reports = block_on(session.steps(pacer.steps().min(steps_left)))?;
        pacer.record(reports.len(), started.elapsed().as_secs_f64() * 1e3);
        steps_left -= reports.len();
        if let Some(diverged) = session::divergence(&reports) {
            bar.abandon();
            // The checkpoint is written at epoch ends only, so the last one predates the failure.
            bail!(
                "training diverged (loss {}) in epoch {}; the last good checkpoint in {} is kept",
                diverged.loss,
                diverged.epoch,
                args.out.display()
            );
        }
        let mut ended = None;
        for report in reports {
            print::show_step(bar, &report, session.trainer.config.batch_size, epoch_started);
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
    print::epoch(&record, session.trainer.config.epochs, end.validation.as_ref(), session.train_set().len());
    if let Some(e) = &end.validation {
        info.accuracy = Some(e.accuracy);
        info.accuracy_on = Some(format!("validation split ({} images held out of the training data)", e.count));
    }
    state.history.push(record);
    state.progress = session.trainer.progress.clone();
    state.config = session.trainer.config.clone();
    checkpoint::save(&args.out, &session.trainer, info, state)?;
    Ok(())
}
