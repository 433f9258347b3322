//! Distillation: the loss against its formula, the teacher's logits file, the views the student
//! sees (the same pixels as `tools/teacher.py`), and a distillation step.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    data::{self, ImageSet, CropFlip},
    distill::{self, TeacherError, TeacherLogits},
    model::SeCnnConfig,
    training::{self, OptimizerKind, Schedule, Trainer, TrainingConfig},
};

fn tensor2(rows: &[[f32; 3]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), 3]), device)
}

fn log_softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    row.iter().map(|v| v - log_sum).collect()
}

#[test]
fn kd_loss_equals_its_formula() {
    let device = Device::flex();
    let student = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]];
    let teacher = [[2.0, 0.0, 1.0], [1.0, 1.5, -2.0]];
    for temperature in [1.0, 4.0] {
        // T² · mean over rows of Σ p_t · (log p_t − log p_s), softmaxes at temperature T.
        let mut expected = 0.0;
        for (s, t) in student.iter().zip(&teacher) {
            let scale = |row: &[f32; 3]| row.iter().map(|&v| v as f64 / temperature).collect::<Vec<_>>();
            let (log_s, log_t) = (log_softmax(&scale(s)), log_softmax(&scale(t)));
            expected += log_t.iter().zip(&log_s).map(|(lt, ls)| lt.exp() * (lt - ls)).sum::<f64>();
        }
        expected *= temperature * temperature / 2.0;
        let loss = to_vec(distill::kd_loss(tensor2(&student, &device), tensor2(&teacher, &device), temperature))[0];
        assert!((loss as f64 - expected).abs() < 1e-5, "T={temperature}: {loss} against {expected}");
        assert!(expected > 0.01, "the rows are too alike to test anything");
    }
    let same = to_vec(distill::kd_loss(tensor2(&teacher, &device), tensor2(&teacher, &device), 4.0))[0];
    assert!(same.abs() < 1e-6, "a student equal to its teacher has no distillation loss, got {same}");
}

#[test]
fn views_match_the_teacher_scripts_pixels() {
    #[derive(serde::Deserialize)]
    struct Fixture {
        dx: i8,
        dy: i8,
        flip: bool,
        planes: Vec<u8>,
    }
    let fixtures: Vec<Fixture> =
        serde_json::from_slice(&std::fs::read(fixture_path("teacher_views.json")).unwrap()).unwrap();
    let mut image = data::Planes::zeros(32);
    for (i, v) in image.iter_mut().enumerate() {
        let (c, y, x) = (i / 1024, (i % 1024) / 32, i % 32);
        *v = ((80 * c + 7 * y + 3 * x) % 256) as u8;
    }
    assert!(fixtures.len() >= 4 && fixtures.iter().any(|f| f.flip));
    for f in fixtures {
        let view = CropFlip { dx: f.dx, dy: f.dy, flip: f.flip };
        assert_eq!(view.apply(&image).to_vec(), f.planes, "{view:?} differs from tools/teacher.py");
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i:04}.png")).collect()
}

fn classes() -> Vec<String> {
    vec!["a".into(), "b".into(), "c".into()]
}

/// View `k` of image `i`: distinct per (i, k), flips included.
fn view_of(i: usize, k: usize) -> CropFlip {
    CropFlip { dx: (i as i8 % 9) - 4, dy: k as i8 - 1, flip: (i + k) % 2 == 1 }
}

/// Logits that name their image and view: `[i, k, 100 i + k]`.
fn logits_of(i: usize, k: usize) -> Vec<f32> {
    vec![i as f32, k as f32, (100 * i + k) as f32]
}

#[test]
fn batches_show_the_teachers_views_with_its_logits() {
    let device = Device::flex();
    let file_names = names("x", 6);
    let bytes = teacher_logits_bytes(&file_names, &classes(), 3, view_of, logits_of);
    // The training set holds four of the file's images, in another order.
    let set = synthetic_set(2, 2);
    let order = [4usize, 1, 5, 2];
    let set = ImageSet {
        images: order.iter().map(|&i| set.images[i % set.len()].clone()).collect(),
        labels: vec![0, 1, 2, 0],
        classes: classes(),
        names: order.iter().map(|&i| file_names[i].clone()).collect(),
    };
    let teacher = TeacherLogits::parse(&bytes).unwrap().for_set(&set).unwrap();
    let mut rng = training::epoch_rng(3, 0);
    let mut views_seen = std::collections::HashSet::new();
    for _ in 0..8 {
        let (images, labels, targets) = teacher.batch(&set, &[0, 1, 2, 3], &mut rng, &device);
        let images = to_vec(images);
        let targets = to_vec(targets);
        assert_eq!(labels.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![0, 1, 2, 0]);
        for (slot, &file_row) in order.iter().enumerate() {
            let row = &targets[slot * 3..slot * 3 + 3];
            assert_eq!(row[0] as usize, file_row, "logits of another image");
            let k = row[1] as usize;
            views_seen.insert((slot, k));
            let expected = data::normalize(&[&view_of(file_row, k).apply(&set.images[slot])]);
            let got = &images[slot * 3072..(slot + 1) * 3072];
            assert!(max_abs_diff(got, &expected) < 1e-6, "image {slot} is not the teacher's view {k}");
        }
    }
    assert!(views_seen.len() > 8, "the batches keep drawing the same views: {views_seen:?}");
}

#[test]
fn cutout_cuts_the_students_view_but_not_the_teachers_logits() {
    let device = Device::flex();
    let file_names = names("x", 4);
    let bytes = teacher_logits_bytes(&file_names, &classes(), 3, view_of, logits_of);
    let set = synthetic_set(2, 2);
    let set = ImageSet { classes: classes(), labels: vec![0, 1, 2, 0], names: file_names, ..set };
    let teacher = TeacherLogits::parse(&bytes).unwrap().for_set(&set).unwrap().with_cutout(10);
    let batch = |seed| {
        let (images, _, targets) = teacher.batch(&set, &[0, 1, 2, 3], &mut training::epoch_rng(seed, 0), &device);
        (to_vec(images), to_vec(targets))
    };
    let (images, targets) = batch(11);
    assert_eq!(batch(11), (images.clone(), targets.clone()), "the same seed cuts the same squares");
    for slot in 0..4 {
        let row = &targets[slot * 3..slot * 3 + 3];
        let k = row[1] as usize;
        assert_eq!(row, &logits_of(slot, k)[..], "the teacher's logits are those of its uncut view {k}");
        let uncut = data::normalize(&[&view_of(slot, k).apply(&set.images[slot])]);
        let got = &images[slot * 3072..(slot + 1) * 3072];
        let differs = |p: usize| (0..3).any(|c| got[c * 1024 + p] != uncut[c * 1024 + p]);
        let changed: Vec<usize> = (0..1024).filter(|&p| differs(p)).collect();
        assert!((1..=100).contains(&changed.len()), "image {slot}: {} pixels differ from the view", changed.len());
        assert!(changed.iter().all(|&p| (0..3).all(|c| got[c * 1024 + p].abs() < 0.01)), "cut pixels are the mean");
    }
}

#[test]
fn unusable_teacher_files_are_refused_with_reasons() {
    let file_names = names("x", 3);
    let bytes = teacher_logits_bytes(&file_names, &classes(), 2, view_of, logits_of);
    let set = |names: Vec<String>, classes: Vec<String>| ImageSet {
        images: vec![data::Planes::zeros(32); names.len()],
        labels: vec![0; names.len()],
        classes,
        names,
    };
    let parse = || TeacherLogits::parse(&bytes).unwrap();
    let missing = parse().for_set(&set(vec!["x/0000.png".into(), "y/0009.png".into()], classes()));
    assert!(matches!(missing, Err(TeacherError::Missing { missing: 1, ref first }) if first == "y/0009.png"));
    let other_classes = parse().for_set(&set(names("x", 2), vec!["a".into(), "b".into()]));
    assert!(matches!(other_classes, Err(TeacherError::Classes { .. })));
    let unnamed = parse().for_set(&ImageSet { names: vec![], ..set(names("x", 2), classes()) });
    assert!(matches!(unnamed, Err(TeacherError::Unnamed)));
    assert!(matches!(TeacherLogits::parse(&bytes[..bytes.len() - 4]), Err(TeacherError::Size { .. })));
    assert!(matches!(TeacherLogits::parse(b"\x80\x02PK not json\n"), Err(TeacherError::NotLogits)));
    assert!(parse().for_set(&set(names("x", 3), classes())).is_ok());
}

fn sgd(kd_weight: f64) -> TrainingConfig {
    TrainingConfig {
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        schedule: Schedule::Constant,
        dropout: 0.0,
        kd_weight,
        kd_temperature: 3.0,
        ..TrainingConfig::default()
    }
}

/// fc2's weights after one step from `model`, with the teacher's logits when given.
fn after_one_step(model: &secnn::SeCnn, config: TrainingConfig, labels: [i64; 4], teacher: Option<[[f32; 3]; 4]>) -> Vec<f32> {
    let device = Device::flex();
    let set = synthetic_set(2, 2);
    let refs: Vec<&data::Planes> = set.images.iter().collect();
    let images = data::batch_tensor(&refs, &device);
    let labels = Tensor::from_data(TensorData::new(labels.to_vec(), [4]), &device);
    let mut trainer = Trainer::new(model.clone(), config, 1, &device);
    match teacher {
        Some(rows) => block_on(trainer.step_distilled(images, labels, tensor2(&rows, &device))).unwrap(),
        None => block_on(trainer.step(images, labels)).unwrap(),
    };
    to_vec(trainer.inference_model().fc2.weight.val())
}

#[test]
fn the_kd_weight_shares_the_loss_between_labels_and_teacher() {
    let model = SeCnnConfig::new().with_num_classes(3).init(&Device::flex());
    let teacher = Some([[3.0, 0.0, -1.0], [0.0, 2.0, 0.0], [-1.0, 0.0, 4.0], [1.0, 1.0, 1.0]]);
    let start = to_vec(model.fc2.weight.val());
    // Weight 0: the plain cross-entropy step.
    let plain = after_one_step(&model, sgd(0.0), [0, 1, 2, 0], None);
    let kd_off = after_one_step(&model, sgd(0.0), [0, 1, 2, 0], teacher);
    assert!(max_abs_diff(&plain, &kd_off) < 1e-6, "kd-weight 0 should be the plain step");
    // Weight 1: only the teacher counts, the labels do not.
    let pure_a = after_one_step(&model, sgd(1.0), [0, 1, 2, 0], teacher);
    let pure_b = after_one_step(&model, sgd(1.0), [2, 2, 1, 1], teacher);
    assert!(max_abs_diff(&pure_a, &pure_b) < 1e-6, "kd-weight 1 should ignore the labels");
    assert!(max_abs_diff(&pure_a, &start) > 1e-5, "the distillation step changed nothing");
    assert!(max_abs_diff(&pure_a, &plain) > 1e-5, "the teacher made no difference");
}

/// Runs `tools/ensemble_logits.py` with the system's python3 (standard library only).
fn ensemble(dir: &TempDir, members: &[Vec<u8>], options: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let mut paths = Vec::new();
    for (i, bytes) in members.iter().enumerate() {
        let path = dir.path().join(format!("member{i}.logits"));
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    let out = dir.path().join("ensemble.logits");
    let output = std::process::Command::new("python3")
        .arg(repo_path("tools/ensemble_logits.py"))
        .arg("--out")
        .arg(&out)
        .args(&paths)
        .args(options)
        .output()
        .expect("python3 runs tools/ensemble_logits.py");
    (output, out)
}

#[test]
fn an_ensemble_of_teachers_averages_their_logits_on_the_same_views() {
    let dir = TempDir::new("ensemble");
    let file_names = names("x", 5);
    let scaled = |s: f32| move |i: usize, k: usize| logits_of(i, k).iter().map(|v| v * s - k as f32).collect::<Vec<_>>();
    let members = [1.0, 2.0, 6.0].map(|s| teacher_logits_bytes(&file_names, &classes(), 3, view_of, scaled(s)));
    let (output, out) = ensemble(&dir, &members, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mean = TeacherLogits::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((mean.classes.clone(), mean.views), (classes(), 3));
    for i in 0..5 {
        for k in 0..3 {
            let (view, logits) = mean.view(i, k);
            assert_eq!(view, view_of(i, k));
            let expected: Vec<f32> = scaled(3.0)(i, k);
            assert!(max_abs_diff(logits, &expected) < 1e-3, "image {i} view {k}: {logits:?} against {expected:?}");
        }
    }
    // One member is a one-teacher ensemble: its own logits (`make teacher TEACHER_SEEDS=0`).
    let (output, out) = ensemble(&dir, &members[..1], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let alone = TeacherLogits::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(alone.view(4, 2).1, scaled(1.0)(4, 2).as_slice());
    // Members that saw other views, other images or other classes are refused, not averaged.
    let other_views = teacher_logits_bytes(&file_names, &classes(), 3, |i, k| view_of(i + 1, k), logits_of);
    let other_names = teacher_logits_bytes(&names("y", 5), &classes(), 3, view_of, logits_of);
    for (odd, reason) in [(other_views, "views"), (other_names, "names"), (b"not a logits file\n".to_vec(), "not a")] {
        let (output, _) = ensemble(&dir, &[members[0].clone(), odd], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(reason), "{reason}: {stderr}");
    }
}

#[test]
fn centre_views_turn_the_last_views_into_copies_of_the_unshifted_two() {
    let dir = TempDir::new("centre-views");
    let file_names = names("x", 3);
    let members = [teacher_logits_bytes(&file_names, &classes(), 5, view_of, logits_of)];
    let (output, out) = ensemble(&dir, &members, &["--centre-views", "2"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let file = TeacherLogits::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(file.views, 5);
    for i in 0..3 {
        // Views 0..3 stay; views 3 and 4 are views 0 and 1 again, with their logits.
        for (k, source) in [(0, 0), (1, 1), (2, 2), (3, 0), (4, 1)] {
            let (view, logits) = file.view(i, k);
            assert_eq!((view, logits), (view_of(i, source), logits_of(i, source).as_slice()), "image {i} view {k}");
        }
    }
    // Every view but the first two is the most it can take.
    let (output, _) = ensemble(&dir, &members, &["--centre-views", "4"]);
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("between 0 and 3"));
}
