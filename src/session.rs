//! A training run over a dataset, advanced one step at a time: the CLI loops over it, the
//! browser calls it from a worker between UI updates. Owns the epoch order, augmentation RNG,
//! running metrics, the optional probe image and the feature cache for head-only training.

use crate::{
    backend::DeviceError,
    data::{self, ImageSet, Planes},
    distill::Teacher,
    inference,
    model::SeCnn,
    training::{self, Evaluation, Freeze, PendingMetrics, StepMetrics, Trainer},
};
use burn::prelude::*;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

/// What an epoch achieved, reported with its last step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub validation: Option<Evaluation>,
    /// Learning rate the next epoch starts with.
    pub next_lr: f64,
}

/// What one step did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// 0-based epoch the step belongs to.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based step within the epoch.
    pub step_in_epoch: usize,
    pub steps_per_epoch: usize,
    /// Steps taken since the run began (1-based), and the run's total.
    pub global_step: usize,
    pub total_steps: usize,
    pub metrics: StepMetrics,
    /// Mean loss and accuracy over the epoch so far.
    pub running_loss: f64,
    pub running_accuracy: f64,
    /// SE weights of the probe image after this step, per block.
    pub probe_se_weights: Option<Vec<Vec<f32>>>,
    /// Set on the last step of an epoch.
    pub epoch_end: Option<EpochReport>,
    /// No steps left.
    pub done: bool,
}

/// A step whose loss is not a finite number: the weights it produced are unusable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("training diverged (loss {loss}) in epoch {epoch}")]
pub struct Diverged {
    pub loss: f64,
    /// 1-based epoch of the step.
    pub epoch: usize,
}

/// The first step among `reports` that diverged, if any (both the CLI and fine-tuning stop there).
pub fn divergence(reports: &[StepReport]) -> Option<Diverged> {
    reports
        .iter()
        .find(|report| !report.metrics.loss.is_finite())
        .map(|report| Diverged { loss: report.metrics.loss, epoch: report.epoch + 1 })
}

/// How many steps [`TrainingSession::steps`] should queue before reading them back: about
/// `target_ms` of work, so a GPU is kept busy and the caller still hears from the run often.
#[derive(Debug, Clone)]
pub struct ReadPacer {
    steps: usize,
    max_steps: usize,
    target_ms: f64,
}

impl ReadPacer {
    /// Starts at one step a read and never goes past `max_steps`.
    pub fn new(target_ms: f64, max_steps: usize) -> Self {
        Self { steps: 1, max_steps: max_steps.max(1), target_ms }
    }

    /// Steps to queue before the next read.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Learns from a read that came `elapsed_ms` after `steps` steps were queued.
    pub fn record(&mut self, steps: usize, elapsed_ms: f64) {
        // NaN and negative times teach nothing.
        if steps == 0 || elapsed_ms.is_nan() || elapsed_ms <= 0.0 {
            return;
        }
        let fitting = (self.target_ms * steps as f64 / elapsed_ms).floor() as usize;
        // At most doubling per read: the first reads also pay for shader compilation.
        self.steps = fitting.clamp(1, (self.steps * 2).min(self.max_steps));
    }
}

/// Training state between steps.
pub struct TrainingSession {
    pub trainer: Trainer,
    train: ImageSet,
    validation: Option<ImageSet>,
    device: Device,
    order: Vec<usize>,
    cursor: usize,
    rng: SmallRng,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    probe: Option<Planes>,
    /// Output of the frozen convolutional part for every training image, `[n, last width, side, side]`,
    /// when only the head trains and augmentation is off.
    cached_features: Option<Tensor<4>>,
    /// The model that scored best on validation so far (epoch 0 = before training).
    best: Option<BestModel>,
    /// Distillation: the teacher's views and logits for every training image.
    teacher: Option<Teacher>,
}

/// The weights with the best validation accuracy seen in a run.
#[derive(Clone)]
pub struct BestModel {
    /// Epochs trained when it was taken (0: the starting weights).
    pub epoch: usize,
    pub accuracy: f64,
    pub model: SeCnn,
}

impl TrainingSession {
    /// Starts (or, for a restored trainer, continues) a run on `train`, validating on
    /// `validation` at the end of every epoch.
    pub fn new(trainer: Trainer, train: ImageSet, validation: Option<ImageSet>, device: &Device) -> Self {
        let mut session = Self {
            trainer,
            train,
            validation,
            device: device.clone(),
            order: Vec::new(),
            cursor: 0,
            rng: training::epoch_rng(0, 0),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            probe: None,
            cached_features: None,
            best: None,
            teacher: None,
        };
        let config = &session.trainer.config;
        if config.freeze == Freeze::AllButHead && !config.augment && config.cutout == 0 {
            session.cached_features = Some(session.compute_features());
        }
        session
    }

    /// Distils from `teacher` (built for this session's training set): every step sees one of
    /// the teacher's views of each image (cut, with the run's cutout) and learns from its logits
    /// as well as from the label.
    pub fn with_teacher(mut self, teacher: Teacher) -> Self {
        self.cached_features = None;
        self.teacher = Some(teacher.with_cutout(self.trainer.config.cutout));
        self
    }

    /// Runs the frozen part once over all training images (batches of 64).
    fn compute_features(&self) -> Tensor<4> {
        let model = self.trainer.inference_model();
        let indices: Vec<usize> = (0..self.train.len()).collect();
        let parts: Vec<Tensor<4>> = indices
            .chunks(64)
            .map(|chunk| {
                let planes: Vec<&Planes> = chunk.iter().map(|&i| &self.train.images[i]).collect();
                model.features(data::batch_tensor(&planes, &self.device))
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// Validates the model as it stands and remembers it as the best so far when it is: called
    /// before the first step, it gives the starting accuracy a run must not end below.
    pub async fn validate(&mut self) -> Result<Option<Evaluation>, DeviceError> {
        self.validate_after(self.trainer.progress.epoch).await
    }

    /// [`Self::validate`] for the model after `epoch` epochs.
    async fn validate_after(&mut self, epoch: usize) -> Result<Option<Evaluation>, DeviceError> {
        let Some(set) = self.validation.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let model = self.trainer.inference_model();
        let evaluation = training::evaluate(&model, set, 256, false, &self.device).await?;
        // Ties keep the earlier, less-trained weights: a few validation images cannot tell them
        // apart, and the extra training is what risks forgetting.
        if self.best.as_ref().is_none_or(|best| evaluation.accuracy > best.accuracy) {
            self.best = Some(BestModel { epoch, accuracy: evaluation.accuracy, model });
        }
        Ok(Some(evaluation))
    }

    /// The best-on-validation weights so far (none without a validation set).
    pub fn best(&self) -> Option<&BestModel> {
        self.best.as_ref()
    }

    /// Whether head-only steps run on cached features.
    pub fn uses_feature_cache(&self) -> bool {
        self.cached_features.is_some()
    }

    /// Reports the SE weights of `image` after every step.
    pub fn set_probe(&mut self, image: Option<Planes>) {
        self.probe = image;
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.trainer.steps_per_epoch
    }

    pub fn total_steps(&self) -> usize {
        self.trainer.steps_per_epoch * self.trainer.config.epochs
    }

    pub fn is_done(&self) -> bool {
        self.trainer.progress.epoch >= self.trainer.config.epochs
    }

    pub fn train_set(&self) -> &ImageSet {
        &self.train
    }

    pub fn validation_set(&self) -> Option<&ImageSet> {
        self.validation.as_ref()
    }

    fn start_epoch(&mut self) {
        let (seed, epoch) = (self.trainer.config.seed, self.trainer.progress.epoch);
        self.rng = training::epoch_rng(seed, epoch);
        self.device.seed(seed.wrapping_add(epoch as u64 + 1));
        self.order = data::epoch_order(self.train.len(), &mut self.rng);
        self.cursor = 0;
        self.loss_sum = 0.0;
        self.correct = 0;
        self.seen = 0;
    }

    /// One optimisation step; on an epoch's last step also validates and updates the schedule.
    pub async fn step(&mut self) -> Result<StepReport, DeviceError> {
        let mut reports = self.steps(1).await?;
        Ok(reports.pop().expect("one step was taken"))
    }

    /// Up to `max_steps` optimisation steps (fewer where the epoch ends), queued on the device
    /// one after another and read back together: a GPU is waited for once, not once a step.
    /// Returns one report per step; the probe's SE weights come with the last one.
    pub async fn steps(&mut self, max_steps: usize) -> Result<Vec<StepReport>, DeviceError> {
        assert!(!self.is_done(), "the run is finished");
        if self.cursor == 0 || self.cursor >= self.order.len() {
            self.start_epoch();
        }
        let batch_size = self.trainer.config.batch_size.max(1);
        let mut pending = Vec::new();
        while pending.len() < max_steps.max(1) && self.cursor < self.order.len() {
            let end = (self.cursor + batch_size).min(self.order.len());
            let indices = self.order[self.cursor..end].to_vec();
            self.cursor = end;
            pending.push(self.queue_step(&indices));
        }
        let metrics = training::read_metrics(pending).await?;
        let taken = metrics.len();
        let first_step = self.cursor.div_ceil(batch_size) - taken;
        let first_global = self.trainer.progress.global_step - taken;
        let mut reports: Vec<StepReport> = metrics
            .into_iter()
            .enumerate()
            .map(|(i, metrics)| self.report(metrics, first_step + i + 1, first_global + i + 1))
            .collect();
        let last = reports.last_mut().expect("at least one step");
        if let Some(image) = &self.probe {
            last.probe_se_weights = Some(inference::se_weights(&self.trainer.inference_model(), image, &self.device).await?);
        }
        if self.cursor >= self.order.len() {
            last.epoch_end = Some(self.end_epoch(last.running_loss, last.running_accuracy).await?);
        }
        last.done = self.is_done();
        Ok(reports)
    }

    /// Adds a step's metrics to the epoch's running figures and reports the step.
    fn report(&mut self, metrics: StepMetrics, step_in_epoch: usize, global_step: usize) -> StepReport {
        self.loss_sum += metrics.loss * metrics.count as f64;
        self.correct += metrics.correct;
        self.seen += metrics.count;
        StepReport {
            epoch: self.trainer.progress.epoch,
            epochs: self.trainer.config.epochs,
            step_in_epoch,
            steps_per_epoch: self.trainer.steps_per_epoch,
            global_step,
            total_steps: self.total_steps(),
            metrics,
            running_loss: self.loss_sum / self.seen.max(1) as f64,
            running_accuracy: self.correct as f64 / self.seen.max(1) as f64,
            probe_se_weights: None,
            epoch_end: None,
            done: false,
        }
    }

    /// Queues the step on `indices` of the training set, as the run is set up to train.
    fn queue_step(&mut self, indices: &[usize]) -> PendingMetrics {
        match (&self.cached_features, &self.teacher) {
            (_, Some(teacher)) => {
                let (images, labels, targets) = teacher.batch(&self.train, indices, &mut self.rng, &self.device);
                self.trainer.queue_step_distilled(images, labels, targets)
            }
            (Some(features), None) => {
                let ids: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
                let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [indices.len()]), &self.device);
                let labels = data::label_tensor(&self.train, indices, &self.device);
                self.trainer.queue_step_head(features.clone().select(0, ids), labels)
            }
            (None, None) => {
                let (config, rng) = (&self.trainer.config, &mut self.rng);
                let (images, labels) = training::make_training_batch(&self.train, indices, config, rng, &self.device);
                self.trainer.queue_step(images, labels)
            }
        }
    }

    /// Closes the epoch: validates, lets the schedule see the monitored loss, rewinds the order.
    async fn end_epoch(&mut self, train_loss: f64, train_accuracy: f64) -> Result<EpochReport, DeviceError> {
        let epoch = self.trainer.progress.epoch + 1;
        let validation = self.validate_after(epoch).await?;
        let monitored = validation.as_ref().map_or(train_loss, |v| v.loss);
        let next_lr = self.trainer.end_epoch(monitored);
        self.cursor = 0;
        Ok(EpochReport { epoch, train_loss, train_accuracy, validation, next_lr })
    }
}
