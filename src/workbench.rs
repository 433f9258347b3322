//! One model at work, as the browser page uses it: a device, the current model and its
//! description, the examples collected for fine-tuning, and at most one fine-tuning job.
//! `web.rs` only marshals this type to JavaScript, and `tests/workbench.rs` drives the same
//! calls natively. Every error carries a stable [`WorkbenchError::code`] for callers to branch on.

use crate::{
    architecture::{self, ArchitectureError, Limits},
    backend::{DeviceError, WebGpuUnavailable},
    data::{self, ArchiveError, CifarFormat, DatasetError, ImageError, ImageSet, Planes},
    fine_tune::{self, FineTuneError, FineTuneJob, FineTuneOutcome, FineTunePlan, FineTuneRequest, KeptEpoch},
    inference::{self, ClassScore, ExplainOptions, Explanation},
    interop,
    profiles,
    session::{ReadPacer, StepReport},
    training,
    transfer,
    weights::{self, ModelInfo, WeightsError},
    SeCnn,
};
use burn::prelude::*;
use serde::Serialize;

/// Why a workbench call failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkbenchError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Examples(#[from] DatasetError),
    /// A project or a zip of class folders refused (see [`ArchiveError::reason`]).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    FineTune(#[from] FineTuneError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    WebGpu(#[from] WebGpuUnavailable),
    /// The call conflicts with the state (for example, loading weights while fine-tuning).
    #[error("{0}")]
    Busy(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
}

impl WorkbenchError {
    /// A stable name for the kind of failure (what a caller branches on; the message is for people).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Image(ImageError::TooLarge { .. }) => "image-too-large",
            Self::Image(ImageError::Unsupported { .. }) => "unsupported-format",
            Self::Image(ImageError::BadBuffer { .. }) => "invalid-argument",
            Self::Image(_) => "not-an-image",
            Self::Weights(WeightsError::Write(_)) => "internal",
            Self::Weights(WeightsError::Corrupted { .. }) => "corrupted",
            Self::Weights(WeightsError::Family(error)) if error.is_too_large() => "model-too-large",
            Self::Weights(_) => "invalid-weights",
            Self::Examples(_) | Self::Archive(_) => "invalid-file",
            Self::FineTune(FineTuneError::Device(_)) | Self::Device(_) => "device-lost",
            Self::FineTune(FineTuneError::Diverged(_)) => "diverged",
            Self::FineTune(_) | Self::InvalidArgument(_) => "invalid-argument",
            Self::WebGpu(_) => "webgpu-unavailable",
            Self::Busy(_) => "busy",
        }
    }

    /// Numbers and names that come with the failure, for callers that word it themselves:
    /// `{ reason, entry, class }` for an archive, `{ reason: 'checksum' | 'crc32', entry,
    /// stored }` for corrupted weights, the figure and its limit for a model too large
    /// (`{ parameters, maxParameters }`, `{ fineTuneBytes, maxFineTuneBytes, batch }` or
    /// `{ inputSize, maxInputSize }`).
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::Weights(WeightsError::Family(error)) => too_large_details(error),
            Self::Archive(error) => Some(serde_json::json!({ "reason": error.reason(), "entry": error.entry(), "class": error.class() })),
            Self::Weights(WeightsError::Corrupted { check, entry, stored }) => {
                Some(serde_json::json!({ "reason": check, "entry": entry, "stored": stored }))
            }
            Self::FineTune(FineTuneError::Diverged(diverged)) => serde_json::to_value(diverged).ok(),
            Self::Image(ImageError::TooLarge { width, height }) => {
                Some(serde_json::json!({ "width": width, "height": height, "maxPixels": data::MAX_PIXELS }))
            }
            _ => None,
        }
    }
}

/// The limit a too-large model broke, as numbers.
fn too_large_details(error: &ArchitectureError) -> Option<serde_json::Value> {
    let limits = architecture::LIMITS;
    match *error {
        ArchitectureError::TooManyParameters(parameters) => {
            Some(serde_json::json!({ "parameters": parameters, "maxParameters": limits.max_parameters }))
        }
        ArchitectureError::TooMuchMemory(bytes) => Some(serde_json::json!({
            "fineTuneBytes": bytes, "maxFineTuneBytes": limits.max_fine_tune_bytes, "batch": limits.fine_tune_batch
        })),
        ArchitectureError::InputTooLarge(size) => Some(serde_json::json!({ "inputSize": size, "maxInputSize": limits.max_input_size })),
        _ => None,
    }
}

/// What a caller needs to know about the model without hard-coding it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFacts {
    /// Images are resized to this many pixels square before the model sees them.
    pub input_size: usize,
    /// Channels of each SE block, first to last (as many SE weights per block; as many
    /// entries as the model has blocks).
    pub block_widths: Vec<usize>,
    /// The model's trainable parameters.
    pub parameters: u64,
    /// About how much memory fine-tuning it at the limits' batch (64) needs, in bytes.
    pub fine_tune_bytes: u64,
    /// Custom fine-tuning trains between `min_classes` and `max_classes` classes.
    pub min_classes: usize,
    pub max_classes: usize,
    /// The classes of the dataset the shipped model learned (CIFAR-10).
    pub dataset_classes: Vec<String>,
    /// The largest model any front end takes (and the family's other bounds).
    pub limits: Limits,
    /// How pixels become the model's input: resized to `size` square, then per channel
    /// `(value / 255 - mean) / std` (what an ONNX export records and a caller feeding it does).
    pub input_rule: InputRule,
}

/// The input rule as data.
#[derive(Debug, Clone, Serialize)]
pub struct InputRule {
    pub size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Pixels as the browser hands them over: RGBA, row by row.
#[derive(Debug, Clone, Copy)]
pub struct Rgba<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
}

impl Rgba<'_> {
    /// The view of these pixels a model of `size` px takes (the one resize rule).
    pub fn to_model_input(&self, size: usize) -> Result<Planes, ImageError> {
        data::rgba_to_model_input(self.pixels, self.width, self.height, size)
    }
}

/// What a finished or cancelled fine-tuning run left.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FineTuneResult {
    pub info: ModelInfo,
    /// Which epoch's weights were kept, when a validation set chose them.
    pub kept: Option<KeptEpoch>,
}

/// Milliseconds of CPU steps one fine-tuning call aims at (see `start_fine_tune`): a tenth of a
/// second still moves the charts ten times a second and pauses promptly, and each call's round
/// trip through the worker is shared by more short steps (head-only 1.15× against 40 ms).
const CPU_CALL_MS: f64 = 100.0;

/// The model, its examples and its fine-tuning job.
pub struct Workbench {
    device: Device,
    /// WebGPU (or another GPU): fine-tuning reads its steps back in groups.
    on_gpu: bool,
    model: SeCnn,
    info: ModelInfo,
    /// The examples, at the model's input size.
    examples: ImageSet,
    /// The format of the last CIFAR file added (whose classes the examples' labels name).
    cifar: Option<CifarFormat>,
    /// CIFAR-100's class names from a `fine_label_names.txt`, when one was added.
    label_names: Option<Vec<String>>,
    job: Option<FineTuneJob>,
}

impl Workbench {
    /// Loads `weights` (a burnpack, or a `.safetensors` of the seed's CNN) on `device`.
    pub fn open(weights: &[u8], device: Device, on_gpu: bool) -> Result<Self, WorkbenchError> {
        let loaded = interop::load_any(weights, &device)?;
        let (model, info) = (loaded.model, loaded.info);
        Ok(Self { device, on_gpu, model, info, examples: ImageSet::default(), cifar: None, label_names: None, job: None })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn model(&self) -> &SeCnn {
        &self.model
    }

    pub fn facts(&self) -> ModelFacts {
        let config = self.info.config();
        ModelFacts {
            input_size: self.info.input_size,
            block_widths: self.info.widths.clone(),
            parameters: config.parameters(),
            fine_tune_bytes: config.fine_tune_bytes(architecture::FINE_TUNE_BATCH),
            min_classes: fine_tune::MIN_CLASSES,
            max_classes: fine_tune::MAX_CLASSES,
            dataset_classes: data::CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
            limits: architecture::LIMITS,
            input_rule: InputRule { size: self.info.input_size, mean: data::MEAN, std: data::STD },
        }
    }

    /// Side of the images the current model takes.
    fn input_size(&self) -> usize {
        self.info.input_size
    }

    /// Replaces the model with the one in `bytes`; on any error the current model stays. The
    /// examples are resized to the new model's input size when it differs.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<&ModelInfo, WorkbenchError> {
        if self.job.is_some() {
            return Err(WorkbenchError::Busy("cannot load weights while fine-tuning; cancel or finish first"));
        }
        let loaded = interop::load_any(bytes, &self.device)?;
        (self.model, self.info) = (loaded.model, loaded.info);
        let size = self.input_size();
        if self.examples.images.first().is_some_and(|planes| planes.side() != size) {
            self.examples.images.iter_mut().for_each(|planes| *planes = planes.resized(size));
        }
        Ok(&self.info)
    }

    /// The current weights as burnpack bytes (read asynchronously, so this works on WebGPU).
    pub async fn export_weights(&self) -> Result<Vec<u8>, WorkbenchError> {
        Ok(weights::to_bytes(&self.model, &self.info).await?)
    }

    /// The current weights as a `.safetensors` file PyTorch loads into the seed's class.
    pub async fn export_safetensors(&self) -> Result<Vec<u8>, WorkbenchError> {
        Ok(interop::to_safetensors(&self.model, &self.info).await?)
    }

    /// Top-`top_k` classes of `image` (`tta`: averaged with the mirror image), and the model's
    /// view of it.
    pub async fn classify(&self, image: Rgba<'_>, top_k: usize, tta: bool) -> Result<(Vec<ClassScore>, Planes), WorkbenchError> {
        let planes = image.to_model_input(self.input_size())?;
        let mut top = inference::classify(&self.model, &[&planes], &self.info.classes, top_k, tta, &self.device).await?;
        Ok((top.remove(0), planes))
    }

    /// Probabilities, the top classes, SE weights with the most and least attended feature
    /// maps per block, and Grad-CAM, as `options` say.
    pub async fn explain(&self, image: Rgba<'_>, options: &ExplainOptions) -> Result<(Explanation, Planes), WorkbenchError> {
        let planes = image.to_model_input(self.input_size())?;
        let explanation = inference::explain(&self.model, &planes, &self.info.classes, options, &self.device).await?;
        Ok((explanation, planes))
    }

    /// `steps` training steps on `batch` images of random pixels, on a copy of the model (see
    /// [`training::train_on_noise`]): the caller times them to choose where to fine-tune.
    pub async fn train_on_noise(&self, batch: usize, steps: usize) -> Result<(), WorkbenchError> {
        Ok(training::train_on_noise(&self.model, &self.info.classes, batch, steps, &self.device).await?)
    }

    /// Adds one labelled example. Returns the number of examples.
    pub fn add_example(&mut self, image: Rgba<'_>, label: usize) -> Result<usize, WorkbenchError> {
        fine_tune::check_label(label)?;
        self.examples.images.push(image.to_model_input(self.input_size())?);
        self.examples.labels.push(label);
        Ok(self.examples.len())
    }

    /// Adds the examples a file called `name` holds, and returns how many it added:
    /// - examples [`Self::export_examples`] wrote (any name; they start with their magic);
    /// - CIFAR-100's `fine_label_names.txt` (any `.txt`: 100 class names, one a line): no
    ///   example, it names CIFAR-100's classes in [`Self::example_classes`];
    /// - a CIFAR-10 batch (`data_batch_N.bin`, `test_batch.bin`) or CIFAR-100 file (`train.bin`,
    ///   `test.bin`); under any other name, whichever format's record size divides the file.
    ///
    /// Images are resized to the model's input size. On any error nothing is added.
    pub fn add_cifar_batch(&mut self, bytes: &[u8], name: &str) -> Result<usize, WorkbenchError> {
        let path = std::path::Path::new(name);
        if data::is_examples(bytes) {
            let set = data::read_examples(bytes, self.input_size())
                .map_err(|source| DatasetError::BadExamples { path: path.to_path_buf(), source })?;
            return self.append(set);
        }
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")) {
            let names = data::read_label_names(&String::from_utf8_lossy(bytes));
            let expected = CifarFormat::Cifar100.classes();
            if names.len() != expected {
                return Err(DatasetError::BadLabelNames { path: path.to_path_buf(), found: names.len(), expected }.into());
            }
            self.label_names = Some(names);
            return Ok(0);
        }
        let format = CifarFormat::of_file(name, bytes.len())
            .ok_or_else(|| DatasetError::BadCifarFile { path: path.to_path_buf(), len: bytes.len() })?;
        let mut set = ImageSet::default();
        data::parse_cifar_records(bytes, path, format, self.input_size(), &mut set)?;
        let added = self.append(set)?;
        self.cifar = Some(format);
        Ok(added)
    }

    /// Appends `set`'s examples (at the model's input size) once every label is one fine-tuning takes.
    fn append(&mut self, set: ImageSet) -> Result<usize, WorkbenchError> {
        for &label in &set.labels {
            fine_tune::check_label(label)?;
        }
        let added = set.len();
        self.examples.images.extend(set.images);
        self.examples.labels.extend(set.labels);
        Ok(added)
    }

    /// The class names the labels of the CIFAR files added mean: CIFAR-10's, or CIFAR-100's from
    /// its `fine_label_names.txt` (`class 0` … `class 99` without one); `None` when no CIFAR file
    /// was added. What a fine-tune on those examples names its classes.
    pub fn example_classes(&self) -> Option<Vec<String>> {
        let format = self.cifar?;
        Some(match (&self.label_names, format) {
            (Some(names), CifarFormat::Cifar100) => names.clone(),
            _ => format.default_names(),
        })
    }

    /// The examples as an examples file ([`data::write_examples`]: labels as u16, images at the
    /// model's input size), which [`Self::add_cifar_batch`] reads back.
    pub fn export_examples(&self) -> Vec<u8> {
        data::write_examples(&self.examples.images, &self.examples.labels, self.input_size())
    }

    pub fn clear_examples(&mut self) {
        self.examples = ImageSet::default();
        (self.cifar, self.label_names) = (None, None);
    }

    pub fn example_count(&self) -> usize {
        self.examples.len()
    }

    /// Starts fine-tuning on the collected examples (see [`FineTuneJob::start`]).
    pub async fn start_fine_tune(&mut self, request: FineTuneRequest) -> Result<FineTunePlan, WorkbenchError> {
        if self.job.is_some() {
            return Err(WorkbenchError::Busy("a fine-tuning run is already in progress"));
        }
        // A GPU: read every ~200 ms of steps, so it does not wait for the page after each one.
        // The CPU computes each step before returning anyway: a call takes one step where a
        // step is long enough to chart (the charts and attention bars move with every step),
        // and a few where steps are short (the head on cached features), so the round trip
        // through the worker is not paid for each.
        let pacer = if self.on_gpu { ReadPacer::new(200.0, 32) } else { ReadPacer::new(CPU_CALL_MS, 16) };
        let (job, plan) =
            FineTuneJob::start(&self.model, &self.info, &self.examples, request, pacer, &self.device).await?;
        self.job = Some(job);
        Ok(plan)
    }

    /// The next steps' reports; the run's last step has `done` set, and [`Self::finish_fine_tune`]
    /// then closes the run. Closing is not a step (it measures the SE profiles again), so the
    /// last step's report does not wait for it. A diverged step ends the run and restores the
    /// model from before it.
    pub async fn fine_tune_steps(&mut self) -> Result<Vec<StepReport>, WorkbenchError> {
        let job = self.job.as_mut().ok_or(WorkbenchError::Busy("no fine-tuning run: start one first"))?;
        if job.is_done() {
            return Err(WorkbenchError::Busy("every step has run: finish the run"));
        }
        job.steps().await.map_err(|error| {
            if matches!(error, FineTuneError::Diverged(_)) {
                self.cancel_fine_tune(); // the weights from before the run come back
            }
            error.into()
        })
    }

    /// Ends the run (early or not) and keeps what it learned.
    /// The SE profiles are measured again on the run's examples (the old ones described other weights).
    pub async fn finish_fine_tune(&mut self) -> Result<FineTuneResult, WorkbenchError> {
        let job = self.job.take().ok_or(WorkbenchError::Busy("no fine-tuning run in progress"))?;
        let FineTuneOutcome { model, mut info, kept, examples } = job.finish();
        let measured_on = format!("your {} examples", examples.len());
        info.profiles = Some(profiles::measure(&model, &examples, &measured_on, 64, &self.device).await?);
        (self.model, self.info) = (model, info);
        Ok(FineTuneResult { info: self.info.clone(), kept })
    }

    /// The weights the running fine-tune would keep if it ended now (burnpack, f32), and which
    /// epoch they are (`None` without a validation set: the weights as they stand).
    pub async fn export_kept_weights(&self) -> Result<(Vec<u8>, Option<KeptEpoch>), WorkbenchError> {
        let job = self.job.as_ref().ok_or(WorkbenchError::Busy("no fine-tuning run in progress"))?;
        let (model, info, kept) = job.kept();
        Ok((weights::to_bytes(&model, &info).await?, kept))
    }

    /// Abandons the run and restores the model from before it (nothing to do without one).
    pub fn cancel_fine_tune(&mut self) -> FineTuneResult {
        if let Some(job) = self.job.take() {
            (self.model, self.info) = job.cancel();
        }
        FineTuneResult { info: self.info.clone(), kept: None }
    }

    pub fn is_fine_tuning(&self) -> bool {
        self.job.is_some()
    }
}

/// For each of `names`, the index of the same class in `known` (the one class-name rule,
/// [`transfer::same_class`]), or `None`.
pub fn match_classes(names: &[String], known: &[String]) -> Vec<Option<usize>> {
    names.iter().map(|name| known.iter().position(|k| transfer::same_class(k, name))).collect()
}
