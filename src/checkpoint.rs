//! Epoch checkpoints, so a long run can span several sittings: `train --resume` continues with
//! the same model, optimizer state, schedule, epoch and random streams.
//!
//! A run directory holds `model.bpk` (the weights file, loadable by every command: with EMA on,
//! the weights' average), `live.bpk` (with EMA on only: the weights the optimizer steps),
//! `optimizer.bpk` (optimizer state keyed by parameter id) and `state.json` (everything else).

use crate::{
    training::{Progress, Trainer, TrainingConfig},
    weights::{self, ModelInfo, WeightsError},
};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Summary of one finished epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub validation_loss: Option<f64>,
    pub validation_accuracy: Option<f64>,
    pub lr: f64,
    pub seconds: f64,
}

/// Everything in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub config: TrainingConfig,
    pub progress: Progress,
    /// Dataset the run trains on.
    pub data: PathBuf,
    /// The teacher's logits file of a distillation run.
    #[serde(default)]
    pub teacher: Option<PathBuf>,
    pub history: Vec<EpochRecord>,
}

/// File names inside a run directory.
pub const MODEL_FILE: &str = "model.bpk";
/// The weights the optimizer steps, when `model.bpk` holds their average (EMA on).
pub const LIVE_FILE: &str = "live.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";

/// Why a checkpoint could not be written or read back. The I/O and JSON variants name the
/// file and chain the cause, so `{:#}` prints `path: cause`.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{} (is this a run directory?)", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The optimizer state could not be saved or restored.
    #[error("{0}")]
    Optimizer(String),
}

/// Writes `bytes` to `path` through a temporary file, so an interrupted write never leaves a
/// half-written checkpoint behind.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(tmp, path))
        .map_err(|source| CheckpointError::Write { path: path.to_path_buf(), source })
}

/// Saves the trainer's model (and with EMA its average), optimizer and progress into `dir`.
pub fn save(dir: &Path, trainer: &Trainer, info: &ModelInfo, state: &RunState) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Write { path: dir.to_path_buf(), source })?;
    // Full precision, whatever the run's output uses: resuming must continue the exact run.
    let exact = ModelInfo { storage: weights::Storage::F32, ..info.clone() };
    let to_bytes = |model| futures_lite::future::block_on(weights::to_bytes(model, &exact));
    let model = to_bytes(trainer.average().unwrap_or(&trainer.model))?;
    let live = trainer.average().map(|_| to_bytes(&trainer.model)).transpose()?;
    let optimizer = trainer
        .optimizer_bytes()
        .map_err(|e| CheckpointError::Optimizer(e.to_string()))?;
    let state_path = dir.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state)
        .map_err(|source| CheckpointError::Json { path: state_path.clone(), source })?;
    // The state file goes last: it is what marks the checkpoint complete.
    write_atomic(&dir.join(MODEL_FILE), &model)?;
    if let Some(live) = live {
        write_atomic(&dir.join(LIVE_FILE), &live)?;
    }
    write_atomic(&dir.join(OPTIMIZER_FILE), &optimizer)?;
    write_atomic(&state_path, &json)
}

/// A checkpoint read back from disk.
pub struct Restored {
    pub trainer: Trainer,
    pub info: ModelInfo,
    pub state: RunState,
}

/// Rebuilds a trainer from `dir`. `epochs` (when given) extends or shortens the run.
pub fn restore(dir: &Path, steps_per_epoch: usize, epochs: Option<usize>, device: &Device) -> Result<Restored, CheckpointError> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).map_err(|source| CheckpointError::Read { path, source })
    };
    let state_path = dir.join(STATE_FILE);
    let mut state: RunState = serde_json::from_slice(&read(STATE_FILE)?)
        .map_err(|source| CheckpointError::Json { path: state_path, source })?;
    if let Some(epochs) = epochs {
        state.config.epochs = epochs;
    }
    let loaded = weights::load(&read(MODEL_FILE)?, device)?;
    let (model, average) = match state.config.ema {
        Some(_) => (weights::load(&read(LIVE_FILE)?, device)?.model, Some(loaded.model)),
        None => (loaded.model, None),
    };
    let mut trainer = Trainer::new(model, state.config.clone(), steps_per_epoch, device);
    trainer
        .restore(&read(OPTIMIZER_FILE)?, state.progress.clone())
        .map_err(|e| CheckpointError::Optimizer(e.to_string()))?;
    if let Some(average) = average {
        trainer.restore_average(average);
    }
    Ok(Restored {
        trainer,
        info: loaded.info,
        state,
    })
}
