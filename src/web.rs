//! The wasm boundary: a thin wrapper that hands the library's classify / explain / fine-tune /
//! weights functions to JavaScript. No model logic lives here; every call goes to the same
//! code the native CLI runs. Results cross as plain JS objects (serde-wasm-bindgen).

use crate::{
    data::{self, ImageSet, Planes},
    inference,
    session::{ReadPacer, TrainingSession},
    training::{Evaluation, Trainer, TrainingConfig, TrainingOptions},
    transfer::{self, ClassStart},
    weights::{self, ModelInfo},
    SeCnn,
};
use burn::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    crate::backend::run_static_constructors();
    console_error_panic_hook::set_once();
    // wgpu reports shader and validation problems only through the log: send it to the console.
    let _ = console_log::init_with_level(log::Level::Warn);
}

fn js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// Plain JS objects (maps as objects, `None` as null); `serde_bytes` fields become `Uint8Array`s.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false))
        .map_err(js_error)
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Which backend a runtime uses and on what adapter.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct BackendInfo {
    /// "webgpu" or "cpu".
    backend: String,
    /// Adapter description ("CPU (Burn flex, wasm SIMD128)" on the CPU path).
    adapter: String,
    /// Why WebGPU is not used, when it was asked for with "auto" and failed.
    fallback_reason: Option<String>,
}

/// A training run in progress, plus what is needed to undo it.
struct FineTune {
    session: TrainingSession,
    /// The model (and its description) before fine-tuning, restored by `cancel_fine_tune`.
    previous: (SeCnn, ModelInfo),
    info: ModelInfo,
    /// How many steps each `fine_tune_steps` call takes.
    pacer: ReadPacer,
}

/// One SE-CNN in a browser: a device, the current model and its description, and the
/// examples collected for fine-tuning.
#[wasm_bindgen]
pub struct Runtime {
    device: Device,
    backend: BackendInfo,
    model: SeCnn,
    info: ModelInfo,
    examples: ImageSet,
    fine_tune: Option<FineTune>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FineTunePlan {
    train_images: usize,
    validation_images: usize,
    /// Set when the validation set is too small for its accuracy to mean much.
    validation_warning: Option<String>,
    /// Validation before the first step (the run keeps the best of this and every epoch).
    start_validation: Option<Evaluation>,
    steps_per_epoch: usize,
    total_steps: usize,
    classes: Vec<String>,
    head_reinitialised: bool,
    /// How each class's row of the last layer started.
    class_starts: Vec<ClassStart>,
    uses_feature_cache: bool,
}

/// Fewer validation images than this give an accuracy too coarse to trust (one image moves
/// it by more than 5 points).
const MIN_VALIDATION_IMAGES: usize = 20;

fn validation_warning(images: usize) -> Option<String> {
    (images < MIN_VALIDATION_IMAGES).then(|| match images {
        0 => "no validation images: nothing measures whether fine-tuning helps".to_string(),
        n => format!(
            "only {n} validation images: each one moves the accuracy by {:.0} points; add images or raise the validation share",
            100.0 / n as f64
        ),
    })
}

/// Custom classes must be 2–10 distinct, non-empty names.
fn check_class_names(names: &[String]) -> Result<(), JsError> {
    if !(2..=MAX_CLASSES).contains(&names.len()) {
        return Err(JsError::new(&format!("custom fine-tuning needs 2 to 10 class names, got {}", names.len())));
    }
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(JsError::new("class names must not be empty"));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|other| transfer::same_class(other, name)) {
            return Err(JsError::new(&format!("the class name {name:?} appears twice")));
        }
    }
    Ok(())
}

/// Fine-tuning trains at most this many classes.
const MAX_CLASSES: usize = 10;

fn check_label(label: usize) -> Result<(), JsError> {
    if label >= MAX_CLASSES {
        return Err(JsError::new(&format!("label {label} is out of range: labels are class indices 0–{}", MAX_CLASSES - 1)));
    }
    Ok(())
}

/// Enough examples, every label a class of `set`.
fn check_examples(set: &ImageSet) -> Result<(), JsError> {
    if let Some(label) = set.labels.iter().find(|&&l| l >= set.classes.len()) {
        return Err(JsError::new(&format!(
            "an example has label {label}, but labels must be class indices 0–{} for the classes {:?}",
            set.classes.len() - 1,
            set.classes
        )));
    }
    if set.len() < 2 {
        return Err(JsError::new("add at least two labelled images before fine-tuning"));
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Classified {
    top: Vec<inference::ClassScore>,
    /// What the model sees: 32x32 RGBA bytes after the resize rule (a `Uint8Array` in JS:
    /// a plain array costs one boundary call per byte and a slow structured clone).
    #[serde(with = "serde_bytes")]
    input_rgba: Vec<u8>,
    milliseconds: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Explained {
    #[serde(flatten)]
    explanation: inference::Explanation,
    #[serde(with = "serde_bytes")]
    input_rgba: Vec<u8>,
    milliseconds: f64,
}

#[derive(Serialize)]
struct Decoded {
    width: u32,
    height: u32,
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
}

fn planes_to_rgba(planes: &Planes) -> Vec<u8> {
    data::planes_to_rgb(planes)
        .chunks(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}

fn cpu_adapter() -> String {
    if cfg!(target_feature = "simd128") {
        "CPU (Burn flex, wasm SIMD128)".into()
    } else {
        "CPU (Burn flex)".into()
    }
}

#[wasm_bindgen]
impl Runtime {
    /// Opens a backend — `"auto"` (WebGPU when an adapter is granted, else CPU), `"webgpu"`
    /// (an error when unavailable) or `"cpu"` — and loads the weights in `weights` (burnpack bytes).
    pub async fn create(backend: &str, weights: &[u8]) -> Result<Runtime, JsError> {
        let (device, backend) = match backend {
            "cpu" => (Device::flex(), BackendInfo { backend: "cpu".into(), adapter: cpu_adapter(), fallback_reason: None }),
            "webgpu" => open_webgpu().await.map_err(js_error)?,
            "auto" => match open_webgpu().await {
                Ok(opened) => opened,
                Err(reason) => (
                    Device::flex(),
                    BackendInfo { backend: "cpu".into(), adapter: cpu_adapter(), fallback_reason: Some(reason) },
                ),
            },
            other => return Err(JsError::new(&format!("unknown backend {other:?}: use auto, webgpu or cpu"))),
        };
        let loaded = weights::load(weights, &device).map_err(js_error)?;
        Ok(Runtime {
            device,
            backend,
            model: loaded.model,
            info: loaded.info,
            examples: ImageSet::default(),
            fine_tune: None,
        })
    }

    /// `{ backend, adapter, fallbackReason }`.
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    /// The current model's description (name, classes, accuracy, …).
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.info)
    }

    /// Replaces the model with the one in `bytes`. On any error the current model stays.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        if self.fine_tune.is_some() {
            return Err(JsError::new("cannot load weights while fine-tuning; cancel or finish first"));
        }
        let loaded = weights::load(bytes, &self.device).map_err(js_error)?;
        self.model = loaded.model;
        self.info = loaded.info;
        self.info()
    }

    /// The current weights as burnpack bytes (read asynchronously, so this works on WebGPU).
    pub async fn export_weights(&self) -> Result<Vec<u8>, JsError> {
        weights::to_bytes(&self.model, &self.info).await.map_err(js_error)
    }

    /// Top-`k` for RGBA pixels of any size; `tta` averages with the mirror image.
    pub async fn classify(&self, rgba: &[u8], width: u32, height: u32, k: usize, tta: bool) -> Result<JsValue, JsError> {
        let planes = data::rgba_to_model_input(rgba, width, height).map_err(js_error)?;
        let started = now_ms();
        let top = inference::classify(&self.model, &[&planes], &self.info.classes, k, tta, &self.device)
            .await
            .map_err(js_error)?
            .remove(0);
        to_js(&Classified { top, input_rgba: planes_to_rgba(&planes), milliseconds: now_ms() - started })
    }

    /// Probabilities, top-`k`, SE weights with the `channels` most/least attended feature maps
    /// per block, and Grad-CAM for `cam_class` (default: the top class); `tta` averages the
    /// probabilities with the mirror image's.
    #[allow(clippy::too_many_arguments)]
    pub async fn explain(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        k: usize,
        channels: usize,
        cam_class: Option<usize>,
        tta: bool,
    ) -> Result<JsValue, JsError> {
        let planes = data::rgba_to_model_input(rgba, width, height).map_err(js_error)?;
        let started = now_ms();
        let explanation =
            inference::explain(&self.model, &planes, &self.info.classes, k, channels, cam_class, tta, &self.device)
                .await
                .map_err(js_error)?;
        to_js(&Explained { explanation, input_rgba: planes_to_rgba(&planes), milliseconds: now_ms() - started })
    }

    /// Explains a plain grey image and discards the result: compiles the WebGPU shaders (and
    /// warms the wasm JIT) that the first real explanation would otherwise wait for.
    pub async fn warm_up(&self) -> Result<(), JsError> {
        let grey = data::rgba_to_model_input(&[128; 32 * 32 * 4], 32, 32).map_err(js_error)?;
        inference::explain(&self.model, &grey, &self.info.classes, 1, 1, None, false, &self.device)
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// Decodes an image file (JPEG, PNG, GIF, BMP, WebP) with the same decoder as the CLI, upright
    /// as its EXIF orientation says, and returns `{ width: 32, height: 32, rgba }` after the
    /// resize rule.
    pub fn decode(bytes: &[u8]) -> Result<JsValue, JsError> {
        let planes = data::decode_image(bytes).map_err(js_error)?;
        to_js(&Decoded { width: 32, height: 32, rgba: planes_to_rgba(&planes) })
    }

    /// `{ width, height }` of an image file, upright (EXIF orientation applied), from its header
    /// alone; refuses files over the decoder's pixel limit like `decode` does.
    pub fn image_size(bytes: &[u8]) -> Result<JsValue, JsError> {
        let (width, height) = data::image_size(bytes).map_err(js_error)?;
        to_js(&serde_json::json!({ "width": width, "height": height }))
    }

    /// Forgets every collected example.
    pub fn clear_examples(&mut self) {
        self.examples = ImageSet::default();
    }

    /// Adds one labelled example from RGBA pixels. Returns the number of examples.
    pub fn add_example(&mut self, rgba: &[u8], width: u32, height: u32, label: usize) -> Result<usize, JsError> {
        check_label(label)?;
        let planes = data::rgba_to_model_input(rgba, width, height).map_err(js_error)?;
        self.examples.images.push(planes);
        self.examples.labels.push(label);
        Ok(self.examples.len())
    }

    /// Adds every record of an official CIFAR-10 binary batch file. Returns the number added.
    pub fn add_cifar_batch(&mut self, bytes: &[u8], name: &str) -> Result<usize, JsError> {
        let before = self.examples.len();
        data::parse_cifar_records(bytes, std::path::Path::new(name), &mut self.examples).map_err(js_error)?;
        Ok(self.examples.len() - before)
    }

    /// The collected examples as records of the CIFAR-10 binary format (a label byte, then the
    /// 32x32 planes), which `add_cifar_batch` reads back: how a switch to another module
    /// carries them over.
    pub fn export_examples(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.examples.len() * (1 + data::IMAGE_BYTES));
        for (planes, &label) in self.examples.images.iter().zip(&self.examples.labels) {
            bytes.push(label as u8); // check_label keeps labels below 10
            bytes.extend_from_slice(planes);
        }
        bytes
    }

    /// Number of examples collected so far.
    pub fn example_count(&self) -> usize {
        self.examples.len()
    }

    /// Starts fine-tuning on the collected examples. `classes` (2–10 distinct names) trains a
    /// last layer for custom classes, started from the model's own rows for names it knows and
    /// imprinted from the examples for new ones; `null` keeps the model's classes. `probe`
    /// (RGBA of a `probe_width` x `probe_height` image, may be empty) is the image whose SE
    /// weights every step reports. The plan it returns carries the validation accuracy before
    /// the first step.
    pub async fn start_fine_tune(
        &mut self,
        options: JsValue,
        classes: Option<Vec<String>>,
        probe: &[u8],
        probe_width: u32,
        probe_height: u32,
    ) -> Result<JsValue, JsError> {
        if self.fine_tune.is_some() {
            return Err(JsError::new("a fine-tuning run is already in progress"));
        }
        let options: TrainingOptions = if options.is_undefined() || options.is_null() {
            TrainingOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(js_error)?
        };
        let config = options.resolve(TrainingConfig::fine_tune());
        let mut info = self.info.clone();
        if let Some(names) = &classes {
            check_class_names(names)?;
            info.classes = names.clone();
            info.name = "SE-CNN (custom classes)".into();
        }
        let mut set = self.examples.clone();
        set.classes = info.classes.clone();
        check_examples(&set)?;
        let (model, class_starts) = match &classes {
            Some(names) => transfer::head_for_classes(&self.model, &self.info.classes, names, &set, &self.device)
                .await
                .map_err(js_error)?,
            None => (self.model.clone(), vec![ClassStart::Kept; info.classes.len()]),
        };
        let (train, validation) = config.split(set);
        let validation = validation.filter(|valid| !valid.is_empty());
        if train.is_empty() {
            return Err(JsError::new("no images left for training after the validation split"));
        }
        let steps = train.len().div_ceil(config.batch_size);
        let trainer = Trainer::new(model, config, steps, &self.device);
        let mut session = TrainingSession::new(trainer, train, validation, &self.device);
        if !probe.is_empty() {
            session.set_probe(Some(data::rgba_to_model_input(probe, probe_width, probe_height).map_err(js_error)?));
        }
        let start_validation = session.validate().await.map_err(js_error)?;
        let validation_images = session.validation_set().map_or(0, |v| v.len());
        let plan = FineTunePlan {
            train_images: session.train_set().len(),
            validation_images,
            validation_warning: validation_warning(validation_images),
            start_validation,
            steps_per_epoch: session.steps_per_epoch(),
            total_steps: session.total_steps(),
            classes: info.classes.clone(),
            head_reinitialised: classes.is_some(),
            class_starts,
            uses_feature_cache: session.uses_feature_cache(),
        };
        // WebGPU: read every ~200 ms of steps, so the GPU does not wait for the page after each
        // one. The CPU computes each step before returning anyway: one step a call keeps the
        // charts and the attention bars moving with every step.
        let pacer = match self.backend.backend.as_str() {
            "webgpu" => ReadPacer::new(200.0, 32),
            _ => ReadPacer::new(0.0, 1),
        };
        self.fine_tune = Some(FineTune {
            session,
            previous: (self.model.clone(), self.info.clone()),
            info,
            pacer,
        });
        to_js(&plan)
    }

    /// Runs the next fine-tuning steps and returns their reports, one per step (loss, running
    /// accuracy, learning rate; probe SE weights with the last; validation, per-class accuracy
    /// and confusion matrix at an epoch's end). On WebGPU several steps run before their
    /// results are read back, on the CPU one. After the last step the fine-tuned model becomes
    /// the current model.
    pub async fn fine_tune_steps(&mut self) -> Result<JsValue, JsError> {
        let run = self
            .fine_tune
            .as_mut()
            .ok_or_else(|| JsError::new("no fine-tuning run: call start_fine_tune first"))?;
        let started = now_ms();
        let reports = run.session.steps(run.pacer.steps()).await.map_err(js_error)?;
        run.pacer.record(reports.len(), now_ms() - started);
        if let Some(bad) = reports.iter().find(|report| !report.metrics.loss.is_finite()) {
            let loss = bad.metrics.loss;
            let (model, info) = self.fine_tune.take().expect("run exists").previous;
            self.model = model;
            self.info = info;
            return Err(JsError::new(&format!(
                "training diverged (loss {loss}); the weights from before fine-tuning were restored — try a lower learning rate"
            )));
        }
        if reports.last().is_some_and(|report| report.done) {
            self.finish_fine_tune()?;
        }
        to_js(&reports)
    }

    /// Ends the run early and keeps what it learned so far.
    pub fn finish_fine_tune(&mut self) -> Result<JsValue, JsError> {
        let run = self
            .fine_tune
            .take()
            .ok_or_else(|| JsError::new("no fine-tuning run in progress"))?;
        let images = run.session.train_set().len() + run.session.validation_set().map_or(0, |v| v.len());
        let epochs = run.session.trainer.progress.epoch;
        // With a validation set the run keeps its best weights, so it never ends below its start.
        let kept = match run.session.best() {
            Some(best) => {
                self.model = best.model.clone();
                format!("; kept the weights after epoch {} of {epochs}, the best on validation ({:.1} %)", best.epoch, 100.0 * best.accuracy)
            }
            None => {
                self.model = run.session.trainer.inference_model();
                String::new()
            }
        };
        self.info = run.info;
        self.info.description = format!(
            "Fine-tuned in the browser on {images} images ({epochs} epochs) from: {}{kept}",
            run.previous.1.name
        );
        self.info.accuracy = None;
        self.info.accuracy_tta = None;
        self.info.accuracy_on = None;
        self.info()
    }

    /// Abandons the run and restores the model from before it.
    pub fn cancel_fine_tune(&mut self) {
        if let Some(run) = self.fine_tune.take() {
            (self.model, self.info) = run.previous;
        }
    }

    /// Whether a fine-tuning run is in progress.
    pub fn is_fine_tuning(&self) -> bool {
        self.fine_tune.is_some()
    }
}

/// The browser's WebGPU device, described for the caller.
async fn open_webgpu() -> Result<(Device, BackendInfo), String> {
    let (device, adapter) = crate::backend::open_webgpu().await?;
    Ok((device, BackendInfo { backend: "webgpu".into(), adapter, fallback_reason: None }))
}
