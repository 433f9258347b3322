//! A classifier for new classes that starts from what the network already knows, so a
//! fine-tune begins usable instead of at chance:
//! - a class whose name matches one of the loaded model's keeps that class's row of the last layer;
//! - any other class is *imprinted* from its examples (Qi et al. 2018): its row is the mean of
//!   their penultimate features, with the bias that makes the layer a nearest-class-mean
//!   classifier (`w·f − |w|²/2` ranks classes by distance to their mean), scaled to the size of
//!   the trained rows;
//! - a class with neither keeps a fresh random row.

use crate::{
    backend::DeviceError,
    data::{self, ImageSet, Planes},
    inference::read_f32,
    model::SeCnn,
};
use burn::{module::Param, nn::LinearConfig, prelude::*};
use serde::Serialize;

/// How one class of the new last layer started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassStart {
    /// The loaded model's row for a class of the same name.
    Kept,
    /// The mean penultimate features of the class's examples.
    Imprinted,
    /// A fresh random row (no matching name, no examples).
    Random,
}

/// Whether two class names mean the same class ("Cat" and " cat" do).
pub fn same_class(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Penultimate features `[n, hidden]` of `images`, row-major on the host (batches of 64).
pub async fn embeddings(model: &SeCnn, images: &[Planes], device: &Device) -> Result<Vec<f32>, DeviceError> {
    let mut out = Vec::new();
    for chunk in images.chunks(64) {
        let planes: Vec<&Planes> = chunk.iter().collect();
        let features = model.features(data::batch_tensor(&planes, device));
        out.extend(read_f32(model.embed(features)).await?);
    }
    Ok(out)
}

/// `model` (trained for `known` classes) with a last layer for `classes`, started as the
/// module documentation says from `examples` (labels index `classes`). Returns how each class
/// started.
pub async fn head_for_classes(
    model: &SeCnn,
    known: &[String],
    classes: &[String],
    examples: &ImageSet,
    device: &Device,
) -> Result<(SeCnn, Vec<ClassStart>), DeviceError> {
    let [hidden, old_count] = model.fc2.weight.dims();
    let old_weight = read_f32(model.fc2.weight.val()).await?; // [hidden, old_count]
    let old_bias = match &model.fc2.bias {
        Some(bias) => read_f32(bias.val()).await?,
        None => vec![0.0; old_count],
    };
    let fresh = LinearConfig::new(hidden, classes.len()).init(device);
    let mut weight = read_f32(fresh.weight.val()).await?; // [hidden, classes]
    let mut bias = vec![0.0f32; classes.len()];
    let column_norm = |w: &[f32], count: usize, j: usize| (0..hidden).map(|i| w[i * count + j].powi(2)).sum::<f32>().sqrt();
    let trained_norm = (0..old_count).map(|j| column_norm(&old_weight, old_count, j)).sum::<f32>() / old_count.max(1) as f32;

    let valid = model.valid();
    let features = embeddings(&valid, &examples.images, device).await?;
    let mut starts = Vec::with_capacity(classes.len());
    for (c, name) in classes.iter().enumerate() {
        let start = if let Some(j) = known.iter().position(|k| same_class(k, name)) {
            (0..hidden).for_each(|i| weight[i * classes.len() + c] = old_weight[i * old_count + j]);
            bias[c] = old_bias[j];
            ClassStart::Kept
        } else if let Some(mean) = class_mean(&features, &examples.labels, c, hidden) {
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
            let scale = trained_norm / norm;
            (0..hidden).for_each(|i| weight[i * classes.len() + c] = scale * mean[i]);
            bias[c] = -scale * norm * norm / 2.0;
            ClassStart::Imprinted
        } else {
            ClassStart::Random
        };
        starts.push(start);
    }
    let mut model = model.clone();
    let mut fc2 = fresh;
    fc2.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, [hidden, classes.len()]), device));
    fc2.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [classes.len()]), device)));
    model.fc2 = fc2;
    Ok((model, starts))
}

/// Mean of the `hidden`-wide rows of `features` whose label is `class`, if any.
fn class_mean(features: &[f32], labels: &[usize], class: usize, hidden: usize) -> Option<Vec<f32>> {
    let rows: Vec<&[f32]> = features
        .chunks(hidden)
        .zip(labels)
        .filter(|&(_, &label)| label == class)
        .map(|(row, _)| row)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut mean = vec![0.0f32; hidden];
    for row in &rows {
        mean.iter_mut().zip(*row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= rows.len() as f32);
    Some(mean)
}
