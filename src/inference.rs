//! Classification and explanation of single images: top-k, the SE weights of every block, the
//! feature maps of the most- and least-attended channels, and Grad-CAM.
//!
//! All reads are async so the browser (WebGPU) and the CLI share this code.

use crate::{
    backend::DeviceError,
    data::{self, Planes},
    model::SeCnn,
};
use burn::{prelude::*, tensor::activation::softmax};
use serde::{Deserialize, Serialize};

/// One ranked class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassScore {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// One channel's attended feature map.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelMap {
    pub channel: usize,
    /// SE weight of this channel, in (0, 1).
    pub weight: f32,
    /// Side of the square map (the block's resolution: 32, 16 or 8 for the seed's blocks).
    pub size: usize,
    /// Row-major values, `size * size`.
    pub values: Vec<f32>,
}

/// What one block's channel attention did for the image.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockAttention {
    /// SE weight per channel, in channel order.
    pub se_weights: Vec<f32>,
    /// The `k` channels with the highest weights, highest first.
    pub most_attended: Vec<ChannelMap>,
    /// The `k` channels with the lowest weights, lowest first.
    pub least_attended: Vec<ChannelMap>,
    /// The map asked for by [`ExplainOptions::map`] when it is in this block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<ChannelMap>,
}

/// What [`explain`] computes besides the forward pass.
#[derive(Debug, Clone, Default)]
pub struct ExplainOptions {
    /// How many classes to list, most probable first.
    pub top_k: usize,
    /// How many of the most and of the least attended feature maps each block shows.
    pub channels: usize,
    /// Grad-CAM's class (default: the most probable).
    pub cam_class: Option<usize>,
    /// Averages the logits with the mirror image's (attention stays the image's own).
    pub tta: bool,
    /// One more feature map, by (block index from 0, channel); ignored when out of range.
    pub map: Option<(usize, usize)>,
}

/// A Grad-CAM heatmap for one class.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GradCam {
    pub class: usize,
    pub label: String,
    /// Side of the raw map (the last block's resolution before pooling: 8 for the seed).
    pub raw_size: usize,
    /// Raw map, ReLU'd and scaled to [0, 1] by its maximum.
    pub raw: Vec<f32>,
    /// Side of the upsampled map (the model's input size: 32 for the seed).
    pub size: usize,
    /// Bilinearly upsampled map, row-major, in [0, 1].
    pub values: Vec<f32>,
}

/// Everything the page shows about one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// Logits for every class, in class order (what an exported ONNX graph outputs).
    pub logits: Vec<f32>,
    /// Probabilities for every class, in class order: the softmax of `logits`.
    pub probabilities: Vec<f32>,
    pub top: Vec<ClassScore>,
    pub blocks: Vec<BlockAttention>,
    pub gradcam: GradCam,
}

/// Top-`k` classes for each image of a batch (`tta`: average with the mirrored image).
pub async fn classify(
    model: &SeCnn,
    images: &[&Planes],
    classes: &[String],
    k: usize,
    tta: bool,
    device: &Device,
) -> Result<Vec<Vec<ClassScore>>, DeviceError> {
    let batch = data::batch_tensor(images, device);
    let forward = || softmax(model.logits(batch, tta), 1);
    // One image's loops are too small to wake a sleeping thread for each (natively).
    let probabilities = if images.len() == 1 { crate::cpu::with_helper(forward) } else { forward() };
    let probabilities = read_f32(probabilities).await?;
    Ok(probabilities
        .chunks(classes.len().max(1))
        .map(|row| top_k(row, classes, k))
        .collect())
}

/// The softmax of one row of logits (on the CPU: one read gives both).
fn softmax_row(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Sorts class probabilities and keeps the best `k`.
pub fn top_k(probabilities: &[f32], classes: &[String], k: usize) -> Vec<ClassScore> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    order
        .into_iter()
        .take(k)
        .map(|index| ClassScore {
            index,
            label: classes.get(index).cloned().unwrap_or_else(|| format!("class {index}")),
            probability: probabilities[index],
        })
        .collect()
}

/// Reads a float tensor back to the host.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, DeviceError> {
    tensor
        .into_data_async()
        .await
        .map_err(DeviceError::from_debug)?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(DeviceError::from_debug)
}

/// SE weights `[channels]` per block for one image (cheap: no feature maps are read).
pub async fn se_weights(model: &SeCnn, image: &Planes, device: &Device) -> Result<Vec<Vec<f32>>, DeviceError> {
    let explained = model.forward_explained(data::batch_tensor(&[image], device));
    let mut out = Vec::with_capacity(explained.blocks.len());
    for block in explained.blocks {
        out.push(read_f32(block.se_weights).await?);
    }
    Ok(out)
}

/// Explains one image: probabilities, the top classes, per-block attention with the most and
/// least attended channel maps (and the one asked for), and Grad-CAM, as `options` say.
pub async fn explain(
    model: &SeCnn,
    image: &Planes,
    classes: &[String],
    options: &ExplainOptions,
    device: &Device,
) -> Result<Explanation, DeviceError> {
    let ExplainOptions { top_k, channels, cam_class, tta, map: requested } = options.clone();
    let batch = data::batch_tensor(&[image], device);
    let explained = model.forward_explained(batch.clone());
    let logits = match tta {
        true => (explained.logits + model.forward(batch.flip([3]))).div_scalar(2.0),
        false => explained.logits,
    };
    let logits = read_f32(logits).await?;
    let probabilities = softmax_row(&logits);
    let top = self::top_k(&probabilities, classes, top_k);
    let mut blocks = Vec::with_capacity(explained.blocks.len());
    for (index, trace) in explained.blocks.into_iter().enumerate() {
        let weights = read_f32(trace.se_weights).await?;
        let [_, block_channels, size, _] = trace.features.dims();
        let features = read_f32(trace.features).await?;
        let map = |channel: usize| ChannelMap {
            channel,
            weight: weights[channel],
            size,
            values: features[channel * size * size..(channel + 1) * size * size].to_vec(),
        };
        let mut order: Vec<usize> = (0..block_channels).collect();
        order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
        let shown = channels.min(block_channels);
        blocks.push(BlockAttention {
            most_attended: order[..shown].iter().map(|&c| map(c)).collect(),
            least_attended: order[block_channels - shown..].iter().rev().map(|&c| map(c)).collect(),
            requested: requested.filter(|&(block, channel)| block == index && channel < block_channels).map(|(_, c)| map(c)),
            se_weights: weights,
        });
    }
    // The default is the most probable class, whatever `top_k` (0 keeps no top list).
    let most_probable = || self::top_k(&probabilities, classes, 1).first().map_or(0, |best| best.index);
    let class = cam_class.unwrap_or_else(most_probable).min(probabilities.len().saturating_sub(1));
    let gradcam = grad_cam(model, image, class, classes, device).await?;
    Ok(Explanation {
        logits,
        probabilities,
        top,
        blocks,
        gradcam,
    })
}

/// Grad-CAM on the last block's attended feature maps: channel weights are the spatial mean
/// of d(class logit)/d(feature), the map is `ReLU(Σ_c weight_c · feature_c)`, scaled to [0, 1].
pub async fn grad_cam(
    model: &SeCnn,
    image: &Planes,
    class: usize,
    classes: &[String],
    device: &Device,
) -> Result<GradCam, DeviceError> {
    // The convolutional part runs without autodiff; the last block's output becomes a leaf so
    // its gradient can be read (the model's weights act as constants).
    let model = model.valid();
    let plain = model.last_block_features(data::batch_tensor(&[image], device));
    let features = plain.clone().autodiff().require_grad();
    let logits = model.head_from_last_block(features.clone());
    let [_, num_classes] = logits.dims();
    let class = class.min(num_classes - 1);
    let score = logits.slice([0..1, class..class + 1]).sum();
    let grads = score.backward();
    let gradient = features
        .grad(&grads)
        .ok_or_else(|| DeviceError("Grad-CAM: no gradient reached the last block".into()))?;
    let features = plain;
    let [_, channels, size, _] = features.dims();
    let input_size = image.side();
    let weights = gradient.reshape([1, channels, size * size]).mean_dim(2); // [1, C, 1]
    let cam = (features.reshape([1, channels, size * size]) * weights)
        .sum_dim(1)
        .clamp_min(0.0); // [1, 1, size²]
    let mut raw = read_f32(cam).await?;
    let max = raw.iter().cloned().fold(0.0f32, f32::max);
    if max > 0.0 {
        raw.iter_mut().for_each(|v| *v /= max);
    }
    Ok(GradCam {
        class,
        label: classes.get(class).cloned().unwrap_or_else(|| format!("class {class}")),
        raw_size: size,
        values: upsample_bilinear(&raw, size, input_size),
        size: input_size,
        raw,
    })
}

/// Bilinear upsampling of a square map (pixel centres aligned, like `align_corners=False`).
pub fn upsample_bilinear(map: &[f32], from: usize, to: usize) -> Vec<f32> {
    let scale = from as f32 / to as f32;
    let sample = |coordinate: usize| {
        let source = ((coordinate as f32 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f32);
        let low = source.floor() as usize;
        (low, (low + 1).min(from - 1), source - low as f32)
    };
    let mut out = Vec::with_capacity(to * to);
    for y in 0..to {
        let (y0, y1, fy) = sample(y);
        for x in 0..to {
            let (x0, x1, fx) = sample(x);
            let top = map[y0 * from + x0] * (1.0 - fx) + map[y0 * from + x1] * fx;
            let bottom = map[y1 * from + x0] * (1.0 - fx) + map[y1 * from + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_keeps_constants_and_interpolates_between_centres() {
        assert!(upsample_bilinear(&[0.5; 4], 2, 8).iter().all(|&v| (v - 0.5).abs() < 1e-6));
        // 2 → 4 along a ramp 0, 1: output centres sit at source positions -0.25, 0.25, 0.75, 1.25.
        let out = upsample_bilinear(&[0.0, 1.0, 0.0, 1.0], 2, 4);
        assert_eq!(&out[..4], &[0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn top_k_sorts_and_names_classes() {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let top = top_k(&[0.2, 0.7, 0.1], &classes, 2);
        assert_eq!((top[0].label.as_str(), top[1].label.as_str()), ("b", "a"));
    }
}
