//! The input rule the graph's `image` follows (secnn's README, "Input rule"): the image resized
//! and centre-cropped to `size`×`size`, scaled to [0, 1], then `(x − mean) / std` per channel.
//! The graph takes the normalised tensor, as the seed's PyTorch model does; the rule travels in
//! its metadata so that a runtime elsewhere can prepare images the same way.

use crate::OnnxError;
use serde::{Deserialize, Serialize};

/// Size and per-channel normalisation of the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRule {
    /// Side of the square input in pixels; when absent, the one the weights imply. When given,
    /// it must be that one.
    #[serde(default)]
    pub size: Option<usize>,
    /// Per-channel mean of the [0, 1] pixels (R, G, B).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (R, G, B).
    pub std: [f32; 3],
}

impl InputRule {
    /// The rule as JSON (`{"size": 32, "mean": [...], "std": [...]}`), refused by name when it
    /// is not one.
    pub fn from_json(json: &str) -> Result<Self, OnnxError> {
        serde_json::from_str(json).map_err(|e| OnnxError::BadInputRule(format!("not {{size, mean: [r, g, b], std: [r, g, b]}} ({e})")))
    }

    /// The rule for a model of `input_size` px: refused when its means or deviations are not
    /// finite (or a deviation not above 0), or its size is another.
    pub fn for_size(self, input_size: usize) -> Result<Self, OnnxError> {
        if !self.mean.iter().chain(&self.std).all(|v| v.is_finite()) || self.std.iter().any(|&s| s <= 0.0) {
            return Err(OnnxError::BadInputRule(format!("mean {:?} and std {:?} must be finite, std above 0", self.mean, self.std)));
        }
        match self.size {
            Some(size) if size != input_size => {
                Err(OnnxError::BadInputRule(format!("size {size} px, but the weights are of a model of {input_size} px")))
            }
            _ => Ok(Self { size: Some(input_size), ..self }),
        }
    }
}
