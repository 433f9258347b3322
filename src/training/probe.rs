//! Training steps on random pixels: what a backend is timed on before a run is placed on it
//! (the page times the CPU and WebGPU this way before it fine-tunes).

use super::{
    config::{Freeze, Schedule, TrainingConfig, epoch_rng},
    trainer::{Trainer, make_batch, read_metrics},
};
use crate::{backend::DeviceError, data::ImageSet, model::SeCnn};
use burn::prelude::*;

/// The work a probe step does: everything trains, augmented, as in the heaviest fine-tune.
pub fn probe_config(batch_size: usize) -> TrainingConfig {
    TrainingConfig {
        batch_size,
        freeze: Freeze::None,
        augment: true,
        schedule: Schedule::Constant,
        ..TrainingConfig::fine_tune()
    }
}

/// Runs `steps` steps of [`probe_config`] on `batch` images of random pixels, on a copy of
/// `model` (which stays as it is), and waits until the device has finished the last one.
pub async fn train_on_noise(model: &SeCnn, classes: &[String], batch: usize, steps: usize, device: &Device) -> Result<(), DeviceError> {
    let mut rng = epoch_rng(0, 0);
    let set = ImageSet::noise(batch, model.input_size(), classes.to_vec(), &mut rng);
    let indices: Vec<usize> = (0..batch).collect();
    let mut trainer = Trainer::new(model.clone(), probe_config(batch), 1, device);
    let pending = (0..steps)
        .map(|_| {
            let (images, labels) = make_batch(&set, &indices, true, &mut rng, device);
            trainer.queue_step(images, labels)
        })
        .collect();
    read_metrics(pending).await?;
    Ok(())
}
