//! `secnn export --format onnx`, end to end: the graph of the shipped model (input, outputs,
//! operator set, metadata), the reference outputs `--logits` and `--se` write, and the graph
//! run in ONNX Runtime against them (`tools/check_onnx_export.py --secnn`, when bench/.venv
//! has onnxruntime; otherwise a loud SKIPPED, a failure with SECNN_REQUIRE_ONNXRUNTIME=1).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use secnn_onnx::proto::{Message, ModelProto, ValueInfoProto};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn secnn(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_secnn")).args(args).current_dir(repo_path("")).output().expect("run secnn");
    assert!(output.status.success(), "secnn {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    output
}

/// `secnn export --format onnx` of the shipped model into `dir`, with its reference outputs:
/// (model.onnx, logits.json, se.json).
fn export_shipped(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let [model, logits, se] = ["model.onnx", "logits.json", "se.json"].map(|name| dir.join(name));
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    secnn(&["export", "--format", "onnx", "-o", &path(&model), "--logits", &path(&logits), "--se", &path(&se)]);
    (model, logits, se)
}

/// A value's name and its dimensions (the batch as its name).
fn signature(value: &ValueInfoProto) -> (String, Vec<String>) {
    let shape = value.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap();
    let dims = shape.dim.iter().map(|d| d.dim_value.map_or_else(|| d.dim_param.clone().unwrap(), |v| v.to_string()));
    (value.name.clone(), dims.collect())
}

fn signatures(values: &[ValueInfoProto]) -> Vec<String> {
    values.iter().map(signature).map(|(name, dims)| format!("{name} [{}]", dims.join(", "))).collect()
}

#[test]
fn the_shipped_model_exports_as_an_onnx_graph_with_the_se_weights_as_outputs() {
    let dir = TempDir::new("onnx-structure");
    let (model, _, se) = export_shipped(dir.path());
    let model = ModelProto::decode(std::fs::read(model).unwrap().as_slice()).expect("an ONNX ModelProto");
    assert_eq!(model.opset_import[0].version, Some(secnn_onnx::OPSET));
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(signatures(&graph.input), ["image [batch, 3, 32, 32]"]);
    assert_eq!(signatures(&graph.output), ["logits [batch, 10]", "se1 [batch, 32]", "se2 [batch, 64]", "se3 [batch, 128]"]);
    assert!(!graph.node.iter().any(|n| n.op_type == "Dropout"));
    let metadata: std::collections::BTreeMap<_, _> = model.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    assert_eq!(metadata["classes"], serde_json::to_string(&cifar_classes()).unwrap());
    assert_eq!((metadata["input_size"], metadata["mean"], metadata["std"]), ("32", "[0.4914,0.4822,0.4465]", "[0.2023,0.1994,0.201]"));
    // The SE weights secnn writes beside it: one [4, channels] block each, every weight in (0, 1).
    let se: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(se).unwrap()).unwrap();
    let blocks = se["blocks"].as_array().unwrap();
    let shapes: Vec<&serde_json::Value> = blocks.iter().map(|b| &b["shape"]).collect();
    assert_eq!(shapes, [&serde_json::json!([4, 32]), &serde_json::json!([4, 64]), &serde_json::json!([4, 128])]);
    assert!(blocks.iter().flat_map(|b| b["weights"].as_array().unwrap()).all(|w| (0.0..1.0).contains(&w.as_f64().unwrap())));
}

/// The venv's Python when it has onnx and onnxruntime; `None` after a loud skip.
fn onnx_python() -> Option<PathBuf> {
    let python = repo_path("bench/.venv/bin/python");
    let ready = Command::new(&python).args(["-c", "import onnx, onnxruntime"]).output().is_ok_and(|o| o.status.success());
    if !ready {
        skip(Need::Onnxruntime, "bench/.venv has no onnx and onnxruntime");
        return None;
    }
    Some(python)
}

#[test]
fn the_exported_graph_runs_in_onnxruntime_as_secnn_runs() {
    let Some(python) = onnx_python() else { return };
    let dir = TempDir::new("onnx-runtime");
    let (model, logits, se) = export_shipped(dir.path());
    let output = Command::new(python).arg(repo_path("tools/check_onnx_export.py")).arg(&model).arg("--secnn").arg(&logits).arg(&se).output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("{printed}");
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("onnx.checker (full check) passed") && printed.contains("max |onnxruntime - secnn| difference"), "{printed}");
}
