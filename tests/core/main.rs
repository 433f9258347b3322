//! Model, PyTorch parity, training and the shipped weights, on the flex (CPU) backend; the
//! data pipeline and the weights files in their own modules.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;
mod data_pipeline;
mod weights_files;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    data,
    inference,
    model::{SeCnn, SeCnnConfig},
    session::{ReadPacer, StepReport, TrainingSession},
    training::{self, Freeze, OptimizerKind, Schedule, Trainer, TrainingConfig},
    weights,
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
    let mut per_class = [0; 10];
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
