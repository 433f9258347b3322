//! One training loop for every caller: the native CLI runs it over epochs, the browser drives
//! it a few steps at a time. [`Trainer::queue_step`] leaves a step's metrics on the device and
//! [`read_metrics`] reads a group of them at once, so a GPU is not waited for after every step.
//! Reads go through async APIs so the same code runs on WebGPU, where synchronous reads are not
//! allowed.

use crate::{
    backend::DeviceError,
    data::{self, ImageSet, Planes},
    distill,
    inference::read_f32,
    model::SeCnn,
};
use burn::{
    module::Module,
    nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig},
    optim::{
        AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig,
        momentum::MomentumConfig,
    },
    prelude::*,
};
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
    /// Train everything.
    None,
    /// Train only the classifier (`fc1`, `fc2`).
    Head,
    /// Train the classifier and the three channel-attention modules.
    HeadAttention,
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
    fn l2_penalty(&self) -> Option<f64> {
        (self.weight_decay > 0.0 && self.optimizer != OptimizerKind::AdamW).then_some(self.weight_decay)
    }

    fn optimizer(&self) -> ModuleOptimizer {
        match self.optimizer {
            // PyTorch's epsilon (Burn defaults to 1e-5), so the seed recipe means the same here.
            OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
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
        }
    }
}

/// The learning-rate schedule's mutable state (saved in checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleState {
    /// Rate used by the plateau and constant schedules.
    pub lr: f64,
    /// Best validation loss seen by the plateau schedule.
    pub best_loss: Option<f64>,
    /// Epochs since `best_loss` improved.
    pub bad_epochs: usize,
}

/// Learning rate for `step` of `total_steps` under a per-step schedule, or the plateau state.
pub fn learning_rate(config: &TrainingConfig, state: &ScheduleState, step: usize, total_steps: usize) -> f64 {
    let progress = step as f64 / total_steps.max(1) as f64;
    let cosine = |from: f64, to: f64, t: f64| to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
    match config.schedule {
        Schedule::Plateau | Schedule::Constant => state.lr,
        Schedule::Cosine => cosine(config.lr, 0.0, progress.min(1.0)),
        Schedule::OneCycle => {
            let warmup = config.warmup.clamp(1e-6, 1.0 - 1e-6);
            let (initial, final_lr) = (config.lr / 25.0, config.lr / 25.0e4);
            if progress < warmup {
                cosine(initial, config.lr, progress / warmup)
            } else {
                cosine(config.lr, final_lr, ((progress - warmup) / (1.0 - warmup)).min(1.0))
            }
        }
    }
}

/// What one optimisation step measured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepMetrics {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Correct predictions in the batch.
    pub correct: usize,
    /// Batch size.
    pub count: usize,
    /// Learning rate used for this step.
    pub lr: f64,
}

/// A queued step's metrics, still on the device. Reading waits for the device to finish every
/// step queued so far, so loops read many steps at once with [`read_metrics`].
pub struct PendingMetrics {
    /// `[2]`: the batch's mean loss and its number of correct predictions.
    loss_and_correct: Tensor<1>,
    count: usize,
    lr: f64,
}

impl PendingMetrics {
    /// Waits for this step and reads its metrics.
    pub async fn read(self) -> Result<StepMetrics, DeviceError> {
        let mut metrics = read_metrics(vec![self]).await?;
        Ok(metrics.remove(0))
    }
}

/// Reads the metrics of several queued steps with one transfer from the device.
pub async fn read_metrics(pending: Vec<PendingMetrics>) -> Result<Vec<StepMetrics>, DeviceError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let values = read_f32(Tensor::cat(pending.iter().map(|p| p.loss_and_correct.clone()).collect(), 0)).await?;
    Ok(pending
        .iter()
        .zip(values.chunks_exact(2))
        .map(|(p, pair)| StepMetrics {
            loss: pair[0] as f64,
            correct: pair[1].round() as usize,
            count: p.count,
            lr: p.lr,
        })
        .collect())
}

/// Accuracy and loss over a labelled set, with the confusion matrix (`[true][predicted]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub per_class_accuracy: Vec<f64>,
    pub confusion: Vec<Vec<usize>>,
    pub count: usize,
}

/// Builds one batch: images `[n, 3, 32, 32]` (augmented when asked) and labels `[n]`.
pub fn make_batch(
    set: &ImageSet,
    indices: &[usize],
    augment: bool,
    rng: &mut SmallRng,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let augmented: Vec<Planes> = if augment {
        indices.iter().map(|&i| data::augment(&set.images[i], rng)).collect()
    } else {
        Vec::new()
    };
    let planes: Vec<&Planes> = if augment {
        augmented.iter().collect()
    } else {
        indices.iter().map(|&i| &set.images[i]).collect()
    };
    (data::batch_tensor(&planes, device), data::label_tensor(set, indices, device))
}

/// Applies a [`Freeze`] choice: frozen parts get no gradients and their BatchNorm keeps its
/// running statistics.
pub fn apply_freeze(mut model: SeCnn, freeze: Freeze) -> SeCnn {
    if freeze == Freeze::None {
        return model;
    }
    model.conv1 = model.conv1.freeze();
    model.bn1 = model.bn1.freeze();
    model.conv2 = model.conv2.freeze();
    model.bn2 = model.bn2.freeze();
    model.conv3 = model.conv3.freeze();
    model.bn3 = model.bn3.freeze();
    if freeze == Freeze::Head {
        model.ca1 = model.ca1.freeze();
        model.ca2 = model.ca2.freeze();
        model.ca3 = model.ca3.freeze();
    }
    model
}

/// Training state that is not in the model or the optimizer (saved in checkpoints).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Epochs fully completed.
    pub epoch: usize,
    /// Optimisation steps taken since the start of the run.
    pub global_step: usize,
    pub schedule: ScheduleState,
}

/// Drives training of one model: owns the model on an autodiff device and its optimizer.
pub struct Trainer {
    pub model: SeCnn,
    pub config: TrainingConfig,
    pub progress: Progress,
    /// Steps per epoch, needed by per-step schedules.
    pub steps_per_epoch: usize,
    optimizer: ModuleOptimizer,
    loss: CrossEntropyLoss,
    device: Device,
}

impl Trainer {
    /// Starts training `model` (moved onto `device`'s autodiff variant).
    pub fn new(model: SeCnn, config: TrainingConfig, steps_per_epoch: usize, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = model.fork(&device).with_dropout(config.dropout).train();
        let model = apply_freeze(model, config.freeze);
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing);
        Self {
            model,
            optimizer: config.optimizer(),
            loss: CrossEntropyLossConfig::new()
                .with_smoothing(smoothing)
                .init(&device),
            progress: Progress {
                epoch: 0,
                global_step: 0,
                schedule: ScheduleState {
                    lr: config.lr,
                    best_loss: None,
                    bad_epochs: 0,
                },
            },
            config,
            steps_per_epoch: steps_per_epoch.max(1),
            device,
        }
    }

    /// The autodiff device the model trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Learning rate the next step will use.
    pub fn current_lr(&self) -> f64 {
        learning_rate(
            &self.config,
            &self.progress.schedule,
            self.progress.global_step,
            self.config.epochs * self.steps_per_epoch,
        )
    }

    /// One optimisation step on a batch (`images` `[n, 3, 32, 32]`, `labels` `[n]`), waiting
    /// for its metrics. Loops should use [`Self::queue_step`] and read many steps at once.
    pub async fn step(&mut self, images: Tensor<4>, labels: Tensor<1, Int>) -> Result<StepMetrics, DeviceError> {
        self.queue_step(images, labels).read().await
    }

    /// [`Self::step`] without the wait: the step's work is queued on the device and its metrics
    /// stay there, so the host can prepare the next batch while a GPU computes this one.
    pub fn queue_step(&mut self, images: Tensor<4>, labels: Tensor<1, Int>) -> PendingMetrics {
        // BatchNorm and Dropout train only on autodiff inputs.
        let images = images.to_device(&self.device).autodiff();
        self.queue_step_with(labels, None, |model| model.forward(images))
    }

    /// One step of distillation, waiting for its metrics (see [`Self::queue_step_distilled`]).
    pub async fn step_distilled(
        &mut self,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        teacher: Tensor<2>,
    ) -> Result<StepMetrics, DeviceError> {
        self.queue_step_distilled(images, labels, teacher).read().await
    }

    /// One step of distillation: [`Self::queue_step`] with the loss
    /// `(1 − kd_weight) · cross-entropy + kd_weight · distill::kd_loss(·, teacher, kd_temperature)`,
    /// where `teacher` holds the teacher's logits `[n, classes]` on the same images.
    pub fn queue_step_distilled(&mut self, images: Tensor<4>, labels: Tensor<1, Int>, teacher: Tensor<2>) -> PendingMetrics {
        let images = images.to_device(&self.device).autodiff();
        let teacher = teacher.to_device(&self.device);
        self.queue_step_with(labels, Some(teacher), |model| model.forward(images))
    }

    /// One step of the classifier alone on precomputed [`SeCnn::features`] (`[n, 128, 4, 4]`),
    /// for head-only fine-tuning where the convolutional part is frozen.
    pub fn queue_step_head(&mut self, features: Tensor<4>, labels: Tensor<1, Int>) -> PendingMetrics {
        let features = features.to_device(&self.device).autodiff();
        self.queue_step_with(labels, None, |model| model.head(features))
    }

    fn queue_step_with(
        &mut self,
        labels: Tensor<1, Int>,
        teacher: Option<Tensor<2>>,
        logits: impl FnOnce(&SeCnn) -> Tensor<2>,
    ) -> PendingMetrics {
        let lr = self.current_lr();
        let labels = labels.to_device(&self.device);
        let count = labels.dims()[0];
        let logits = logits(&self.model);
        let correct = logits.clone().argmax(1).reshape([count]).equal(labels.clone()).float().sum();
        let loss = match teacher {
            Some(teacher) => {
                let (weight, temperature) = (self.config.kd_weight, self.config.kd_temperature);
                let distill = distill::kd_loss(logits.clone(), teacher, temperature);
                self.loss.forward(logits, labels).mul_scalar(1.0 - weight) + distill.mul_scalar(weight)
            }
            None => self.loss.forward(logits, labels),
        };
        let pending = PendingMetrics {
            loss_and_correct: Tensor::cat(vec![loss.clone().detach().reshape([1]), correct.detach().reshape([1])], 0),
            count,
            lr,
        };
        // d/dw of decay/2 · |w|² is decay · w: PyTorch's weight_decay, on the weights alone.
        let loss = match self.config.l2_penalty() {
            Some(decay) => loss + self.model.weight_norm_squared().mul_scalar(decay / 2.0),
            None => loss,
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optimizer.step(lr, self.model.clone(), grads);
        self.progress.global_step += 1;
        pending
    }

    /// Closes an epoch: the plateau schedule looks at `monitored_loss` (validation loss, or the
    /// training loss when there is no validation set). Returns the rate for the next epoch.
    pub fn end_epoch(&mut self, monitored_loss: f64) -> f64 {
        self.progress.epoch += 1;
        let state = &mut self.progress.schedule;
        if self.config.schedule == Schedule::Plateau && monitored_loss.is_finite() {
            // PyTorch's default threshold: relative improvement of 1e-4.
            match state.best_loss {
                Some(best) if monitored_loss >= best * (1.0 - 1e-4) => {
                    state.bad_epochs += 1;
                    if state.bad_epochs > self.config.patience {
                        state.lr *= self.config.factor;
                        state.bad_epochs = 0;
                    }
                }
                _ => {
                    state.best_loss = Some(monitored_loss);
                    state.bad_epochs = 0;
                }
            }
        }
        self.current_lr()
    }

    /// The model for inference (no autodiff, eval-mode BatchNorm and Dropout).
    pub fn inference_model(&self) -> SeCnn {
        self.model.valid()
    }

    /// The optimizer state as burnpack bytes (for checkpoints).
    pub fn optimizer_bytes(&self) -> Result<Vec<u8>, String> {
        self.optimizer
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    /// Restores optimizer state and progress saved by a checkpoint.
    pub fn restore(&mut self, optimizer: &[u8], progress: Progress) -> Result<(), String> {
        let fresh = self.config.optimizer();
        self.optimizer = fresh
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(optimizer.to_vec()))
            .map_err(|e| e.to_string())?;
        self.progress = progress;
        Ok(())
    }
}

/// A deterministic RNG for epoch `epoch` of a run seeded with `seed`, so a resumed run draws
/// the same shuffles and augmentations as an uninterrupted one.
pub fn epoch_rng(seed: u64, epoch: usize) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Evaluates `model` (in inference mode) on `set` in batches; `tta` averages every image's
/// logits with its mirror image's.
pub async fn evaluate(
    model: &SeCnn,
    set: &ImageSet,
    batch_size: usize,
    tta: bool,
    device: &Device,
) -> Result<Evaluation, DeviceError> {
    let classes = model.num_classes();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut rng = SmallRng::seed_from_u64(0);
    // Every batch is queued before anything is read: one wait for the device, not one a batch.
    let (mut predictions, mut losses) = (Vec::new(), Vec::new());
    for chunk in indices.chunks(batch_size.max(1)) {
        let (images, labels) = make_batch(set, chunk, false, &mut rng, device);
        let logits = model.logits(images, tta);
        predictions.push(logits.clone().argmax(1).reshape([chunk.len()]));
        losses.push(loss_fn.forward(logits, labels).mul_scalar(chunk.len() as f64));
    }
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut loss_sum = 0.0;
    if !indices.is_empty() {
        let predicted = read_f32(Tensor::cat(predictions, 0).float()).await?;
        for (&index, &p) in indices.iter().zip(&predicted) {
            confusion[set.labels[index]][p as usize] += 1;
        }
        loss_sum = read_f32(Tensor::cat(losses, 0)).await?.iter().map(|&l| l as f64).sum();
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let count = set.len();
    Ok(Evaluation {
        loss: loss_sum / count.max(1) as f64,
        accuracy: correct as f64 / count.max(1) as f64,
        per_class_accuracy: confusion
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let total: usize = row.iter().sum();
                if total == 0 { f64::NAN } else { row[c] as f64 / total as f64 }
            })
            .collect(),
        confusion,
        count,
    })
}
