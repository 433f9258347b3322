//! The trainer: one model on an autodiff device with its optimizer, stepped a batch at a time.
//! A step's metrics stay on the device ([`PendingMetrics`]) until [`read_metrics`] reads a
//! group of them with one transfer.

use super::{
    config::{Freeze, TrainingConfig},
    cutout,
    ema::WeightAverage,
    schedule::{ScheduleState, learning_rate},
};
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
    optim::{GradientsParams, ModuleOptimizer},
    prelude::*,
    store::RecordError,
};
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

/// Why the optimizer state could not be saved or restored (checkpoints). Burn's reason is in
/// the message, not only the source, because checkpoints report errors as strings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerStateError {
    #[error("could not serialise the optimizer state: {0}")]
    Save(RecordError),
    #[error("could not read the optimizer state: {0}")]
    Load(RecordError),
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

/// Builds one batch: images `[n, 3, side, side]` (augmented when asked) and labels `[n]`.
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

/// Builds one training batch as `config` augments it: images `[n, 3, side, side]`, each crop +
/// flipped (with `config.augment`) and then cut ([`TrainingConfig::cutout`]), and labels `[n]`.
/// Without cutout it is [`make_batch`], drawing the same numbers from `rng`.
pub fn make_training_batch(
    set: &ImageSet,
    indices: &[usize],
    config: &TrainingConfig,
    rng: &mut SmallRng,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    if config.cutout == 0 {
        return make_batch(set, indices, config.augment, rng, device);
    }
    let views: Vec<Planes> = indices
        .iter()
        .map(|&i| {
            let mut view = if config.augment { data::augment(&set.images[i], rng) } else { set.images[i].clone() };
            cutout::cut(&mut view, config.cutout, rng);
            view
        })
        .collect();
    let planes: Vec<&Planes> = views.iter().collect();
    (data::batch_tensor(&planes, device), data::label_tensor(set, indices, device))
}

/// Applies a [`Freeze`] choice: frozen parts get no gradients and their BatchNorm keeps its
/// running statistics.
pub fn apply_freeze(mut model: SeCnn, freeze: Freeze) -> SeCnn {
    if freeze == Freeze::None {
        return model;
    }
    model.blocks = model
        .blocks
        .into_iter()
        .map(|mut block| {
            block.conv = block.conv.freeze();
            block.bn = block.bn.freeze();
            if freeze == Freeze::AllButHead {
                block.attention = block.attention.freeze();
            }
            block
        })
        .collect();
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

/// Drives training of one model: owns the model on an autodiff device and its optimizer, and
/// the average of its weights when the run keeps one ([`TrainingConfig::ema`]).
pub struct Trainer {
    /// The weights the optimizer steps.
    pub model: SeCnn,
    pub config: TrainingConfig,
    pub progress: Progress,
    /// Steps per epoch, needed by per-step schedules.
    pub steps_per_epoch: usize,
    optimizer: ModuleOptimizer,
    /// The weights' moving average, with EMA on.
    average: Option<WeightAverage<SeCnn>>,
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
            average: config.ema.map(|decay| WeightAverage::new(&model, decay)),
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

    /// One optimisation step on a batch (`images` `[n, 3, side, side]`, `labels` `[n]`), waiting
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

    /// One step of the classifier alone on precomputed [`SeCnn::features`] (`[n, last width, side, side]`),
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
        // The steps taken before this one count the average's earlier updates.
        self.average = self.average.take().map(|average| average.update(&self.model, self.progress.global_step));
        self.progress.global_step += 1;
        pending
    }

    /// Closes an epoch: the plateau schedule looks at `monitored_loss` (validation loss, or the
    /// training loss when there is no validation set). Returns the rate for the next epoch.
    pub fn end_epoch(&mut self, monitored_loss: f64) -> f64 {
        self.progress.epoch += 1;
        self.progress.schedule.end_epoch(&self.config, monitored_loss);
        self.current_lr()
    }

    /// The model for inference (no autodiff, eval-mode BatchNorm and Dropout): the weights'
    /// average with EMA on, else the weights as they stand. Validation, the kept-best weights and
    /// the saved weights are this model.
    pub fn inference_model(&self) -> SeCnn {
        match &self.average {
            Some(average) => average.model().clone(),
            None => self.model.valid(),
        }
    }

    /// The weights' moving average, with EMA on.
    pub fn average(&self) -> Option<&SeCnn> {
        self.average.as_ref().map(WeightAverage::model)
    }

    /// Replaces the weights' average (a checkpoint's), keeping the run's decay; nothing without
    /// EMA. The update count is the steps taken ([`Progress::global_step`]).
    pub fn restore_average(&mut self, average: SeCnn) {
        if let Some(decay) = self.config.ema {
            self.average = Some(WeightAverage::new(&average.fork(&self.device), decay));
        }
    }

    /// The optimizer state as burnpack bytes (for checkpoints).
    pub fn optimizer_bytes(&self) -> Result<Vec<u8>, OptimizerStateError> {
        self.optimizer
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(OptimizerStateError::Save)
    }

    /// Restores optimizer state and progress saved by a checkpoint.
    pub fn restore(&mut self, optimizer: &[u8], progress: Progress) -> Result<(), OptimizerStateError> {
        let fresh = self.config.optimizer();
        self.optimizer = fresh
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(optimizer.to_vec()))
            .map_err(OptimizerStateError::Load)?;
        self.progress = progress;
        Ok(())
    }
}
