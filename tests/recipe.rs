//! The training recipe's options (dropout, weight decay that spares BatchNorm and biases, the
//! one-cycle warm-up, options resolved in one place, cutout) and test-time flip averaging.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnn,
    data,
    inference,
    model::SeCnnConfig,
    training::{self, Cutout, OptimizerKind, Schedule, Trainer, TrainingConfig, TrainingOptions},
};

#[test]
fn tta_is_the_mean_of_the_image_and_mirror_logits() {
    let device = Device::flex();
    device.seed(5);
    let model = SeCnnConfig::new().init(&device).valid();
    let images = data::fixed_test_patterns();
    let refs: Vec<&data::Planes> = images.iter().collect();
    let flipped: Vec<data::Planes> = images.iter().map(mirrored).collect();
    let flipped_refs: Vec<&data::Planes> = flipped.iter().collect();
    let plain = to_vec(model.forward(data::batch_tensor(&refs, &device)));
    let mirror = to_vec(model.forward(data::batch_tensor(&flipped_refs, &device)));
    let expected: Vec<f32> = plain.iter().zip(&mirror).map(|(a, b)| (a + b) / 2.0).collect();
    let tta = to_vec(model.forward_tta(data::batch_tensor(&refs, &device)));
    assert!(max_abs_diff(&tta, &expected) < 1e-5, "TTA logits are not the mean of the two forwards");
    assert!(max_abs_diff(&plain, &expected) > 1e-4, "the patterns are symmetric: the test proves nothing");

    // classify(tta) ranks by the softmax of those mean logits.
    let top = block_on(inference::classify(&model, &refs[..1], &cifar_classes(), 10, true, &device)).unwrap();
    let row = &expected[..10];
    let max = row.iter().cloned().fold(f32::MIN, f32::max);
    let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
    for score in &top[0] {
        let p = (row[score.index] - max).exp() / sum;
        assert!((score.probability - p).abs() < 1e-5);
    }
}

fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let set = synthetic_set(4, 2);
    let indices: Vec<usize> = (0..set.len()).collect();
    training::make_batch(&set, &indices, false, &mut training::epoch_rng(0, 0), device)
}

/// A two-class model; tests step copies of it, so they start from the same weights even while
/// other tests reseed the device's shared generator.
fn start_model() -> SeCnn {
    SeCnnConfig::new().with_num_classes(2).init(&Device::flex())
}

/// One SGD step from `model` under `config`; returns the trained model.
fn one_step(model: &SeCnn, config: TrainingConfig) -> SeCnn {
    let device = Device::flex();
    let mut trainer = Trainer::new(model.clone(), config, 1, &device);
    let (images, labels) = batch(&device);
    block_on(trainer.step(images, labels)).unwrap();
    trainer.inference_model()
}

fn sgd(dropout: f64, weight_decay: f64) -> TrainingConfig {
    TrainingConfig {
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        schedule: Schedule::Constant,
        dropout,
        weight_decay,
        ..TrainingConfig::default()
    }
}

#[test]
fn dropout_changes_training_but_not_inference() {
    let model = start_model();
    let no_dropout = one_step(&model, sgd(0.0, 0.0));
    let heavy_dropout = one_step(&model, sgd(0.9, 0.0));
    assert_ne!(
        to_vec(no_dropout.fc2.weight.val()),
        to_vec(heavy_dropout.fc2.weight.val()),
        "the dropout rate did not change the training step"
    );
    // Inference never drops: a model's answer does not depend on the rate it trains with.
    let device = Device::flex();
    let images = data::fixed_test_patterns();
    let refs: Vec<&data::Planes> = images.iter().collect();
    let model = SeCnnConfig::new().init(&device);
    let a = to_vec(model.clone().with_dropout(0.0).valid().forward(data::batch_tensor(&refs, &device)));
    let b = to_vec(model.with_dropout(0.9).valid().forward(data::batch_tensor(&refs, &device)));
    assert_eq!(a, b);
}

#[test]
fn weight_decay_shrinks_weights_but_spares_batchnorm_and_biases() {
    let model = start_model();
    let plain = one_step(&model, sgd(0.0, 0.0));
    let decayed = one_step(&model, sgd(0.0, 0.5));
    let same = |a: Vec<f32>, b: Vec<f32>, what: &str| assert!(max_abs_diff(&a, &b) < 1e-6, "{what} was decayed");
    same(to_vec(plain.bn1.gamma.val()), to_vec(decayed.bn1.gamma.val()), "bn1.gamma");
    same(to_vec(plain.bn3.beta.val()), to_vec(decayed.bn3.beta.val()), "bn3.beta");
    let bias = |m: &SeCnn| to_vec(m.fc1.bias.as_ref().unwrap().val());
    same(bias(&plain), bias(&decayed), "fc1.bias");
    let conv_bias = |m: &SeCnn| to_vec(m.conv2.bias.as_ref().unwrap().val());
    same(conv_bias(&plain), conv_bias(&decayed), "conv2.bias");
    // Weights shrink: |w| is smaller with decay, layer by layer.
    let norm = |v: Vec<f32>| v.iter().map(|x| x * x).sum::<f32>();
    for (name, a, b) in [
        ("conv1", to_vec(plain.conv1.weight.val()), to_vec(decayed.conv1.weight.val())),
        ("ca2.excite", to_vec(plain.ca2.excite.weight.val()), to_vec(decayed.ca2.excite.weight.val())),
        ("fc1", to_vec(plain.fc1.weight.val()), to_vec(decayed.fc1.weight.val())),
    ] {
        assert!(norm(b) < norm(a), "{name} did not shrink under weight decay");
    }
}

#[test]
fn one_cycle_warms_up_for_the_configured_share() {
    let state = training::ScheduleState { lr: 0.1, best_loss: None, bad_epochs: 0 };
    let config = TrainingConfig { schedule: Schedule::OneCycle, lr: 0.1, warmup: 0.15, ..TrainingConfig::default() };
    assert!((training::learning_rate(&config, &state, 15, 100) - 0.1).abs() < 1e-9, "peak at 15 %");
    assert!(training::learning_rate(&config, &state, 10, 100) < 0.1);
    assert!(training::learning_rate(&config, &state, 30, 100) < 0.1);
}

#[test]
fn options_resolve_on_top_of_a_base_recipe() {
    let options = TrainingOptions { lr: Some(0.05), validation_split: Some(2.0), dropout: Some(0.2), ..Default::default() };
    let config = options.resolve(TrainingConfig::default());
    assert_eq!(config.lr, 0.05);
    assert_eq!(config.dropout, 0.2);
    assert_eq!(config.validation_split, 0.9, "a validation share is clamped to 0.9");
    assert_eq!(config.epochs, TrainingConfig::default().epochs);
    let browser = TrainingOptions::default().resolve(TrainingConfig::fine_tune());
    assert_eq!((browser.epochs, browser.batch_size), (5, 16));
    // The browser's option object uses the same names (camelCase).
    let from_js: TrainingOptions = serde_json::from_str(r#"{"learningRate":0.01,"batchSize":8,"freeze":"head-attention","warmup":0.2}"#).unwrap();
    let config = from_js.resolve(TrainingConfig::fine_tune());
    assert_eq!((config.lr, config.batch_size, config.warmup), (0.01, 8, 0.2));
}

#[test]
fn split_seed_holds_out_the_same_images_whatever_the_seed() {
    let set = synthetic_set(10, 2);
    let held_out = |seed: u64, split_seed: Option<u64>| {
        let config = TrainingConfig { seed, split_seed, validation_split: 0.3, ..TrainingConfig::default() };
        let (train, validation) = config.split(set.clone());
        let validation = validation.expect("a validation set");
        assert_eq!(train.len() + validation.len(), set.len());
        validation.images
    };
    assert_ne!(held_out(1, None), held_out(2, None), "different seeds drew the same split: the test shows nothing");
    assert_eq!(held_out(1, None), held_out(2, Some(1)), "--split-seed 1 should hold out what --seed 1 does");
    let no_split = TrainingConfig { validation_split: 0.0, ..TrainingConfig::default() }.split(set.clone());
    assert!(no_split.1.is_none() && no_split.0.len() == set.len());
}

/// An image of one grey level per channel.
fn flat_image(levels: [u8; 3]) -> data::Planes {
    let mut planes = [0u8; data::IMAGE_BYTES];
    for (channel, level) in levels.into_iter().enumerate() {
        planes[channel * 1024..(channel + 1) * 1024].fill(level);
    }
    planes
}

/// The pixels `(x, y)` of `planes` that hold the cutout colour in all three channels.
fn cut_pixels(planes: &data::Planes) -> Vec<(usize, usize)> {
    let at = |c: usize, x: usize, y: usize| planes[c * 1024 + y * 32 + x];
    (0..32 * 32)
        .map(|i| (i % 32, i / 32))
        .filter(|&(x, y)| (0..3).all(|c| at(c, x, y) == training::CUTOUT_FILL[c]))
        .collect()
}

#[test]
fn cutout_sets_a_square_to_the_mean_colour() {
    assert_eq!(training::CUTOUT_FILL, [125, 123, 114], "round(255 · mean)");
    let normalised = data::normalize(&[&flat_image(training::CUTOUT_FILL)]);
    assert!(normalised.iter().all(|v| v.abs() < 0.01), "the fill is the mean: 0 after normalisation");

    let image = flat_image([255, 0, 7]);
    let mut cut = image;
    Cutout { x: 10, y: 20, size: 8 }.apply(&mut cut);
    let square: Vec<(usize, usize)> = (16..24).flat_map(|y| (6..14).map(move |x| (x, y))).collect();
    assert_eq!(cut_pixels(&cut), square, "rows 20 − 4 .. 20 + 4, columns 10 − 4 .. 10 + 4");
    let changed = (0..data::IMAGE_BYTES).filter(|&i| cut[i] != image[i]).count();
    assert_eq!(changed, 3 * 64, "nothing outside the square changes");

    // Over the edge, only the part inside the image is cut.
    let mut corner = image;
    Cutout { x: 0, y: 31, size: 8 }.apply(&mut corner);
    let inside: Vec<(usize, usize)> = (27..32).flat_map(|y| (0..4).map(move |x| (x, y))).collect();
    assert_eq!(cut_pixels(&corner), inside);
    let mut odd = image;
    Cutout { x: 31, y: 0, size: 5 }.apply(&mut odd);
    assert_eq!(cut_pixels(&odd).len(), 3 * 3, "side 5 centred on a corner: 3 × 3 inside");
    let mut huge = image;
    Cutout { x: 16, y: 16, size: 100 }.apply(&mut huge);
    assert_eq!(cut_pixels(&huge).len(), 1024);
    assert!(Cutout { x: 0, y: 31, size: 8 }.covers(3, 27) && !Cutout { x: 0, y: 31, size: 8 }.covers(4, 27));

    // Centres are uniform over the image: every row and column is drawn, the edges included.
    let mut rng = training::epoch_rng(5, 0);
    let centres: Vec<Cutout> = (0..4000).map(|_| Cutout::random(8, &mut rng)).collect();
    for edge in [0, 31] {
        assert!(centres.iter().any(|c| c.x == edge) && centres.iter().any(|c| c.y == edge), "no centre on {edge}");
    }
    assert!(centres.iter().all(|c| c.x < 32 && c.y < 32 && c.size == 8));
}

#[test]
fn cutout_batches_repeat_with_their_seed_and_leave_runs_without_it_unchanged() {
    let device = Device::flex();
    let set = synthetic_set(4, 2);
    let indices: Vec<usize> = (0..set.len()).collect();
    let config = TrainingConfig { cutout: 12, ..TrainingConfig::default() };
    let batch_of = |config: &TrainingConfig, seed: u64, epoch: usize| {
        let mut rng = training::epoch_rng(seed, epoch);
        to_vec(training::make_training_batch(&set, &indices, config, &mut rng, &device).0)
    };
    assert_eq!(batch_of(&config, 7, 3), batch_of(&config, 7, 3), "the same seed and epoch cut the same squares");
    assert_ne!(batch_of(&config, 7, 3), batch_of(&config, 7, 4), "another epoch draws other squares");
    assert_ne!(batch_of(&config, 7, 3), batch_of(&config, 8, 3), "another seed draws other squares");
    // Every image has one square at the mean colour: 12 × 12, or down to 6 × 6 in a corner.
    for image in batch_of(&config, 7, 3).chunks(data::IMAGE_BYTES) {
        let at_mean = (0..1024).filter(|&p| (0..3).all(|c| image[c * 1024 + p].abs() < 0.01)).count();
        assert!((36..=144).contains(&at_mean), "{at_mean} pixels at the mean colour");
    }
    // Without cutout the batch, and what is left of the epoch's random stream, are as before.
    let plain = TrainingConfig::default();
    let (mut a, mut b) = (training::epoch_rng(7, 3), training::epoch_rng(7, 3));
    let ours = to_vec(training::make_training_batch(&set, &indices, &plain, &mut a, &device).0);
    let before = to_vec(training::make_batch(&set, &indices, true, &mut b, &device).0);
    assert_eq!(ours, before);
    use rand::RngCore;
    assert_eq!(a.next_u64(), b.next_u64());
}
