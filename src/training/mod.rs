//! One training loop for every caller: the native CLI runs it over epochs, the browser drives
//! it a few steps at a time. [`Trainer::queue_step`] leaves a step's metrics on the device and
//! [`read_metrics`] reads a group of them at once, so a GPU is not waited for after every step.
//! Reads go through async APIs so the same code runs on WebGPU, where synchronous reads are not
//! allowed.
//!
//! - `config`: the settings of a run ([`TrainingOptions`] → [`TrainingConfig`]), the optimizer
//!   they name, the validation split and the seeded RNG of each epoch;
//! - `schedule`: the learning rate of every step, and the plateau schedule's state;
//! - `cutout`: the cutout augmentation ([`Cutout`]), on top of `data`'s crop + flip;
//! - `ema`: the moving average of the weights ([`WeightAverage`]) and its warm-up;
//! - `trainer`: the [`Trainer`], batches, freezing, and step metrics;
//! - `evaluation`: accuracy, loss and confusion matrix over a labelled set;
//! - `probe`: training steps on random pixels, to time a backend.
//!
//! The modules stay private; every item is re-exported here, so callers name
//! `crate::training::X` whatever file it lives in. Dependencies run one way:
//! `config` ← `schedule` ← `trainer` ← `evaluation`, `probe`; `cutout`, `ema` ← `trainer`.

mod adam;
mod config;
mod cutout;
mod ema;
mod evaluation;
mod probe;
mod schedule;
mod trainer;

pub use config::{Freeze, MAX_EMA_DECAY, OptimizerKind, Schedule, TrainingConfig, TrainingOptions, epoch_rng};
pub use cutout::{CUTOUT_FILL, Cutout, cut};
pub use ema::{WeightAverage, ema_decay};
pub use evaluation::{Evaluation, evaluate};
pub use probe::{probe_config, train_on_noise};
pub use schedule::{ScheduleState, learning_rate};
pub use trainer::{
    OptimizerStateError, PendingMetrics, Progress, StepMetrics, Trainer, apply_freeze, make_batch, make_training_batch,
    read_metrics,
};
