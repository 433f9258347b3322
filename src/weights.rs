//! The weights file: a burnpack holding the model's tensors plus metadata that makes it
//! self-describing (architecture, class names, a description, measured accuracy).
//!
//! Writing reads every tensor through `into_data_async`, so the same path exports weights from
//! WebGPU in the browser (where synchronous reads panic) and from the CLI. Every file written
//! carries a checksum of its contents, checked on every read ([`checksum`]).

mod checksum;
pub mod names;
mod storage;

use crate::{
    architecture::ArchitectureError,
    model::{SeCnn, SeCnnConfig},
    profiles::SeProfiles,
};
use burn::{
    module::{Module, ModuleVisitor, Param, ParamId},
    prelude::*,
    store::ModuleRecord,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metadata key holding [`ModelInfo`] as JSON.
const INFO_KEY: &str = "secnn.info";
/// The newest format version this program reads and writes into [`ModelInfo::format`]: 2 for
/// a member of the family older readers cannot build (other than three blocks on 32 px images,
/// or with a block narrower than the SE reduction), 1 for the others, which every reader builds.
pub const FORMAT_VERSION: u32 = 2;

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
    /// Channel widths of the blocks, first to last (as many as the model has blocks; files of
    /// format 1 have three).
    pub widths: Vec<usize>,
    /// Channel-attention reduction ratio.
    pub reduction: usize,
    /// Hidden width of the classifier.
    pub hidden: usize,
    /// Side of the square input in pixels (files without it are the seed's 32).
    #[serde(default = "seed_input_size")]
    pub input_size: usize,
    /// How the convolution and linear weights are stored (f16 halves the download, int8 quarters
    /// it; BatchNorm statistics stay f32 either way). Files without it are f32.
    #[serde(default)]
    pub storage: Storage,
    /// The SE weights' per-class profiles on a measured set (`secnn eval --record`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<SeProfiles>,
}

/// Storage precision of a weights file. Loading always yields an f32 model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    F32,
    F16,
    /// Convolution and linear weights as 8-bit integers with one f32 scale per output channel
    /// (`w ≈ q · max|w| / 127`), stored as a tensor `<path>.int8_scale`; biases stay f32.
    Int8,
    /// As `Int8`, except the large linear weights (`storage::INT4_LINEAR` values or more: the
    /// classifier's fc1, 91 % of the parameters): 4 bits, two per byte, with one f16 scale per 64
    /// inputs of each output, stored as `<path>.int4_scale` (`quantize::int4`).
    Int4,
}

fn seed_input_size() -> usize {
    32
}

/// The oldest format version that describes `config` (see [`FORMAT_VERSION`]).
fn format_for(config: &SeCnnConfig) -> u32 {
    let seed_shaped = config.blocks() == 3 && config.input_size == 32 && config.widths.iter().all(|&c| config.bottleneck(c) > 0);
    if seed_shaped { 1 } else { FORMAT_VERSION }
}

impl ModelInfo {
    /// Metadata for a model built from `config` predicting `classes`.
    pub fn new(config: &SeCnnConfig, classes: Vec<String>, name: &str, description: &str) -> Self {
        Self {
            format: format_for(config),
            name: name.to_string(),
            description: description.to_string(),
            classes,
            accuracy: None,
            accuracy_on: None,
            accuracy_tta: None,
            widths: config.widths.clone(),
            reduction: config.reduction,
            hidden: config.hidden,
            input_size: config.input_size,
            storage: Storage::F32,
            profiles: None,
        }
    }

    /// Forgets the recorded accuracy and SE profiles: after any training they described other weights.
    pub fn forget_accuracy(&mut self) {
        self.profiles = None;
        self.accuracy = None;
        self.accuracy_tta = None;
        self.accuracy_on = None;
    }

    /// The architecture this file describes.
    pub fn config(&self) -> SeCnnConfig {
        SeCnnConfig::new()
            .with_num_classes(self.classes.len())
            .with_widths(self.widths.clone())
            .with_reduction(self.reduction)
            .with_hidden(self.hidden)
            .with_input_size(self.input_size)
    }
}

/// Why a weights file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("not a weights file: {0} (expected a burnpack written by secnn)")]
    NotBurnpack(String),
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
    /// The architecture described is not a member of the family, or too large a one.
    #[error("{0}")]
    Family(#[from] ArchitectureError),
    #[error("could not write weights: {0}")]
    Write(String),
    /// The contents differ from what the file's own check says was written: the file was
    /// damaged after it was written (on a disk, in a download, in storage).
    #[error("the file is corrupted: {}", corruption(*check, entry.as_deref(), stored))]
    Corrupted {
        check: Integrity,
        /// The damaged part, where the check names one (a ZIP entry of a `.pth`).
        entry: Option<String>,
        /// The check value the file stores.
        stored: String,
    },
}

/// Which of a file's own checks found it damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrity {
    /// The checksum secnn writes into its weights files.
    Checksum,
    /// The CRC-32 a ZIP archive (a PyTorch `.pth`) stores for each entry.
    Crc32,
}

fn corruption(check: Integrity, entry: Option<&str>, stored: &str) -> String {
    match (check, entry) {
        (Integrity::Crc32, Some(entry)) => format!("{entry} does not match its CRC-32 ({stored})"),
        _ => format!("its checksum ({stored}) does not match its contents"),
    }
}

/// A model loaded from a weights file, with its description.
pub struct LoadedModel {
    pub model: SeCnn,
    pub info: ModelInfo,
}

/// Reads the description of a weights file without building the model, once its checksum
/// (where it has one) matches its contents and the architecture it describes passes the family's
/// rules and limits.
pub fn read_info(bytes: &[u8]) -> Result<ModelInfo, WeightsError> {
    let metadata = verified_metadata(bytes)?;
    let json = metadata.get(INFO_KEY).ok_or(WeightsError::NoInfo)?;
    let info: ModelInfo =
        serde_json::from_str(json).map_err(|e| WeightsError::BadInfo(e.to_string()))?;
    if info.format > FORMAT_VERSION {
        return Err(WeightsError::Version(info.format));
    }
    if info.classes.len() < 2 {
        return Err(WeightsError::TooFewClasses(info.classes.len()));
    }
    info.config().check()?;
    Ok(info)
}

/// A reader of the burnpack in `bytes`.
fn open(bytes: &[u8]) -> Result<burn_pack::Reader, WeightsError> {
    burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| WeightsError::NotBurnpack(e.to_string()))
}

/// The burnpack's metadata, after its checksum is compared with its contents (files written
/// before the checksum have none, and are read as they are).
fn verified_metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>, WeightsError> {
    let reader = open(bytes)?;
    let metadata = reader.metadata().clone();
    let Some(stored) = metadata.get(checksum::KEY) else { return Ok(metadata) };
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| WeightsError::NotBurnpack(e.to_string()))? {
        tensors.push(tensor.into_parts().map_err(|e| WeightsError::NotBurnpack(e.to_string()))?);
    }
    if checksum::compute(&metadata, tensors.iter().map(checksum::Part::of)) != *stored {
        return Err(WeightsError::Corrupted { check: Integrity::Checksum, entry: None, stored: stored.clone() });
    }
    Ok(metadata)
}

/// Builds the model a weights file describes, on `device`, and loads its tensors.
/// Every tensor must be present with the right shape.
pub fn load(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    let info = read_info(bytes)?;
    let bytes = in_module_paths(bytes, matches!(info.storage, Storage::Int8 | Storage::Int4))?;
    // Cast on load: f16-stored tensors become f32 parameters.
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| WeightsError::NotBurnpack(e.to_string()))?
        .cast_to_module_dtype();
    let model = info
        .config()
        .init(device)
        .try_load_record(record)
        .map_err(|e| WeightsError::Architecture(names::in_file_words(&e.to_string())))?;
    Ok(LoadedModel { model, info })
}

/// The burnpack in `bytes` with its tensors named by the model's parameter paths
/// ([`names::module_path`]), dequantized first when `quantized`.
fn in_module_paths(bytes: &[u8], quantized: bool) -> Result<Vec<u8>, WeightsError> {
    let bad = |e: String| WeightsError::NotBurnpack(e);
    let reader = open(bytes)?;
    let tensors = match quantized {
        true => storage::dequantize(reader)?,
        false => reader.into_tensors().map_err(|e| bad(e.to_string()))?,
    };
    let mut renamed = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        let (name, dtype, shape, id, data) = tensor.into_parts().map_err(|e| bad(e.to_string()))?;
        renamed.push(burn_pack::Tensor::new(names::module_path(&name), dtype, shape, id, data));
    }
    Ok(burn_pack::Writer::new(renamed).into_bytes().map_err(|e| bad(e.to_string()))?.to_vec())
}

/// A burnpack of `tensors` described by `info`, with the checksum of both (every weights file
/// is written here).
pub fn pack(tensors: Vec<burn_pack::Tensor>, info: &ModelInfo) -> Result<Vec<u8>, WeightsError> {
    let json = serde_json::to_string(info).map_err(|e| WeightsError::Write(e.to_string()))?;
    sealed(tensors, json)
}

/// `bytes` (a weights file, verified as [`load`] does) written again with its tensors and its
/// description exactly as stored, and a checksum: how a file from before the checksum gets one.
pub fn reseal(bytes: &[u8]) -> Result<Vec<u8>, WeightsError> {
    let json = verified_metadata(bytes)?.remove(INFO_KEY).ok_or(WeightsError::NoInfo)?;
    let reader = open(bytes)?;
    sealed(reader.into_tensors().map_err(|e| WeightsError::NotBurnpack(e.to_string()))?, json)
}

/// A burnpack of `tensors` and the description `json`, with their checksum.
fn sealed(tensors: Vec<burn_pack::Tensor>, json: String) -> Result<Vec<u8>, WeightsError> {
    let metadata = BTreeMap::from([(INFO_KEY.to_string(), json)]);
    let mut parts = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        parts.push(tensor.into_parts().map_err(|e| WeightsError::Write(e.to_string()))?);
    }
    // The data in name order, the order a reader lists them in: one file for one content,
    // whichever order the tensors came in (a model's, or a file's when resealed).
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let sum = checksum::compute(&metadata, parts.iter().map(checksum::Part::of));
    let tensors = parts.into_iter().map(|(name, dtype, shape, id, bytes)| burn_pack::Tensor::new(name, dtype, shape, id, bytes)).collect();
    let writer = burn_pack::Writer::new(tensors).with_metadata(INFO_KEY, &metadata[INFO_KEY]).with_metadata(checksum::KEY, &sum);
    Ok(writer.into_bytes().map_err(|e| WeightsError::Write(e.to_string()))?.to_vec())
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
            // Files keep the seed's names for the blocks' layers.
            path: names::file_name(&self.path.join(".")),
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
            .clone()
            .into_data_async()
            .await
            .map_err(|e| WeightsError::Write(format!("{}: {e:?}", pending.path)))?;
        tensors.extend(storage::stored(&pending, data, info.storage)?);
    }
    pack(tensors, info)
}
