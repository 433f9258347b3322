//! What the SE weights usually are: for each block, the mean excitation vector of all images and
//! of each class, with their spread (Hu et al., "Squeeze-and-Excitation Networks", §7: early
//! blocks excite the same channels for every class, the last ones become class-specific).
//! Stored in the weights file's description, so a page can show how one image's attention
//! differs from the average image's and from its class's.

use crate::{SeCnn, backend::DeviceError, data::ImageSet, inference, training};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The per-class SE profiles of a model on a set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeProfiles {
    /// How many images were measured, and which (e.g. "CIFAR-10 test, 10000 images").
    pub images: usize,
    pub measured_on: String,
    /// One per block, in order.
    pub blocks: Vec<BlockProfile>,
}

/// One block's profile. Values are rounded to 3 decimals: a few kilobytes per file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockProfile {
    /// Mean SE weight of each channel over all images (`[channels]`).
    pub mean: Vec<f32>,
    /// Standard deviation of each channel's SE weight over all images (`[channels]`).
    pub spread: Vec<f32>,
    /// Mean SE weights of each class's images (`[classes][channels]`; empty for a class without images).
    pub class_means: Vec<Vec<f32>>,
    /// Images of each class.
    pub class_counts: Vec<usize>,
    /// Root-mean-square distance of a class's vectors from the class mean (`[classes]`).
    pub class_spreads: Vec<f32>,
    /// How class-specific the block is: the mean distance between two class means, divided by
    /// the mean within-class spread (0: every class excites alike).
    pub specificity: f32,
}

/// Running sums of one block's SE vectors, per class.
struct Sums {
    count: Vec<usize>,
    sum: Vec<Vec<f64>>,
    sum_sq: Vec<Vec<f64>>,
}

impl Sums {
    fn new(classes: usize, channels: usize) -> Self {
        Self { count: vec![0; classes], sum: vec![vec![0.0; channels]; classes], sum_sq: vec![vec![0.0; channels]; classes] }
    }

    fn add(&mut self, class: usize, weights: &[f32]) {
        self.count[class] += 1;
        for (channel, &w) in weights.iter().enumerate() {
            self.sum[class][channel] += w as f64;
            self.sum_sq[class][channel] += (w as f64) * (w as f64);
        }
    }
}

fn round3(value: f64) -> f32 {
    ((value * 1000.0).round() / 1000.0) as f32
}

/// Mean and variance per channel from a count, sums and sums of squares.
fn moments(count: usize, sum: &[f64], sum_sq: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let variance = sum_sq.iter().zip(&mean).map(|(q, m)| (q / n - m * m).max(0.0)).collect();
    (mean, variance)
}

impl BlockProfile {
    fn from_sums(sums: &Sums) -> Self {
        let channels = sums.sum[0].len();
        let total: usize = sums.count.iter().sum();
        let column = |rows: &[Vec<f64>], c: usize| rows.iter().map(|r| r[c]).sum::<f64>();
        let all_sum: Vec<f64> = (0..channels).map(|c| column(&sums.sum, c)).collect();
        let all_sq: Vec<f64> = (0..channels).map(|c| column(&sums.sum_sq, c)).collect();
        let (mean, variance) = moments(total, &all_sum, &all_sq);
        let mut class_means = Vec::new();
        let mut class_spreads = Vec::new();
        for class in 0..sums.count.len() {
            let (m, v) = moments(sums.count[class], &sums.sum[class], &sums.sum_sq[class]);
            class_means.push(if sums.count[class] == 0 { Vec::new() } else { m });
            class_spreads.push(v.iter().sum::<f64>().sqrt());
        }
        let specificity = specificity(&class_means, &class_spreads, &sums.count);
        Self {
            mean: mean.iter().map(|&m| round3(m)).collect(),
            spread: variance.iter().map(|v| round3(v.sqrt())).collect(),
            class_means: class_means.iter().map(|m| m.iter().map(|&v| round3(v)).collect()).collect(),
            class_counts: sums.count.clone(),
            class_spreads: class_spreads.iter().map(|&s| round3(s)).collect(),
            specificity: (specificity * 100.0).round() as f32 / 100.0,
        }
    }
}

/// Mean distance between the means of two classes that have images, over the mean within-class spread.
fn specificity(means: &[Vec<f64>], spreads: &[f64], counts: &[usize]) -> f64 {
    let present: Vec<usize> = (0..means.len()).filter(|&c| counts[c] > 0).collect();
    let mut distances = Vec::new();
    for (i, &a) in present.iter().enumerate() {
        for &b in &present[i + 1..] {
            distances.push(means[a].iter().zip(&means[b]).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt());
        }
    }
    let within = present.iter().map(|&c| spreads[c]).sum::<f64>() / present.len().max(1) as f64;
    match (distances.is_empty(), within > 0.0) {
        (false, true) => distances.iter().sum::<f64>() / distances.len() as f64 / within,
        _ => 0.0,
    }
}

/// The profiles of `model` on `set` (labels give the classes), `batch_size` images at a time.
/// Reads asynchronously, so this runs on WebGPU in the browser too.
pub async fn measure(model: &SeCnn, set: &ImageSet, measured_on: &str, batch_size: usize, device: &Device) -> Result<SeProfiles, DeviceError> {
    let model = model.valid();
    let classes = set.classes.len();
    let mut sums: Vec<Sums> = model.widths().iter().map(|&c| Sums::new(classes, c)).collect();
    let indices: Vec<usize> = (0..set.len()).collect();
    for batch in indices.chunks(batch_size.max(1)) {
        let (images, _) = training::make_batch(set, batch, false, &mut training::epoch_rng(0, 0), device);
        let trace = model.forward_explained(images);
        for (block, sums) in trace.blocks.into_iter().zip(&mut sums) {
            let channels = block.se_weights.dims()[1];
            let values = inference::read_f32(block.se_weights).await?;
            for (row, &index) in values.chunks(channels).zip(batch) {
                sums.add(set.labels[index], row);
            }
        }
    }
    Ok(SeProfiles { images: set.len(), measured_on: measured_on.to_string(), blocks: sums.iter().map(BlockProfile::from_sums).collect() })
}
