//! The wasm boundary: marshals [`Workbench`] (the library's model at work) to JavaScript.
//! No model rule and no sentence for people lives here. Results cross as plain JS objects
//! (serde-wasm-bindgen); errors cross as JS `Error`s with a stable `code` (and `details` where
//! a failure has numbers), which the page branches on.

use crate::{
    data::{self, Planes},
    fine_tune::{self, FineTuneRequest},
    inference::{self, ExplainOptions},
    training::{TrainingConfig, TrainingOptions},
    workbench::{self, Rgba, Workbench, WorkbenchError},
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// One SE-CNN in a browser: the [`Workbench`] and the backend it runs on.
#[wasm_bindgen]
pub struct Runtime {
    backend: BackendInfo,
    bench: Workbench,
}

use wasm_bindgen::prelude::*;

/// The threaded module's pool workers (www/secnn/secnn-pool-worker.js) start their instances on
/// the model worker's compiled module and shared memory: `[module, memory]`.
#[cfg(feature = "threads")]
#[wasm_bindgen]
pub fn pool_parts() -> js_sys::Array {
    js_sys::Array::of2(&wasm_bindgen::module(), &wasm_bindgen::memory())
}

/// In a pool worker, once its instance runs on the shared memory: it becomes one of rayon's
/// threads when the model's worker calls `build_pool`, and stays one (no return).
#[cfg(feature = "threads")]
#[wasm_bindgen]
pub fn run_pool_thread() {
    crate::cpu::run_pool_thread();
}

/// In the model's worker: rayon's pool on `threads` pool workers waiting in `run_pool_thread`;
/// from then on the CPU kernels share their work with it.
#[cfg(feature = "threads")]
#[wasm_bindgen]
pub fn build_pool(threads: usize) -> Result<(), JsValue> {
    crate::cpu::build_pool(threads).map_err(|error| js_sys::Error::new(&error).into())
}

#[wasm_bindgen(start)]
fn start() {
    crate::backend::run_static_constructors();
    console_error_panic_hook::set_once();
    // wgpu reports shader and validation problems only through the log: send it to the console.
    let _ = console_log::init_with_level(log::Level::Warn);
}

/// A JS `Error` with the failure's `code` (and `details`) as properties.
fn js_error(error: impl Into<WorkbenchError>) -> JsValue {
    let error = error.into();
    let js = js_sys::Error::new(&error.to_string());
    let _ = js_sys::Reflect::set(&js, &"code".into(), &error.code().into());
    if let Some(details) = error.details().and_then(|d| to_js(&d).ok()) {
        let _ = js_sys::Reflect::set(&js, &"details".into(), &details);
    }
    js.into()
}

fn invalid_argument(message: impl std::fmt::Display) -> JsValue {
    js_error(WorkbenchError::InvalidArgument(message.to_string()))
}

/// Plain JS objects (maps as objects, `None` as null); `serde_bytes` fields become `Uint8Array`s.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false))
        .map_err(|e| js_sys::Error::new(&e.to_string()).into())
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
    /// The CPU work's threads: the threaded module's pool, else 1.
    threads: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClassifyReply {
    top: Vec<inference::ClassScore>,
    /// What the model sees: RGBA bytes of its input size after the resize rule (a `Uint8Array` in JS:
    /// a plain array costs one boundary call per byte and a slow structured clone).
    #[serde(with = "serde_bytes")]
    input_rgba: Vec<u8>,
    milliseconds: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExplainReply {
    #[serde(flatten)]
    explanation: inference::Explanation,
    #[serde(with = "serde_bytes")]
    input_rgba: Vec<u8>,
    milliseconds: f64,
}

/// `explain`'s options as the module's callers name them (blocks counted from 1).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExplainArgs {
    top_k: usize,
    channels: usize,
    cam_class: Option<usize>,
    tta: bool,
    map: Option<MapArg>,
}

/// One more feature map: `block` from 1, `channel` from 0.
#[derive(Deserialize)]
struct MapArg {
    block: usize,
    channel: usize,
}

impl ExplainArgs {
    fn resolve(self) -> ExplainOptions {
        // Block 0 is out of range like any other: the map is then not returned.
        let map = self.map.map(|m| (m.block.wrapping_sub(1), m.channel));
        ExplainOptions { top_k: self.top_k, channels: self.channels, cam_class: self.cam_class, tta: self.tta, map }
    }
}

#[derive(Serialize)]
struct DecodeReply {
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
    let simd = if cfg!(target_feature = "simd128") { ", wasm SIMD128" } else { "" };
    let threads = match crate::cpu::threads() {
        1 => String::new(),
        n => format!(", {n} threads"),
    };
    format!("CPU (Burn flex{simd}{threads})")
}

#[wasm_bindgen]
impl Runtime {
    /// Opens a backend — `"auto"` (WebGPU when an adapter is granted, else CPU), `"webgpu"`
    /// (an error when unavailable) or `"cpu"` — and loads the weights in `weights` (burnpack bytes).
    pub async fn create(backend: &str, weights: &[u8]) -> Result<Runtime, JsValue> {
        let cpu = |fallback_reason| BackendInfo { backend: "cpu".into(), adapter: cpu_adapter(), fallback_reason, threads: crate::cpu::threads() };
        let (device, backend) = match backend {
            "cpu" => (Device::flex(), cpu(None)),
            "webgpu" => open_webgpu().await.map_err(js_error)?,
            "auto" => match open_webgpu().await {
                Ok(opened) => opened,
                Err(reason) => (Device::flex(), cpu(Some(reason.to_string()))),
            },
            other => return Err(invalid_argument(format!("unknown backend {other:?}: use auto, webgpu or cpu"))),
        };
        let on_gpu = backend.backend == "webgpu";
        let bench = Workbench::open(weights, device, on_gpu).map_err(js_error)?;
        Ok(Runtime { backend, bench })
    }

    /// `{ backend, adapter, fallbackReason, threads }`; on the CPU, the threads as they are now
    /// (the threaded module's pool starts after the first calls).
    pub fn backend(&self) -> Result<JsValue, JsValue> {
        let mut info = self.backend.clone();
        if info.backend == "cpu" {
            info.adapter = cpu_adapter();
            info.threads = crate::cpu::threads();
        }
        to_js(&info)
    }

    /// The current model's description (name, classes, widths, accuracy, …).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(self.bench.info())
    }

    /// What the page must not hard-code: input size, block widths, parameters and fine-tune
    /// memory, class limits, dataset classes, and the family's limits.
    pub fn facts(&self) -> Result<JsValue, JsValue> {
        to_js(&self.bench.facts())
    }

    /// The family's limits without a model: `{ minBlocks, maxBlocks, minClasses, maxClasses,
    /// maxInputSize, maxParameters, fineTuneBatch, maxFineTuneBytes }`.
    pub fn limits() -> Result<JsValue, JsValue> {
        to_js(&crate::architecture::LIMITS)
    }

    /// Replaces the model with the one in `bytes`. On any error the current model stays.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<JsValue, JsValue> {
        to_js(self.bench.load_weights(bytes).map_err(js_error)?)
    }

    /// The current weights as `format` bytes: `"burnpack"` (secnn's own file) or
    /// `"safetensors"` (for PyTorch, under the seed's names).
    pub async fn export_weights(&self, format: &str) -> Result<Vec<u8>, JsValue> {
        match format {
            "burnpack" => self.bench.export_weights().await.map_err(js_error),
            "safetensors" => self.bench.export_safetensors().await.map_err(js_error),
            other => Err(invalid_argument(format!("unknown weights format {other:?}: use burnpack or safetensors"))),
        }
    }

    /// Top-`top_k` for RGBA pixels of any size; `tta` averages with the mirror image.
    pub async fn classify(&self, rgba: &[u8], width: u32, height: u32, top_k: usize, tta: bool) -> Result<JsValue, JsValue> {
        let started = now_ms();
        let image = Rgba { pixels: rgba, width, height };
        let (top, planes) = self.bench.classify(image, top_k, tta).await.map_err(js_error)?;
        to_js(&ClassifyReply { top, input_rgba: planes_to_rgba(&planes), milliseconds: now_ms() - started })
    }

    /// Probabilities, top-k, SE weights with the most/least attended feature maps per block,
    /// and Grad-CAM, as `options` (`ExplainArgs`, checked by the worker first) ask.
    pub async fn explain(&self, rgba: &[u8], width: u32, height: u32, options: JsValue) -> Result<JsValue, JsValue> {
        let started = now_ms();
        let image = Rgba { pixels: rgba, width, height };
        let options = serde_wasm_bindgen::from_value::<ExplainArgs>(options).map_err(invalid_argument)?.resolve();
        let (explanation, planes) = self.bench.explain(image, &options).await.map_err(js_error)?;
        to_js(&ExplainReply { explanation, input_rgba: planes_to_rgba(&planes), milliseconds: now_ms() - started })
    }

    /// Runs `steps` (1–16) training steps of the heaviest fine-tune on `batch` (1–256) images of
    /// random pixels, on a copy of the model, and resolves once the device has finished them:
    /// the worker times this on each backend to choose where to fine-tune.
    pub async fn train_on_noise(&self, batch: usize, steps: usize) -> Result<(), JsValue> {
        if !(1..=256).contains(&batch) || !(1..=16).contains(&steps) {
            return Err(invalid_argument(format!("train_on_noise takes 1–256 images and 1–16 steps, not {batch} and {steps}")));
        }
        self.bench.train_on_noise(batch, steps).await.map_err(js_error)
    }

    /// Explains a plain grey image and discards the result: compiles the WebGPU shaders (and
    /// warms the wasm JIT) that the first real explanation would otherwise wait for.
    pub async fn warm_up(&self) -> Result<(), JsValue> {
        let grey = Rgba { pixels: &[128; 32 * 32 * 4], width: 32, height: 32 };
        let options = ExplainOptions { top_k: 1, channels: 1, ..Default::default() };
        self.bench.explain(grey, &options).await.map_err(js_error)?;
        Ok(())
    }

    /// Decodes an image file (JPEG, PNG, GIF, BMP, WebP) with the same decoder as the CLI, upright
    /// as its EXIF orientation says, and returns `{ width: size, height: size, rgba }` after the
    /// resize rule for a model of `size` px (default 32, the seed's: pass `facts().inputSize`).
    pub fn decode(bytes: &[u8], size: Option<usize>) -> Result<JsValue, JsValue> {
        let size = size.unwrap_or(32);
        if !(1..=crate::architecture::MAX_INPUT_SIZE).contains(&size) {
            return Err(invalid_argument(format!("size {size}: an input size is 1 to {}", crate::architecture::MAX_INPUT_SIZE)));
        }
        let planes = data::decode_image(bytes, size).map_err(js_error)?;
        to_js(&DecodeReply { width: size as u32, height: size as u32, rgba: planes_to_rgba(&planes) })
    }

    /// `{ width, height }` of an image file, upright (EXIF orientation applied), from its header
    /// alone; refuses files over the decoder's pixel limit like `decode` does.
    pub fn image_size(bytes: &[u8]) -> Result<JsValue, JsValue> {
        let (width, height) = data::image_size(bytes).map_err(js_error)?;
        to_js(&serde_json::json!({ "width": width, "height": height }))
    }

    /// Refuses (with code `invalid-argument`) class names fine-tuning would refuse.
    pub fn check_class_names(names: Vec<String>) -> Result<(), JsValue> {
        fine_tune::check_class_names(&names).map_err(js_error)
    }

    /// For each of `names`, the index of the same class in `known` (the runtime's class-name
    /// rule), or null.
    pub fn match_classes(names: Vec<String>, known: Vec<String>) -> Result<JsValue, JsValue> {
        to_js(&workbench::match_classes(&names, &known))
    }

    /// Forgets every collected example.
    pub fn clear_examples(&mut self) {
        self.bench.clear_examples();
    }

    /// Adds one labelled example from RGBA pixels. Returns the number of examples.
    pub fn add_example(&mut self, rgba: &[u8], width: u32, height: u32, label: usize) -> Result<usize, JsValue> {
        self.bench.add_example(Rgba { pixels: rgba, width, height }, label).map_err(js_error)
    }

    /// Adds the examples of a file called `name` and returns how many: `export_examples`'s
    /// bytes (any name), a CIFAR-10 batch (`data_batch_N.bin`, `test_batch.bin`), a CIFAR-100
    /// file (`train.bin`, `test.bin`), or, under another name, whichever of the two formats'
    /// record sizes divides it; CIFAR-100's `fine_label_names.txt` (a `.txt` of 100 names) adds
    /// none and names CIFAR-100's classes in `example_classes`.
    pub fn add_cifar_batch(&mut self, bytes: &[u8], name: &str) -> Result<usize, JsValue> {
        self.bench.add_cifar_batch(bytes, name).map_err(js_error)
    }

    /// The class names the CIFAR files added label their examples with (CIFAR-10's, or
    /// CIFAR-100's), or null when none was added: the `classes` to fine-tune them with.
    pub fn example_classes(&self) -> Result<JsValue, JsValue> {
        to_js(&self.bench.example_classes())
    }

    /// The collected examples as an examples file (magic `SECNNEXS`, version, side, then per
    /// example a u16 label and the planes), which `add_cifar_batch` reads back: how a switch to
    /// another module carries them over.
    pub fn export_examples(&self) -> Vec<u8> {
        self.bench.export_examples()
    }

    /// Number of examples collected so far.
    pub fn example_count(&self) -> usize {
        self.bench.example_count()
    }

    /// Starts fine-tuning on the collected examples and returns its plan (with the validation
    /// accuracy before the first step). `classes` (2–100 distinct names) trains a last layer
    /// for custom classes; `null` keeps the model's. `probe` (RGBA of a `probe_width` x
    /// `probe_height` image, may be empty) is the image whose SE weights every step reports.
    pub async fn start_fine_tune(
        &mut self,
        options: JsValue,
        classes: Option<Vec<String>>,
        probe: &[u8],
        probe_width: u32,
        probe_height: u32,
    ) -> Result<JsValue, JsValue> {
        let options: TrainingOptions = if options.is_undefined() || options.is_null() {
            TrainingOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(invalid_argument)?
        };
        let probe = match probe.is_empty() {
            true => None,
            false => {
                let size = self.bench.info().input_size;
                Some(Rgba { pixels: probe, width: probe_width, height: probe_height }.to_model_input(size).map_err(js_error)?)
            }
        };
        let request = FineTuneRequest { config: options.resolve(TrainingConfig::fine_tune()), classes, probe };
        to_js(&self.bench.start_fine_tune(request).await.map_err(js_error)?)
    }

    /// Runs the next fine-tuning steps: one report per step (loss, running accuracy, learning
    /// rate; probe SE weights with the last; validation at an epoch's end). The run's last
    /// report has `done` set: `finish_fine_tune` then makes the fine-tuned model current. A
    /// diverged run fails with code `diverged`, the model restored.
    pub async fn fine_tune_steps(&mut self) -> Result<JsValue, JsValue> {
        // The CPU's steps never wait on anything, so they can run to the end on a thread of the
        // pool, where the kernels' loops start cheaply (`on_pool`).
        let reports = if self.backend.backend == "cpu" {
            let bench = &mut self.bench;
            crate::cpu::on_pool(|| futures_lite::future::block_on(bench.fine_tune_steps()))
        } else {
            self.bench.fine_tune_steps().await
        };
        to_js(&reports.map_err(js_error)?)
    }

    /// Ends the run (after its last step, or early) and keeps what it learned: `{ info, kept }`.
    pub async fn finish_fine_tune(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.bench.finish_fine_tune().await.map_err(js_error)?)
    }

    /// What the running fine-tune would keep if it ended now: `{ weights: Uint8Array (a
    /// burnpack, f32), kept: { epoch, epochs, accuracy } | null }`.
    pub async fn export_kept_weights(&self) -> Result<JsValue, JsValue> {
        let (weights, kept) = self.bench.export_kept_weights().await.map_err(js_error)?;
        let result = js_sys::Object::new();
        js_sys::Reflect::set(&result, &"weights".into(), &js_sys::Uint8Array::from(weights.as_slice()))?;
        js_sys::Reflect::set(&result, &"kept".into(), &to_js(&kept)?)?;
        Ok(result.into())
    }

    /// Abandons the run and restores the model from before it: `{ info, kept: null }`.
    pub fn cancel_fine_tune(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.bench.cancel_fine_tune())
    }

    /// Whether a fine-tuning run is in progress.
    pub fn is_fine_tuning(&self) -> bool {
        self.bench.is_fine_tuning()
    }
}

/// The browser's WebGPU device, described for the caller.
async fn open_webgpu() -> Result<(Device, BackendInfo), crate::backend::WebGpuUnavailable> {
    let (device, adapter) = crate::backend::open_webgpu().await?;
    Ok((device, BackendInfo { backend: "webgpu".into(), adapter, fallback_reason: None, threads: 1 }))
}
