//! The wgpu backend (natively: Vulkan, lavapipe on a machine without GPU) computes what flex
//! computes: forward, explanation and a training step. Builds with the `vulkan`, `fusion` or
//! `autotune` features run the same checks on their kernels (SPIR-V, fused, autotuned).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnn,
    backend::BackendKind,
    inference,
};

/// The wgpu device, or `None` after a loud skip (`common::skip`): `SECNN_REQUIRE_WGPU=1` (set by
/// CI, which installs lavapipe) turns a missing adapter into a failure. The Vulkan tests call
/// `gpu_device(BackendKind::Vulkan)` under the same rule.
fn wgpu_device() -> Option<Device> {
    gpu_device(BackendKind::Wgpu)
}

#[test]
fn flex_and_wgpu_agree_on_the_imported_seed_model() {
    let Some(gpu) = wgpu_device() else { return };
    forward_and_explanation_match_flex(&gpu);
}

#[cfg(feature = "vulkan")]
#[test]
fn flex_and_vulkan_agree_on_the_imported_seed_model() {
    let Some(gpu) = gpu_device(BackendKind::Vulkan) else { return };
    forward_and_explanation_match_flex(&gpu);
}

#[cfg(feature = "vulkan")]
#[test]
fn a_training_step_on_vulkan_matches_flex() {
    let Some(gpu) = gpu_device(BackendKind::Vulkan) else { return };
    training_steps_match_flex(&gpu);
}

#[cfg(not(feature = "vulkan"))]
#[test]
fn vulkan_is_refused_with_how_to_build_it() {
    let error = secnn::backend::open_device(BackendKind::Vulkan).expect_err("built without the vulkan feature");
    assert!(error.contains("--features vulkan"), "{error}");
}

fn forward_and_explanation_match_flex(gpu: &Device) {
    let gpu = gpu.clone();
    let cpu = Device::flex();
    let fixture = PytorchFixture::load();
    let on_cpu = seed_model(&cpu).valid();
    let on_gpu = seed_model(&gpu).valid();

    let cpu_logits = to_vec(on_cpu.forward(fixture.input(&cpu)));
    let gpu_logits = to_vec(on_gpu.forward(fixture.input(&gpu)));
    let diff = max_abs_diff(&cpu_logits, &gpu_logits);
    assert!(diff <= 1e-3, "flex vs wgpu logits differ by {diff:e}");
    assert!(max_abs_diff(&gpu_logits, &fixture.logits) <= 1e-3);

    let image = synthetic_set(1, 1).images[0].clone();
    let classes = cifar_classes();
    let options = inference::ExplainOptions { top_k: 3, channels: 2, cam_class: Some(4), ..Default::default() };
    let a = block_on(inference::explain(&on_cpu, &image, &classes, &options, &cpu)).unwrap();
    let b = block_on(inference::explain(&on_gpu, &image, &classes, &options, &gpu)).unwrap();
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        assert!(max_abs_diff(&x.se_weights, &y.se_weights) <= 1e-4);
    }
    assert!(max_abs_diff(&a.gradcam.values, &b.gradcam.values) <= 1e-2, "Grad-CAM differs");
}

#[test]
fn a_training_step_on_wgpu_matches_flex() {
    let Some(gpu) = wgpu_device() else { return };
    training_steps_match_flex(&gpu);
}

/// Three SGD steps on a fixed batch give the same losses, weights and weights' average (EMA) as
/// on flex, whether their metrics are read after each step or all at once at the end.
fn training_steps_match_flex(gpu: &Device) {
    use secnn::training::{self, OptimizerKind, Schedule, Trainer, TrainingConfig};
    let gpu = gpu.clone();
    let cpu = Device::flex();
    let config = TrainingConfig {
        schedule: Schedule::Constant,
        optimizer: OptimizerKind::Sgd,
        lr: 1e-4,
        // Without dropout both backends compute the same deterministic step.
        dropout: 0.0,
        ema: Some(0.9),
        ..TrainingConfig::default()
    };
    let set = synthetic_set(2, 2);
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut results = Vec::new();
    for device in [&cpu, &gpu] {
        let model = seed_model(device);
        let mut trainer = Trainer::new(model, config.clone(), 1, device);
        let (images, labels) = training::make_batch(&set, &indices, false, &mut training::epoch_rng(0, 0), device);
        let mut losses: Vec<f64> = (0..2)
            .map(|_| block_on(trainer.step(images.clone(), labels.clone())).unwrap().loss)
            .collect();
        let queued: Vec<_> = (0..2).map(|_| trainer.queue_step(images.clone(), labels.clone())).collect();
        losses.extend(block_on(training::read_metrics(queued)).unwrap().iter().map(|m| m.loss));
        assert!(losses[3] < losses[0], "loss did not go down: {losses:?}");
        let fc1 = |model: SeCnn| to_vec(model.fc1.weight.val());
        results.push((losses, fc1(trainer.model.valid()), fc1(trainer.inference_model())));
    }
    let (cpu_losses, cpu_fc1, cpu_average) = &results[0];
    let (gpu_losses, gpu_fc1, gpu_average) = &results[1];
    for (a, b) in cpu_losses.iter().zip(gpu_losses) {
        assert!((a - b).abs() <= 1e-3, "losses differ: {cpu_losses:?} vs {gpu_losses:?}");
    }
    assert!(max_abs_diff(cpu_fc1, gpu_fc1) <= 1e-3, "updated weights differ");
    assert!(max_abs_diff(cpu_average, gpu_average) <= 1e-3, "the weights' averages differ");
    assert!(max_abs_diff(cpu_fc1, cpu_average) > 0.0, "the average should lag the weights");
}
