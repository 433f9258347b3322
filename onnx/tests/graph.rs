//! The graph secnn-onnx writes, read back from its bytes: inputs, outputs, operator set,
//! metadata, the layers of each block and the weights, for the seed and other members.

mod common;

use common::{Member, cifar_rule};
use prost::Message;
use secnn_onnx::proto::{ModelProto, NodeProto, ValueInfoProto};
use std::collections::BTreeMap;

fn export(member: &Member) -> ModelProto {
    let bytes = secnn_onnx::to_onnx(&member.file(), &cifar_rule()).expect("a member's file");
    ModelProto::decode(bytes.as_slice()).expect("protobuf bytes of a ModelProto")
}

/// A value's name and shape, `-1` for the named batch dimension.
fn signature(value: &ValueInfoProto) -> (String, Vec<i64>) {
    let shape = value.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap();
    let dims = shape.dim.iter().map(|d| match (&d.dim_value, &d.dim_param) {
        (Some(size), None) => *size,
        (None, Some(name)) => {
            assert_eq!(name, secnn_onnx::BATCH);
            -1
        }
        other => panic!("a dimension is a size or a name, not {other:?}"),
    });
    (value.name.clone(), dims.collect())
}

fn metadata(model: &ModelProto) -> BTreeMap<String, String> {
    model.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect()
}

fn node<'a>(model: &'a ModelProto, name: &str) -> &'a NodeProto {
    model.graph.as_ref().unwrap().node.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name}"))
}

#[test]
fn the_seeds_graph_has_its_input_outputs_opset_and_metadata() {
    let model = export(&Member::seed());
    assert_eq!((model.ir_version, model.opset_import.len()), (Some(8), 1));
    assert_eq!((model.opset_import[0].domain.as_str(), model.opset_import[0].version), ("", Some(17)));
    assert_eq!(model.producer_name, "secnn");
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(graph.input.iter().map(signature).collect::<Vec<_>>(), [("image".to_string(), vec![-1, 3, 32, 32])]);
    let outputs: Vec<_> = graph.output.iter().map(signature).collect();
    let expected = [("logits", vec![-1, 10]), ("se1", vec![-1, 32]), ("se2", vec![-1, 64]), ("se3", vec![-1, 128])];
    assert_eq!(outputs, expected.map(|(name, shape)| (name.to_string(), shape)));
    let metadata = metadata(&model);
    let classes: Vec<String> = (0..10).map(|i| format!("kind {i}")).collect();
    assert_eq!(metadata["classes"], serde_json::to_string(&classes).unwrap());
    assert_eq!(metadata["input_size"], "32");
    assert_eq!(metadata["mean"], "[0.4914,0.4822,0.4465]");
    assert_eq!(metadata["std"], "[0.2023,0.1994,0.201]");
    assert_eq!(metadata["name"], "a test member");
    assert!(metadata["written_by"].starts_with("secnn"), "{}", metadata["written_by"]);
}

#[test]
fn every_block_runs_conv_batchnorm_relu_se_and_pool_in_order() {
    let model = export(&Member::seed());
    let graph = model.graph.as_ref().unwrap();
    let block: Vec<&str> = graph.node.iter().filter(|n| n.name.starts_with("block2/")).map(|n| n.op_type.as_str()).collect();
    let layers = [
        "Conv", "BatchNormalization", "Relu", "GlobalAveragePool", "Flatten", "Gemm", "Relu", "Gemm", "Sigmoid", "Unsqueeze", "Mul", "MaxPool",
    ];
    assert_eq!(block, layers);
    let head: Vec<&str> = graph.node.iter().filter(|n| n.name.starts_with("head/")).map(|n| n.op_type.as_str()).collect();
    assert_eq!(head, ["Flatten", "Gemm", "Relu", "Gemm"]);
    assert_eq!(graph.node.len(), 3 * layers.len() + head.len(), "nothing else, no Dropout");
    assert_eq!(node(&model, "block2/conv").input, ["block1/pool", "conv2.weight", "conv2.bias"]);
    assert_eq!(node(&model, "block2/bn").input, ["block2/conv", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"]);
    assert_eq!(node(&model, "block2/bn").attribute[0].f, Some(1e-5));
    assert_eq!(node(&model, "block2/se/squeeze").input, ["block2/se/flatten", "ca2.fc.0.weight"]);
    assert_eq!(node(&model, "block2/se/sigmoid").output, ["se2"]);
    assert_eq!(node(&model, "block2/se/scale").input, ["block2/relu", "block2/se/unsqueeze"]);
    assert_eq!(node(&model, "head/fc2").output, ["logits"]);
    let mut names: Vec<&str> = graph.node.iter().map(|n| n.name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), graph.node.len(), "every node has a name of its own");
}

#[test]
fn the_weights_are_the_files_under_the_seeds_names() {
    let member = Member::seed();
    let model = export(&member);
    let graph = model.graph.as_ref().unwrap();
    let tensors = member.tensors();
    for (name, tensor) in &tensors {
        let initializer = graph.initializer.iter().find(|i| &i.name == name).unwrap_or_else(|| panic!("no initializer {name}"));
        assert_eq!(initializer.dims, tensor.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(), "{name}");
        assert_eq!(initializer.raw_data.as_deref(), Some(tensor.bytes.as_slice()), "{name}");
    }
    assert_eq!(graph.initializer.len(), tensors.len() + 1, "the weights and the Unsqueeze axes");
}

#[test]
fn a_member_of_another_shape_has_its_own_input_outputs_and_empty_bottlenecks() {
    // Blocks of 4 and 8 channels are narrower than the reduction of 16: no SE bottleneck.
    let member = Member { widths: vec![4, 8, 16, 24], reduction: 16, hidden: 20, classes: 3, input_size: 64 };
    let model = export(&member);
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(signature(&graph.input[0]), ("image".to_string(), vec![-1, 3, 64, 64]));
    let outputs: Vec<_> = graph.output.iter().map(signature).collect();
    let expected = [("logits", vec![-1, 3]), ("se1", vec![-1, 4]), ("se2", vec![-1, 8]), ("se3", vec![-1, 16]), ("se4", vec![-1, 24])];
    assert_eq!(outputs, expected.map(|(name, shape)| (name.to_string(), shape)));
    let squeeze = graph.initializer.iter().find(|i| i.name == "ca1.fc.0.weight").unwrap();
    assert_eq!((squeeze.dims.as_slice(), squeeze.raw_data.as_deref()), ([0, 4].as_slice(), Some([].as_slice())));
    assert_eq!(metadata(&model)["input_size"], "64");
}

#[test]
fn one_to_six_blocks_are_written() {
    for blocks in 1..=6 {
        let member = Member { widths: vec![8; blocks], reduction: 4, hidden: 6, classes: 2, input_size: 64 };
        let outputs = export(&member).graph.unwrap().output.len();
        assert_eq!(outputs, 1 + blocks);
    }
}

#[test]
fn the_same_weights_give_the_same_bytes() {
    let file = Member::seed().file();
    assert_eq!(secnn_onnx::to_onnx(&file, &cifar_rule()), secnn_onnx::to_onnx(&file, &cifar_rule()));
}

#[test]
fn a_file_without_class_names_gets_the_names_secnn_gives_it() {
    let classes = |member: &Member| {
        let file = common::safetensors(&member.tensors(), &[]);
        let model = ModelProto::decode(secnn_onnx::to_onnx(&file, &cifar_rule()).unwrap().as_slice()).unwrap();
        (metadata(&model)["classes"].clone(), metadata(&model)["name"].clone())
    };
    let cifar = r#"["airplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]"#;
    assert_eq!(classes(&Member::seed()), (cifar.to_string(), "SE-CNN".to_string()));
    let two = Member { classes: 2, ..Member::seed() };
    assert_eq!(classes(&two).0, r#"["class 0","class 1"]"#);
}
