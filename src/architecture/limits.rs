//! How large a member of the family every front end takes: the browser's wasm memory is at most
//! 4 GiB, and a fine-tune holds the weights several times over (the model, its gradients,
//! Adam's two moments, the weights from before the run and the best epoch's) plus a batch's
//! activations for the backward pass. Both are estimated from the architecture alone, so a model
//! over the limits is refused before anything is allocated. The CLI keeps the same limits: what it
//! trains, the page loads.

use crate::model::SeCnnConfig;
use serde::Serialize;

/// Fewest and most blocks.
pub const MIN_BLOCKS: usize = 1;
pub const MAX_BLOCKS: usize = 6;
/// Fewest and most classes a model predicts.
pub const MIN_CLASSES: usize = 2;
pub const MAX_CLASSES: usize = 1000;
/// The largest input side in pixels.
pub const MAX_INPUT_SIZE: usize = 512;
/// The most trainable parameters: 128 MB of f32 weights.
pub const MAX_PARAMETERS: u64 = 32_000_000;
/// The batch the memory limit is stated for (the page's largest fine-tuning batch).
pub const FINE_TUNE_BATCH: usize = 64;
/// The most memory a fine-tune at [`FINE_TUNE_BATCH`] may need by [`SeCnnConfig::fine_tune_bytes`]:
/// 2 GiB, half of wasm's 4 GiB, leaving the rest for the page's examples, the module and the
/// allocator's fragmentation.
pub const MAX_FINE_TUNE_BYTES: u64 = 2 << 30;

/// Copies of the weights a fine-tune holds: the model, its gradients, Adam's two moments, the
/// weights from before the run, the best epoch's, the optimizer step's new weights.
/// Measured: a fine-tune at batch 64 holds about half of [`SeCnnConfig::fine_tune_bytes`]
/// (`tests/memory.rs`, `the_memory_estimate_covers_a_measured_fine_tune`).
const WEIGHT_COPIES: u64 = 7;
/// Activations kept per value of a block's output for the backward pass (convolution, batch
/// norm and ReLU outputs, the SE-scaled maps, their gradients while they flow), per image.
const ACTIVATION_COPIES: u64 = 8;

/// The limits as data (for the page and the README).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub min_blocks: usize,
    pub max_blocks: usize,
    pub min_classes: usize,
    pub max_classes: usize,
    pub max_input_size: usize,
    pub max_parameters: u64,
    pub fine_tune_batch: usize,
    pub max_fine_tune_bytes: u64,
}

pub const LIMITS: Limits = Limits {
    min_blocks: MIN_BLOCKS,
    max_blocks: MAX_BLOCKS,
    min_classes: MIN_CLASSES,
    max_classes: MAX_CLASSES,
    max_input_size: MAX_INPUT_SIZE,
    max_parameters: MAX_PARAMETERS,
    fine_tune_batch: FINE_TUNE_BATCH,
    max_fine_tune_bytes: MAX_FINE_TUNE_BYTES,
};

impl SeCnnConfig {
    /// Trainable parameters of the model this config builds (as `SeCnn::trainable_params`
    /// counts them): per block the convolution with its bias, BatchNorm's scale and shift and
    /// the SE bottleneck's two matrices, then both linear layers with their biases. Saturating,
    /// so an absurd config (from a damaged file) counts as too large instead of overflowing.
    pub fn parameters(&self) -> u64 {
        let (mut inputs, mut total) = (3u64, 0u64);
        for &c in &self.widths {
            let (c, bottleneck) = (c as u64, self.bottleneck(c) as u64);
            let block = c.saturating_mul(inputs.saturating_mul(9).saturating_add(3).saturating_add(bottleneck.saturating_mul(2)));
            total = total.saturating_add(block);
            inputs = c;
        }
        let flat = (self.widths.last().copied().unwrap_or(0) as u64).saturating_mul((self.final_side() as u64).pow(2));
        let (hidden, classes) = (self.hidden as u64, self.num_classes as u64);
        total.saturating_add(flat.saturating_add(1).saturating_mul(hidden)).saturating_add(hidden.saturating_add(1).saturating_mul(classes))
    }

    /// Values of one image's activations: the input and every block's output before pooling.
    fn activations_per_image(&self) -> u64 {
        let side = |i: usize| (self.input_size as u64 >> i).saturating_pow(2);
        let blocks = self.widths.iter().enumerate().map(|(i, &c)| (c as u64).saturating_mul(side(i)));
        blocks.fold(3u64.saturating_mul(side(0)), u64::saturating_add)
    }

    /// An upper estimate of the memory (bytes) fine-tuning this model at `batch` needs: f32
    /// weights [`WEIGHT_COPIES`] times over, and [`ACTIVATION_COPIES`] copies of each image's
    /// activations. From the architecture alone (no allocation), saturating.
    pub fn fine_tune_bytes(&self, batch: usize) -> u64 {
        let weights = WEIGHT_COPIES.saturating_mul(self.parameters());
        let activations = (ACTIVATION_COPIES * batch as u64).saturating_mul(self.activations_per_image());
        weights.saturating_add(activations).saturating_mul(4)
    }
}
