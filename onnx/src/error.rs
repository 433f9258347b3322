//! Why a file or an input rule is refused: each refusal has a stable `reason` to branch on and
//! names the tensor it is about, in the seed's PyTorch names.

/// A refusal of [`crate::to_onnx`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    #[error("not a safetensors file: {0}")]
    NotSafetensors(String),
    #[error("{tensor}: {why}")]
    BadEntry { tensor: String, why: String },
    #[error("{0} is missing: this is not a state_dict of the SE-CNN family")]
    Missing(String),
    #[error("unexpected tensors {0:?}: this is not a state_dict of the SE-CNN family")]
    Unexpected(Vec<String>),
    #[error("{tensor} is {shape:?} where {expected}")]
    Shape { tensor: String, shape: Vec<usize>, expected: String },
    #[error("{tensor} is {dtype}, not F32 (save the state_dict in float32)")]
    NotFloat32 { tensor: String, dtype: String },
    #[error("{0} blocks: a model of the family has 1 to {max}", max = crate::MAX_BLOCKS)]
    BlockCount(usize),
    #[error("the metadata's class names: {0}")]
    BadClasses(String),
    #[error("the input rule: {0}")]
    BadInputRule(String),
}

impl OnnxError {
    /// A stable name for the kind of refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotSafetensors(_) => "not-safetensors",
            Self::BadEntry { .. } => "bad-entry",
            Self::Missing(_) => "missing-tensor",
            Self::Unexpected(_) => "unexpected-tensors",
            Self::Shape { .. } => "wrong-shape",
            Self::NotFloat32 { .. } => "not-float32",
            Self::BlockCount(_) => "block-count",
            Self::BadClasses(_) => "bad-classes",
            Self::BadInputRule(_) => "bad-input-rule",
        }
    }

    /// The tensor the refusal names, in the file's (the seed's) words.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            Self::BadEntry { tensor, .. } | Self::Shape { tensor, .. } | Self::NotFloat32 { tensor, .. } => Some(tensor),
            Self::Missing(tensor) => Some(tensor),
            _ => None,
        }
    }

    /// Whether the caller's input rule is at fault rather than the weights.
    pub fn is_input_rule(&self) -> bool {
        matches!(self, Self::BadInputRule(_))
    }
}
