//! `torch.save` files read from bytes (`src/pth.rs`), in every layout PyTorch writes, and the
//! seed's state_dict through the one import path the CLI and the page share.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnnConfig, interop,
    pth::{self, FileTensor},
    weights::ModelInfo,
};

/// The values of `tensor` as f64, whatever its dtype.
fn values(tensor: &FileTensor) -> Vec<f64> {
    let size = tensor.data.len() / tensor.shape.iter().product::<usize>().max(1);
    tensor.data.chunks(size).map(|b| match tensor.dtype {
        "F32" => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        "F64" => f64::from_le_bytes(b.try_into().unwrap()),
        "I64" => i64::from_le_bytes(b.try_into().unwrap()) as f64,
        other => panic!("unexpected dtype {other}"),
    }).collect()
}

#[test]
fn every_layout_pytorch_writes_reads_as_pytorch_made_it() {
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture_path("pth/expected.json")).unwrap()).unwrap();
    let expected = expected["tensors"].as_object().unwrap();
    for file in ["zip.pth", "legacy.pth", "protocol4.pth", "checkpoint.pth"] {
        let bytes = std::fs::read(fixture_path(&format!("pth/{file}"))).unwrap();
        assert!(pth::is_pth(&bytes), "{file} is recognised");
        let tensors = pth::read_state_dict(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tensors.len(), expected.len(), "{file}: {:?}", tensors.keys());
        for (name, want) in expected {
            let got = &tensors[name];
            assert_eq!(got.dtype, want["dtype"], "{file} {name}");
            assert_eq!(serde_json::json!(got.shape), want["shape"], "{file} {name}");
            let want: Vec<f64> = serde_json::from_value(want["values"].clone()).unwrap();
            assert_eq!(values(got), want, "{file} {name}: strides, offsets and shared storages are followed");
        }
    }
}

#[test]
fn the_seed_pth_loads_like_the_cli_import_and_round_trips_through_safetensors() {
    let device = Device::flex();
    let fixture = PytorchFixture::load();
    let bytes = std::fs::read(fixture_path("seed_cnn.pth")).unwrap();
    let loaded = interop::load_any(&bytes, &device).expect("the page's loader reads a .pth");
    assert_eq!(loaded.info.classes, cifar_classes(), "10 outputs are CIFAR-10's classes");
    let logits = to_vec(loaded.model.valid().forward(fixture.input(&device)));
    let diff = max_abs_diff(&logits, &fixture.logits);
    assert!(diff <= 1e-4, "max |logit - PyTorch| = {diff:e} (limit 1e-4)");

    let exported = block_on(interop::to_safetensors(&seed_model(&device), &loaded.info)).unwrap();
    let again = interop::load_any(&exported, &device).expect("our safetensors export loads");
    let diff = max_abs_diff(&to_vec(again.model.valid().forward(fixture.input(&device))), &logits);
    assert!(diff == 0.0, "f32 in, f32 out: identical logits (got {diff:e})");
}

/// The safetensors `file` with the header's shape of `name` changed (its data left as it is).
fn with_shape(file: &[u8], name: &str, shape: &[usize]) -> Vec<u8> {
    let length = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&file[8..8 + length]).unwrap();
    header[name]["shape"] = serde_json::json!(shape);
    let json = serde_json::to_vec(&header).unwrap();
    [&(json.len() as u64).to_le_bytes()[..], &json, &file[8 + length..]].concat()
}

#[test]
fn files_of_other_architectures_are_refused_by_the_seeds_names_and_shapes() {
    let device = Device::flex();
    let small = std::fs::read(fixture_path("pth/zip.pth")).unwrap();
    let error = interop::load_any(&small, &device).err().expect("not the seed's CNN").to_string();
    for part in ["missing", "conv1.weight", "ca1.fc.2.weight", "unexpected", "layer.weight"] {
        assert!(error.contains(part), "{part} not in: {error}");
    }
    assert!(!error.contains("excite") && !error.contains("gamma"), "no internal names: {error}");

    // A wider hidden layer is a member of the family: it loads with its architecture…
    let config = SeCnnConfig::new().with_hidden(256);
    let info = ModelInfo::new(&config, cifar_classes(), "wide", "");
    let file = block_on(interop::to_safetensors(&config.init(&device), &info)).unwrap();
    assert_eq!(interop::load_any(&file, &device).expect("hidden 256").info.config(), config);
    // …but a tensor that disagrees with the architecture the others give is named with both shapes.
    let error = interop::load_any(&with_shape(&file, "fc1.bias", &[300]), &device).err().expect("fc1.bias [300]").to_string();
    assert!(error.contains("fc1.bias: [300] where its architecture has [256]"), "{error}");

    let seed = std::fs::read(fixture_path("seed_cnn.pth")).unwrap();
    let three = Some(vec!["a".into(), "b".into(), "c".into()]);
    let error = interop::load_pytorch(&seed, three, &device).err().expect("3 names, 10 outputs").to_string();
    assert!(error.contains("10 outputs but 3 class names"), "{error}");
}

#[test]
fn damaged_files_are_refused_without_a_panic() {
    let device = Device::flex();
    for file in ["seed_cnn.pth", "pth/legacy.pth", "pth/protocol4.pth"] {
        let bytes = std::fs::read(fixture_path(file)).unwrap();
        // Cut anywhere: each prefix is refused (the directory or a storage is missing).
        for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            assert!(interop::load_any(&bytes[..cut], &device).is_err(), "{file} cut at {cut} loaded");
        }
        // Bytes changed in the first kilobytes (the pickle, the ZIP headers): an answer, never a panic.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut damaged = bytes.clone();
            let at = (state as usize) % bytes.len().min(4096);
            damaged[at] = (state >> 32) as u8;
            let _ = pth::read_state_dict(&damaged);
        }
    }
}
