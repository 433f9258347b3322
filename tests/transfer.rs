//! Fine-tuning on custom classes starts from what the network knows: kept rows for known
//! names, imprinting for new ones, and a run that keeps its best epoch on validation.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnn,
    data::{self, ImageSet, Planes},
    session::TrainingSession,
    training::{self, Freeze, Trainer, TrainingConfig, TrainingOptions},
    transfer::{self, ClassStart},
    weights,
};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The shipped model with a last layer for `examples.classes`, started from `examples`.
fn new_head(loaded: &weights::LoadedModel, examples: &ImageSet, device: &Device) -> (SeCnn, Vec<ClassStart>) {
    block_on(transfer::head_for_classes(&loaded.model, &loaded.info.classes, &examples.classes, examples, device)).unwrap()
}

fn shipped(device: &Device) -> weights::LoadedModel {
    weights::load(&std::fs::read(shipped_weights()).unwrap(), device).unwrap()
}

#[test]
fn known_class_names_keep_their_rows() {
    let device = Device::flex();
    let loaded = shipped(&device);
    let images = data::fixed_test_patterns(32);
    let refs: Vec<&Planes> = images.iter().collect();
    let examples = ImageSet { images: images.clone(), labels: vec![0, 1, 0, 1], classes: names(&["Dog", " cat"]), names: vec![] };
    let (model, starts) = new_head(&loaded, &examples, &device);
    assert_eq!(starts, [ClassStart::Kept, ClassStart::Kept]);
    let before = to_vec(loaded.model.forward(data::batch_tensor(&refs, &device)));
    let after = to_vec(model.forward(data::batch_tensor(&refs, &device)));
    for image in 0..images.len() {
        let expected = [before[image * 10 + 5], before[image * 10 + 3]]; // dog, cat
        assert!(max_abs_diff(&after[image * 2..image * 2 + 2], &expected) < 1e-5, "image {image}");
    }
}

/// Images `skip..skip + count` (sorted by file name) of a CIFAR-10 training class.
fn cifar_train(class: &str, skip: usize, count: usize) -> Option<Vec<Planes>> {
    let dir = cifar_dir(&format!("train/{class}"))?;
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    Some(files[skip..skip + count].iter().map(|p| data::decode_image(&std::fs::read(p).unwrap(), 32).unwrap()).collect())
}

/// Two new class names for CIFAR-10's cats and dogs: 40 photos each to learn from, 50 others
/// each to test on (all from the training split).
fn pets() -> Option<(ImageSet, ImageSet)> {
    let set = |skip, count| -> Option<ImageSet> {
        let (cats, dogs) = (cifar_train("cat", skip, count)?, cifar_train("dog", skip, count)?);
        let labels = [vec![0; cats.len()], vec![1; dogs.len()]].concat();
        Some(ImageSet { images: [cats, dogs].concat(), labels, classes: names(&["kitty", "puppy"]), names: vec![] })
    };
    Some((set(0, 40)?, set(40, 50)?))
}

#[test]
fn imprinting_alone_beats_chance_and_fine_tuning_keeps_the_best_epoch() {
    let Some((examples, held_out)) = pets() else { return };
    let device = Device::flex();
    let loaded = shipped(&device);
    let (model, starts) = new_head(&loaded, &examples, &device);
    assert_eq!(starts, [ClassStart::Imprinted, ClassStart::Imprinted]);
    let imprinted = block_on(training::evaluate(&model, &held_out, 64, false, &device)).unwrap().accuracy;
    // The shipped model asked only "cat or dog?": its own two rows, kept by their names.
    let named = ImageSet { classes: names(&["cat", "dog"]), ..examples.clone() };
    let (zero_shot, _) = new_head(&loaded, &named, &device);
    let zero_shot = block_on(training::evaluate(&zero_shot, &ImageSet { classes: names(&["cat", "dog"]), ..held_out.clone() }, 64, false, &device))
        .unwrap()
        .accuracy;
    eprintln!(
        "imprinting alone: {:.1} % on 100 held-out cat/dog photos (the shipped model asked \"cat or dog?\": {:.1} %)",
        100.0 * imprinted,
        100.0 * zero_shot
    );
    assert!(imprinted >= 0.65, "imprinting alone scored {imprinted:.3}, hardly better than chance (0.5)");

    // The page's default fine-tune (Adam 1e-4, classifier + attention, validation share 0.2).
    let options = TrainingOptions { epochs: Some(4), freeze: Some(Freeze::AllButHeadAndAttention), ..Default::default() };
    let config = options.resolve(TrainingConfig::fine_tune());
    let (train, validation) = examples.split(config.validation_split, &mut training::epoch_rng(config.seed, usize::MAX));
    let steps = train.len().div_ceil(config.batch_size);
    let mut session = TrainingSession::new(Trainer::new(model, config, steps, &device), train, Some(validation), &device);
    let start = block_on(session.validate()).unwrap().expect("a validation set").accuracy;
    while !session.is_done() {
        block_on(session.step()).unwrap();
    }
    let best = session.best().expect("validated").clone();
    assert!(best.accuracy >= start, "kept {:.3}, below the start {start:.3}", best.accuracy);
    let tuned = block_on(training::evaluate(&best.model, &held_out, 64, false, &device)).unwrap().accuracy;
    eprintln!(
        "fine-tuned: validation {:.1} % (start {:.1} %), kept epoch {}; held out {:.1} % (imprinting alone {:.1} %)",
        100.0 * best.accuracy,
        100.0 * start,
        best.epoch,
        100.0 * tuned,
        100.0 * imprinted
    );
}
