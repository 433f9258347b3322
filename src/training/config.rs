//! The settings of a training run: what a person may ask for ([`TrainingOptions`]), what a run
//! is ([`TrainingConfig`]), and what follows from it alone (the optimizer, the validation split,
//! the seeded RNG of each epoch).

use super::adam::FusedAdam;
use crate::data::ImageSet;
use burn::optim::{AdamWConfig, ModuleOptimizer, SgdConfig, momentum::MomentumConfig};
use rand::{SeedableRng, rngs::SmallRng};
use serde::{Deserialize, Serialize};

/// Which optimizer updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// Adam (the seed's choice), with L2 weight decay when `weight_decay > 0`.
    Adam,
    /// AdamW: Adam with decoupled weight decay (on every parameter).
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "adamw"))]
    AdamW,
    /// SGD with Nesterov momentum 0.9.
    Sgd,
}

/// How the learning rate moves during training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Schedule {
    /// The seed's ReduceLROnPlateau (mode min): after `patience` epochs without a lower
    /// validation loss, multiply the rate by `factor`.
    Plateau,
    /// One-cycle: cosine warm-up from `lr / 25` to `lr` over the first `warmup` share of the
    /// steps (30 % by default), then cosine annealing to `lr / 25e4` (PyTorch's `OneCycleLR`).
    OneCycle,
    /// Cosine annealing from `lr` to 0 over all steps.
    Cosine,
    /// A constant rate.
    Constant,
}

/// Which parameters fine-tuning may change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Freeze {
    /// Freeze nothing: train everything.
    None,
    /// Freeze all but the classifier (`fc1`, `fc2`): only the head trains. Named `head` in
    /// options, files and the CLI.
    #[serde(rename = "head")]
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "head"))]
    AllButHead,
    /// Freeze all but the classifier and every block's channel-attention module. Named
    /// `head-attention` in options, files and the CLI.
    #[serde(rename = "head-attention")]
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "head-attention"))]
    AllButHeadAndAttention,
}

/// Everything that defines a training run. Build it from user options with
/// [`TrainingOptions::resolve`]; fields missing from an older checkpoint take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    /// Base (peak, for one-cycle) learning rate.
    pub lr: f64,
    /// L2 weight decay on convolution and linear weights only (BatchNorm parameters and biases
    /// are not decayed); AdamW applies it decoupled, to every parameter.
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Share of the steps the one-cycle schedule spends warming up.
    pub warmup: f64,
    /// Dropout probability before the last layer while training (inference never drops).
    pub dropout: f64,
    /// ReduceLROnPlateau patience in epochs.
    pub patience: usize,
    /// ReduceLROnPlateau factor.
    pub factor: f64,
    /// Label smoothing of the cross-entropy (0 = none).
    pub label_smoothing: f32,
    /// Random crop (4 px padding) + horizontal flip.
    pub augment: bool,
    pub freeze: Freeze,
    /// Fraction of the training images held out for validation (0 = none).
    pub validation_split: f64,
    pub seed: u64,
    /// Seed of the validation split alone (`None`: `seed`), so runs with different seeds can
    /// hold out the same images (which a teacher must not have trained on).
    pub split_seed: Option<u64>,
    /// Distillation (with a teacher only): the softmax temperature of both outputs.
    pub kd_temperature: f64,
    /// Distillation (with a teacher only): the distillation term's share of the loss; the
    /// cross-entropy with the labels gets the rest.
    pub kd_weight: f64,
    /// Exponential moving average of the weights: `Some(decay)` moves an average toward the
    /// weights after every step (`avg = d·avg + (1 − d)·param`, `d` warmed up as
    /// [`super::ema_decay`] says), and validation, the kept-best weights and the saved weights
    /// are that average. `None` (the default, and the browser's fine-tune): off.
    pub ema: Option<f64>,
    /// Cutout: the side in pixels of a square, centred on a random pixel, set to the dataset's
    /// mean colour in every training image after the crop + flip (0 = off, the default).
    pub cutout: usize,
}

impl Default for TrainingConfig {
    /// The seed's recipe: Adam 1e-3, plain cross-entropy, ReduceLROnPlateau(patience 3, factor 0.5).
    fn default() -> Self {
        Self {
            epochs: 15,
            batch_size: 64,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: Schedule::Plateau,
            warmup: 0.3,
            dropout: 0.5,
            patience: 3,
            factor: 0.5,
            label_smoothing: 0.0,
            augment: true,
            freeze: Freeze::None,
            validation_split: 0.1,
            seed: 42,
            split_seed: None,
            kd_temperature: 4.0,
            kd_weight: 0.9,
            ema: None,
            cutout: 0,
        }
    }
}

impl TrainingConfig {
    /// The browser's fine-tuning recipe: the seed's optimizer, at a tenth of its rate, on short
    /// runs over few images. At 1e-3 a head + attention fine-tune of 40 cat and 40 dog photos
    /// forgot what the shipped model knew (84 % → 66 % on 100 others); at 1e-4 it kept it, and
    /// with 150 photos per class it went past imprinting alone (85 % → 90 % on 300 others).
    pub fn fine_tune() -> Self {
        Self {
            epochs: 5,
            batch_size: 16,
            lr: 1e-4,
            validation_split: 0.2,
            ..Self::default()
        }
    }

    /// Splits `set` into training and validation images as this run does (stratified, seeded by
    /// `split_seed`, else `seed`); no validation set when `validation_split` is 0.
    pub fn split(&self, set: ImageSet) -> (ImageSet, Option<ImageSet>) {
        if self.validation_split <= 0.0 {
            return (set, None);
        }
        let mut rng = epoch_rng(self.split_seed.unwrap_or(self.seed), usize::MAX);
        let (train, validation) = set.split(self.validation_split, &mut rng);
        (train, Some(validation))
    }

    /// Weight decay added to the loss as an L2 penalty (so only the weights it names decay),
    /// or `None` where the optimizer applies it itself (AdamW) or there is none.
    pub(super) fn l2_penalty(&self) -> Option<f64> {
        (self.weight_decay > 0.0 && self.optimizer != OptimizerKind::AdamW).then_some(self.weight_decay)
    }

    /// A fresh optimizer of this run's kind (the trainer builds one, and one to restore into).
    pub(super) fn optimizer(&self) -> ModuleOptimizer {
        match self.optimizer {
            // PyTorch's epsilon (Burn defaults to 1e-5), so the seed recipe means the same here.
            OptimizerKind::Adam => ModuleOptimizer::from(FusedAdam::new(1e-8)),
            OptimizerKind::AdamW => AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(self.weight_decay as f32)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_momentum(Some(
                    MomentumConfig::new()
                        .with_momentum(0.9)
                        .with_dampening(0.0)
                        .with_nesterov(true),
                ))
                .init(),
        }
    }
}

/// The largest weight-averaging decay a run takes: at 0.9999 the average already spans about
/// 10,000 steps; at 1 it would never move.
pub const MAX_EMA_DECAY: f64 = 0.9999;

/// Training options as a person gives them: the CLI's `train` flags and the browser's
/// `fineTune({...})` object are this one struct. Every field is optional;
/// [`TrainingOptions::resolve`] fills the rest from a base recipe, so a new option lands here once.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::Args))]
pub struct TrainingOptions {
    /// Epochs in the run [default: 15; 5 in the browser]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub epochs: Option<usize>,
    /// Images per step [default: 64; 16 in the browser]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub batch_size: Option<usize>,
    /// Optimizer (SGD uses Nesterov momentum 0.9) [default: adam]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_enum))]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate, the peak rate for one-cycle [default: 1e-3]
    #[serde(rename = "learningRate")]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub lr: Option<f64>,
    /// Weight decay on convolution and linear weights (not BatchNorm, not biases) [default: 0]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule; plateau is the seed's ReduceLROnPlateau [default: plateau]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_enum))]
    pub schedule: Option<Schedule>,
    /// Share of the steps one-cycle spends warming up [default: 0.3]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub warmup: Option<f64>,
    /// Dropout before the last layer while training [default: 0.5, the seed's]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub dropout: Option<f64>,
    /// ReduceLROnPlateau patience in epochs [default: 3]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub patience: Option<usize>,
    /// ReduceLROnPlateau factor [default: 0.5]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub factor: Option<f64>,
    /// Label smoothing of the cross-entropy [default: 0]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub label_smoothing: Option<f32>,
    /// Random crop (4 px padding) + horizontal flip; the CLI's `--no-augment` turns it off
    #[cfg_attr(not(target_arch = "wasm32"), arg(skip))]
    pub augment: Option<bool>,
    /// Which parameters stay fixed [default: none]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_enum))]
    pub freeze: Option<Freeze>,
    /// Share of the training images held out for validation, at most 0.9 [default: 0.1; 0.2 in the browser]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub validation_split: Option<f64>,
    /// Seed of the initialisation, shuffles and augmentation [default: 42]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub seed: Option<u64>,
    /// Seed of the validation split alone [default: --seed]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub split_seed: Option<u64>,
    /// Distillation temperature, with a teacher [default: 4]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub kd_temperature: Option<f64>,
    /// Distillation's share of the loss (the labels' cross-entropy gets the rest), with a teacher [default: 0.9]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub kd_weight: Option<f64>,
    /// Average the weights with this decay after every step (e.g. 0.999), and validate and save
    /// the average; 0 = off, at most 0.9999 [default: off]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_name = "DECAY"))]
    pub ema: Option<f64>,
    /// Cutout: an N×N square at a random place in every training image, after the crop + flip,
    /// set to the mean colour [default: 0, off]
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_name = "N"))]
    pub cutout: Option<usize>,
}

impl TrainingOptions {
    /// The run these options describe on top of `base` (e.g. [`TrainingConfig::default`], the
    /// seed's recipe, or [`TrainingConfig::fine_tune`]).
    pub fn resolve(self, base: TrainingConfig) -> TrainingConfig {
        TrainingConfig {
            epochs: self.epochs.unwrap_or(base.epochs).max(1),
            batch_size: self.batch_size.unwrap_or(base.batch_size).max(1),
            optimizer: self.optimizer.unwrap_or(base.optimizer),
            lr: self.lr.unwrap_or(base.lr),
            weight_decay: self.weight_decay.unwrap_or(base.weight_decay).max(0.0),
            schedule: self.schedule.unwrap_or(base.schedule),
            warmup: self.warmup.unwrap_or(base.warmup).clamp(0.0, 1.0),
            dropout: self.dropout.unwrap_or(base.dropout).clamp(0.0, 0.99),
            patience: self.patience.unwrap_or(base.patience),
            factor: self.factor.unwrap_or(base.factor),
            label_smoothing: self.label_smoothing.unwrap_or(base.label_smoothing).clamp(0.0, 1.0),
            augment: self.augment.unwrap_or(base.augment),
            freeze: self.freeze.unwrap_or(base.freeze),
            validation_split: self.validation_split.unwrap_or(base.validation_split).clamp(0.0, 0.9),
            seed: self.seed.unwrap_or(base.seed),
            split_seed: self.split_seed.or(base.split_seed),
            kd_temperature: self.kd_temperature.unwrap_or(base.kd_temperature).max(1e-3),
            kd_weight: self.kd_weight.unwrap_or(base.kd_weight).clamp(0.0, 1.0),
            ema: self.ema.or(base.ema).filter(|decay| *decay > 0.0).map(|decay| decay.min(MAX_EMA_DECAY)),
            cutout: self.cutout.unwrap_or(base.cutout),
        }
    }
}

/// A deterministic RNG for epoch `epoch` of a run seeded with `seed`, so a resumed run draws
/// the same shuffles and augmentations as an uninterrupted one.
// Here rather than in `trainer`: [`TrainingConfig::split`] draws from it too, and the settings
// must not depend on the trainer.
pub fn epoch_rng(seed: u64, epoch: usize) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
