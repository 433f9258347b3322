//! The page's calls, natively: `Workbench` is what the wasm `Runtime` marshals, so these tests
//! drive the same code the browser runs (on Burn flex), fine-tuning with custom classes and
//! imprinting included, and check the outcomes the page renders: the plan's warnings, the kept
//! epoch, divergence with its rollback, and the error codes the page branches on.

use burn::prelude::*;
use futures_lite::future::block_on;
use secnn::{
    fine_tune::{FineTuneRequest, FineTuneWarning},
    training::{OptimizerKind, TrainingConfig, TrainingOptions},
    transfer::ClassStart,
    workbench::{match_classes, Rgba, Workbench, WorkbenchError},
};

const SHIPPED: &[u8] = include_bytes!("../www/secnn/model/secnn-cifar10.bpk");

fn workbench() -> Workbench {
    Workbench::open(SHIPPED, Device::flex(), false).expect("the shipped weights load")
}

/// A 40x30 RGBA image: a `base` colour with a diagonal pattern that varies with `seed`.
fn image(base: [u8; 3], seed: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(40 * 30 * 4);
    for y in 0..30u32 {
        for x in 0..40u32 {
            let wave = (((x + y + seed * 7) % 16) * 4) as u8;
            pixels.extend([base[0].saturating_add(wave), base[1].saturating_add(wave), base[2], 255]);
        }
    }
    pixels
}

fn rgba(pixels: &[u8]) -> Rgba<'_> {
    Rgba { pixels, width: 40, height: 30 }
}

/// Twelve examples of two looks: label 0 reddish, label 1 bluish.
fn add_two_looks(bench: &mut Workbench) {
    for seed in 0..12 {
        let (base, label) = if seed % 2 == 0 { ([180, 40, 30], 0) } else { ([20, 60, 200], 1) };
        bench.add_example(rgba(&image(base, seed)), label).expect("example added");
    }
}

fn request(options: TrainingOptions, classes: Option<&[&str]>) -> FineTuneRequest {
    FineTuneRequest {
        config: options.resolve(TrainingConfig::fine_tune()),
        classes: classes.map(|names| names.iter().map(|n| n.to_string()).collect()),
        probe: None,
    }
}

fn run_to_end(bench: &mut Workbench) -> secnn::workbench::FineTuneResult {
    for _ in 0..1000 {
        let reports = block_on(bench.fine_tune_steps()).expect("a step");
        assert!(bench.is_fine_tuning(), "the run stays open until it is finished");
        if reports.last().expect("at least one step").done {
            let refused = block_on(bench.fine_tune_steps()).expect_err("no step after the last");
            assert_eq!(refused.code(), "busy");
            return block_on(bench.finish_fine_tune()).expect("the run closes");
        }
    }
    panic!("the run never ended");
}

#[test]
fn custom_classes_start_kept_or_imprinted_and_the_best_epoch_is_kept() {
    let mut bench = workbench();
    add_two_looks(&mut bench);
    let options = TrainingOptions { epochs: Some(2), validation_split: Some(0.34), ..Default::default() };
    let plan = block_on(bench.start_fine_tune(request(options, Some(&["Cat ", "sunset"])))).expect("plan");
    assert_eq!(plan.classes, ["Cat ", "sunset"]);
    // "Cat " is CIFAR-10's "cat" by the one class-name rule; "sunset" starts from its examples.
    assert_eq!(plan.class_starts, [ClassStart::Kept, ClassStart::Imprinted]);
    assert!(plan.head_reinitialised);
    assert_eq!(plan.train_images + plan.validation_images, 12);
    let images = plan.validation_images;
    assert!(matches!(plan.warnings[..], [FineTuneWarning::FewValidationImages { images: n, .. }] if n == images));
    let start = plan.start_validation.expect("a validation set").accuracy;
    assert!(matches!(bench.load_weights(SHIPPED), Err(WorkbenchError::Busy(_))), "weights cannot change mid-run");

    let result = run_to_end(&mut bench);
    let kept = result.kept.expect("a validation set chose the weights");
    assert!(kept.epoch <= 2 && kept.epochs == 2);
    assert!(kept.accuracy >= start, "the run never ends below its start: {} < {start}", kept.accuracy);
    assert_eq!(result.info.classes, ["Cat ", "sunset"]);
    assert!(result.info.accuracy.is_none(), "the recorded accuracy described other weights");
    assert!(!bench.is_fine_tuning());
    let (top, _) = block_on(bench.classify(rgba(&image([20, 60, 200], 99)), 2, false)).unwrap();
    assert_eq!(top.len(), 2, "the fine-tuned model predicts the two custom classes");
}

#[test]
fn a_diverging_run_restores_the_weights_from_before_it() {
    let mut bench = workbench();
    add_two_looks(&mut bench);
    let probe = image([120, 120, 120], 3);
    let (before, _) = block_on(bench.classify(rgba(&probe), 10, false)).unwrap();
    // Plain SGD with an absurd learning rate overflows the weights within a few steps.
    let options = TrainingOptions {
        optimizer: Some(OptimizerKind::Sgd),
        lr: Some(1e30),
        epochs: Some(3),
        validation_split: Some(0.0),
        ..Default::default()
    };
    let plan = block_on(bench.start_fine_tune(request(options, None))).expect("plan");
    assert_eq!(plan.warnings, [FineTuneWarning::NoValidationImages]);
    let error = loop {
        match block_on(bench.fine_tune_steps()) {
            Ok(reports) => assert!(!reports.last().unwrap().done, "the run ended without diverging"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), "diverged", "{error}");
    let details = error.details().expect("the loss and epoch");
    assert!(details["epoch"].as_u64().unwrap() >= 1);
    assert!(!bench.is_fine_tuning());
    let (after, _) = block_on(bench.classify(rgba(&probe), 10, false)).unwrap();
    assert_eq!(before, after, "the weights from before fine-tuning are back");
}

#[test]
fn cancelling_restores_the_model_and_finishing_early_keeps_what_was_learned() {
    let mut bench = workbench();
    add_two_looks(&mut bench);
    let name = bench.info().name.clone();
    let options = TrainingOptions { epochs: Some(3), ..Default::default() };
    block_on(bench.start_fine_tune(request(options.clone(), Some(&["red", "blue"])))).unwrap();
    block_on(bench.fine_tune_steps()).unwrap();
    let cancelled = bench.cancel_fine_tune();
    assert_eq!(cancelled.info.name, name);
    assert_eq!(cancelled.info.classes.len(), 10);
    assert_eq!(cancelled.info.profiles, bench.info().profiles, "cancelling keeps the shipped profiles");
    assert!(cancelled.info.profiles.is_some(), "the shipped file carries SE profiles");

    block_on(bench.start_fine_tune(request(options, Some(&["red", "blue"])))).unwrap();
    block_on(bench.fine_tune_steps()).unwrap();
    let finished = block_on(bench.finish_fine_tune()).unwrap();
    assert_eq!(finished.info.classes, ["red", "blue"]);
    assert!(finished.info.description.starts_with("Fine-tuned"));
    // The SE profiles, measured again on the run's own examples, by its classes.
    let profiles = finished.info.profiles.as_ref().expect("profiles measured at the end of the run");
    let examples: usize = profiles.blocks[0].class_counts.iter().sum();
    assert_eq!(profiles.measured_on, format!("your {examples} examples"));
    assert_eq!((profiles.blocks.len(), profiles.blocks[2].class_means.len()), (3, 2));
    assert!(matches!(block_on(bench.finish_fine_tune()), Err(WorkbenchError::Busy(_))));
}

#[test]
fn refusals_carry_the_codes_the_page_branches_on() {
    let mut bench = workbench();
    let code = |result: Result<usize, WorkbenchError>| result.expect_err("refused").code();
    // Labels index up to 100 custom classes (CIFAR-100's), whatever the model has now.
    assert_eq!(code(bench.add_example(rgba(&image([0, 0, 0], 0)), secnn::fine_tune::MAX_CLASSES)), "invalid-argument");
    assert!(bench.add_example(rgba(&image([0, 0, 0], 0)), secnn::fine_tune::MAX_CLASSES - 1).is_ok());
    assert_eq!(code(bench.add_example(Rgba { pixels: &[0; 7], width: 2, height: 2 }, 0)), "invalid-argument");
    assert_eq!(code(bench.add_cifar_batch(&[1, 2, 3], "x.bin")), "invalid-file");
    assert_eq!(bench.load_weights(b"not weights").expect_err("refused").code(), "invalid-weights");
    let too_few = block_on(bench.start_fine_tune(request(TrainingOptions::default(), None)));
    assert_eq!(too_few.expect_err("no examples").code(), "invalid-argument");
    let one_class = block_on(bench.start_fine_tune(request(TrainingOptions::default(), Some(&["only"]))));
    assert_eq!(one_class.expect_err("one class").code(), "invalid-argument");
    let facts = bench.facts();
    assert_eq!((facts.input_size, facts.block_widths, facts.max_classes), (32, vec![32, 64, 128], 100));
    assert_eq!(facts.dataset_classes, bench.info().classes);
}

#[test]
fn known_formats_the_decoder_does_not_read_are_told_apart_from_garbage() {
    let code = |bytes: &[u8]| WorkbenchError::from(secnn::data::decode_image(bytes, 32).expect_err("refused")).code();
    let iso_media = |brand: &[u8; 4]| [&[0, 0, 0, 24][..], b"ftyp", brand, &[0; 12]].concat();
    assert_eq!(code(&iso_media(b"heic")), "unsupported-format"); // an iPhone photo
    assert_eq!(code(&iso_media(b"avif")), "unsupported-format");
    assert_eq!(code(b"II*\0\x08\0\0\0"), "unsupported-format"); // a TIFF header
    assert_eq!(code(b"plain text, not an image"), "not-an-image");
    let message = secnn::data::decode_image(&iso_media(b"heic"), 32).unwrap_err().to_string();
    assert!(message.starts_with("HEIC (iPhone photo) images cannot be read here"), "{message}");
    assert!(message.ends_with("share it from the Photos app, which converts it"), "{message}");
}

#[test]
fn class_names_match_by_the_one_rule() {
    let known: Vec<String> = ["airplane", "cat"].map(String::from).to_vec();
    let names: Vec<String> = [" CAT", "Airplane", "sofa"].map(String::from).to_vec();
    assert_eq!(match_classes(&names, &known), [Some(1), Some(0), None]);
}

#[test]
fn safetensors_for_pytorch_round_trip_with_custom_classes_and_misfits_name_seed_tensors() {
    let mut bench = workbench();
    add_two_looks(&mut bench);
    let options = TrainingOptions { epochs: Some(1), ..Default::default() };
    block_on(bench.start_fine_tune(request(options, Some(&["red", "blue"])))).unwrap();
    block_on(bench.finish_fine_tune()).unwrap();
    let file = block_on(bench.export_safetensors()).expect("export");
    let probe = image([120, 40, 90], 5);
    let (before, _) = block_on(bench.classify(rgba(&probe), 2, false)).unwrap();

    let mut other = workbench();
    let info = other.load_weights(&file).expect("a safetensors file loads").clone();
    assert_eq!(info.classes, ["red", "blue"], "the class names travel in the metadata");
    let (after, _) = block_on(other.classify(rgba(&probe), 2, false)).unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.index, b.index);
        assert!((a.probability - b.probability).abs() < 1e-6, "{before:?} vs {after:?}");
    }

    // The 10-class shipped model's file with a 2-class name list: fc2 no longer fits.
    let shipped = block_on(workbench().export_safetensors()).unwrap();
    // Same byte length, so the header's size prefix still holds: "airplane" becomes "a", "pl".
    let (from, to) = (br#"\"airplane\""#, br#"\"a\",\"pl\""#);
    let at = shipped.windows(from.len()).position(|w| w == from).expect("the class list in the metadata");
    let mut eleven = shipped.clone();
    eleven[at..at + from.len()].copy_from_slice(to);
    let error = other.load_weights(&eleven).expect_err("an 11-class list for a 10-class fc2");
    assert_eq!(error.code(), "invalid-weights");
    assert!(error.to_string().contains("fc2"), "{error}");
    assert_eq!(other.info().classes, ["red", "blue"], "the current model stays");
}

#[test]
fn a_four_block_100_class_member_is_explained_and_fine_tuned_on_20_custom_classes() {
    let mut bench = workbench();
    // Embedded, as SHIPPED is: a path fixed at compile time may name another clone that
    // shares the target directory.
    let pth = include_bytes!("fixtures/family/four_blocks_100.pth").to_vec();
    assert_eq!(bench.load_weights(&pth).expect("a PyTorch member loads").classes.len(), 100);
    let facts = bench.facts();
    assert_eq!((facts.input_size, facts.block_widths.clone(), facts.input_rule.size), (64, vec![8, 12, 16, 16], 64));

    let options = secnn::inference::ExplainOptions { top_k: 5, channels: 2, ..Default::default() };
    let (explanation, planes) = block_on(bench.explain(rgba(&image([90, 140, 30], 1)), &options)).unwrap();
    assert_eq!((planes.side(), explanation.logits.len(), explanation.top.len()), (64, 100, 5));
    let se_lengths: Vec<usize> = explanation.blocks.iter().map(|b| b.se_weights.len()).collect();
    assert_eq!(se_lengths, [8, 12, 16, 16], "one SE card per block at its own width");

    let names: Vec<String> = (0..20).map(|c| format!("kind {c}")).collect();
    for seed in 0..40u32 {
        let shade = (seed % 20) as u8 * 12;
        bench.add_example(rgba(&image([shade, 255 - shade, 40], seed)), (seed % 20) as usize).unwrap();
    }
    let classes: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = TrainingOptions { epochs: Some(1), validation_split: Some(0.0), ..Default::default() };
    block_on(bench.start_fine_tune(request(options, Some(&classes)))).expect("20 custom classes");
    let result = run_to_end(&mut bench);
    assert_eq!(result.info.classes, names);
    let exported = block_on(bench.export_safetensors()).unwrap();
    let back = secnn::interop::load_any(&exported, &Device::flex()).expect("the export loads back");
    assert_eq!((back.info.widths.clone(), back.info.input_size, back.info.classes.len()), (vec![8, 12, 16, 16], 64, 20));
}

#[test]
fn training_on_noise_leaves_the_model_and_its_examples_as_they_were() {
    let mut bench = workbench();
    add_two_looks(&mut bench);
    let before = block_on(bench.export_weights()).unwrap();
    let grey = image([128, 128, 128], 0);
    let (top_before, _) = block_on(bench.classify(rgba(&grey), 3, false)).unwrap();
    // The page's probe: a warm-up step of two images, then timed steps at 16.
    block_on(bench.train_on_noise(2, 1)).expect("a warm-up step");
    block_on(bench.train_on_noise(16, 3)).expect("three steps of 16");
    assert_eq!(block_on(bench.export_weights()).unwrap(), before, "the probe changed the weights");
    let (top_after, _) = block_on(bench.classify(rgba(&grey), 3, false)).unwrap();
    assert_eq!(format!("{top_before:?}"), format!("{top_after:?}"));
    assert_eq!(bench.example_count(), 12, "the probe touched the examples");
}
