//! The SE-CNN family as data: which members exist and how large a one every front end takes
//! ([`SeCnnConfig::check`], one place for every rule), and a member's architecture read from a
//! PyTorch `state_dict`'s shapes.
//!
//! - `rules`: the rules, each refusal named ([`ArchitectureError`]);
//! - `limits`: the largest member (parameters, and the memory a fine-tune at batch 64 needs,
//!   estimated from the architecture alone, so a model is refused before anything is allocated);
//! - `state_dict`: the seed's names and shapes of a member, and a member from them.
//!
//! Dependencies run one way: `limits` ← `rules` ← `state_dict`.

mod limits;
mod rules;
mod state_dict;

pub use limits::{
    FINE_TUNE_BATCH, LIMITS, Limits, MAX_BLOCKS, MAX_CLASSES, MAX_FINE_TUNE_BYTES, MAX_INPUT_SIZE, MAX_PARAMETERS,
    MIN_BLOCKS, MIN_CLASSES,
};
pub use rules::ArchitectureError;
pub use state_dict::{Shapes, from_state_dict, state_dict_shapes};
