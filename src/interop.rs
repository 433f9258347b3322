//! Weights files of other programs, under the seed's PyTorch parameter names: a `state_dict`
//! saved by `torch.save` (natively, through Burn's reader) and `.safetensors` (everywhere, the
//! browser included, converted to and from our burnpack here: Burn's safetensors store would
//! add a fifth to the CPU module's download). Our SE modules call the seed's `ca1.fc.0` /
//! `ca1.fc.2` `ca1.squeeze` / `ca1.excite`; BatchNorm's `weight`/`bias` are our `gamma`/`beta`;
//! Linear weights are `[out, in]` in PyTorch and `[in, out]` here.

use crate::{
    SeCnnConfig,
    data::CIFAR10_CLASSES,
    weights::{self, LoadedModel, ModelInfo, Storage, WeightsError},
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

/// The seed's `state_dict` keys (BatchNorm's `num_batches_tracked` aside, which we do not use).
fn seed_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for block in 1..=3 {
        keys.extend(["conv{b}.weight", "conv{b}.bias", "bn{b}.weight", "bn{b}.bias", "bn{b}.running_mean", "bn{b}.running_var", "ca{b}.fc.0.weight", "ca{b}.fc.2.weight"].map(|k| k.replace("{b}", &block.to_string())));
    }
    keys.extend(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"].map(String::from));
    keys
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

/// Loads a PyTorch `state_dict` saved from the seed's `CNN` class (`torch.save(model.state_dict())`).
#[cfg(not(target_arch = "wasm32"))]
pub fn import_pytorch(path: &std::path::Path, num_classes: usize, device: &Device) -> Result<crate::SeCnn, WeightsError> {
    use burn::store::{ModuleSnapshot, PytorchStore};
    let mut model = SeCnnConfig::new().with_num_classes(num_classes).init(device);
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false).allow_partial(false);
    for (seed, ours) in SE_NAMES {
        let pattern = format!("^(ca\\d){}", regex_escape(seed));
        store = store.with_key_remapping(pattern, format!("$1{ours}"));
    }
    let result = model.load_from(&mut store).map_err(|e| WeightsError::Architecture(seed_name(&e.to_string())))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let missing: Vec<String> = result.missing.iter().map(|(path, _)| seed_name(path)).collect();
        let errors: Vec<String> = result.errors.iter().map(|e| seed_name(&e.to_string())).collect();
        return Err(WeightsError::Architecture(format!(
            "this is not a state_dict of the seed's CNN: missing {missing:?}; not fitting {errors:?}; unexpected {:?}",
            result.unused
        )));
    }
    Ok(model)
}

#[cfg(not(target_arch = "wasm32"))]
fn regex_escape(text: &str) -> String {
    text.replace('.', "\\.")
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

/// The class names a safetensors file carries, else CIFAR-10's when it has 10 outputs.
fn classes_of(header: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<String>, WeightsError> {
    if let Some(json) = header.get("__metadata__").and_then(|m| m.get(CLASSES_KEY)).and_then(|c| c.as_str()) {
        return serde_json::from_str(json).map_err(|e| WeightsError::BadInfo(format!("classes: {e}")));
    }
    let outputs = header.get("fc2.weight").and_then(|t| t["shape"][0].as_u64());
    Ok(match outputs {
        Some(10) => CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
        Some(n) => (0..n).map(|i| format!("class {i}")).collect(),
        None => Vec::new(), // refused below as a missing fc2.weight
    })
}

/// The file's tensors under our names, in our layout, as a burnpack's; refuses missing,
/// unexpected and non-f32 tensors by the seed's names.
fn tensors_of(bytes: &[u8], header: &serde_json::Map<String, serde_json::Value>, data: usize) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let expected = seed_keys();
    let names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__" && !k.ends_with("num_batches_tracked")).collect();
    let missing: Vec<&String> = expected.iter().filter(|k| !names.contains(k)).collect();
    let unexpected: Vec<&&String> = names.iter().filter(|k| !expected.contains(k)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(WeightsError::Architecture(format!(
            "this is not a state_dict of the seed's CNN: missing {missing:?}; unexpected {unexpected:?}"
        )));
    }
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let entry = &header[name];
        let bad = |why: &str| WeightsError::Architecture(format!("{name}: {why}"));
        if entry["dtype"] != "F32" {
            return Err(bad(&format!("dtype {} (save the state_dict in float32)", entry["dtype"])));
        }
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone()).map_err(|_| bad("no shape"))?;
        let [start, end]: [usize; 2] = serde_json::from_value(entry["data_offsets"].clone()).map_err(|_| bad("no offsets"))?;
        let values = bytes.get(data + start..data + end).filter(|v| v.len() == 4 * shape.iter().product::<usize>()).ok_or_else(|| bad("data out of range"))?;
        let ours = our_name(name);
        let (shape, values) = match (is_linear_weight(&ours), shape.as_slice()) {
            (true, &[rows, columns]) => (vec![columns, rows], transpose(values, rows, columns)),
            _ => (shape, values.to_vec()),
        };
        tensors.push(burn_pack::Tensor::new(ours, DType::F32, burn::tensor::Shape::from(shape), None, burn::tensor::Bytes::from_bytes_vec(values)));
    }
    Ok(tensors)
}

/// Loads a `.safetensors` file of the seed's CNN (seed names; class names from its metadata).
pub fn load_safetensors(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    let (header, data) = header(bytes).ok_or_else(|| WeightsError::NotBurnpack("not a safetensors file".into()))?;
    let classes = classes_of(&header)?;
    let tensors = tensors_of(bytes, &header, data)?;
    if classes.len() < 2 {
        return Err(WeightsError::TooFewClasses(classes.len()));
    }
    let config = SeCnnConfig::new().with_num_classes(classes.len());
    let name = header.get("__metadata__").and_then(|m| m["name"].as_str()).unwrap_or("SE-CNN (from safetensors)");
    let info = ModelInfo::new(&config, classes, name, "Imported from a .safetensors file of the seed's CNN.");
    weights::load(&weights::pack(tensors, &info)?, device).map_err(|error| match error {
        WeightsError::Architecture(why) => WeightsError::Architecture(seed_name(&why)),
        other => other,
    })
}

/// Reads any weights file the page and CLI accept: secnn's burnpack or a `.safetensors`.
pub fn load_any(bytes: &[u8], device: &Device) -> Result<LoadedModel, WeightsError> {
    match is_safetensors(bytes) {
        true => load_safetensors(bytes, device),
        false => weights::load(bytes, device),
    }
}

/// `model` as a `.safetensors` file PyTorch loads into the seed's class
/// (`model.load_state_dict(safetensors.torch.load_file(path))`), f32, with the class names and
/// model name in its metadata. Tensors are read asynchronously (so this works on WebGPU).
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
