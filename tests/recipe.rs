//! The training recipe's options (dropout, weight decay that spares BatchNorm and biases, the
//! one-cycle warm-up, options resolved in one place, the weights' moving average and cutout)
//! and test-time flip averaging.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use burn::{
    module::{Module, ModuleMapper, ModuleVisitor, Param},
    nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig},
};
use secnn::{
    SeCnn,
    data,
    inference,
    model::SeCnnConfig,
    training::{self, Cutout, OptimizerKind, Schedule, Trainer, TrainingConfig, TrainingOptions, WeightAverage},
};

#[test]
fn tta_is_the_mean_of_the_image_and_mirror_logits() {
    let device = Device::flex();
    device.seed(5);
    let model = SeCnnConfig::new().init(&device).valid();
    let images = data::fixed_test_patterns(32);
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
    let images = data::fixed_test_patterns(32);
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
    same(to_vec(plain.blocks[0].bn.gamma.val()), to_vec(decayed.blocks[0].bn.gamma.val()), "bn1.gamma");
    same(to_vec(plain.blocks[2].bn.beta.val()), to_vec(decayed.blocks[2].bn.beta.val()), "bn3.beta");
    let bias = |m: &SeCnn| to_vec(m.fc1.bias.as_ref().unwrap().val());
    same(bias(&plain), bias(&decayed), "fc1.bias");
    let conv_bias = |m: &SeCnn| to_vec(m.blocks[1].conv.bias.as_ref().unwrap().val());
    let excite = |m: &SeCnn| to_vec(m.blocks[1].attention.excite.as_ref().unwrap().weight.val());
    same(conv_bias(&plain), conv_bias(&decayed), "conv2.bias");
    // Weights shrink: |w| is smaller with decay, layer by layer.
    let norm = |v: Vec<f32>| v.iter().map(|x| x * x).sum::<f32>();
    for (name, a, b) in [
        ("conv1", to_vec(plain.blocks[0].conv.weight.val()), to_vec(decayed.blocks[0].conv.weight.val())),
        ("ca2.excite", excite(&plain), excite(&decayed)),
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

#[test]
fn ema_decay_warms_up_then_holds() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(training::ema_decay(0.999, 0), 0.1), "first update: (1 + 0) / (10 + 0)");
    assert!(close(training::ema_decay(0.999, 1), 2.0 / 11.0));
    assert!(close(training::ema_decay(0.999, 90), 91.0 / 100.0));
    // (1 + t) / (10 + t) reaches 0.999 at t = 8990, and the decay stays there.
    assert!(training::ema_decay(0.999, 8989) < 0.999);
    assert!(close(training::ema_decay(0.999, 8990), 0.999));
    assert!(close(training::ema_decay(0.999, 1_000_000), 0.999));
    // A decay below the warm-up's holds from the first update.
    assert!(close(training::ema_decay(0.05, 0), 0.05) && close(training::ema_decay(0.05, 7), 0.05));
    let decays: Vec<f64> = (0..20_000).map(|t| training::ema_decay(0.999, t)).collect();
    assert!(decays.windows(2).all(|w| w[0] <= w[1]), "the decay never falls");
}

#[test]
fn ema_and_cutout_options_resolve_and_stay_off_in_the_browser() {
    let defaults = TrainingConfig::default();
    assert_eq!((defaults.ema, defaults.cutout), (None, 0), "both off unless asked for");
    let browser = TrainingOptions::default().resolve(TrainingConfig::fine_tune());
    assert_eq!((browser.ema, browser.cutout), (None, 0), "the browser's fine-tune recipe averages nothing");
    let options = TrainingOptions { ema: Some(0.999), cutout: Some(8), ..Default::default() };
    let config = options.resolve(TrainingConfig::default());
    assert_eq!((config.ema, config.cutout), (Some(0.999), 8));
    let off = TrainingOptions { ema: Some(0.0), ..Default::default() }.resolve(config.clone());
    assert_eq!(off.ema, None, "--ema 0 turns a base recipe's average off");
    let one = TrainingOptions { ema: Some(1.0), ..Default::default() }.resolve(TrainingConfig::default());
    assert_eq!(one.ema, Some(training::MAX_EMA_DECAY), "a decay of 1 would never move");
    let from_js: TrainingOptions = serde_json::from_str(r#"{"ema":0.99,"cutout":16}"#).unwrap();
    assert_eq!(from_js.resolve(TrainingConfig::fine_tune()).ema, Some(0.99));
    // A checkpoint written before these options existed reads as both off.
    let mut old = serde_json::to_value(&defaults).unwrap();
    old.as_object_mut().unwrap().retain(|key, _| key != "ema" && key != "cutout");
    let read: TrainingConfig = serde_json::from_value(old).unwrap();
    assert_eq!((read.ema, read.cutout), (None, 0));
}

/// A model of a few parameters: a 3 → 2 linear layer and a BatchNorm over its 2 outputs.
#[derive(Module, Debug)]
struct Tiny {
    linear: Linear,
    norm: BatchNorm,
}

fn tiny(device: &Device) -> Tiny {
    Tiny { linear: LinearConfig::new(3, 2).init(device), norm: BatchNormConfig::new(2).init(device) }
}

/// Adds `by · (k + 1)` to the k-th value of every float tensor (running statistics included):
/// a stand-in for an optimizer step that moves every value differently.
struct Shift(f32);

impl ModuleMapper for Shift {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let by = self.0;
        param.map(|value| {
            let n = value.shape().num_elements();
            let steps: Vec<f32> = (0..n).map(|k| by * (k + 1) as f32).collect();
            let shape = value.shape();
            value.clone() + Tensor::<1>::from_data(TensorData::new(steps, [n]), &value.device()).reshape(shape)
        })
    }
}

/// Every float tensor of a module by its path (`norm.running_mean`, …), as values.
fn floats<M: Module>(module: &M) -> Vec<(String, Vec<f32>)> {
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        out: Vec<(String, Vec<f32>)>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out.push((self.path.join("."), to_vec(param.val())));
        }
    }
    let mut collect = Collect::default();
    module.visit(&mut collect);
    collect.out
}

#[test]
fn weight_average_follows_its_definition_on_a_tiny_model() {
    let device = Device::flex();
    for decay in [0.999, 0.05] {
        let p0 = tiny(&device);
        let p1 = p0.clone().map(&mut Shift(0.5));
        let p2 = p1.clone().map(&mut Shift(-0.25));
        let average = WeightAverage::new(&p0, decay).update(&p1, 0).update(&p2, 1);
        let (d0, d1) = (training::ema_decay(decay, 0), training::ema_decay(decay, 1));
        let got = floats(average.model());
        let [f0, f1, f2] = [&p0, &p1, &p2].map(floats);
        assert_eq!(got.len(), 6, "weight, bias, gamma, beta, running mean and variance: {got:?}");
        for (i, (path, values)) in got.iter().enumerate() {
            for (k, &value) in values.iter().enumerate() {
                let (a, b, c) = (f0[i].1[k] as f64, f1[i].1[k] as f64, f2[i].1[k] as f64);
                let expected = if path.contains("running_") {
                    c // copied from the current model, never averaged
                } else {
                    let after_one = d0 * a + (1.0 - d0) * b;
                    d1 * after_one + (1.0 - d1) * c
                };
                assert!((value as f64 - expected).abs() < 1e-6, "decay {decay}, {path}[{k}]: {value} ≠ {expected}");
            }
        }
    }
    // A value that does not move stays exactly what it was, whatever the decay.
    let p0 = tiny(&device);
    let still = WeightAverage::new(&p0, 0.999).update(&p0, 0).update(&p0, 1);
    assert_eq!(floats(still.model()), floats(&p0));
}

#[test]
fn training_with_ema_steps_the_same_weights_and_reports_their_average() {
    let device = Device::flex();
    let model = start_model();
    let plain_config = sgd(0.0, 0.0);
    let ema_config = TrainingConfig { ema: Some(0.999), ..plain_config.clone() };
    let mut plain = Trainer::new(model.clone(), plain_config, 1, &device);
    let mut averaged = Trainer::new(model.clone(), ema_config, 1, &device);
    assert!(plain.average().is_none());
    let mut snapshots = vec![plain.inference_model()];
    for _ in 0..2 {
        let (images, labels) = batch(&device);
        block_on(plain.step(images.clone(), labels.clone())).unwrap();
        block_on(averaged.step(images, labels)).unwrap();
        snapshots.push(plain.inference_model());
    }
    // The average changes nothing the optimizer sees…
    let live = floats(&averaged.model.valid());
    for ((path, a), (_, b)) in floats(&plain.inference_model()).iter().zip(&live) {
        assert_eq!(a, b, "{path}: the run with EMA stepped other weights");
    }
    // …and is what the run validates and saves: the average of the plain run's weights.
    let expected = WeightAverage::new(&snapshots[0], 0.999).update(&snapshots[1], 0).update(&snapshots[2], 1);
    let reported = floats(&averaged.inference_model());
    for ((path, a), (_, b)) in floats(expected.model()).iter().zip(&reported) {
        assert!(max_abs_diff(a, b) < 1e-6, "{path}: the inference model is not the average");
    }
    assert!(floats(averaged.average().unwrap()) == reported);
    let lags = live.iter().zip(&reported).any(|(a, b)| max_abs_diff(&a.1, &b.1) > 1e-4);
    assert!(lags, "the average should lag the weights");
}

/// An image of one grey level per channel.
fn flat_image(levels: [u8; 3]) -> data::Planes {
    let mut planes = data::Planes::zeros(32);
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
    let mut cut = image.clone();
    Cutout { x: 10, y: 20, size: 8 }.apply(&mut cut);
    let square: Vec<(usize, usize)> = (16..24).flat_map(|y| (6..14).map(move |x| (x, y))).collect();
    assert_eq!(cut_pixels(&cut), square, "rows 20 − 4 .. 20 + 4, columns 10 − 4 .. 10 + 4");
    let changed = (0..3072).filter(|&i| cut[i] != image[i]).count();
    assert_eq!(changed, 3 * 64, "nothing outside the square changes");

    // Over the edge, only the part inside the image is cut.
    let mut corner = image.clone();
    Cutout { x: 0, y: 31, size: 8 }.apply(&mut corner);
    let inside: Vec<(usize, usize)> = (27..32).flat_map(|y| (0..4).map(move |x| (x, y))).collect();
    assert_eq!(cut_pixels(&corner), inside);
    let mut odd = image.clone();
    Cutout { x: 31, y: 0, size: 5 }.apply(&mut odd);
    assert_eq!(cut_pixels(&odd).len(), 3 * 3, "side 5 centred on a corner: 3 × 3 inside");
    let mut huge = image.clone();
    Cutout { x: 16, y: 16, size: 100 }.apply(&mut huge);
    assert_eq!(cut_pixels(&huge).len(), 1024);
    assert!(Cutout { x: 0, y: 31, size: 8 }.covers(3, 27) && !Cutout { x: 0, y: 31, size: 8 }.covers(4, 27));

    // Centres are uniform over the image: every row and column is drawn, the edges included.
    let mut rng = training::epoch_rng(5, 0);
    let centres: Vec<Cutout> = (0..4000).map(|_| Cutout::random(8, 32, &mut rng)).collect();
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
    for image in batch_of(&config, 7, 3).chunks(3072) {
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
