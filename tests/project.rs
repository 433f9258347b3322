//! A project file through the CLI, as the page would hand it over: written by
//! `data::write_project`, trained on with `secnn train --data`, given weights, then measured by
//! `secnn eval`, used by `secnn predict` and continued by `secnn train --init`; a plain zip of
//! class folders as a dataset; a bad archive refused by name.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{data, interop, weights};
use serde_json::json;
use std::{
    io::{Cursor, Write},
    path::Path,
    process::{Command, Output},
};

fn secnn(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_secnn")).args(args).current_dir(repo_path("")).output().expect("run secnn");
    eprintln!("$ secnn {}\n{}{}", args.join(" "), String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    output
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

const CLASSES: [&str; 2] = ["vertical stripes", "horizontal/stripes"];

/// Each class's photos: 6 synthetic images each, as PNGs of 48x40 (the page stores them larger
/// than the model's input too).
fn photos() -> Vec<(String, Vec<Vec<u8>>)> {
    let set = synthetic_set(6, 2);
    let mut classes: Vec<(String, Vec<Vec<u8>>)> = CLASSES.iter().map(|c| (c.to_string(), Vec::new())).collect();
    for (planes, &label) in set.images.iter().zip(&set.labels) {
        let image = image::RgbImage::from_raw(32, 32, data::planes_to_rgb(planes)).unwrap();
        let image = image::imageops::resize(&image, 48, 40, image::imageops::FilterType::Nearest);
        let mut png = Vec::new();
        image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        classes[label].1.push(png);
    }
    classes
}

/// The weights of a run as the page would put them in a project: a `.safetensors`.
fn safetensors_of(run: &Path) -> Vec<u8> {
    let loaded = weights::load(&std::fs::read(run.join("model.bpk")).unwrap(), &Device::flex()).unwrap();
    block_on(interop::to_safetensors(&loaded.model, &loaded.info)).unwrap()
}

#[test]
fn a_project_trains_evaluates_predicts_and_continues_through_the_cli() {
    let dir = TempDir::new("project-cli");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let description = json!({ "settings": { "epochs": 2 }, "history": [] });
    let classes = photos();
    std::fs::write(path("project.zip"), data::write_project(&description, &classes, None)).unwrap();
    let short = ["--epochs", "2", "--max-steps", "2", "--batch-size", "4", "--validation-split", "0.25"];

    // Train from the project's photos: its class names, in its order.
    let run = secnn(&[&["train", "--data", &path("project.zip"), "--out", &path("run1")], &short[..]].concat());
    assert!(run.status.success());
    assert!(text(&run).contains("12 images, 2 classes"), "{}", text(&run));
    let trained = weights::load(&std::fs::read(dir.path().join("run1/model.bpk")).unwrap(), &Device::flex()).unwrap();
    assert_eq!(trained.info.classes, CLASSES);

    // The project with its weights: `eval` measures the project's own model.
    let project = data::write_project(&description, &classes, Some(&safetensors_of(&dir.path().join("run1"))));
    std::fs::write(path("project2.zip"), project).unwrap();
    let eval = secnn(&["eval", "--data", &path("project2.zip"), "--json"]);
    assert!(eval.status.success());
    assert!(text(&eval).contains("measuring the project's own model"));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(report["plain"]["count"], 12);
    let record = secnn(&["eval", "--data", &path("project2.zip"), "--record"]);
    assert!(!record.status.success(), "--record has no file to rewrite");

    // `predict` with the project's model names its classes.
    let image = dir.path().join("photo.png");
    std::fs::write(&image, &classes[1].1[0]).unwrap();
    let predict = secnn(&["predict", "--weights", &path("project2.zip"), image.to_str().unwrap(), "--json"]);
    assert!(predict.status.success());
    let top: serde_json::Value = serde_json::from_slice(&predict.stdout).unwrap();
    let named: Vec<&str> = top[0]["top"].as_array().unwrap().iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert!(named.iter().all(|n| CLASSES.contains(n)), "{named:?}");

    // `train --init` continues from the project's model: the same classes, no new last layer.
    let more = secnn(&[&["train", "--init", &path("project2.zip"), "--data", &path("project2.zip"), "--out", &path("run2")], &short[..]].concat());
    assert!(more.status.success());
    assert!(!text(&more).contains("classes differ"), "{}", text(&more));
    assert!(dir.path().join("run2/model.bpk").exists());

    // A project saved before any training has no model to predict with.
    let none = secnn(&["predict", "--weights", &path("project.zip"), image.to_str().unwrap()]);
    assert!(!none.status.success());
    assert!(text(&none).contains("holds no model"), "{}", text(&none));
}

#[test]
fn a_zip_of_class_folders_trains_and_a_bad_archive_is_refused_by_name() {
    let dir = TempDir::new("folders-cli");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (class, photos) in photos() {
        for (index, png) in photos.iter().enumerate() {
            zip.start_file(format!("mydata/{}/{index}.png", class.replace('/', "-")), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(png).unwrap();
        }
    }
    std::fs::write(path("classes.zip"), zip.finish().unwrap().into_inner()).unwrap();
    let short = ["--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--validation-split", "0.25"];
    let run = secnn(&[&["train", "--data", &path("classes.zip"), "--out", &path("run")], &short[..]].concat());
    assert!(run.status.success());
    let trained = weights::load(&std::fs::read(dir.path().join("run/model.bpk")).unwrap(), &Device::flex()).unwrap();
    assert_eq!(trained.info.classes, ["horizontal-stripes", "vertical stripes"], "the folders' names, sorted");
    let eval = secnn(&["eval", "--data", &path("classes.zip"), "--weights", &path("run/model.bpk")]);
    assert!(eval.status.success());

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("../outside.png", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(&photos()[0].1[0]).unwrap();
    std::fs::write(path("bad.zip"), zip.finish().unwrap().into_inner()).unwrap();
    for args in [vec!["train", "--data", &path("bad.zip"), "--out", &path("r")], vec!["eval", "--data", &path("bad.zip")]] {
        let refused = secnn(&args);
        assert!(!refused.status.success());
        assert!(text(&refused).contains("../outside.png: the path leads out"), "{}", text(&refused));
    }
    let refused = secnn(&["predict", "--weights", &path("bad.zip"), &path("x.png")]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("leads out"), "{}", text(&refused));
}
