//! Accuracy, loss and the confusion matrix of a model over a labelled set.

use super::trainer::make_batch;
use crate::{backend::DeviceError, data::ImageSet, inference::read_f32, model::SeCnn};
use burn::{nn::loss::CrossEntropyLossConfig, prelude::*};
use rand::{SeedableRng, rngs::SmallRng};
use serde::{Deserialize, Serialize};

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
