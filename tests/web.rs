//! In-browser tests (`wasm-pack test --headless --chrome`): WebGPU (SwiftShader in headless
//! Chromium, enabled by webdriver.json) and the CPU backend run the same library code.
//! Batches are tiny: the software adapter manages about 0.1 GFLOP/s.
#![cfg(all(target_arch = "wasm32", feature = "webgpu"))]

use burn::prelude::*;
use secnn::{
    data::{self, ImageSet, Planes},
    inference,
    model::SeCnnConfig,
    training::{self, Schedule, Trainer, TrainingConfig},
    weights::{self, ModelInfo},
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The shipped weights and the logits the native CLI computes for them (tests/fixtures).
const SHIPPED: &[u8] = include_bytes!("../www/secnn/model/secnn-cifar10.bpk");
const EXPECTED: &str = include_str!("fixtures/shipped_expected.json");

/// WebGPU must be granted: webdriver.json starts Chromium with `--enable-unsafe-webgpu`.
async fn webgpu() -> Device {
    match secnn::backend::open_webgpu().await {
        Ok((device, _)) => device,
        Err(error) => panic!("WebGPU was promised by webdriver.json but no adapter was granted: {error}"),
    }
}

async fn read(tensor: Tensor<2>) -> Vec<f32> {
    inference::read_f32(tensor).await.expect("read")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The fixed inputs of `shipped_expected.json`: deterministic 32x32 patterns.
fn fixed_inputs() -> Vec<Planes> {
    secnn::data::fixed_test_patterns(32)
}

fn expected_logits() -> Vec<f32> {
    let json: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
    json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

async fn shipped_logits(device: &Device) -> Vec<f32> {
    let loaded = weights::load(SHIPPED, device).expect("shipped weights load");
    let inputs = fixed_inputs();
    let refs: Vec<&Planes> = inputs.iter().collect();
    read(loaded.model.forward(data::batch_tensor(&refs, device))).await
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_with_the_native_logits() {
    let gpu = webgpu().await;
    let on_gpu = shipped_logits(&gpu).await;
    let on_cpu = shipped_logits(&Device::flex()).await;
    let native = expected_logits();
    assert!(max_abs_diff(&on_cpu, &native) <= 1e-3, "CPU (wasm) vs native: {}", max_abs_diff(&on_cpu, &native));
    assert!(max_abs_diff(&on_gpu, &on_cpu) <= 1e-3, "WebGPU vs CPU: {}", max_abs_diff(&on_gpu, &on_cpu));
}

async fn check_explanation(device: &Device) {
    let loaded = weights::load(SHIPPED, device).unwrap();
    let image = fixed_inputs().swap_remove(0);
    let explanation = inference::explain(&loaded.model, &image, &loaded.info.classes, &inference::ExplainOptions { top_k: 5, channels: 2, ..Default::default() }, device)
        .await
        .expect("explain");
    for (block, channels) in explanation.blocks.iter().zip([32, 64, 128]) {
        assert_eq!(block.se_weights.len(), channels);
        assert!(block.se_weights.iter().all(|&w| w > 0.0 && w < 1.0));
    }
    let cam = &explanation.gradcam.values;
    assert_eq!(cam.len(), 32 * 32);
    assert!(cam.iter().all(|v| v.is_finite()));
    let (lo, hi) = cam.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(hi - lo > 0.05, "Grad-CAM is constant");
}

#[wasm_bindgen_test]
async fn explanation_on_webgpu() {
    check_explanation(&webgpu().await).await;
}

#[wasm_bindgen_test]
async fn explanation_on_cpu() {
    check_explanation(&Device::flex()).await;
}

/// Four images of two classes, from the fixed patterns.
fn tiny_set(classes: usize) -> ImageSet {
    let images = fixed_inputs();
    ImageSet {
        labels: (0..images.len()).map(|i| i % classes).collect(),
        images,
        classes: (0..classes).map(|c| format!("c{c}")).collect(),
        names: vec![],
    }
}

async fn fine_tune_lowers_loss(device: &Device, classes: usize) {
    let mut model = weights::load(SHIPPED, device).unwrap().model;
    if classes != model.num_classes() {
        model = model.with_new_head(classes, device);
    }
    let set = tiny_set(classes);
    // No dropout: three steps on one batch must lower the loss every time.
    let config = TrainingConfig { schedule: Schedule::Constant, lr: 1e-3, dropout: 0.0, ..TrainingConfig::default() };
    let mut trainer = Trainer::new(model, config, 1, device);
    let indices: Vec<usize> = (0..set.len()).collect();
    let (images, labels) = training::make_batch(&set, &indices, false, &mut training::epoch_rng(0, 0), device);
    let mut losses = Vec::new();
    for _ in 0..3 {
        losses.push(trainer.step(images.clone(), labels.clone()).await.expect("step").loss);
    }
    assert!(losses[2] < losses[0], "loss did not go down: {losses:?}");
    let logits = trainer.inference_model().forward(images.without_autodiff());
    assert_eq!(logits.dims(), [set.len(), classes]);
}

#[wasm_bindgen_test]
async fn fine_tuning_on_webgpu_lowers_the_loss() {
    fine_tune_lowers_loss(&webgpu().await, 10).await;
}

#[wasm_bindgen_test]
async fn fine_tuning_on_cpu_lowers_the_loss_with_custom_classes() {
    fine_tune_lowers_loss(&Device::flex(), 2).await;
}

/// The page's path on WebGPU: the `Workbench` the wasm `Runtime` marshals, custom classes
/// started from the model's row ("cat") and from imprinting ("c1"), run to its end.
#[wasm_bindgen_test]
async fn custom_classes_on_webgpu_through_the_workbench() {
    use secnn::{fine_tune::FineTuneRequest, transfer::ClassStart, workbench::{Rgba, Workbench}};
    let mut bench = Workbench::open(SHIPPED, webgpu().await, true).expect("weights load");
    let rgba: Vec<Vec<u8>> = fixed_inputs()
        .iter()
        .map(|planes| data::planes_to_rgb(planes).chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect())
        .collect();
    for (i, pixels) in rgba.iter().enumerate() {
        bench.add_example(Rgba { pixels, width: 32, height: 32 }, i % 2).expect("example");
    }
    let config = TrainingConfig { epochs: 1, batch_size: 4, validation_split: 0.0, ..TrainingConfig::fine_tune() };
    let classes = Some(vec!["cat".to_string(), "c1".to_string()]);
    let plan = bench.start_fine_tune(FineTuneRequest { config, classes, probe: None }).await.expect("plan");
    assert_eq!(plan.class_starts, [ClassStart::Kept, ClassStart::Imprinted]);
    loop {
        let reports = bench.fine_tune_steps().await.expect("steps on WebGPU");
        assert!(reports.iter().all(|r| r.metrics.loss.is_finite()));
        if reports.last().expect("a step").done {
            break;
        }
    }
    let result = bench.finish_fine_tune().await.expect("the run closes");
    assert_eq!(result.info.classes, ["cat", "c1"]);
    let (top, _) = bench.classify(Rgba { pixels: &rgba[0], width: 32, height: 32 }, 2, false).await.unwrap();
    assert_eq!(top.len(), 2);
}

#[wasm_bindgen_test]
async fn export_import_round_trip_on_webgpu_and_bad_files_are_rejected() {
    let device = webgpu().await;
    let loaded = weights::load(SHIPPED, &device).unwrap();
    let inputs = fixed_inputs();
    let refs: Vec<&Planes> = inputs.iter().collect();
    let before = read(loaded.model.forward(data::batch_tensor(&refs, &device))).await;

    // Export reads every tensor asynchronously: this is the path a synchronous record would panic on.
    let mut info = loaded.info.clone();
    info.description = "round trip".into();
    let bytes = weights::to_bytes(&loaded.model, &info).await.expect("export on WebGPU");
    let again = weights::load(&bytes, &device).expect("import what was exported");
    assert_eq!(again.info, info);
    let after = read(again.model.forward(data::batch_tensor(&refs, &device))).await;
    assert_eq!(before, after, "export → import must give identical logits");

    assert!(weights::load(b"garbage", &device).is_err());
    assert!(weights::load(&bytes[..bytes.len() - 1000], &device).is_err());
    let other = SeCnnConfig::new().with_widths(vec![16, 64, 128]);
    let wrong = weights::to_bytes(&other.init(&Device::flex()), &ModelInfo::new(&SeCnnConfig::new(), info.classes.clone(), "x", ""))
        .await
        .unwrap();
    let error = weights::load(&wrong, &device).err().expect("wrong shapes rejected");
    assert!(error.to_string().contains("shape"), "{error}");
    // The loaded model still works after the failed loads.
    let still = read(loaded.model.forward(data::batch_tensor(&refs, &device))).await;
    assert_eq!(before, still);
}

#[wasm_bindgen_test]
async fn images_decode_with_the_native_rule() {
    // A PNG encoded here, decoded with the same decoder and resize rule as the CLI.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(64, 48, image::Rgb([10, 200, 30]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let planes = data::decode_image(&png, 32).unwrap();
    assert_eq!((planes[0], planes[1024], planes[2048]), (10, 200, 30));
    assert!(data::decode_image(b"not an image", 32).is_err());
}

/// Members of the family saved by real PyTorch (`tests/fixtures/make_family_variants.py`): a
/// block narrower than the SE reduction, four blocks on 64 px with 100 classes, widths that are
/// not multiples of 8 with reduction 4 and 5 classes. Each as `.pth` and `.safetensors`.
const FAMILY_EXPECTED: &str = include_str!("fixtures/family/expected.json");
const FAMILY_FILES: [(&str, &[u8], &[u8]); 3] = [
    ("below_reduction", include_bytes!("fixtures/family/below_reduction.pth"), include_bytes!("fixtures/family/below_reduction.safetensors")),
    ("four_blocks_100", include_bytes!("fixtures/family/four_blocks_100.pth"), include_bytes!("fixtures/family/four_blocks_100.safetensors")),
    ("odd_widths_r4_5", include_bytes!("fixtures/family/odd_widths_r4_5.pth"), include_bytes!("fixtures/family/odd_widths_r4_5.safetensors")),
];

/// The script's fixed input: image `b`, value `i` is `((b * 7919 + i * 104729) % 257) / 128 - 1`.
fn family_input(batch: usize, size: usize, device: &Device) -> Tensor<4> {
    let per_image = 3 * size * size;
    let values = (0..batch).flat_map(|b| (0..per_image).map(move |i| ((b * 7919 + i * 104_729) % 257) as f32 / 128.0 - 1.0));
    Tensor::from_data(TensorData::new(values.collect::<Vec<f32>>(), [batch, 3, size, size]), device)
}

/// Each family member, from both formats, gives PyTorch's logits and SE weights within `tolerance`.
async fn family_members_match_pytorch(device: &Device, tolerance: f32) {
    let json: serde_json::Value = serde_json::from_str(FAMILY_EXPECTED).unwrap();
    let batch = json["batch"].as_u64().unwrap() as usize;
    let floats = |v: &serde_json::Value| -> Vec<f32> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    for (name, pth, safetensors) in FAMILY_FILES {
        let member = &json["members"][name];
        for (format, bytes) in [("pth", pth), ("safetensors", safetensors)] {
            let loaded = secnn::interop::load_any(bytes, device).unwrap_or_else(|e| panic!("{name}.{format}: {e}"));
            let size = loaded.info.input_size;
            assert_eq!(size as u64, member["input_size"].as_u64().unwrap(), "{name}.{format}: input size from fc1");
            let trace = loaded.model.forward_explained(family_input(batch, size, device));
            let diff = max_abs_diff(&read(trace.logits).await, &floats(&member["logits"]));
            assert!(diff <= tolerance, "{name}.{format}: max |logit - PyTorch| = {diff}");
            let expected = member["se_weights"].as_array().unwrap();
            assert_eq!(trace.blocks.len(), expected.len(), "{name}.{format}: one SE trace per block");
            for (block, theirs) in trace.blocks.into_iter().zip(expected) {
                let diff = max_abs_diff(&read(block.se_weights).await, &floats(theirs));
                assert!(diff <= tolerance, "{name}.{format}: SE weights differ from PyTorch's by {diff}");
            }
        }
    }
}

#[wasm_bindgen_test]
async fn family_members_saved_by_pytorch_match_it_on_cpu() {
    family_members_match_pytorch(&Device::flex(), 1e-4).await;
}

#[wasm_bindgen_test]
async fn family_members_saved_by_pytorch_match_it_on_webgpu() {
    family_members_match_pytorch(&webgpu().await, 1e-3).await;
}
