//! Weights files of other programs, under the seed's PyTorch parameter names: a `state_dict`
//! saved by `torch.save` (read by [`crate::pth`]) and `.safetensors`, in and out, everywhere (the
//! browser included), converted to and from our burnpack here: Burn's safetensors store would
//! add a fifth to the CPU module's download, and its PyTorch reader needs a file path. Our SE modules call the seed's `ca1.fc.0` /
//! `ca1.fc.2` `ca1.squeeze` / `ca1.excite`; BatchNorm's `weight`/`bias` are our `gamma`/`beta`;
//! Linear weights are `[out, in]` in PyTorch and `[in, out]` here.
//!
//! Any member of the seed's family loads: its architecture is read from the file's shapes
//! ([`architecture::from_state_dict`]) and checked against the family's rules and limits before
//! any tensor is copied.

use crate::{
    SeCnnConfig,
    architecture::{self, ArchitectureError, Shapes},
    data::{Archive, CIFAR10_CLASSES},
    pth::{self, FileTensor},
    weights::{self, Integrity, LoadedModel, ModelInfo, Storage, WeightsError},
};
use burn::{prelude::*, tensor::DType};
use std::collections::BTreeMap;

/// The SE layers' names: (the seed's, ours).
const SE_NAMES: [(&str, &str); 2] = [(".fc.0.", ".squeeze."), (".fc.2.", ".excite.")];
/// The safetensors metadata key holding the class names (a JSON array).
const CLASSES_KEY: &str = "classes";

/// A tensor path of ours in the seed's words (what a PyTorch user's file calls it).
pub fn seed_name(path: &str) -> String {
    let renamed = SE_NAMES.iter().fold(path.to_string(), |name, (seed, ours)| name.replace(ours, seed));
    renamed.replace(".gamma", ".weight").replace(".beta", ".bias")
}

/// Our name for the tensor the seed calls `name`.
fn our_name(name: &str) -> String {
    let renamed = SE_NAMES.iter().fold(name.to_string(), |name, (seed, ours)| name.replace(seed, ours));
    match renamed.strip_prefix("bn") {
        Some(_) => renamed.replace(".weight", ".gamma").replace(".bias", ".beta"),
        None => renamed,
    }
}

/// Linear layers store their weight transposed between the two frameworks.
fn is_linear_weight(our_name: &str) -> bool {
    our_name.ends_with(".weight") && (our_name.starts_with("fc") || our_name.starts_with("ca"))
}

/// `values` (`rows` x `columns`, f32 little-endian bytes) transposed.
fn transpose(values: &[u8], rows: usize, columns: usize) -> Vec<u8> {
    let mut out = vec![0u8; values.len()];
    for r in 0..rows {
        for c in 0..columns {
            let (from, to) = (4 * (r * columns + c), 4 * (c * rows + r));
            out[to..to + 4].copy_from_slice(&values[from..from + 4]);
        }
    }
    out
}

/// Whether `bytes` start like a safetensors file: an 8-byte header length, then a JSON object.
pub fn is_safetensors(bytes: &[u8]) -> bool {
    header(bytes).is_some()
}

/// The safetensors header (its JSON) and where the data starts, when `bytes` hold one.
fn header(bytes: &[u8]) -> Option<(serde_json::Map<String, serde_json::Value>, usize)> {
    let length = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let json = bytes.get(8..8usize.checked_add(length)?)?;
    json.first().filter(|&&b| b == b'{')?;
    Some((serde_json::from_slice(json).ok()?, 8 + length))
}

/// A safetensors file's tensor shapes by name, from its header.
fn safetensors_shapes(header: &serde_json::Map<String, serde_json::Value>) -> Result<Shapes, WeightsError> {
    let mut shapes = Shapes::new();
    for (name, entry) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let shape = serde_json::from_value(entry["shape"].clone()).map_err(|_| WeightsError::Architecture(format!("{name}: no shape")))?;
        shapes.insert(name.clone(), shape);
    }
    Ok(shapes)
}

/// A safetensors file's tensors by name, as the file has them.
fn safetensors_tensors(bytes: &[u8], header: &serde_json::Map<String, serde_json::Value>, data: usize) -> Result<BTreeMap<String, FileTensor>, WeightsError> {
    let mut tensors = BTreeMap::new();
    for (name, entry) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let bad = |why: &str| WeightsError::Architecture(format!("{name}: {why}"));
        // Refused by name below (unless the model does not use the tensor).
        let dtype = pth::DTYPES.into_iter().find(|d| entry["dtype"] == *d).unwrap_or("an unknown dtype");
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone()).map_err(|_| bad("no shape"))?;
        let [start, end]: [usize; 2] = serde_json::from_value(entry["data_offsets"].clone()).map_err(|_| bad("no offsets"))?;
        let values = bytes.get(data.saturating_add(start)..data.saturating_add(end)).ok_or_else(|| bad("data out of range"))?;
        tensors.insert(name.clone(), FileTensor { dtype, shape, data: values.to_vec() });
    }
    Ok(tensors)
}

/// The number of classes a `state_dict` of these shapes has: the rows of `fc2.weight`
/// (CIFAR-10's 10 when it has none, so that the refusal then lists everything missing).
fn class_count(shapes: &Shapes) -> usize {
    match shapes.get("fc2.weight").map(Vec::as_slice) {
        Some(&[rows, _]) => rows,
        _ => CIFAR10_CLASSES.len(),
    }
}

/// CIFAR-10's class names for 10 outputs, else numbered ones.
fn default_classes(count: usize) -> Vec<String> {
    match count {
        10 => CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
        n => (0..n).map(|i| format!("class {i}")).collect(),
    }
}

/// The member of the family a `state_dict` of these shapes is, checked against the rules and
/// limits. A file with no `conv1` is not one at all: it is refused with what the seed's
/// `state_dict` would have.
fn architecture_of(shapes: &Shapes) -> Result<SeCnnConfig, WeightsError> {
    match architecture::from_state_dict(shapes) {
        Ok(config) => Ok(config),
        Err(ArchitectureError::Missing(layer)) if layer == "conv1" => {
            Err(misfit(shapes, &SeCnnConfig::new(), "the seed").unwrap_or(WeightsError::Family(ArchitectureError::Missing(layer))))
        }
        Err(other) => Err(other.into()),
    }
}

/// Where `shapes` differ from the `state_dict` of `config` (`whose` in words): the missing,
/// unexpected and misshapen tensors by the seed's names, or `None` when they fit.
fn misfit(shapes: &Shapes, config: &SeCnnConfig, whose: &str) -> Option<WeightsError> {
    let expected = architecture::state_dict_shapes(config);
    let used = |key: &&String| !key.ends_with("num_batches_tracked");
    let missing: Vec<&String> = expected.keys().filter(|k| !shapes.contains_key(*k)).collect();
    let unexpected: Vec<&String> = shapes.keys().filter(used).filter(|k| !expected.contains_key(*k)).collect();
    let misshapen: Vec<String> = expected
        .iter()
        .filter_map(|(name, shape)| {
            let found = shapes.get(name)?;
            (found != shape).then(|| format!("{name}: {found:?} where {whose} has {shape:?}"))
        })
        .collect();
    (!missing.is_empty() || !unexpected.is_empty() || !misshapen.is_empty()).then(|| {
        WeightsError::Architecture(format!(
            "this is not a state_dict of the seed's CNN family: missing {missing:?}; unexpected {unexpected:?}; wrong shapes {misshapen:?}"
        ))
    })
}

/// The member of the family whose `state_dict` has `shapes`, for `classes` outputs, with every
/// misfit refused by name before any tensor is copied.
fn checked_architecture(shapes: &Shapes, classes: &[String]) -> Result<SeCnnConfig, WeightsError> {
    if classes.len() < 2 {
        return Err(WeightsError::TooFewClasses(classes.len()));
    }
    let config = architecture_of(shapes)?;
    if let Some(error) = misfit(shapes, &config, "its architecture") {
        return Err(error);
    }
    if classes.len() != config.num_classes {
        return Err(WeightsError::Architecture(format!(
            "fc2.weight has {} outputs but {} class names were given",
            config.num_classes,
            classes.len()
        )));
    }
    Ok(config)
}

/// The file's tensors (seed names, PyTorch layout) under our names and layout, as a burnpack's,
/// for a model of `config` (which they fit: [`checked_architecture`]). Refuses non-f32 tensors
/// by the seed's names. The empty SE weights of a block without a bottleneck have no
/// counterpart here.
fn tensors_of(file: BTreeMap<String, FileTensor>, config: &SeCnnConfig) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let expected = architecture::state_dict_shapes(config);
    let mut tensors = Vec::with_capacity(file.len());
    for (name, FileTensor { dtype, shape, data }) in file {
        if !expected.contains_key(&name) || shape.contains(&0) {
            continue;
        }
        if dtype != "F32" || data.len() != 4 * shape.iter().product::<usize>() {
            return Err(WeightsError::Architecture(format!("{name}: {dtype}, not float32 (save the state_dict in float32)")));
        }
        let ours = our_name(&name);
        let (shape, values) = match (is_linear_weight(&ours), shape.as_slice()) {
            (true, &[rows, columns]) => (vec![columns, rows], transpose(&data, rows, columns)),
            _ => (shape, data),
        };
        tensors.push(burn_pack::Tensor::new(ours, DType::F32, burn::tensor::Shape::from(shape), None, burn::tensor::Bytes::from_bytes_vec(values)));
    }
    Ok(tensors)
}

/// A model of `config` from a `state_dict`'s tensors, described by `classes`, `name` and `description`.
fn load_member(
    file: BTreeMap<String, FileTensor>,
    config: &SeCnnConfig,
    classes: Vec<String>,
    name: &str,
    description: &str,
    device: &Device,
) -> Result<LoadedModel, WeightsError> {
    let tensors = tensors_of(file, config)?;
    let info = ModelInfo::new(config, classes, name, description);
    weights::load(&weights::pack(tensors, &info)?, device).map_err(|error| match error {
        WeightsError::Architecture(why) => WeightsError::Architecture(seed_name(&why)),
        other => other,
    })
}

/// Loads a `.safetensors` file of a member of the seed's family (seed names; class names from
/// its metadata).
///
/// Safetensors carries no checksum (unlike our burnpack and a `.pth`'s ZIP entries), so damage
/// is caught here only where it breaks the format: a header that does not parse, a tensor that
/// is missing, misshapen or out of range. Changed tensor bytes load as they are.
pub fn load_safetensors(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    let (header, data) = header(bytes).ok_or_else(|| WeightsError::NotBurnpack("not a safetensors file".into()))?;
    let shapes = safetensors_shapes(&header)?;
    let classes = match header.get("__metadata__").and_then(|m| m.get(CLASSES_KEY)).and_then(|c| c.as_str()) {
        Some(json) => serde_json::from_str(json).map_err(|e| WeightsError::BadInfo(format!("classes: {e}")))?,
        None => default_classes(class_count(&shapes)),
    };
    let config = checked_architecture(&shapes, &classes)?;
    let file = safetensors_tensors(bytes, &header, data)?;
    let name = header.get("__metadata__").and_then(|m| m["name"].as_str()).unwrap_or("SE-CNN (from safetensors)");
    load_member(file, &config, classes, name, "Imported from a .safetensors file of the seed's CNN family.", device)
}

/// Loads a PyTorch `state_dict` of the seed's `CNN` class or of any member of its family, as
/// `torch.save(model.state_dict(), f)` writes it (either format), from bytes: the CLI's
/// `import-pytorch` and the page both call this. `classes` name the outputs (default:
/// CIFAR-10's for 10 outputs, else numbered).
pub fn load_pytorch(bytes: &[u8], classes: Option<Vec<String>>, device: &Device) -> Result<LoadedModel, WeightsError> {
    let state_dict = pth::StateDict::read(bytes).map_err(pth_error)?;
    let shapes = state_dict.shapes();
    let classes = classes.unwrap_or_else(|| default_classes(class_count(&shapes)));
    let config = checked_architecture(&shapes, &classes)?;
    let file = state_dict.tensors().map_err(pth_error)?;
    load_member(file, &config, classes, "SE-CNN (PyTorch import)", "Imported from a PyTorch state_dict of the seed's CNN family.", device)
}

/// A `.pth` that could not be read: damaged (an entry's CRC-32) or not one at all.
fn pth_error(error: pth::PthError) -> WeightsError {
    match error {
        pth::PthError::Corrupted { entry, stored } => {
            WeightsError::Corrupted { check: Integrity::Crc32, entry: Some(entry), stored: format!("{stored:08x}") }
        }
        other => WeightsError::NotBurnpack(other.to_string()),
    }
}

/// Reads any weights file the page and CLI accept: secnn's burnpack, a `.safetensors` or a
/// `torch.save` `state_dict` of a member of the seed's CNN family.
pub fn load_any(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    if is_safetensors(bytes) {
        load_safetensors(bytes, device)
    } else if pth::is_pth(bytes) {
        load_pytorch(bytes, None, device)
    } else {
        weights::load(bytes, device)
    }
}

/// The model a project file carries (its `model.safetensors`, or any weights file the page
/// put there), its outputs named by the project's classes; `None` when the project has no
/// weights (it was saved before any training).
pub fn load_project(archive: &Archive, device: &Device) -> Result<Option<LoadedModel>, WeightsError> {
    let Some(bytes) = &archive.weights else { return Ok(None) };
    let mut loaded = load_any(bytes, device)?;
    let classes: Vec<String> = archive.classes.iter().map(|class| class.name.clone()).collect();
    if classes.len() != loaded.info.classes.len() {
        return Err(WeightsError::Architecture(format!(
            "the project's model has {} outputs, but the project names {} classes",
            loaded.info.classes.len(),
            classes.len()
        )));
    }
    loaded.info.classes = classes;
    Ok(Some(loaded))
}

/// `model` as a `.safetensors` file PyTorch loads into the seed's class edited to its
/// architecture (`model.load_state_dict(safetensors.torch.load_file(path))`), f32, with the class
/// names and model name in its metadata. A block without an SE bottleneck gets PyTorch's empty
/// `Linear(c, 0)` and `Linear(0, c)` weights. Tensors are read asynchronously (so this works on
/// WebGPU).
pub async fn to_safetensors(model: &crate::SeCnn, info: &ModelInfo) -> Result<Vec<u8>, WeightsError> {
    let f32_info = ModelInfo { storage: Storage::F32, ..info.clone() };
    let pack = weights::to_bytes(model, &f32_info).await?;
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(pack))
        .map_err(|e| WeightsError::Write(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for tensor in reader.into_tensors().map_err(|e| WeightsError::Write(e.to_string()))? {
        let (name, _, shape, _, values) = tensor.into_parts().map_err(|e| WeightsError::Write(e.to_string()))?;
        let dims = shape.to_vec();
        let (dims, values) = match (is_linear_weight(&name), dims.as_slice()) {
            (true, &[rows, columns]) => (vec![columns, rows], transpose(&values, rows, columns)),
            _ => (dims, values.to_vec()),
        };
        tensors.insert(seed_name(&name), (dims, values));
    }
    for (name, shape) in architecture::state_dict_shapes(&info.config()) {
        if shape.contains(&0) {
            tensors.insert(name, (shape, Vec::new()));
        }
    }
    let classes = serde_json::to_string(&info.classes).map_err(|e| WeightsError::Write(e.to_string()))?;
    Ok(write_safetensors(tensors, [(CLASSES_KEY, classes), ("name", info.name.clone()), ("format", "pt".into())]))
}

/// A safetensors file of f32 `tensors` (name → shape and little-endian bytes) and `metadata`.
fn write_safetensors(tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)>, metadata: [(&str, String); 3]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(BTreeMap::from(metadata)));
    let mut offset = 0;
    for (name, (shape, values)) in &tensors {
        header.insert(name.clone(), serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + values.len()] }));
        offset += values.len();
    }
    let mut json = serde_json::to_vec(&header).expect("a JSON map");
    json.resize(json.len().div_ceil(8) * 8, b' '); // the format aligns the data to 8 bytes
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend((json.len() as u64).to_le_bytes());
    out.extend(json);
    tensors.values().for_each(|(_, values)| out.extend(values));
    out
}
