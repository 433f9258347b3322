//! The weights file: a burnpack holding the model's tensors plus metadata that makes it
//! self-describing (architecture, class names, a description, measured accuracy).
//!
//! Writing reads every tensor through `into_data_async`, so the same path exports weights from
//! WebGPU in the browser (where synchronous reads panic) and from the CLI.

use crate::model::{SeCnn, SeCnnConfig};
use burn::{
    module::{Module, ModuleVisitor, Param, ParamId},
    prelude::*,
    store::ModuleRecord,
};
use serde::{Deserialize, Serialize};

/// Metadata key holding [`ModelInfo`] as JSON.
const INFO_KEY: &str = "secnn.info";
/// Format version written into [`ModelInfo::format`].
pub const FORMAT_VERSION: u32 = 1;

/// What a weights file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// Format version of this metadata.
    pub format: u32,
    /// Short human-readable name, e.g. "SE-CNN CIFAR-10".
    pub name: String,
    /// What it was trained on and how.
    pub description: String,
    /// Class names, index = output index.
    pub classes: Vec<String>,
    /// Accuracy measured on a held-out set, with what set it was (e.g. "CIFAR-10 test, 5000 images").
    pub accuracy: Option<f64>,
    pub accuracy_on: Option<String>,
    /// Accuracy on the same set with test-time flip averaging (each image's logits averaged
    /// with its mirror image's), when that was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_tta: Option<f64>,
    /// Channel widths of the three blocks.
    pub widths: [usize; 3],
    /// Channel-attention reduction ratio.
    pub reduction: usize,
    /// Hidden width of the classifier.
    pub hidden: usize,
    /// How the convolution and linear weights are stored (f16 halves the download; BatchNorm
    /// statistics stay f32 either way). Files without it are f32.
    #[serde(default)]
    pub storage: Storage,
}

/// Storage precision of a weights file. Loading always yields an f32 model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    F32,
    F16,
}

impl ModelInfo {
    /// Metadata for a model built from `config` predicting `classes`.
    pub fn new(config: &SeCnnConfig, classes: Vec<String>, name: &str, description: &str) -> Self {
        Self {
            format: FORMAT_VERSION,
            name: name.to_string(),
            description: description.to_string(),
            classes,
            accuracy: None,
            accuracy_on: None,
            accuracy_tta: None,
            widths: config.widths,
            reduction: config.reduction,
            hidden: config.hidden,
            storage: Storage::F32,
        }
    }

    /// The architecture this file describes.
    pub fn config(&self) -> SeCnnConfig {
        SeCnnConfig::new()
            .with_num_classes(self.classes.len())
            .with_widths(self.widths)
            .with_reduction(self.reduction)
            .with_hidden(self.hidden)
    }
}

/// Why a weights file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a weights file: {0} (expected a burnpack written by secnn)")]
    NotBurnpack(String),
    #[error(
        "this is a PyTorch checkpoint, not a secnn weights file: convert a state_dict of the seed's \
         CNN with `secnn import-pytorch FILE.pth -o model.bpk`, then load model.bpk"
    )]
    Pytorch,
    #[error("the file carries no secnn model description (was it written by another program?)")]
    NoInfo,
    #[error("the model description is unreadable: {0}")]
    BadInfo(String),
    #[error("weights format {0} is newer than this program understands ({FORMAT_VERSION})")]
    Version(u32),
    #[error("the file declares {0} classes; a model needs at least 2")]
    TooFewClasses(usize),
    #[error("the weights do not fit the SE-CNN architecture: {0}")]
    Architecture(String),
    #[error("could not write weights: {0}")]
    Write(String),
}

/// A model loaded from a weights file, with its description.
pub struct LoadedModel {
    pub model: SeCnn,
    pub info: ModelInfo,
}

/// Reads the description of a weights file without building the model.
pub fn read_info(bytes: &[u8]) -> Result<ModelInfo, WeightsError> {
    if looks_like_pytorch(bytes) {
        return Err(WeightsError::Pytorch);
    }
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::NotBurnpack(e.to_string()))?;
    let json = reader.metadata().get(INFO_KEY).ok_or(WeightsError::NoInfo)?;
    let info: ModelInfo =
        serde_json::from_str(json).map_err(|e| WeightsError::BadInfo(e.to_string()))?;
    if info.format > FORMAT_VERSION {
        return Err(WeightsError::Version(info.format));
    }
    if info.classes.len() < 2 {
        return Err(WeightsError::TooFewClasses(info.classes.len()));
    }
    Ok(info)
}

/// A `torch.save` file: a ZIP archive holding `data.pkl` (PyTorch 1.6 and later), or a bare
/// pickle (protocol 2, the format before).
fn looks_like_pytorch(bytes: &[u8]) -> bool {
    let zip_with_pickle = bytes.starts_with(b"PK\x03\x04") && bytes.windows(8).take(1 << 16).any(|w| w == b"data.pkl");
    zip_with_pickle || bytes.starts_with(&[0x80, 0x02])
}

/// Builds the model a weights file describes, on `device`, and loads its tensors.
/// Every tensor must be present with the right shape.
pub fn load(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    let info = read_info(bytes)?;
    // Cast on load: f16-stored tensors become f32 parameters.
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::NotBurnpack(e.to_string()))?
        .cast_to_module_dtype();
    let model = info
        .config()
        .init(device)
        .try_load_record(record)
        .map_err(|e| WeightsError::Architecture(e.to_string()))?;
    Ok(LoadedModel { model, info })
}

/// One parameter waiting to be read: its path, id, and values flattened to rank 1.
struct PendingTensor {
    path: String,
    id: ParamId,
    shape: Vec<usize>,
    values: Tensor<1>,
    /// A convolution or linear parameter: the ones `Storage::F16` stores in half precision.
    compressible: bool,
}

/// Collects parameters in the same form `Module::into_record` records them (its saved
/// transform, dotted path, id) without reading any data yet.
#[derive(Default)]
struct Collect {
    path: Vec<String>,
    containers: Vec<String>,
    tensors: Vec<PendingTensor>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.transform_for_save().val();
        let shape = tensor.dims().to_vec();
        let count: usize = shape.iter().product();
        self.tensors.push(PendingTensor {
            path: self.path.join("."),
            id: param.id,
            shape,
            values: tensor.reshape([count]),
            // Burn's container names; the same modules its `HalfPrecisionAdapter` converts here.
            compressible: matches!(self.containers.last().map(String::as_str), Some("Struct:Conv2d" | "Struct:Linear")),
        });
    }
}

/// Serialises `model` with `info` into burnpack bytes, reading tensors asynchronously, in the
/// precision `info.storage` names.
pub async fn to_bytes(model: &SeCnn, info: &ModelInfo) -> Result<Vec<u8>, WeightsError> {
    let mut collect = Collect::default();
    // `valid()` syncs BatchNorm running statistics that a training model holds back.
    model.valid().visit(&mut collect);
    let mut tensors = Vec::with_capacity(collect.tensors.len());
    for pending in collect.tensors {
        let data = pending
            .values
            .into_data_async()
            .await
            .map_err(|e| WeightsError::Write(format!("{}: {e:?}", pending.path)))?;
        // Converted on the host: WebGPU adapters without f16 (SwiftShader) can still export.
        let data = if info.storage == Storage::F16 && pending.compressible {
            data.convert_dtype(burn::tensor::DType::F16)
        } else {
            data
        };
        let (bytes, _, dtype) = data.into_parts();
        tensors.push(burn_pack::Tensor::new(
            pending.path,
            dtype,
            burn::tensor::Shape::from(pending.shape),
            Some(pending.id.val()),
            bytes,
        ));
    }
    let json = serde_json::to_string(info).map_err(|e| WeightsError::Write(e.to_string()))?;
    let bytes = burn_pack::Writer::new(tensors)
        .with_metadata(INFO_KEY, &json)
        .into_bytes()
        .map_err(|e| WeightsError::Write(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Loads a PyTorch `state_dict` saved from the seed's `CNN` class (`torch.save(model.state_dict())`).
#[cfg(not(target_arch = "wasm32"))]
pub fn import_pytorch(
    path: &std::path::Path,
    num_classes: usize,
    device: &Device,
) -> Result<SeCnn, WeightsError> {
    use burn::store::{ModuleSnapshot, PytorchStore};
    let mut model = SeCnnConfig::new().with_num_classes(num_classes).init(device);
    let mut store = PytorchStore::from_file(path)
        .map_indices_contiguous(false)
        .with_key_remapping(r"^(ca\d)\.fc\.0\.", "$1.squeeze.")
        .with_key_remapping(r"^(ca\d)\.fc\.2\.", "$1.excite.")
        .allow_partial(false);
    let result = model
        .load_from(&mut store)
        .map_err(|e| WeightsError::Architecture(e.to_string()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(WeightsError::Architecture(format!(
            "missing: {:?}; errors: {:?}",
            result.missing, result.errors
        )));
    }
    Ok(model)
}

/// What storing the convolution and linear weights in 8 bits would do (measured, not shipped:
/// BENCHMARKS.md): each output channel's weights become `round(w / s)` in [-127, 127] with
/// `s = max |w| / 127`. Returns the model with its weights at those 8-bit values (to measure the
/// accuracy) and the payload such a file would carry: per tensor, the channel scales (f32) and
/// the 8-bit values, or the f32 values for every other tensor.
#[cfg(not(target_arch = "wasm32"))]
pub fn int8_round_trip(model: &SeCnn) -> (SeCnn, Vec<u8>) {
    let mut quantizer = Int8 { path: Vec::new(), containers: Vec::new(), payload: Vec::new() };
    let model = model.clone().valid().map(&mut quantizer);
    (model, quantizer.payload)
}

#[cfg(not(target_arch = "wasm32"))]
struct Int8 {
    path: Vec<String>,
    containers: Vec<String>,
    payload: Vec<u8>,
}

#[cfg(not(target_arch = "wasm32"))]
impl burn::module::ModuleMapper for Int8 {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let tensor = param.val();
        let (shape, device) = (tensor.dims(), tensor.device());
        let values = tensor.into_data().convert::<f32>().to_vec::<f32>().expect("f32 values");
        let weight = self.path.last().is_some_and(|name| name == "weight");
        // Output channels: dim 0 of a convolution kernel, dim 1 of a linear weight `[in, out]`.
        let channel_of: Option<Box<dyn Fn(usize) -> usize>> = match self.containers.last().map(String::as_str) {
            Some("Struct:Conv2d") if weight => {
                let per_channel = values.len() / shape[0];
                Some(Box::new(move |i| i / per_channel))
            }
            Some("Struct:Linear") if weight => {
                let outputs = shape[D - 1];
                Some(Box::new(move |i| i % outputs))
            }
            _ => None,
        };
        let Some(channel_of) = channel_of else {
            values.iter().for_each(|v| self.payload.extend_from_slice(&v.to_le_bytes()));
            return param;
        };
        let channels = values.iter().enumerate().map(|(i, _)| channel_of(i)).max().map_or(0, |c| c + 1);
        let mut scales = vec![0.0f32; channels];
        values.iter().enumerate().for_each(|(i, v)| scales[channel_of(i)] = scales[channel_of(i)].max(v.abs() / 127.0));
        scales.iter_mut().filter(|s| **s == 0.0).for_each(|s| *s = 1.0);
        scales.iter().for_each(|s| self.payload.extend_from_slice(&s.to_le_bytes()));
        let rounded: Vec<f32> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let q = (v / scales[channel_of(i)]).round().clamp(-127.0, 127.0);
                self.payload.push(q as i8 as u8);
                q * scales[channel_of(i)]
            })
            .collect();
        param.map(|_| Tensor::from_data(TensorData::new(rounded, shape), &device))
    }
}
