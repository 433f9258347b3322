//! Weights files: the round trip, f16, 8- and 4-bit storage, and files rejected with a reason.

use super::common::*;
use burn::prelude::*;
use futures_lite::future::block_on;
use secnn::{
    model::{SeCnn, SeCnnConfig},
    weights::{self, ModelInfo, Storage},
};

/// The seed model's weights file in `storage` (CIFAR-10's classes).
fn file_in(model: &SeCnn, storage: Storage) -> Vec<u8> {
    let info = ModelInfo { storage, ..ModelInfo::new(&SeCnnConfig::new(), cifar_classes(), "t", "") };
    block_on(weights::to_bytes(model, &info)).unwrap()
}

#[test]
fn weights_round_trip_gives_identical_logits_and_keeps_metadata() {
    let device = Device::flex();
    device.seed(7);
    let config = SeCnnConfig::new().with_num_classes(3);
    let model = config.init(&device).valid();
    let mut info = ModelInfo::new(&config, vec!["a".into(), "b".into(), "c".into()], "test", "three classes");
    info.accuracy = Some(0.5);
    let bytes = block_on(weights::to_bytes(&model, &info)).unwrap();
    let loaded = weights::load(&bytes, &device).expect("load what we wrote");
    assert_eq!(loaded.info, info);
    let images = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let before = to_vec(model.forward(images.clone()));
    let after = to_vec(loaded.model.forward(images));
    assert_eq!(before, after, "export → import must give identical logits");
}

#[test]
fn f16_storage_halves_the_file_and_keeps_the_predictions() {
    let device = Device::flex();
    device.seed(11);
    let model = SeCnnConfig::new().init(&device).valid();
    let (full, half) = (file_in(&model, Storage::F32), file_in(&model, Storage::F16));
    assert!(half.len() * 10 < full.len() * 6, "f16 file {} bytes vs f32 {}", half.len(), full.len());

    let loaded = weights::load(&half, &device).expect("f16 file loads");
    assert_eq!(loaded.info.storage, Storage::F16);
    let images = Tensor::<4>::random([8, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    assert_eq!(loaded.model.forward(images.clone()).dtype(), burn::tensor::DType::F32, "loads as an f32 model");
    let before = to_vec(model.forward(images.clone()));
    let after = to_vec(loaded.model.forward(images));
    let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = before.iter().zip(&after).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst > 0.0, "f16 rounding must change something (was the file really f16?)");
    assert!(worst < 1e-2 * scale.max(1.0), "f16 logits differ by {worst} (scale {scale})");
    // Writing the loaded model again keeps f16: the file's precision is part of its description.
    assert_eq!(block_on(weights::to_bytes(&loaded.model, &loaded.info)).unwrap().len(), half.len());
}

#[test]
fn int8_storage_quarters_the_file_and_dequantizes_per_channel() {
    let device = Device::flex();
    let model = SeCnnConfig::new().init(&device).valid();
    let (full, int8) = (file_in(&model, Storage::F32), file_in(&model, Storage::Int8));
    assert!(int8.len() * 10 < full.len() * 3, "int8 file {} bytes vs f32 {}", int8.len(), full.len());

    let back = weights::load(&int8, &device).expect("int8 file loads");
    assert_eq!(back.info.storage, Storage::Int8);
    // Every weight lies within half a step (max|w| / 254) of the original, channel by channel.
    let original = to_vec(model.blocks[1].conv.weight.val());
    let restored = to_vec(back.model.blocks[1].conv.weight.val());
    for (channel, (a, b)) in original.chunks(32 * 9).zip(restored.chunks(32 * 9)).enumerate() {
        let step = a.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        assert!(max_abs_diff(a, b) <= step / 2.0 + 1e-7, "conv2 channel {channel}");
        assert!(a != b || step == 0.0, "int8 rounding must change something");
    }
    assert_eq!(to_vec(model.blocks[1].bn.gamma.val()), to_vec(back.model.blocks[1].bn.gamma.val()), "BatchNorm stays f32");
    assert_eq!(to_vec(model.fc1.bias.as_ref().unwrap().val()), to_vec(back.model.fc1.bias.as_ref().unwrap().val()), "biases stay f32");
    // Writing it again keeps int8, and the 8-bit values come back unchanged.
    let again = block_on(weights::to_bytes(&back.model, &back.info)).unwrap();
    assert_eq!(again.len(), int8.len());
    let twice = weights::load(&again, &device).unwrap();
    assert_eq!(to_vec(twice.model.blocks[1].conv.weight.val()), restored);
}

#[test]
fn int4_storage_packs_fc1_in_four_bits_and_keeps_the_logits_close() {
    let device = Device::flex();
    let model = SeCnnConfig::new().init(&device).valid();
    let (int8, int4) = (file_in(&model, Storage::Int8), file_in(&model, Storage::Int4));
    // fc1 (1,048,576 values) goes from 1 MB to 512 kB plus 32 kB of f16 scales.
    assert!(int4.len() < int8.len() - 450_000, "int4 file {} bytes vs int8 {}", int4.len(), int8.len());

    let back = weights::load(&int4, &device).expect("int4 file loads");
    assert_eq!(back.info.storage, Storage::Int4);
    let (original, restored) = (to_vec(model.fc1.weight.val()), to_vec(back.model.fc1.weight.val()));
    let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    let error: Vec<f32> = original.iter().zip(&restored).map(|(a, b)| a - b).collect();
    assert!(rms(&error) < 0.12 * rms(&original), "fc1 error {} against {}", rms(&error), rms(&original));
    assert!(original != restored, "4-bit rounding must change fc1");
    // Every column of 64 inputs takes at most 16 distinct values.
    let column: std::collections::BTreeSet<u32> = (0..64).map(|row| restored[row * 512 + 7].to_bits()).collect();
    assert!(column.len() <= 16, "{} distinct values in one group", column.len());
    // The smaller layers keep 8 bits: conv2 within half an 8-bit step.
    let (a, b) = (to_vec(model.blocks[1].conv.weight.val()), to_vec(back.model.blocks[1].conv.weight.val()));
    let step = a[..32 * 9].iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
    assert!(max_abs_diff(&a[..32 * 9], &b[..32 * 9]) <= step / 2.0 + 1e-7);

    let images = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let (before, after) = (to_vec(model.forward(images.clone())), to_vec(back.model.forward(images)));
    let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&before, &after) < 0.1 * scale.max(1e-3), "logits {before:?} vs {after:?}");
    // Stored values quantize to themselves: writing the loaded model again keeps fc1 exactly.
    let again = block_on(weights::to_bytes(&back.model, &back.info)).unwrap();
    assert_eq!(again.len(), int4.len());
    assert_eq!(to_vec(weights::load(&again, &device).unwrap().model.fc1.weight.val()), restored);
}

#[test]
fn bad_weights_files_are_rejected_with_a_reason() {
    let device = Device::flex();
    let config = SeCnnConfig::new();
    let info = ModelInfo::new(&config, cifar_classes(), "t", "");
    let bytes = block_on(weights::to_bytes(&config.init(&device), &info)).unwrap();

    let garbage = b"this is not a weights file at all".to_vec();
    assert!(matches!(weights::load(&garbage, &device), Err(weights::WeightsError::NotBurnpack(_))));
    assert!(weights::load(&[], &device).is_err());
    let truncated = &bytes[..bytes.len() / 2];
    let error = weights::load(truncated, &device).err().expect("truncated file rejected");
    assert!(!error.to_string().is_empty());

    // Same metadata, other architecture: a model with wider blocks.
    let wide = SeCnnConfig::new().with_widths(vec![32, 64, 256]);
    let other = block_on(weights::to_bytes(&wide.init(&device), &info)).unwrap();
    let error = weights::load(&other, &device).err().expect("shape mismatch rejected");
    assert!(matches!(error, weights::WeightsError::Architecture(_)), "{error}");
    assert!(error.to_string().contains("shape"), "{error}");

    // A burnpack without our description (e.g. a plain Burn record).
    let plain = SeCnnConfig::new().init(&device).into_record().into_bytes().unwrap();
    assert!(matches!(weights::load(&plain, &device), Err(weights::WeightsError::NoInfo)));
}
