//! Nothing corrupted is used silently: the checksum every weights file carries
//! (`src/weights/checksum.rs`), the CRC-32 of every entry of a PyTorch `.pth` (`src/pth.rs`),
//! and a mutation run over the shipped weights and the seed's `.pth` (random byte changes,
//! truncations, spliced blocks): none may load and then predict something else.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnnConfig, data, interop, pth,
    weights::{self, Integrity, ModelInfo, WeightsError},
    workbench::Workbench,
};
use std::io::Write;

fn shipped() -> Vec<u8> {
    std::fs::read(shipped_weights()).expect("www/secnn/model/secnn-cifar10.bpk is committed")
}

fn seed_pth() -> Vec<u8> {
    std::fs::read(fixture_path("seed_cnn.pth")).expect("tests/fixtures/seed_cnn.pth")
}

/// The stored tensors of a burnpack: name, dtype, shape and bytes.
fn stored_tensors(bytes: &[u8]) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec())).unwrap();
    let tensors = reader.into_tensors().unwrap().into_iter().map(|t| t.into_parts().unwrap());
    tensors.map(|(name, dtype, shape, _, data)| (name, format!("{dtype:?}"), shape.to_vec(), data.to_vec())).collect()
}

/// `bytes` with one byte changed in the middle of its largest tensor's data.
fn with_a_tensor_byte_changed(bytes: &[u8]) -> Vec<u8> {
    let largest = stored_tensors(bytes).into_iter().max_by_key(|t| t.3.len()).unwrap().3;
    let at = bytes.windows(64).position(|w| w == &largest[..64]).expect("the tensor's bytes are in the file") + largest.len() / 2;
    let mut changed = bytes.to_vec();
    changed[at] ^= 0x10;
    changed
}

#[test]
fn a_changed_byte_in_the_tensor_data_of_a_bpk_is_refused_as_corrupted() {
    let device = Device::flex();
    let corrupted = with_a_tensor_byte_changed(&shipped());
    let error = weights::load(&corrupted, &device).err().expect("refused");
    assert!(matches!(&error, WeightsError::Corrupted { check: Integrity::Checksum, entry: None, .. }), "{error}");
    assert!(error.to_string().contains("corrupted") && error.to_string().contains("checksum"), "{error}");
    assert!(matches!(weights::read_info(&corrupted), Err(WeightsError::Corrupted { .. })), "read_info checks it too");

    // On the page: refused with its own code, and the current model stays.
    let mut bench = Workbench::open(&shipped(), device, false).unwrap();
    let before = bench.info().clone();
    let error = bench.load_weights(&corrupted).expect_err("refused");
    assert_eq!(error.code(), "corrupted");
    assert_eq!(error.details().unwrap()["reason"], "checksum");
    assert_eq!(bench.info(), &before);
}

#[test]
fn every_file_written_carries_a_checksum_and_an_old_file_without_one_still_loads() {
    let device = Device::flex();
    device.seed(3);
    let config = SeCnnConfig::new().with_num_classes(3);
    let info = ModelInfo::new(&config, vec!["a".into(), "b".into(), "c".into()], "t", "three classes");
    let model = config.init(&device);
    let written = block_on(weights::to_bytes(&model, &info)).unwrap();
    assert!(matches!(weights::load(&with_a_tensor_byte_changed(&written), &device), Err(WeightsError::Corrupted { .. })));
    assert_eq!(weights::reseal(&written).unwrap(), written, "one content, one file: resealing what was written changes nothing");

    // A file as this program wrote it before the checksum: the same tensors and description, no checksum.
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(written.clone())).unwrap();
    let description = reader.metadata()["secnn.info"].clone();
    let old = burn_pack::Writer::new(reader.into_tensors().unwrap()).with_metadata("secnn.info", &description).into_bytes().unwrap().to_vec();
    assert!(old.len() < written.len());
    let loaded = weights::load(&old, &device).expect("an old file loads");
    assert_eq!(loaded.info, info);
    let changed = with_a_tensor_byte_changed(&old);
    assert!(weights::load(&changed, &device).is_ok(), "without a checksum a change goes unseen: why every file gets one");

    // Resealed: the same tensors, and the checksum refuses the same change.
    let resealed = weights::reseal(&old).unwrap();
    assert_eq!(stored_tensors(&resealed), stored_tensors(&old));
    assert!(matches!(weights::load(&with_a_tensor_byte_changed(&resealed), &device), Err(WeightsError::Corrupted { .. })));
}

#[test]
fn the_shipped_file_carries_a_checksum() {
    let bytes = shipped();
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.clone())).unwrap();
    let checksum = reader.metadata().get("secnn.checksum").expect("the shipped weights carry a checksum");
    assert!(checksum.starts_with("crc32:"), "{checksum}");
    assert_eq!(weights::reseal(&bytes).unwrap(), bytes, "resealing a sealed file changes nothing");
}

/// The `.pth` zip's `data/0` entry (a stored tensor) with one byte changed.
fn pth_with_a_tensor_byte_changed(bytes: &[u8]) -> (Vec<u8>, String) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let name = archive.file_names().map(|n| n.unwrap().to_string()).find(|n| n.ends_with("data/0")).unwrap();
    let entry = archive.by_name(&name).unwrap();
    let at = entry.data_start().unwrap() as usize + entry.size() as usize / 2;
    let mut changed = bytes.to_vec();
    changed[at] ^= 0x01;
    (changed, name)
}

#[test]
fn a_changed_byte_in_a_tensor_entry_of_a_pth_is_refused_naming_the_entry() {
    let (changed, entry) = pth_with_a_tensor_byte_changed(&std::fs::read(fixture_path("pth/zip.pth")).unwrap());
    let error = pth::read_state_dict(&changed).expect_err("refused");
    assert!(matches!(&error, pth::PthError::Corrupted { entry: e, .. } if *e == entry), "{error}");
    assert!(error.to_string().starts_with(&format!("{entry} is corrupted: CRC-32")), "{error}");

    // The seed's file through the page's path: code `corrupted`, reason `crc32`, the entry named.
    let (changed, entry) = pth_with_a_tensor_byte_changed(&seed_pth());
    let error = interop::load_any(&changed, &Device::flex()).err().expect("refused");
    assert!(matches!(&error, WeightsError::Corrupted { check: Integrity::Crc32, entry: Some(e), .. } if *e == entry), "{error}");
    let mut bench = Workbench::open(&shipped(), Device::flex(), false).unwrap();
    let error = bench.load_weights(&changed).expect_err("refused");
    assert_eq!(error.code(), "corrupted");
    assert_eq!(error.details().unwrap()["reason"], "crc32");
    assert_eq!(error.details().unwrap()["entry"], entry.as_str());
    assert!(error.to_string().contains(&entry), "{error}");
}

/// A small deterministic generator (xorshift64), so a failure replays.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The `index`-th mutation of `bytes`: a few changed bytes, a truncation, or a block spliced in
/// from elsewhere in the file.
fn mutated(bytes: &[u8], index: usize, dice: &mut Dice) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match index % 3 {
        0 => {
            for _ in 0..1 + dice.below(4) {
                let at = dice.below(out.len());
                out[at] ^= 1 + dice.below(255) as u8;
            }
        }
        1 => out.truncate(dice.below(bytes.len())),
        _ => {
            let length = 1 + dice.below(4096);
            let (from, to) = (dice.below(bytes.len() - length), dice.below(bytes.len() - length));
            out[to..to + length].copy_from_slice(&bytes[from..from + length]);
        }
    }
    out
}

/// What a loaded model says about the fixed test patterns: its classes and logits.
fn answers(loaded: &weights::LoadedModel, device: &Device) -> (Vec<String>, Vec<f32>) {
    let inputs = data::fixed_test_patterns(32);
    let refs: Vec<&data::Planes> = inputs.iter().collect();
    (loaded.info.classes.clone(), to_vec(loaded.model.forward(data::batch_tensor(&refs, device))))
}

/// Loads 300 mutations of `bytes` as the page does; returns (refused, loaded identical) and
/// fails on any that loads and answers differently.
fn mutation_run(name: &str, bytes: &[u8], seed: u64) -> (usize, usize) {
    let device = Device::flex();
    let expected = answers(&interop::load_any(bytes, &device).unwrap(), &device);
    let (mut refused, mut identical, mut different) = (0, 0, Vec::new());
    let mut dice = Dice(seed);
    for index in 0..300 {
        let damaged = mutated(bytes, index, &mut dice);
        match interop::load_any(&damaged, &device) {
            Err(_) => refused += 1,
            Ok(loaded) if answers(&loaded, &device) == expected => identical += 1,
            Ok(_) => different.push(index),
        }
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "mutation run, {name}: 300 mutations, {refused} refused, {identical} loaded identical, {} loaded different",
        different.len()
    );
    assert!(different.is_empty(), "{name}: mutations {different:?} loaded and predicted something else");
    (refused, identical)
}

#[test]
fn no_mutation_of_the_shipped_bpk_loads_and_predicts_something_else() {
    let (refused, _) = mutation_run("www/secnn/model/secnn-cifar10.bpk", &shipped(), 0x2545_f491_4f6c_dd1d);
    assert!(refused > 250, "most mutations change something the checksum covers");
}

#[test]
fn no_mutation_of_the_seed_pth_loads_and_predicts_something_else() {
    let (refused, _) = mutation_run("tests/fixtures/seed_cnn.pth", &seed_pth(), 0x9e37_79b9_7f4a_7c15);
    assert!(refused > 250, "most mutations change something a CRC-32 covers");
}
