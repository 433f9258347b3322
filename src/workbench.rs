//! One model at work, as the browser page uses it: a device, the current model and its
//! description, the examples collected for fine-tuning, and at most one fine-tuning job.
//! `web.rs` only marshals this type to JavaScript, and `tests/workbench.rs` drives the same
//! calls natively. Every error carries a stable [`WorkbenchError::code`] for callers to branch on.

use crate::{
    backend::{DeviceError, WebGpuUnavailable},
    data::{self, ArchiveError, DatasetError, ImageError, ImageSet, Planes},
    fine_tune::{self, FineTuneError, FineTuneJob, FineTuneOutcome, FineTunePlan, FineTuneRequest, KeptEpoch},
    inference::{self, ClassScore, ExplainOptions, Explanation},
    interop,
    model::INPUT_SIZE,
    profiles,
    session::{ReadPacer, StepReport},
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
    /// stored }` for corrupted weights.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
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

/// What a caller needs to know about the model without hard-coding it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFacts {
    /// Images are resized to this many pixels square before the model sees them.
    pub input_size: usize,
    /// Channels of each SE block (as many SE weights per block).
    pub block_widths: [usize; 3],
    /// Custom fine-tuning trains between `min_classes` and `max_classes` classes.
    pub min_classes: usize,
    pub max_classes: usize,
    /// The classes of the dataset the shipped model learned (CIFAR-10).
    pub dataset_classes: Vec<String>,
}

/// Pixels as the browser hands them over: RGBA, row by row.
#[derive(Debug, Clone, Copy)]
pub struct Rgba<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
}

impl Rgba<'_> {
    /// The model's view of these pixels (the one resize rule).
    pub fn to_model_input(&self) -> Result<Planes, ImageError> {
        data::rgba_to_model_input(self.pixels, self.width, self.height)
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

/// Steps taken by one [`Workbench::fine_tune_steps`] call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FineTuneProgress {
    /// One per step; the last carries the probe's SE weights.
    pub reports: Vec<StepReport>,
    /// Set when these steps ended the run.
    pub result: Option<FineTuneResult>,
}

/// The model, its examples and its fine-tuning job.
pub struct Workbench {
    device: Device,
    /// WebGPU (or another GPU): fine-tuning reads its steps back in groups.
    on_gpu: bool,
    model: SeCnn,
    info: ModelInfo,
    examples: ImageSet,
    job: Option<FineTuneJob>,
}

impl Workbench {
    /// Loads `weights` (a burnpack, or a `.safetensors` of the seed's CNN) on `device`.
    pub fn open(weights: &[u8], device: Device, on_gpu: bool) -> Result<Self, WorkbenchError> {
        let loaded = interop::load_any(weights, &device)?;
        Ok(Self { device, on_gpu, model: loaded.model, info: loaded.info, examples: ImageSet::default(), job: None })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn model(&self) -> &SeCnn {
        &self.model
    }

    pub fn facts(&self) -> ModelFacts {
        ModelFacts {
            input_size: INPUT_SIZE,
            block_widths: self.info.widths,
            min_classes: fine_tune::MIN_CLASSES,
            max_classes: fine_tune::MAX_CLASSES,
            dataset_classes: data::CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Replaces the model with the one in `bytes`; on any error the current model stays.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<&ModelInfo, WorkbenchError> {
        if self.job.is_some() {
            return Err(WorkbenchError::Busy("cannot load weights while fine-tuning; cancel or finish first"));
        }
        let loaded = interop::load_any(bytes, &self.device)?;
        (self.model, self.info) = (loaded.model, loaded.info);
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
        let planes = image.to_model_input()?;
        let mut top = inference::classify(&self.model, &[&planes], &self.info.classes, top_k, tta, &self.device).await?;
        Ok((top.remove(0), planes))
    }

    /// Probabilities, the top classes, SE weights with the most and least attended feature
    /// maps per block, and Grad-CAM, as `options` say.
    pub async fn explain(&self, image: Rgba<'_>, options: &ExplainOptions) -> Result<(Explanation, Planes), WorkbenchError> {
        let planes = image.to_model_input()?;
        let explanation = inference::explain(&self.model, &planes, &self.info.classes, options, &self.device).await?;
        Ok((explanation, planes))
    }

    /// Adds one labelled example. Returns the number of examples.
    pub fn add_example(&mut self, image: Rgba<'_>, label: usize) -> Result<usize, WorkbenchError> {
        fine_tune::check_label(label)?;
        self.examples.images.push(image.to_model_input()?);
        self.examples.labels.push(label);
        Ok(self.examples.len())
    }

    /// Adds every record of an official CIFAR-10 binary batch file. Returns the number added.
    pub fn add_cifar_batch(&mut self, bytes: &[u8], name: &str) -> Result<usize, WorkbenchError> {
        let before = self.examples.len();
        data::parse_cifar_records(bytes, std::path::Path::new(name), &mut self.examples)?;
        Ok(self.examples.len() - before)
    }

    /// The examples as records of the CIFAR-10 binary format (a label byte, then the planes),
    /// which [`Self::add_cifar_batch`] reads back.
    pub fn export_examples(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.examples.len() * (1 + data::IMAGE_BYTES));
        for (planes, &label) in self.examples.images.iter().zip(&self.examples.labels) {
            bytes.push(label as u8); // check_label keeps labels below 10
            bytes.extend_from_slice(planes);
        }
        bytes
    }

    pub fn clear_examples(&mut self) {
        self.examples = ImageSet::default();
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
        // The CPU computes each step before returning anyway: one step a call keeps the
        // charts and the attention bars moving with every step.
        let pacer = if self.on_gpu { ReadPacer::new(200.0, 32) } else { ReadPacer::new(0.0, 1) };
        let (job, plan) =
            FineTuneJob::start(&self.model, &self.info, &self.examples, request, pacer, &self.device).await?;
        self.job = Some(job);
        Ok(plan)
    }

    /// The next steps' reports; after the last one the fine-tuned model becomes the current
    /// model and `result` says what was kept. A diverged step ends the run and restores the
    /// model from before it.
    pub async fn fine_tune_steps(&mut self) -> Result<FineTuneProgress, WorkbenchError> {
        let job = self.job.as_mut().ok_or(WorkbenchError::Busy("no fine-tuning run: start one first"))?;
        match job.steps().await {
            Ok(reports) => {
                let result = if job.is_done() { Some(self.finish_fine_tune().await?) } else { None };
                Ok(FineTuneProgress { reports, result })
            }
            Err(error) => {
                if matches!(error, FineTuneError::Diverged(_)) {
                    self.cancel_fine_tune(); // the weights from before the run come back
                }
                Err(error.into())
            }
        }
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
