//! The rules a member of the family follows, in one place: [`SeCnnConfig::check`] refuses an
//! impossible or too large architecture by name, whether it came from a weights file's
//! description, a `state_dict`'s shapes or the CLI's flags.

use super::limits::{
    FINE_TUNE_BATCH, MAX_BLOCKS, MAX_CLASSES, MAX_FINE_TUNE_BYTES, MAX_INPUT_SIZE, MAX_PARAMETERS, MIN_BLOCKS,
    MIN_CLASSES,
};
use crate::model::SeCnnConfig;

/// Why an architecture is not a member of the family (or not one the browser takes); each
/// message names the rule broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchitectureError {
    #[error("{0} blocks: a model has {MIN_BLOCKS} to {MAX_BLOCKS}")]
    BlockCount(usize),
    #[error("block {0} has no channels")]
    ZeroWidth(usize),
    #[error("an SE reduction ratio of 0: it must be at least 1")]
    ZeroReduction,
    #[error("a hidden layer of 0 units: it needs at least 1")]
    ZeroHidden,
    #[error("{0} classes: a model has {MIN_CLASSES} to {MAX_CLASSES}")]
    ClassCount(usize),
    #[error("input size {size} is not a multiple of {multiple} (2^{blocks}, one halving per block)", multiple = 1usize << blocks)]
    InputSize { size: usize, blocks: usize },
    #[error("input size {0}: at most {MAX_INPUT_SIZE} px")]
    InputTooLarge(usize),
    #[error("dropout {0} is not a probability below 1")]
    Dropout(f64),
    #[error("{0} parameters: at most {MAX_PARAMETERS} (what the browser takes)")]
    TooManyParameters(u64),
    #[error(
        "fine-tuning it at batch {FINE_TUNE_BATCH} needs about {} MiB: at most {} MiB (what the browser takes)",
        .0 >> 20,
        MAX_FINE_TUNE_BYTES >> 20
    )]
    TooMuchMemory(u64),
    /// A layer a `state_dict` must have.
    #[error("{0} is missing")]
    Missing(String),
    #[error("{layer}.weight has {found} input channels where {from} gives {expected}")]
    InputChannels { layer: String, found: usize, from: String, expected: usize },
    #[error("{name} is {shape:?}: {expected}")]
    Shape { name: String, shape: Vec<usize>, expected: &'static str },
    #[error("SE bottlenecks {bottlenecks:?} for blocks of {widths:?} channels: no one reduction ratio gives them all")]
    Reduction { widths: Vec<usize>, bottlenecks: Vec<usize> },
    #[error("fc1 has {inputs} inputs, which fits no input size for {blocks} blocks ending at {channels} channels")]
    Fc1Inputs { inputs: usize, blocks: usize, channels: usize },
}

impl ArchitectureError {
    /// A model over the limits (rather than an impossible one).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooManyParameters(_) | Self::TooMuchMemory(_) | Self::InputTooLarge(_))
    }
}

impl SeCnnConfig {
    /// The family's rules, then the limits: 1–6 blocks of at least one channel, a reduction and
    /// a hidden width of at least 1, 2–1000 classes, an input size that is a positive multiple of
    /// `2^blocks` up to 512 px, a dropout probability below 1, and at most
    /// [`MAX_PARAMETERS`] parameters and [`MAX_FINE_TUNE_BYTES`] for a fine-tune at batch 64.
    pub fn check(&self) -> Result<(), ArchitectureError> {
        let blocks = self.blocks();
        if !(MIN_BLOCKS..=MAX_BLOCKS).contains(&blocks) {
            return Err(ArchitectureError::BlockCount(blocks));
        }
        if let Some(block) = self.widths.iter().position(|&w| w == 0) {
            return Err(ArchitectureError::ZeroWidth(block + 1));
        }
        if self.reduction == 0 {
            return Err(ArchitectureError::ZeroReduction);
        }
        if self.hidden == 0 {
            return Err(ArchitectureError::ZeroHidden);
        }
        if !(MIN_CLASSES..=MAX_CLASSES).contains(&self.num_classes) {
            return Err(ArchitectureError::ClassCount(self.num_classes));
        }
        if self.input_size == 0 || !self.input_size.is_multiple_of(1 << blocks) {
            return Err(ArchitectureError::InputSize { size: self.input_size, blocks });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ArchitectureError::Dropout(self.dropout));
        }
        self.check_limits()
    }

    /// The limits alone (a config that follows the rules).
    fn check_limits(&self) -> Result<(), ArchitectureError> {
        if self.input_size > MAX_INPUT_SIZE {
            return Err(ArchitectureError::InputTooLarge(self.input_size));
        }
        let parameters = self.parameters();
        if parameters > MAX_PARAMETERS {
            return Err(ArchitectureError::TooManyParameters(parameters));
        }
        let bytes = self.fine_tune_bytes(FINE_TUNE_BATCH);
        if bytes > MAX_FINE_TUNE_BYTES {
            return Err(ArchitectureError::TooMuchMemory(bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_a_member_and_impossible_ones_are_named() {
        let seed = SeCnnConfig::new();
        assert_eq!(seed.check(), Ok(()));
        assert_eq!(seed.parameters(), 1_150_602);
        let refused = |config: SeCnnConfig| config.check().unwrap_err().to_string();
        assert_eq!(refused(seed.clone().with_widths(vec![8; 7]).with_input_size(128)), "7 blocks: a model has 1 to 6");
        assert_eq!(refused(seed.clone().with_widths(vec![])), "0 blocks: a model has 1 to 6");
        assert_eq!(refused(seed.clone().with_widths(vec![8, 0, 8])), "block 2 has no channels");
        assert_eq!(refused(seed.clone().with_num_classes(1001)), "1001 classes: a model has 2 to 1000");
        assert_eq!(refused(seed.clone().with_input_size(36)), "input size 36 is not a multiple of 8 (2^3, one halving per block)");
        assert_eq!(refused(seed.clone().with_input_size(1024)), "input size 1024: at most 512 px");
        assert_eq!(refused(seed.clone().with_reduction(0)), "an SE reduction ratio of 0: it must be at least 1");
        assert_eq!(refused(seed.clone().with_dropout(1.0)), "dropout 1 is not a probability below 1");
    }

    #[test]
    fn members_over_the_limits_are_refused_with_the_limit() {
        let wide = SeCnnConfig::new().with_widths(vec![64, 128, 256]).with_hidden(16384);
        let error = wide.check().unwrap_err();
        assert!(error.is_too_large());
        assert_eq!(error.to_string(), format!("{} parameters: at most 32000000 (what the browser takes)", wide.parameters()));
        let huge_activations = SeCnnConfig::new().with_widths(vec![256, 256]).with_input_size(512).with_hidden(1);
        let error = huge_activations.check().unwrap_err().to_string();
        assert!(error.starts_with("fine-tuning it at batch 64 needs about") && error.ends_with("at most 2048 MiB (what the browser takes)"), "{error}");
        let absurd = SeCnnConfig::new().with_widths(vec![usize::MAX / 2]);
        assert!(absurd.check().unwrap_err().is_too_large(), "no overflow on absurd widths");
    }
}
