//! Safetensors files of members of the family, made here: the seed's names and PyTorch's
//! layout, as `secnn::interop::to_safetensors` writes them, with made-up values.
#![allow(dead_code)]

use std::{collections::BTreeMap, path::PathBuf};

/// The repository's root. `cargo test` sets CARGO_MANIFEST_DIR when it runs the tests; the
/// compile-time value could name another clone that shares the target directory (a test
/// binary built there and fresh here still carries that clone's path).
pub fn repo() -> PathBuf {
    let onnx = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    onnx.join("..")
}

/// A member: block widths, SE reduction ratio, hidden units, classes, input size.
pub struct Member {
    pub widths: Vec<usize>,
    pub reduction: usize,
    pub hidden: usize,
    pub classes: usize,
    pub input_size: usize,
}

impl Member {
    /// The seed: 3 blocks of 32, 64 and 128 channels, 512 hidden units, 10 classes, 32 px.
    pub fn seed() -> Self {
        Self { widths: vec![32, 64, 128], reduction: 16, hidden: 512, classes: 10, input_size: 32 }
    }

    /// Each key of the member's state_dict and its shape (PyTorch's layout).
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        let mut shapes = BTreeMap::new();
        let mut inputs = 3;
        for (index, &c) in self.widths.iter().enumerate() {
            let key = |k: &str| k.replace("{i}", &(index + 1).to_string());
            let bottleneck = c / self.reduction;
            shapes.insert(key("conv{i}.weight"), vec![c, inputs, 3, 3]);
            for vector in ["conv{i}.bias", "bn{i}.weight", "bn{i}.bias", "bn{i}.running_mean", "bn{i}.running_var"] {
                shapes.insert(key(vector), vec![c]);
            }
            shapes.insert(key("ca{i}.fc.0.weight"), vec![bottleneck, c]);
            shapes.insert(key("ca{i}.fc.2.weight"), vec![c, bottleneck]);
            inputs = c;
        }
        let side = self.input_size >> self.widths.len();
        shapes.insert("fc1.weight".into(), vec![self.hidden, inputs * side * side]);
        shapes.insert("fc1.bias".into(), vec![self.hidden]);
        shapes.insert("fc2.weight".into(), vec![self.classes, self.hidden]);
        shapes.insert("fc2.bias".into(), vec![self.classes]);
        shapes
    }

    /// Its tensors as F32 with made-up values (running variances positive).
    pub fn tensors(&self) -> BTreeMap<String, Tensor> {
        let mut seed = 1u32;
        self.shapes()
            .into_iter()
            .map(|(name, shape)| {
                let values: Vec<f32> = (0..shape.iter().product::<usize>())
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let unit = (seed >> 8) as f32 / (1u32 << 24) as f32; // [0, 1)
                        if name.ends_with("running_var") { 0.5 + unit } else { (unit - 0.5) * 0.2 }
                    })
                    .collect();
                (name, Tensor::f32(shape, &values))
            })
            .collect()
    }

    /// Its safetensors file, with `classes` and `name` in the metadata as secnn writes them.
    pub fn file(&self) -> Vec<u8> {
        let classes: Vec<String> = (0..self.classes).map(|i| format!("kind {i}")).collect();
        let metadata = [("classes", serde_json::to_string(&classes).unwrap()), ("name", "a test member".into()), ("format", "pt".into())];
        safetensors(&self.tensors(), &metadata)
    }
}

/// A tensor entry of a file being made.
#[derive(Clone)]
pub struct Tensor {
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        Self { dtype: "F32", shape, bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }
}

/// A safetensors file of `tensors` and `metadata`.
pub fn safetensors(tensors: &BTreeMap<String, Tensor>, metadata: &[(&str, String)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let metadata: BTreeMap<&str, &String> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0;
    for (name, tensor) in tensors {
        let end = offset + tensor.bytes.len();
        header.insert(name.clone(), serde_json::json!({ "dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let json = serde_json::to_vec(&header).unwrap();
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend(json);
    tensors.values().for_each(|t| file.extend(&t.bytes));
    file
}

/// secnn's input rule, its size left to the weights.
pub fn cifar_rule() -> secnn_onnx::InputRule {
    secnn_onnx::InputRule { size: None, mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010] }
}
