//! The learning-rate schedule: the rate of every step, and the plateau schedule's epoch-end
//! bookkeeping (saved in checkpoints as [`ScheduleState`]).

use super::config::{Schedule, TrainingConfig};
use serde::{Deserialize, Serialize};

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

impl ScheduleState {
    /// Closes an epoch for the plateau schedule, which looks at `monitored_loss` (validation
    /// loss, or the training loss when there is no validation set); other schedules keep no
    /// per-epoch state.
    pub(super) fn end_epoch(&mut self, config: &TrainingConfig, monitored_loss: f64) {
        if config.schedule == Schedule::Plateau && monitored_loss.is_finite() {
            // PyTorch's default threshold: relative improvement of 1e-4.
            match self.best_loss {
                Some(best) if monitored_loss >= best * (1.0 - 1e-4) => {
                    self.bad_epochs += 1;
                    if self.bad_epochs > config.patience {
                        self.lr *= config.factor;
                        self.bad_epochs = 0;
                    }
                }
                _ => {
                    self.best_loss = Some(monitored_loss);
                    self.bad_epochs = 0;
                }
            }
        }
    }
}
