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

/// The family's edge shapes on the GPU: widths that are not multiples of 8, a block narrower
/// than the SE reduction (no bottleneck), four blocks on 64 px, 100 classes. Each committed
/// member computes PyTorch's logits and SE weights on wgpu, explains with Grad-CAM on its last
/// block as flex does, and a training step of the four-block one matches flex's.
#[test]
fn wgpu_runs_every_width_of_the_familys_members_as_pytorch_and_flex_do() {
    let Some(gpu) = wgpu_device() else { return };
    let cpu = Device::flex();
    let dir = fixture_path("family");
    for member in family_members(&dir) {
        let bytes = std::fs::read(dir.join(format!("{}.pth", member.name))).unwrap();
        let load = |device: &Device| secnn::interop::load_any(&bytes, device).unwrap();
        let (on_cpu, on_gpu) = (load(&cpu), load(&gpu));
        let size = member.config.input_size;
        let trace = on_gpu.model.valid().forward_explained(family_input(member.batch, size, &gpu));
        let diff = max_abs_diff(&to_vec(trace.logits), &member.logits);
        assert!(diff <= 1e-3, "{}: wgpu vs PyTorch logits differ by {diff:e}", member.name);
        for (ours, theirs) in trace.blocks.into_iter().zip(&member.se_weights) {
            assert!(max_abs_diff(&to_vec(ours.se_weights), theirs) <= 1e-3, "{}: SE weights on wgpu", member.name);
        }
        let image = synthetic_set(1, 1).images[0].resized(size);
        let options = inference::ExplainOptions { top_k: 3, channels: 2, cam_class: Some(1), ..Default::default() };
        let explain = |loaded: &secnn::weights::LoadedModel, device: &Device| {
            block_on(inference::explain(&loaded.model.valid(), &image, &loaded.info.classes, &options, device)).unwrap()
        };
        let (a, b) = (explain(&on_cpu, &cpu), explain(&on_gpu, &gpu));
        assert_eq!(b.blocks.len(), member.config.blocks());
        assert!(max_abs_diff(&a.gradcam.values, &b.gradcam.values) <= 1e-2, "{}: Grad-CAM differs", member.name);
    }
    let four = family_members(&dir).into_iter().find(|m| m.config.blocks() == 4).unwrap();
    let pth = std::fs::read(dir.join(format!("{}.pth", four.name))).unwrap();
    let model = |device: &Device| secnn::interop::load_any(&pth, device).unwrap().model;
    let losses = |device: &Device| {
        use secnn::training::{self, OptimizerKind, Schedule, Trainer, TrainingConfig};
        let recipe = TrainingConfig { schedule: Schedule::Constant, optimizer: OptimizerKind::Sgd, dropout: 0.0, ..TrainingConfig::default() };
        let mut set = synthetic_set(2, 2);
        set.images = set.images.iter().map(|planes| planes.resized(64)).collect();
        set.classes = (0..100).map(|c| c.to_string()).collect();
        let indices: Vec<usize> = (0..set.len()).collect();
        let mut trainer = Trainer::new(model(device), recipe, 1, device);
        let (images, labels) = training::make_batch(&set, &indices, false, &mut training::epoch_rng(0, 0), device);
        (0..2).map(|_| block_on(trainer.step(images.clone(), labels.clone())).unwrap().loss).collect::<Vec<f64>>()
    };
    let (a, b) = (losses(&cpu), losses(&gpu));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-3), "four-block losses: flex {a:?}, wgpu {b:?}");
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
