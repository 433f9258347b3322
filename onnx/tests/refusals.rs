//! Files that are not weights of the family, and bad input rules, are refused by name.

mod common;

use common::{Member, Tensor, cifar_rule, repo, safetensors};
use secnn_onnx::{InputRule, OnnxError, to_onnx};
use std::collections::BTreeMap;

/// The seed's file with `edit` made to its tensors.
fn edited(edit: impl FnOnce(&mut BTreeMap<String, Tensor>)) -> Vec<u8> {
    let mut tensors = Member::seed().tensors();
    edit(&mut tensors);
    safetensors(&tensors, &[])
}

fn refusal(file: &[u8]) -> (&'static str, String) {
    let error = to_onnx(file, &cifar_rule()).unwrap_err();
    (error.reason(), error.to_string())
}

#[test]
fn files_that_are_not_safetensors_are_refused() {
    let pth = std::fs::read(repo().join("tests/fixtures/seed_cnn.pth")).unwrap();
    assert_eq!(refusal(&pth).0, "not-safetensors");
    assert_eq!(refusal(b"").1, "not a safetensors file: shorter than its 8-byte header length");
    let onnx = to_onnx(&Member::seed().file(), &cifar_rule()).unwrap();
    assert_eq!(refusal(&onnx).0, "not-safetensors", "an ONNX file is not its own input");
}

#[test]
fn a_missing_tensor_is_named() {
    let file = edited(|t| drop(t.remove("bn2.running_var")));
    assert_eq!(refusal(&file), ("missing-tensor", "bn2.running_var is missing: this is not a state_dict of the SE-CNN family".into()));
    assert_eq!(refusal(&edited(|t| drop(t.remove("ca3.fc.0.weight")))).1.split(':').next(), Some("ca3.fc.0.weight is missing"));
    assert_eq!(refusal(&edited(|t| drop(t.remove("fc2.bias")))).0, "missing-tensor");
}

#[test]
fn unexpected_tensors_are_named() {
    let file = edited(|t| {
        t.insert("fc3.weight".into(), Tensor::f32(vec![1], &[0.0]));
        t.insert("bn9.num_batches_tracked".into(), Tensor::f32(vec![], &[0.0]));
    });
    let (reason, message) = refusal(&file);
    assert_eq!(reason, "unexpected-tensors");
    assert!(message.starts_with(r#"unexpected tensors ["bn9.num_batches_tracked", "fc3.weight"]"#), "{message}");
    // A gap in the blocks: conv5 without conv4.
    let file = edited(|t| drop(t.insert("conv5.weight".into(), Tensor::f32(vec![1, 128, 3, 3], &[0.0; 1152]))));
    assert!(refusal(&file).1.starts_with(r#"unexpected tensors ["conv5.weight"]"#));
}

#[test]
fn a_state_dicts_batch_counters_are_accepted() {
    let file = edited(|t| {
        for i in 1..=3 {
            t.insert(format!("bn{i}.num_batches_tracked"), Tensor { dtype: "I64", shape: vec![], bytes: 7i64.to_le_bytes().to_vec() });
        }
    });
    assert!(to_onnx(&file, &cifar_rule()).is_ok());
}

#[test]
fn wrong_shapes_and_dtypes_are_named() {
    let file = edited(|t| drop(t.insert("conv2.weight".into(), Tensor::f32(vec![64, 16, 3, 3], &[0.0; 9216]))));
    assert_eq!(refusal(&file), ("wrong-shape", "conv2.weight is [64, 16, 3, 3] where a 3x3 convolution of 32 channels is [out, 32, 3, 3]".into()));
    let file = edited(|t| drop(t.insert("bn1.bias".into(), Tensor::f32(vec![31], &[0.0; 31]))));
    assert_eq!(refusal(&file).1, "bn1.bias is [31] where this member has [32]");
    let file = edited(|t| drop(t.insert("fc1.weight".into(), Tensor::f32(vec![512, 3000], &vec![0.0; 512 * 3000]))));
    assert_eq!(refusal(&file).1, "fc1.weight is [3000] where fc1's inputs are the last block's 128 channels times a square number of pixels");
    let file = edited(|t| t.get_mut("fc2.bias").unwrap().dtype = "F16");
    assert_eq!(refusal(&file), ("not-float32", "fc2.bias is F16, not F32 (save the state_dict in float32)".into()));
    let file = edited(|t| t.get_mut("fc2.bias").unwrap().bytes.truncate(39));
    assert_eq!(refusal(&file), ("bad-entry", "fc2.bias: 39 bytes where [10] of F32 takes 40".into()));
}

#[test]
fn a_foreign_model_is_refused_by_its_first_layer() {
    // A ResNet's stem: 7x7.
    let file = edited(|t| drop(t.insert("conv1.weight".into(), Tensor::f32(vec![64, 3, 7, 7], &vec![0.0; 9408]))));
    assert_eq!(refusal(&file).1, "conv1.weight is [64, 3, 7, 7] where a 3x3 convolution of 3 channels is [out, 3, 3, 3]");
    let file = safetensors(&BTreeMap::from([("encoder.layer.0.weight".to_string(), Tensor::f32(vec![2], &[0.0, 1.0]))]), &[]);
    assert_eq!(refusal(&file), ("missing-tensor", "conv1.weight is missing: this is not a state_dict of the SE-CNN family".into()));
}

#[test]
fn more_than_six_blocks_are_refused() {
    let member = Member { widths: vec![4; 7], reduction: 4, hidden: 4, classes: 2, input_size: 128 };
    assert_eq!(refusal(&member.file()), ("block-count", "7 blocks: a model of the family has 1 to 6".into()));
}

#[test]
fn class_names_that_do_not_fit_are_refused() {
    let tensors = Member::seed().tensors();
    let file = safetensors(&tensors, &[("classes", r#"["cat", "dog"]"#.into())]);
    assert_eq!(refusal(&file), ("bad-classes", "the metadata's class names: 2 names for fc2's 10 outputs".into()));
    let file = safetensors(&tensors, &[("classes", "cat, dog".into())]);
    assert!(refusal(&file).1.starts_with("the metadata's class names: not a JSON list of names"));
}

#[test]
fn bad_input_rules_are_refused() {
    let file = Member::seed().file();
    let error = to_onnx(&file, &InputRule { size: Some(64), ..cifar_rule() }).unwrap_err();
    assert!(error.is_input_rule());
    assert_eq!(error.to_string(), "the input rule: size 64 px, but the weights are of a model of 32 px");
    assert!(to_onnx(&file, &InputRule { size: Some(32), ..cifar_rule() }).is_ok());
    let error = to_onnx(&file, &InputRule { std: [0.2, 0.0, 0.2], ..cifar_rule() }).unwrap_err();
    assert_eq!(error.reason(), "bad-input-rule");
    assert!(matches!(InputRule::from_json(r#"{"mean": [0.5, 0.5]}"#), Err(OnnxError::BadInputRule(_))));
    let rule = InputRule::from_json(r#"{"size": 32, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]}"#).unwrap();
    assert_eq!(rule, InputRule { size: Some(32), ..cifar_rule() });
}
