//! Fine-tuning as one job, the same for the browser and the native tests: check the request,
//! plan the run (custom classes start from what the model knows), step it, stop it when it
//! diverges, and keep the best-on-validation weights. Outcomes are data (codes and numbers):
//! the words a person reads are the caller's.

use crate::{
    backend::DeviceError,
    data::{ImageSet, Planes},
    session::{self, Diverged, ReadPacer, StepReport, TrainingSession},
    training::{Evaluation, Trainer, TrainingConfig},
    transfer::{self, ClassStart},
    weights::ModelInfo,
    SeCnn,
};
use burn::prelude::*;
use serde::Serialize;

/// Custom fine-tuning trains between this many classes…
pub const MIN_CLASSES: usize = 2;
/// …and this many (labels are class indices below it): CIFAR-100's 100.
pub const MAX_CLASSES: usize = 100;
/// Fewer validation images than this give an accuracy too coarse to trust (one image moves
/// it by more than 5 points).
pub const MIN_VALIDATION_IMAGES: usize = 20;

/// Why a fine-tuning call was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FineTuneError {
    #[error("custom fine-tuning needs {MIN_CLASSES} to {MAX_CLASSES} class names, got {0}")]
    ClassCount(usize),
    #[error("class names must not be empty")]
    EmptyClassName,
    #[error("the class name {0:?} appears twice")]
    DuplicateClass(String),
    #[error("label {0} is out of range: labels are class indices 0–{max}", max = MAX_CLASSES - 1)]
    LabelOutOfRange(usize),
    #[error("an example has label {label}, but labels must be class indices 0–{} for the classes {classes:?}", classes.len() - 1)]
    ExampleLabel { label: usize, classes: Vec<String> },
    #[error("add at least two labelled images before fine-tuning")]
    TooFewExamples,
    #[error("no images left for training after the validation split")]
    NoTrainingImages,
    #[error("{0}; the weights from before fine-tuning were restored — try a lower learning rate")]
    Diverged(Diverged),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Custom classes must be 2–100 distinct (by [`transfer::same_class`]), non-empty names.
pub fn check_class_names(names: &[String]) -> Result<(), FineTuneError> {
    if !(MIN_CLASSES..=MAX_CLASSES).contains(&names.len()) {
        return Err(FineTuneError::ClassCount(names.len()));
    }
    if names.iter().any(|name| name.trim().is_empty()) {
        return Err(FineTuneError::EmptyClassName);
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|other| transfer::same_class(other, name)) {
            return Err(FineTuneError::DuplicateClass(name.clone()));
        }
    }
    Ok(())
}

/// A label must index one of at most [`MAX_CLASSES`] classes.
pub fn check_label(label: usize) -> Result<(), FineTuneError> {
    if label >= MAX_CLASSES {
        return Err(FineTuneError::LabelOutOfRange(label));
    }
    Ok(())
}

/// Enough examples, every label a class of `set`.
fn check_examples(set: &ImageSet) -> Result<(), FineTuneError> {
    if let Some(&label) = set.labels.iter().find(|&&l| l >= set.classes.len()) {
        return Err(FineTuneError::ExampleLabel { label, classes: set.classes.clone() });
    }
    if set.len() < 2 {
        return Err(FineTuneError::TooFewExamples);
    }
    Ok(())
}

/// Something about a planned run the person should know before trusting its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum FineTuneWarning {
    /// Nothing measures whether fine-tuning helps.
    NoValidationImages,
    /// Each validation image moves the accuracy by `points_per_image` points.
    #[serde(rename_all = "camelCase")]
    FewValidationImages { images: usize, points_per_image: f64 },
}

fn validation_warnings(images: usize) -> Vec<FineTuneWarning> {
    match images {
        0 => vec![FineTuneWarning::NoValidationImages],
        n if n < MIN_VALIDATION_IMAGES => {
            vec![FineTuneWarning::FewValidationImages { images: n, points_per_image: 100.0 / n as f64 }]
        }
        _ => Vec::new(),
    }
}

/// What a fine-tuning job asks for.
#[derive(Debug, Clone, Default)]
pub struct FineTuneRequest {
    /// The run's settings (already resolved from the caller's options).
    pub config: TrainingConfig,
    /// New class names (a new last layer), or `None` to keep the model's classes.
    pub classes: Option<Vec<String>>,
    /// The image whose SE weights every step reports.
    pub probe: Option<Planes>,
}

/// The run a job is about to make.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FineTunePlan {
    pub train_images: usize,
    pub validation_images: usize,
    pub warnings: Vec<FineTuneWarning>,
    /// Validation before the first step (the run keeps the best of this and every epoch).
    pub start_validation: Option<Evaluation>,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub classes: Vec<String>,
    pub head_reinitialised: bool,
    /// How each class's row of the last layer started.
    pub class_starts: Vec<ClassStart>,
    pub uses_feature_cache: bool,
}

/// Which weights a finished run kept, when a validation set chose them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptEpoch {
    /// Epochs trained when the kept weights were taken (0: the starting weights).
    pub epoch: usize,
    /// Epochs the run trained in all.
    pub epochs: usize,
    /// Their validation accuracy, 0–1.
    pub accuracy: f64,
}

/// A finished run: the model to use from now on and how it was chosen.
pub struct FineTuneOutcome {
    pub model: SeCnn,
    pub info: ModelInfo,
    pub kept: Option<KeptEpoch>,
    /// Every example of the run (training and validation), labelled by the new classes: what
    /// the model's SE profiles are measured on afterwards.
    pub examples: ImageSet,
}

/// One fine-tuning run in progress.
pub struct FineTuneJob {
    session: TrainingSession,
    /// The model and its description before the run (what cancelling or diverging restores).
    previous: (SeCnn, ModelInfo),
    /// The description the fine-tuned model will carry.
    info: ModelInfo,
    pacer: ReadPacer,
}

impl FineTuneJob {
    /// Checks `request` against `examples`, builds the run and measures validation before it.
    /// `pacer` says how many steps each [`Self::steps`] call queues.
    pub async fn start(
        model: &SeCnn,
        info: &ModelInfo,
        examples: &ImageSet,
        request: FineTuneRequest,
        pacer: ReadPacer,
        device: &Device,
    ) -> Result<(Self, FineTunePlan), FineTuneError> {
        let mut new_info = info.clone();
        if let Some(names) = &request.classes {
            check_class_names(names)?;
            new_info.classes = names.clone();
            new_info.name = "SE-CNN (custom classes)".into();
        }
        let mut set = examples.clone();
        set.classes = new_info.classes.clone();
        check_examples(&set)?;
        let (start_model, class_starts) = match &request.classes {
            Some(names) => transfer::head_for_classes(model, &info.classes, names, &set, device).await?,
            None => (model.clone(), vec![ClassStart::Kept; set.classes.len()]),
        };
        let session = Self::session(start_model, request.config, set, request.probe, device)?;
        let mut job = Self { session, previous: (model.clone(), info.clone()), info: new_info, pacer };
        let plan = job.plan(request.classes.is_some(), class_starts).await?;
        Ok((job, plan))
    }

    /// The training session on `set` split by `config`'s validation share.
    fn session(
        model: SeCnn,
        config: TrainingConfig,
        set: ImageSet,
        probe: Option<Planes>,
        device: &Device,
    ) -> Result<TrainingSession, FineTuneError> {
        let (train, validation) = config.split(set);
        let validation = validation.filter(|valid| !valid.is_empty());
        if train.is_empty() {
            return Err(FineTuneError::NoTrainingImages);
        }
        let steps = train.len().div_ceil(config.batch_size);
        let trainer = Trainer::new(model, config, steps, device);
        let mut session = TrainingSession::new(trainer, train, validation, device);
        session.set_probe(probe);
        Ok(session)
    }

    async fn plan(&mut self, head_reinitialised: bool, class_starts: Vec<ClassStart>) -> Result<FineTunePlan, FineTuneError> {
        let start_validation = self.session.validate().await?;
        let validation_images = self.session.validation_set().map_or(0, |v| v.len());
        Ok(FineTunePlan {
            train_images: self.session.train_set().len(),
            validation_images,
            warnings: validation_warnings(validation_images),
            start_validation,
            steps_per_epoch: self.session.steps_per_epoch(),
            total_steps: self.session.total_steps(),
            classes: self.info.classes.clone(),
            head_reinitialised,
            class_starts,
            uses_feature_cache: self.session.uses_feature_cache(),
        })
    }

    /// The next steps' reports (as many as the pacer says; the last has `done` set when the
    /// run is over). After [`FineTuneError::Diverged`] the run is unusable: the caller
    /// [`cancel`](Self::cancel)s it to get the model from before it back.
    pub async fn steps(&mut self) -> Result<Vec<StepReport>, FineTuneError> {
        let started = web_time::Instant::now();
        let reports = self.session.steps(self.pacer.steps()).await?;
        self.pacer.record(reports.len(), started.elapsed().as_secs_f64() * 1e3);
        match session::divergence(&reports) {
            Some(diverged) => Err(FineTuneError::Diverged(diverged)),
            None => Ok(reports),
        }
    }

    /// Whether every planned step has run.
    pub fn is_done(&self) -> bool {
        self.session.is_done()
    }

    /// Ends the run (early or not): the best-on-validation weights when a validation set
    /// chose them (so a run never ends below its start), else the weights as they stand.
    pub fn finish(self) -> FineTuneOutcome {
        let (model, info, kept) = self.kept();
        let mut examples = self.session.train_set().clone();
        if let Some(validation) = self.session.validation_set() {
            examples.images.extend_from_slice(&validation.images);
            examples.labels.extend_from_slice(&validation.labels);
        }
        examples.names.clear();
        FineTuneOutcome { model, info, kept, examples }
    }

    /// What [`Self::finish`] would keep if the run ended now, with its description, while the run
    /// goes on: the page stores it after every epoch, so a crash leaves the last kept epoch.
    /// Stored exactly (f32): quantising is a shipping step, not something a fine-tune does.
    pub fn kept(&self) -> (SeCnn, ModelInfo, Option<KeptEpoch>) {
        let images = self.session.train_set().len() + self.session.validation_set().map_or(0, |v| v.len());
        let epochs = self.session.trainer.progress.epoch;
        let (model, kept) = match self.session.best() {
            Some(best) => (best.model.clone(), Some(KeptEpoch { epoch: best.epoch, epochs, accuracy: best.accuracy })),
            None => (self.session.trainer.inference_model(), None),
        };
        let mut info = self.info.clone();
        info.description = describe_run(images, epochs, &self.previous.1.name, kept);
        info.forget_accuracy();
        info.storage = crate::weights::Storage::F32;
        (model, info, kept)
    }

    /// Abandons the run: the model and description from before it.
    pub fn cancel(self) -> (SeCnn, ModelInfo) {
        self.previous
    }
}

/// The description a fine-tuned weights file carries (read by people opening the file later).
fn describe_run(images: usize, epochs: usize, from: &str, kept: Option<KeptEpoch>) -> String {
    let kept = kept.map_or(String::new(), |k| {
        format!(
            "; kept the weights after epoch {} of {}, the best on validation ({:.1} %)",
            k.epoch,
            k.epochs,
            100.0 * k.accuracy
        )
    });
    format!("Fine-tuned in the browser on {images} images ({epochs} epochs) from: {from}{kept}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_follow_one_rule() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_class_names(&names(&["cat", "dog"])).is_ok());
        assert!(matches!(check_class_names(&names(&["cat"])), Err(FineTuneError::ClassCount(1))));
        assert!(matches!(check_class_names(&names(&["cat", " "])), Err(FineTuneError::EmptyClassName)));
        assert!(matches!(check_class_names(&names(&["Cat", "cat "])), Err(FineTuneError::DuplicateClass(_))));
    }

    #[test]
    fn few_validation_images_warn_with_their_weight() {
        assert_eq!(validation_warnings(0), vec![FineTuneWarning::NoValidationImages]);
        assert_eq!(
            validation_warnings(4),
            vec![FineTuneWarning::FewValidationImages { images: 4, points_per_image: 25.0 }]
        );
        assert!(validation_warnings(MIN_VALIDATION_IMAGES).is_empty());
        let json = serde_json::to_value(&validation_warnings(4)[0]).unwrap();
        assert_eq!(json["code"], "few-validation-images");
        assert_eq!(json["pointsPerImage"], 25.0);
    }
}
