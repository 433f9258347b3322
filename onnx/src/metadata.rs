//! What the ONNX file says about itself in `metadata_props`: the class names (JSON), the input
//! rule (`input_size`, `mean`, `std`), the model's name, and that secnn wrote it. Class names
//! and name come from the safetensors metadata as secnn writes it (`classes`, `name`); a file
//! without them gets the names secnn gives it too (CIFAR-10's for 10 outputs, else numbered).

use crate::{InputRule, OnnxError, proto::StringStringEntryProto};
use secnn_archive::CIFAR10_CLASSES;
use std::collections::BTreeMap;

/// The safetensors metadata key of the class names (a JSON array), as `secnn::interop` writes it.
pub const CLASSES_KEY: &str = "classes";
/// The safetensors metadata key of the model's name.
pub const NAME_KEY: &str = "name";
/// The name of a model whose file gives none.
const DEFAULT_NAME: &str = "SE-CNN";

/// A model's class names and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub classes: Vec<String>,
    pub name: String,
}

/// The description in a safetensors file's `metadata`, for a model of `outputs` classes.
pub fn describe(metadata: &BTreeMap<String, String>, outputs: usize) -> Result<Description, OnnxError> {
    let classes = match metadata.get(CLASSES_KEY) {
        Some(json) => serde_json::from_str::<Vec<String>>(json).map_err(|e| OnnxError::BadClasses(format!("not a JSON list of names ({e})")))?,
        None if outputs == CIFAR10_CLASSES.len() => CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
        None => (0..outputs).map(|i| format!("class {i}")).collect(),
    };
    if classes.len() != outputs {
        return Err(OnnxError::BadClasses(format!("{} names for fc2's {outputs} outputs", classes.len())));
    }
    let name = metadata.get(NAME_KEY).cloned().unwrap_or_else(|| DEFAULT_NAME.to_string());
    Ok(Description { classes, name })
}

/// The model's `metadata_props`.
pub fn metadata_props(description: &Description, rule: &InputRule) -> Vec<StringStringEntryProto> {
    // Straight from the f32s, not through serde_json::Value's f64: 0.4914 stays 0.4914.
    let json = |values: &[f32; 3]| serde_json::to_string(values).expect("finite floats");
    let size = rule.size.expect("a rule checked against the weights has its size");
    [
        ("classes", serde_json::to_string(&description.classes).expect("strings")),
        ("input_size", size.to_string()),
        ("mean", json(&rule.mean)),
        ("std", json(&rule.std)),
        ("name", description.name.clone()),
        ("written_by", format!("secnn (secnn-onnx {})", env!("CARGO_PKG_VERSION"))),
    ]
    .into_iter()
    .map(|(key, value)| StringStringEntryProto { key: key.to_string(), value })
    .collect()
}
