//! The `secnn` command line, end to end: train, resume, eval, predict, import, and its errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use secnn::{data, weights};
use std::process::{Command, Output};

fn secnn(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_secnn"))
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .expect("run secnn");
    eprintln!(
        "$ secnn {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Two classes of 6 synthetic images each, written as PNG files of odd sizes.
fn tiny_image_folder(dir: &std::path::Path) {
    let set = synthetic_set(6, 2);
    for (index, (planes, label)) in set.images.iter().zip(&set.labels).enumerate() {
        let rgb = data::planes_to_rgb(planes);
        let image = image::RgbImage::from_raw(32, 32, rgb).unwrap();
        let image = image::imageops::resize(&image, 48, 40, image::imageops::FilterType::Nearest);
        let path = dir.join(format!("{}/{index}.png", set.classes[*label]));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image.save(path).unwrap();
    }
}

fn logits_of(weights_path: &std::path::Path) -> Vec<f32> {
    let device = Device::flex();
    let loaded = weights::load(&std::fs::read(weights_path).unwrap(), &device).unwrap();
    let set = synthetic_set(2, 2);
    let refs: Vec<&data::Planes> = set.images.iter().collect();
    to_vec(loaded.model.forward(data::batch_tensor(&refs, &device)))
}

#[test]
fn resumed_training_matches_an_uninterrupted_run() {
    let dir = TempDir::new("cli-resume");
    let images = dir.path().join("images");
    tiny_image_folder(&images);
    let images = images.to_str().unwrap();
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let common = ["--data", images, "--epochs", "2", "--batch-size", "4", "--validation-split", "0.25"];

    let run = secnn(&[&["train", "--out", straight.to_str().unwrap()], &common[..]].concat());
    assert!(run.status.success());
    assert!(text(&run).contains("epoch   2/2"));

    // 8 training images (2 per class held out) at batch 4 = 2 steps per epoch: stop after the first epoch…
    let first = secnn(&[&["train", "--out", split.to_str().unwrap(), "--max-steps", "2"], &common[..]].concat());
    assert!(first.status.success());
    assert!(!text(&first).contains("epoch   2/2"));
    // …refuse to overwrite it without --resume…
    let again = secnn(&[&["train", "--out", split.to_str().unwrap()], &common[..]].concat());
    assert!(!again.status.success());
    assert!(text(&again).contains("--resume"));
    // …and continue it.
    let resumed = secnn(&["train", "--out", split.to_str().unwrap(), "--resume"]);
    assert!(resumed.status.success());
    assert!(text(&resumed).contains("resuming"));

    let a = logits_of(&straight.join("model.bpk"));
    let b = logits_of(&split.join("model.bpk"));
    let diff = max_abs_diff(&a, &b);
    assert!(diff <= 1e-5, "resumed run differs from the uninterrupted one by {diff:e}");

    // eval on the same folder: accuracy, per-class and confusion matrix.
    let eval = secnn(&["eval", "--data", images, "--weights", straight.join("model.bpk").to_str().unwrap()]);
    assert!(eval.status.success());
    let out = text(&eval);
    assert!(out.contains("accuracy") && out.contains("confusion matrix") && out.contains("class1"));

    // --record stores what was measured, and --description replaces the description.
    let model = straight.join("model.bpk");
    let recorded = secnn(&["eval", "--data", images, "--weights", model.to_str().unwrap(), "--record", "--description", "tiny run"]);
    assert!(recorded.status.success());
    let info = weights::load(&std::fs::read(&model).unwrap(), &Device::flex()).unwrap().info;
    assert_eq!(info.description, "tiny run");
    assert_eq!(info.accuracy_on.as_deref(), Some(format!("{images} (12 images)").as_str()));
    let reported = text(&eval);
    let percent = format!("{:.2}%", 100.0 * info.accuracy.unwrap());
    assert!(reported.contains(&percent), "recorded {percent}, reported: {reported}");
}

#[test]
fn predict_reports_top_k_attention_and_bad_files() {
    let dir = TempDir::new("cli-predict");
    let weights_path = dir.path().join("w.bpk");
    let import = secnn(&[
        "import-pytorch",
        fixture_path("seed_cnn.pth").to_str().unwrap(),
        "-o",
        weights_path.to_str().unwrap(),
    ]);
    assert!(import.status.success());
    let image = dir.path().join("cat.png");
    write_png(&image, [120, 80, 40], 300, 200);
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "hello").unwrap();

    let w = weights_path.to_str().unwrap();
    let predict = secnn(&["predict", image.to_str().unwrap(), text_file.to_str().unwrap(), "--weights", w, "-k", "3", "--attention"]);
    assert!(predict.status.success(), "one good image is enough to succeed");
    let out = text(&predict);
    assert!(out.contains("SE weights block 3 (128 channels)"));
    assert!(out.contains("notes.txt: not a decodable image"));
    assert_eq!(out.matches('%').count(), 3, "top-3 lines");

    let json = secnn(&["predict", image.to_str().unwrap(), "--weights", w, "--json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(parsed[0]["top"].as_array().unwrap().len(), 5);

    let only_bad = secnn(&["predict", text_file.to_str().unwrap(), "--weights", w]);
    assert!(!only_bad.status.success());
    let missing = secnn(&["predict", image.to_str().unwrap(), "--weights", "/nonexistent.bpk"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("cannot read weights"));
    assert!(!text(&missing).contains("panicked"));
    let garbage = secnn(&["predict", image.to_str().unwrap(), "--weights", text_file.to_str().unwrap()]);
    assert!(text(&garbage).contains("not a weights file"));
    let no_data = secnn(&["train", "--data", "/nonexistent", "--out", dir.path().join("r").to_str().unwrap()]);
    assert!(!no_data.status.success());
    assert!(text(&no_data).contains("no such folder"));
}

#[test]
fn distillation_runs_from_a_teacher_file_resumes_with_it_and_refuses_bad_ones() {
    let dir = TempDir::new("cli-distill");
    let images = dir.path().join("images");
    tiny_image_folder(&images);
    let images = images.to_str().unwrap();
    let classes = vec!["class0".to_string(), "class1".to_string()];
    let names: Vec<String> = (0..12).map(|i| format!("class{}/{i}.png", i / 6)).collect();
    let view = |i: usize, k: usize| data::CropFlip { dx: (i % 3) as i8 - 1, dy: k as i8, flip: k == 1 };
    let teacher = dir.path().join("teacher.logits");
    let logits = |i: usize, _| if i < 6 { vec![2.0, -1.0] } else { vec![-1.0, 2.0] };
    std::fs::write(&teacher, teacher_logits_bytes(&names, &classes, 2, view, logits)).unwrap();
    let run = dir.path().join("run");
    let (run, teacher) = (run.to_str().unwrap(), teacher.to_str().unwrap());
    let common = ["--data", images, "--epochs", "2", "--batch-size", "4", "--validation-split", "0.25"];

    let no_teacher = secnn(&[&["train", "--out", run, "--kd-weight", "0.5"], &common[..]].concat());
    assert!(!no_teacher.status.success());
    assert!(text(&no_teacher).contains("need --teacher"));

    let first = secnn(&[&["train", "--out", run, "--teacher", teacher, "--kd-temperature", "2", "--max-steps", "2"], &common[..]].concat());
    assert!(first.status.success());
    assert!(text(&first).contains("distilling from"));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("run/state.json")).unwrap()).unwrap();
    assert_eq!(state["teacher"].as_str(), Some(teacher));
    assert_eq!(state["config"]["kdTemperature"].as_f64(), Some(2.0));
    let validation = std::fs::read_to_string(dir.path().join("run/validation.txt")).unwrap();
    assert_eq!(validation.lines().count(), 4, "2 of 6 per class held out: {validation}");
    assert!(validation.lines().all(|name| names.contains(&name.to_string())));

    let resumed = secnn(&["train", "--out", run, "--resume"]);
    assert!(resumed.status.success());
    assert!(text(&resumed).contains("distilling from") && text(&resumed).contains("epoch   2/2"));

    // A teacher that never saw these images is refused, naming one of them.
    let stranger = dir.path().join("stranger.logits");
    let other: Vec<String> = (0..12).map(|i| format!("class{}/x{i}.png", i / 6)).collect();
    std::fs::write(&stranger, teacher_logits_bytes(&other, &classes, 2, view, logits)).unwrap();
    let out = dir.path().join("run2");
    let refused = secnn(&[&["train", "--out", out.to_str().unwrap(), "--teacher", stranger.to_str().unwrap()], &common[..]].concat());
    assert!(!refused.status.success());
    assert!(text(&refused).contains("have no teacher logits"));
}

#[test]
fn resumed_distillation_with_ema_and_cutout_matches_an_uninterrupted_run() {
    let dir = TempDir::new("cli-resume-ema");
    let images = dir.path().join("images");
    tiny_image_folder(&images);
    let images = images.to_str().unwrap();
    let classes = vec!["class0".to_string(), "class1".to_string()];
    let names: Vec<String> = (0..12).map(|i| format!("class{}/{i}.png", i / 6)).collect();
    let view = |i: usize, k: usize| data::CropFlip { dx: (i % 3) as i8 - 1, dy: k as i8, flip: k == 1 };
    let logits = |i: usize, k: usize| if i < 6 { vec![2.0, -1.0 + k as f32] } else { vec![-1.0, 2.0] };
    let teacher = dir.path().join("teacher.logits");
    std::fs::write(&teacher, teacher_logits_bytes(&names, &classes, 2, view, logits)).unwrap();
    let (straight, split) = (dir.path().join("straight"), dir.path().join("split"));
    let common = [
        "--data", images, "--epochs", "2", "--batch-size", "4", "--validation-split", "0.25", "--optimizer", "sgd",
        "--lr", "0.05", "--teacher", teacher.to_str().unwrap(), "--ema", "0.9", "--cutout", "8",
    ];

    let run = secnn(&[&["train", "--out", straight.to_str().unwrap()], &common[..]].concat());
    assert!(run.status.success());
    assert!(text(&run).contains("weights averaged (EMA 0.9), cutout 8 px"));
    // 2 steps per epoch: stop after the first, then continue.
    let first = secnn(&[&["train", "--out", split.to_str().unwrap(), "--max-steps", "2"], &common[..]].concat());
    assert!(first.status.success());
    let resumed = secnn(&["train", "--out", split.to_str().unwrap(), "--resume"]);
    assert!(resumed.status.success() && text(&resumed).contains("epoch   2/2"));

    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(split.join("state.json")).unwrap()).unwrap();
    assert_eq!((state["config"]["ema"].as_f64(), state["config"]["cutout"].as_u64()), (Some(0.9), Some(8)));
    // The average (model.bpk, what eval reads) and the weights it averages (live.bpk) both
    // continue exactly.
    for file in ["model.bpk", "live.bpk"] {
        let diff = max_abs_diff(&logits_of(&straight.join(file)), &logits_of(&split.join(file)));
        assert!(diff <= 1e-5, "{file}: the resumed run differs from the uninterrupted one by {diff:e}");
    }
    let lag = max_abs_diff(&logits_of(&straight.join("model.bpk")), &logits_of(&straight.join("live.bpk")));
    assert!(lag > 1e-4, "model.bpk should hold the average, not the last step's weights");
}

#[test]
fn bench_reports_its_measures_and_vulkan_says_how_to_get_it() {
    let dir = TempDir::new("cli-bench");
    let json = dir.path().join("bench.json");
    let args = ["bench", "--train-batch", "4", "--train-steps", "3", "--runs", "1", "--read-every", "2"];
    let output = secnn(&[&args[..], &["--json", json.to_str().unwrap()]].concat());
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["backend"], "flex");
    assert_eq!(report["read_every"], 2);
    assert_eq!(report["train_batch"], 4);
    for measure in ["train_images_per_s", "first_steps_s", "prepare_batch_ms", "infer_batch1_ms", "infer_batch256_images_per_s"] {
        let value = report[measure].as_f64().unwrap_or(0.0);
        assert!(value > 0.0 && value.is_finite(), "{measure}: {}", report[measure]);
    }
    assert!(report["features"].is_array());

    if !cfg!(feature = "vulkan") {
        let output = secnn(&["bench", "--backend", "vulkan", "--runs", "1"]);
        assert!(!output.status.success());
        assert!(text(&output).contains("--features vulkan"), "{}", text(&output));
    }
}
