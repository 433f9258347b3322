//! **secnn-onnx** — any member of secnn's SE-CNN family as one standard ONNX graph (opset 17),
//! for ONNX Runtime, TensorRT, OpenVINO, OpenCV and the rest: the input `image` (float32
//! `[N, 3, size, size]`, normalised as the input rule says: the tensor the seed's PyTorch model
//! takes), the output `logits` and each block's SE weights as outputs `se1` … `seN`, the class
//! names and the input rule in its metadata.
//!
//! Its input is a `.safetensors` file under the seed's PyTorch names, as `secnn export` and the
//! page write it; the architecture comes from the tensors alone. A crate of its own, without
//! Burn: secnn's CLI uses it natively, and in the browser it is a small wasm module the page
//! loads only when a visitor exports ONNX, so the module every page starts on does not carry it.
//!
//! - `safetensors`: the file read in place, malformed ones refused by name;
//! - `architecture`: the member the tensors describe, every tensor checked against it;
//! - `input_rule`: size and normalisation of the input;
//! - `metadata`: class names, name and input rule as `metadata_props`;
//! - `proto`: the ONNX messages (prost structs, onnx.proto's field numbers);
//! - `builder`, `graph`: the graph, node by node;
//! - `web` (feature `web`, the browser module's build): `toOnnx` for JavaScript.

mod architecture;
mod builder;
mod error;
mod graph;
mod input_rule;
mod metadata;
pub mod proto;
mod safetensors;
#[cfg(feature = "web")]
mod web;

pub use architecture::{Architecture, Block, MAX_BLOCKS};
pub use error::OnnxError;
pub use graph::BATCH;
pub use input_rule::InputRule;
pub use metadata::{CLASSES_KEY, Description, NAME_KEY};
pub use safetensors::{Safetensors, TensorView, read_safetensors};

use prost::Message;
use proto::{ModelProto, OperatorSetIdProto};

/// The ONNX operator set the graph is written against: every operator in it (Conv,
/// BatchNormalization, Relu, GlobalAveragePool, Flatten, Gemm, Sigmoid, Unsqueeze, Mul,
/// MaxPool) in its form of opset 13–15, which 17 keeps; 17 is what current runtimes all read.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17 (ONNX 1.12).
pub const IR_VERSION: i64 = 8;

/// The ONNX file (protobuf bytes) of the model in `safetensors`, its input following `rule`.
pub fn to_onnx(safetensors: &[u8], rule: &InputRule) -> Result<Vec<u8>, OnnxError> {
    Ok(to_model(safetensors, rule)?.encode_to_vec())
}

/// The ONNX model of the weights in `safetensors`, its input following `rule`.
pub fn to_model(safetensors: &[u8], rule: &InputRule) -> Result<ModelProto, OnnxError> {
    let file = read_safetensors(safetensors)?;
    let architecture = Architecture::of(&file.tensors)?;
    let rule = rule.for_size(architecture.input_size)?;
    let description = metadata::describe(&file.metadata, architecture.classes)?;
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: "secnn".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{}: {} classes, written by secnn from its weights", description.name, architecture.classes),
        graph: Some(graph::se_cnn_graph(&architecture, &file.tensors)),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: Some(OPSET) }],
        metadata_props: metadata::metadata_props(&description, &rule),
    })
}
