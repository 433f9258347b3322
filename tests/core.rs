//! Model, data, weights, PyTorch parity and training, on the flex (CPU) backend.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    data::{self, Split},
    inference,
    model::{SeCnn, SeCnnConfig},
    session::{ReadPacer, StepReport, TrainingSession},
    training::{self, Freeze, OptimizerKind, Schedule, Trainer, TrainingConfig},
    weights::{self, ModelInfo},
};

#[test]
fn model_has_the_seed_architecture() {
    let device = Device::flex();
    let model = SeCnnConfig::new().init(&device);
    assert_eq!(model.trainable_params(), 1_150_602, "the seed CNN has 1,150,602 parameters");
    assert_eq!(model.num_params(), 1_150_602 + 2 * (32 + 64 + 128), "plus BatchNorm running stats");
    assert_eq!(model.widths(), [32, 64, 128]);
    assert_eq!(model.input_size(), 32);
    assert_eq!(model.num_classes(), 10);

    let images = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let model = model.valid();
    assert_eq!(model.forward(images.clone()).dims(), [2, 10]);
    let explained = model.forward_explained(images.clone());
    assert_eq!(explained.logits.dims(), [2, 10]);
    let expected = [(32, 32), (64, 16), (128, 8)];
    for (trace, (channels, size)) in explained.blocks.iter().zip(expected) {
        assert_eq!(trace.se_weights.dims(), [2, channels]);
        assert_eq!(trace.features.dims(), [2, channels, size, size]);
        let weights = to_vec(trace.se_weights.clone());
        assert!(weights.iter().all(|&w| w > 0.0 && w < 1.0), "SE weights lie in (0, 1)");
    }
    assert_eq!(model.features(images).dims(), [2, 128, 4, 4]);
}

#[test]
fn pytorch_import_matches_pytorch_logits() {
    let fixture = PytorchFixture::load();
    let device = Device::flex();
    let model = seed_model(&device).valid();
    let explained = model.forward_explained(fixture.input(&device));
    let logits = to_vec(explained.logits);
    let diff = max_abs_diff(&logits, &fixture.logits);
    assert!(diff <= 1e-4, "max |logit - PyTorch| = {diff:e} (limit 1e-4)");
    for (block, expected) in explained.blocks.into_iter().zip(&fixture.se_weights) {
        let diff = max_abs_diff(&to_vec(block.se_weights), expected);
        assert!(diff <= 1e-5, "SE weights differ from PyTorch by {diff:e}");
    }
    // The running statistics came across: a model without them would disagree a lot.
    let untouched = to_vec(SeCnnConfig::new().init(&device).valid().forward(fixture.input(&device)));
    assert!(max_abs_diff(&untouched, &fixture.logits) > 1e-2);
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
    let config = SeCnnConfig::new();
    let model = config.init(&device).valid();
    let full_info = ModelInfo::new(&config, cifar_classes(), "t", "");
    let half_info = ModelInfo { storage: weights::Storage::F16, ..full_info.clone() };
    let full = block_on(weights::to_bytes(&model, &full_info)).unwrap();
    let half = block_on(weights::to_bytes(&model, &half_info)).unwrap();
    assert!(half.len() * 10 < full.len() * 6, "f16 file {} bytes vs f32 {}", half.len(), full.len());

    let loaded = weights::load(&half, &device).expect("f16 file loads");
    assert_eq!(loaded.info.storage, weights::Storage::F16);
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
    let config = SeCnnConfig::new();
    let model = config.init(&device).valid();
    let full_info = ModelInfo::new(&config, cifar_classes(), "t", "");
    let int8_info = ModelInfo { storage: weights::Storage::Int8, ..full_info.clone() };
    let full = block_on(weights::to_bytes(&model, &full_info)).unwrap();
    let int8 = block_on(weights::to_bytes(&model, &int8_info)).unwrap();
    assert!(int8.len() * 10 < full.len() * 3, "int8 file {} bytes vs f32 {}", int8.len(), full.len());

    let back = weights::load(&int8, &device).expect("int8 file loads");
    assert_eq!(back.info.storage, weights::Storage::Int8);
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
    let config = SeCnnConfig::new();
    let model = config.init(&device).valid();
    let info = |storage| ModelInfo { storage, ..ModelInfo::new(&config, cifar_classes(), "t", "") };
    let int8 = block_on(weights::to_bytes(&model, &info(weights::Storage::Int8))).unwrap();
    let int4 = block_on(weights::to_bytes(&model, &info(weights::Storage::Int4))).unwrap();
    // fc1 (1,048,576 values) goes from 1 MB to 512 kB plus 32 kB of f16 scales.
    assert!(int4.len() < int8.len() - 450_000, "int4 file {} bytes vs int8 {}", int4.len(), int8.len());

    let back = weights::load(&int4, &device).expect("int4 file loads");
    assert_eq!(back.info.storage, weights::Storage::Int4);
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

#[test]
fn resize_rule_is_short_side_then_centre_crop() {
    // A 64x32 image whose left and right quarters are red and the middle half green:
    // after the short side goes to 32 (→ 64x32) the centre crop keeps only green.
    let mut image = image::RgbImage::new(64, 32);
    for (x, _, pixel) in image.enumerate_pixels_mut() {
        *pixel = if (16..48).contains(&x) { image::Rgb([0, 255, 0]) } else { image::Rgb([255, 0, 0]) };
    }
    let planes = data::to_model_input(&image::DynamicImage::ImageRgb8(image), 32).unwrap();
    let area = 32 * 32;
    assert!(planes[..area].iter().all(|&r| r == 0), "red plane is empty after the crop");
    assert!(planes[area..2 * area].iter().all(|&g| g == 255));

    // A large image is shrunk (averaged), not point-sampled: a fine checkerboard turns grey.
    let board = image::RgbImage::from_fn(320, 640, |x, y| {
        if (x + y) % 2 == 0 { image::Rgb([255, 255, 255]) } else { image::Rgb([0, 0, 0]) }
    });
    let planes = data::to_model_input(&image::DynamicImage::ImageRgb8(board), 32).unwrap();
    assert!(planes.iter().all(|&v| (100..=155).contains(&v)), "checkerboard averages to grey");

    // RGBA from a browser goes through the same rule.
    let rgba: Vec<u8> = (0..40 * 20).flat_map(|_| [10u8, 20, 30, 255]).collect();
    let planes = data::rgba_to_model_input(&rgba, 40, 20, 32).unwrap();
    assert_eq!((planes[0], planes[area], planes[2 * area]), (10, 20, 30));
    assert!(data::rgba_to_model_input(&rgba, 41, 20, 32).is_err());
}

#[test]
fn normalisation_uses_the_seed_mean_and_std() {
    let planes = data::Planes::new(32, vec![255; 3072]);
    let values = data::normalize(&[&planes]);
    for channel in 0..3 {
        let expected = (1.0 - data::MEAN[channel]) / data::STD[channel];
        assert!((values[channel * 1024] - expected).abs() < 1e-6);
    }
}

#[test]
fn image_folder_loader_skips_bad_files_and_orders_classes() {
    let dir = TempDir::new("folder");
    write_png(&dir.path().join("zebra/a.png"), [200, 200, 200], 40, 30);
    write_png(&dir.path().join("zebra/b.png"), [10, 10, 10], 32, 32);
    write_png(&dir.path().join("apple/c.png"), [255, 0, 0], 8, 8);
    std::fs::write(dir.path().join("apple/notes.txt"), "not an image").unwrap();
    std::fs::write(dir.path().join("apple/broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    std::fs::write(dir.path().join("apple/empty.png"), []).unwrap();

    let loaded = data::load_image_folder(dir.path(), 32, &|_, _| {}).unwrap();
    assert_eq!(loaded.set.classes, ["apple", "zebra"], "classes sorted by name");
    assert_eq!(loaded.set.len(), 3);
    assert_eq!(loaded.set.labels.iter().filter(|&&l| l == 1).count(), 2);
    let mut skipped: Vec<String> = loaded
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    skipped.sort();
    assert_eq!(skipped, ["broken.jpg", "empty.png", "notes.txt"]);

    // CIFAR-10 names come back in the official order, not alphabetically.
    let cifar = TempDir::new("cifar-names");
    for class in data::CIFAR10_CLASSES {
        write_png(&cifar.path().join(class).join("x.png"), [1, 2, 3], 32, 32);
    }
    let loaded = data::load_image_folder(cifar.path(), 32, &|_, _| {}).unwrap();
    assert_eq!(loaded.set.classes, cifar_classes());

    // An empty folder is an error that names the expected layout.
    let empty = TempDir::new("empty");
    let error = data::load_image_folder(empty.path(), 32, &|_, _| {}).unwrap_err();
    assert!(error.to_string().contains("root/<class>"), "{error}");
}

#[test]
fn cifar_binary_loader_reads_official_records() {
    let dir = TempDir::new("cifar-bin");
    let record = |label: u8, value: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(value, 1024)); // red
        r.extend(std::iter::repeat_n(value / 2, 1024)); // green
        r.extend(std::iter::repeat_n(0, 1024)); // blue
        r
    };
    let batch: Vec<u8> = [record(3, 100), record(9, 50)].concat();
    std::fs::write(dir.path().join("data_batch_1.bin"), &batch).unwrap();
    std::fs::write(dir.path().join("data_batch_2.bin"), record(0, 10)).unwrap();
    std::fs::write(dir.path().join("test_batch.bin"), record(1, 1)).unwrap();

    let train = data::load_dataset(dir.path(), Split::Train, 32, &|_, _| {}).unwrap().set;
    assert_eq!(train.labels, [3, 9, 0]);
    assert_eq!(train.classes, cifar_classes());
    assert_eq!((train.images[0][0], train.images[0][1024], train.images[0][2048]), (100, 50, 0));
    let test = data::load_dataset(dir.path(), Split::Test, 32, &|_, _| {}).unwrap().set;
    assert_eq!(test.labels, [1]);

    std::fs::write(dir.path().join("data_batch_3.bin"), &batch[..100]).unwrap();
    let error = data::load_dataset(dir.path(), Split::Train, 32, &|_, _| {}).unwrap_err();
    assert!(error.to_string().contains("3073-byte"), "{error}");
}

/// `planes` moved so that `out[y][x] = planes[y + dy][x + dx]`, black outside the image: written
/// out here, not taken from `data::CropFlip`.
fn shifted(planes: &data::Planes, dx: i32, dy: i32) -> data::Planes {
    let mut out = data::Planes::zeros(32);
    for channel in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let (src_x, src_y) = (x + dx, y + dy);
                if (0..32).contains(&src_x) && (0..32).contains(&src_y) {
                    out[channel * 1024 + (y * 32 + x) as usize] = planes[channel * 1024 + (src_y * 32 + src_x) as usize];
                }
            }
        }
    }
    out
}

#[test]
fn augmentation_crops_and_flips_within_the_padding() {
    let mut planes = data::Planes::zeros(32);
    for (i, v) in planes.iter_mut().enumerate() {
        *v = (i % 251) as u8 + 1; // no zeros, so padding is recognisable, and no left-right symmetry
    }
    let mirror = mirrored(&planes);
    assert_ne!(mirror, planes, "the test image is symmetric: a missing flip would pass");
    // Every crop (offsets up to 4 pixels each way) of the image and of its hand-made mirror.
    let mut crops = Vec::new();
    for dy in -4..=4 {
        for dx in -4..=4 {
            for flip in [false, true] {
                crops.push(((dx, dy, flip), shifted(if flip { &mirror } else { &planes }, dx, dy)));
            }
        }
    }
    let mut rng = training::epoch_rng(1, 0);
    let draws = 200;
    let (mut flipped, mut saw_padding) = (0, false);
    for _ in 0..draws {
        let out = data::augment(&planes, &mut rng);
        let matches: Vec<_> = crops.iter().filter(|(_, crop)| *crop == out).map(|(view, _)| *view).collect();
        assert_eq!(matches.len(), 1, "a view is not exactly one crop of the image or of its mirror: {matches:?}");
        let (dx, dy, flip) = matches[0];
        flipped += flip as usize;
        saw_padding |= dx != 0 || dy != 0;
    }
    assert!(saw_padding, "random shifts bring in padding");
    assert!((draws / 4..=draws * 3 / 4).contains(&flipped), "{flipped} of {draws} views mirrored; a coin flip gives about half");

    // Pixel-exact, for some seed the first view is the plain mirror, and for another the image
    // itself (each about one seed in 162).
    let first_view = |seed| data::augment(&planes, &mut training::epoch_rng(seed, 0));
    let mirror_seed = (0..5000).find(|&seed| first_view(seed) == mirror);
    let plain_seed = (0..5000).find(|&seed| first_view(seed) == planes);
    assert!(mirror_seed.is_some(), "no seed in 0..5000 gave the horizontal mirror of the image");
    assert!(plain_seed.is_some(), "no seed in 0..5000 gave the image unshifted and unflipped");
}

fn tiny_batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let set = synthetic_set(4, 2);
    let indices: Vec<usize> = (0..set.len()).collect();
    training::make_batch(&set, &indices, false, &mut training::epoch_rng(0, 0), device)
}

#[test]
fn three_training_steps_lower_the_loss_on_a_fixed_batch() {
    let device = Device::flex();
    device.seed(3);
    let model = SeCnnConfig::new().with_num_classes(2).init(&device);
    let config = TrainingConfig {
        schedule: Schedule::Constant,
        ..TrainingConfig::default()
    };
    let mut trainer = Trainer::new(model, config, 1, &device);
    let (images, labels) = tiny_batch(&device);
    let losses: Vec<f64> = (0..4)
        .map(|_| block_on(trainer.step(images.clone(), labels.clone())).unwrap().loss)
        .collect();
    assert!(losses[3] < losses[0], "loss did not go down: {losses:?}");
}

/// A session on 5 images per class of 2 (4 for training, 1 for validation each), batch 3:
/// 3 steps an epoch (3, 3 and 2 images), 2 epochs, with a probe image. No dropout: the device's
/// random numbers are shared with the tests running alongside.
fn small_session(model: &SeCnn, device: &Device) -> TrainingSession {
    let model = model.clone();
    let config = TrainingConfig { epochs: 2, batch_size: 3, validation_split: 0.2, dropout: 0.0, ..TrainingConfig::default() };
    let (train, validation) = config.split(synthetic_set(5, 2));
    let steps = train.len().div_ceil(config.batch_size);
    let mut session = TrainingSession::new(Trainer::new(model, config, steps, device), train, validation, device);
    session.set_probe(Some(synthetic_set(1, 1).images[0].clone()));
    session
}

#[test]
fn steps_read_together_report_what_steps_read_one_by_one_report() {
    let device = Device::flex();
    let model = SeCnnConfig::new().with_num_classes(2).init(&device);
    let run = |group: usize| -> (Vec<Vec<StepReport>>, Vec<f32>) {
        let mut session = small_session(&model, &device);
        let mut groups = Vec::new();
        while !session.is_done() {
            groups.push(block_on(session.steps(group)).unwrap());
        }
        (groups, to_vec(session.trainer.inference_model().fc2.weight.val()))
    };
    let (single, single_weights) = run(1);
    let (grouped, grouped_weights) = run(5);
    // A group never runs past the end of an epoch.
    assert_eq!(grouped.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3]);
    let grouped: Vec<&StepReport> = grouped.iter().flat_map(|g| g.iter().enumerate()).map(|(i, r)| {
        // Only the group's last step carries the probe's SE weights (and the epoch's end).
        assert_eq!(r.probe_se_weights.is_some(), i == 2, "step {}", r.global_step);
        assert_eq!(r.epoch_end.is_some(), i == 2, "step {}", r.global_step);
        r
    }).collect();
    let single: Vec<&StepReport> = single.iter().flatten().collect();
    assert_eq!(single.len(), 6);
    for (a, b) in single.iter().zip(&grouped) {
        assert_eq!((a.epoch, a.step_in_epoch, a.global_step, a.done), (b.epoch, b.step_in_epoch, b.global_step, b.done));
        assert_eq!((a.metrics.loss, a.metrics.correct, a.metrics.count, a.metrics.lr), (b.metrics.loss, b.metrics.correct, b.metrics.count, b.metrics.lr));
        assert_eq!((a.running_loss, a.running_accuracy), (b.running_loss, b.running_accuracy));
        assert!(a.probe_se_weights.is_some());
    }
    assert_eq!(single.iter().map(|r| r.metrics.count).collect::<Vec<_>>(), [3, 3, 2, 3, 3, 2]);
    let end = |r: &StepReport| r.epoch_end.as_ref().map(|e| (e.epoch, e.train_loss, e.validation.as_ref().unwrap().loss));
    assert_eq!(single.iter().map(|r| end(r)).collect::<Vec<_>>(), grouped.iter().map(|r| end(r)).collect::<Vec<_>>());
    assert!(grouped[5].done);
    assert_eq!(single_weights, grouped_weights, "the same steps must give the same weights");
}

#[test]
fn the_read_pacer_aims_at_its_time_per_read() {
    let mut pacer = ReadPacer::new(200.0, 16);
    assert_eq!(pacer.steps(), 1);
    pacer.record(1, 20.0); // 10 would fit, but it grows by doubling
    assert_eq!(pacer.steps(), 2);
    pacer.record(2, 40.0);
    assert_eq!(pacer.steps(), 4);
    pacer.record(4, 80.0);
    pacer.record(8, 160.0);
    assert_eq!(pacer.steps(), 10, "10 steps of 20 ms make 200 ms");
    pacer.record(10, 4.0);
    assert_eq!(pacer.steps(), 16, "never past the maximum");
    pacer.record(16, 1600.0);
    assert_eq!(pacer.steps(), 2, "slower steps, fewer a read");
    pacer.record(2, 5000.0);
    assert_eq!(pacer.steps(), 1, "at least one");
    pacer.record(0, 0.0);
    assert_eq!(pacer.steps(), 1, "nothing learnt from an empty read");
    let mut cpu = ReadPacer::new(0.0, 1);
    cpu.record(1, 1.0);
    assert_eq!(cpu.steps(), 1);
}

#[test]
fn freezing_the_head_only_changes_the_classifier() {
    let device = Device::flex();
    let model = SeCnnConfig::new().with_num_classes(2).init(&device);
    let conv_before = to_vec(model.blocks[0].conv.weight.val());
    let fc_before = to_vec(model.fc2.weight.val());
    let config = TrainingConfig {
        freeze: Freeze::AllButHead,
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        schedule: Schedule::Constant,
        ..TrainingConfig::default()
    };
    let mut trainer = Trainer::new(model, config, 1, &device);
    let (images, labels) = tiny_batch(&device);
    block_on(trainer.step(images, labels)).unwrap();
    let model = trainer.inference_model();
    assert_eq!(to_vec(model.blocks[0].conv.weight.val()), conv_before, "frozen conv weights moved");
    assert_ne!(to_vec(model.fc2.weight.val()), fc_before, "head weights did not move");
}

#[test]
fn schedules_follow_their_definitions() {
    let config = |schedule| TrainingConfig { schedule, lr: 0.1, ..TrainingConfig::default() };
    let state = training::ScheduleState { lr: 0.1, best_loss: None, bad_epochs: 0 };
    let one_cycle = config(Schedule::OneCycle);
    assert!((training::learning_rate(&one_cycle, &state, 0, 100) - 0.004).abs() < 1e-9);
    assert!((training::learning_rate(&one_cycle, &state, 30, 100) - 0.1).abs() < 1e-9);
    assert!(training::learning_rate(&one_cycle, &state, 100, 100) < 1e-5);
    let cosine = config(Schedule::Cosine);
    assert!((training::learning_rate(&cosine, &state, 50, 100) - 0.05).abs() < 1e-9);

    // ReduceLROnPlateau(patience 3, factor 0.5): halves after the 4th epoch without improvement.
    let device = Device::flex();
    let model = SeCnnConfig::new().with_num_classes(2).init(&device);
    let mut trainer = Trainer::new(model, config(Schedule::Plateau), 1, &device);
    let rates: Vec<f64> = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95]
        .into_iter()
        .map(|loss| trainer.end_epoch(loss))
        .collect();
    assert_eq!(rates, [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]);
}

#[test]
fn explanation_has_the_right_shapes_and_a_real_grad_cam() {
    // The trained weights, not a random init: flex's random generator is shared by the tests
    // running in parallel, and some random models give an all-zero Grad-CAM.
    let device = Device::flex();
    let bytes = std::fs::read(shipped_weights()).expect("www/secnn/model/secnn-cifar10.bpk is committed");
    let model = weights::load(&bytes, &device).unwrap().model;
    let image = synthetic_set(1, 1).images[0].clone();
    let options = inference::ExplainOptions { top_k: 5, channels: 3, map: Some((1, 40)), ..Default::default() };
    let explanation = block_on(inference::explain(&model, &image, &cifar_classes(), &options, &device)).unwrap();
    assert_eq!(explanation.top.len(), 5);
    // The map asked for (block 2, channel 40), and only there; an index past the block is ignored.
    let requested = explanation.blocks[1].requested.as_ref().expect("block 2's channel 40");
    assert_eq!((requested.channel, requested.size, requested.values.len()), (40, 16, 256));
    assert_eq!(requested.weight, explanation.blocks[1].se_weights[40]);
    assert!(explanation.blocks[0].requested.is_none() && explanation.blocks[2].requested.is_none());
    let past = inference::ExplainOptions { map: Some((0, 32)), ..options.clone() };
    let ignored = block_on(inference::explain(&model, &image, &cifar_classes(), &past, &device)).unwrap();
    assert!(ignored.blocks.iter().all(|b| b.requested.is_none()));
    let total: f32 = explanation.probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-4);
    assert_eq!(explanation.blocks.len(), 3);
    for (block, (channels, size)) in explanation.blocks.iter().zip([(32, 32), (64, 16), (128, 8)]) {
        assert_eq!(block.se_weights.len(), channels);
        assert_eq!(block.most_attended.len(), 3);
        assert_eq!(block.most_attended[0].values.len(), size * size);
        assert!(block.most_attended[0].weight >= block.least_attended[0].weight);
    }
    let cam = &explanation.gradcam;
    assert_eq!(cam.class, explanation.top[0].index);
    assert_eq!(cam.values.len(), 32 * 32);
    assert!(cam.values.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    let (lo, hi) = cam.values.iter().fold((1f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(hi - lo > 0.1, "Grad-CAM is not constant ({lo}..{hi})");
}

#[test]
fn shipped_weights_classify_cifar_test_images() {
    let Some(test_dir) = cifar_test_dir() else {
        return;
    };
    let device = Device::flex();
    let bytes = std::fs::read(shipped_weights()).expect("www/secnn/model/secnn-cifar10.bpk is committed");
    let loaded = weights::load(&bytes, &device).expect("shipped weights load");
    assert_eq!(loaded.info.classes, cifar_classes());
    // The first 10 images of every class.
    let (classes, files) = data::list_image_folder(&test_dir).unwrap();
    assert_eq!(classes, cifar_classes());
    let mut per_class = vec![0; 10];
    let mut planes = Vec::new();
    let mut labels = Vec::new();
    for (path, label) in files {
        if per_class[label] < 10 {
            per_class[label] += 1;
            planes.push(data::decode_image(&std::fs::read(path).unwrap(), 32).unwrap());
            labels.push(label);
        }
    }
    let refs: Vec<&data::Planes> = planes.iter().collect();
    let top = block_on(inference::classify(&loaded.model, &refs, &loaded.info.classes, 1, false, &device)).unwrap();
    let correct = top.iter().zip(&labels).filter(|(t, l)| t[0].index == **l).count();
    assert!(correct >= 70, "only {correct}/100 CIFAR-10 test images classified right");
}

/// `tests/fixtures/shipped_expected.json` holds the native logits of the shipped weights on
/// `data::fixed_test_patterns()`; the wasm tests compare WebGPU and CPU against it.
/// `SECNN_UPDATE_FIXTURES=1` rewrites it (after retraining the shipped weights).
#[test]
fn shipped_weights_match_the_recorded_native_logits() {
    let device = Device::flex();
    let bytes = std::fs::read(shipped_weights()).expect("www/secnn/model/secnn-cifar10.bpk is committed");
    let model = weights::load(&bytes, &device).unwrap().model;
    let inputs = data::fixed_test_patterns(32);
    let refs: Vec<&data::Planes> = inputs.iter().collect();
    let logits = to_vec(model.forward(data::batch_tensor(&refs, &device)));
    let path = fixture_path("shipped_expected.json");
    if std::env::var("SECNN_UPDATE_FIXTURES").as_deref() == Ok("1") {
        let json = serde_json::json!({
            "description": "Logits of www/secnn/model/secnn-cifar10.bpk on secnn::data::fixed_test_patterns(), native flex backend",
            "shape": [inputs.len(), 10],
            "logits": logits,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let expected: Vec<f32> = json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let diff = max_abs_diff(&logits, &expected);
    assert!(diff <= 1e-4, "shipped weights disagree with the recorded logits by {diff:e}; rerun with SECNN_UPDATE_FIXTURES=1 if the weights changed on purpose");
}
