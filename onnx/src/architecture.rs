//! Which member of the SE-CNN family a `state_dict` is, from its tensors alone (the seed's
//! PyTorch names and layout): the blocks are the `conv{i}.weight` present, each block's width
//! its convolution's outputs, its SE bottleneck the rows of `ca{i}.fc.0.weight` (0 where the
//! width is below the reduction ratio, PyTorch's `Linear(c, 0)`), the hidden units and classes
//! those of `fc1` and `fc2`, and the input size what makes the last block's pooled maps fill
//! `fc1`'s inputs. Every tensor is then checked against the member's `state_dict`.

use crate::{OnnxError, safetensors::TensorView};
use std::collections::BTreeMap;

/// The most blocks a member has (each halves the side; secnn's family rule).
pub const MAX_BLOCKS: usize = 6;

/// One block: `conv3x3 → BatchNorm → ReLU → SE → maxpool 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Output channels.
    pub width: usize,
    /// SE bottleneck units (`width / reduction`, PyTorch's floor), possibly 0.
    pub bottleneck: usize,
}

/// A member of the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    pub blocks: Vec<Block>,
    pub hidden: usize,
    pub classes: usize,
    /// Side of the square input image in pixels.
    pub input_size: usize,
}

/// Tensors by name, as the file has them.
pub type Tensors<'a> = BTreeMap<String, TensorView<'a>>;

impl Architecture {
    /// The member whose `state_dict` `tensors` is, every tensor checked against it (BatchNorm's
    /// `num_batches_tracked` aside, which inference does not use).
    pub fn of(tensors: &Tensors) -> Result<Self, OnnxError> {
        let blocks = blocks(tensors)?;
        let [hidden, flat] = matrix(tensors, "fc1.weight", 1)?;
        let [classes, _] = matrix(tensors, "fc2.weight", 1)?;
        let input_size = input_size(flat, &blocks)?;
        let architecture = Self { blocks, hidden, classes, input_size };
        check_tensors(tensors, &architecture)?;
        Ok(architecture)
    }

    /// Side of the last block's pooled maps.
    pub fn final_side(&self) -> usize {
        self.input_size >> self.blocks.len()
    }

    /// The member's `state_dict`: each key and its shape in PyTorch's layout.
    pub fn state_dict_shapes(&self) -> BTreeMap<String, Vec<usize>> {
        let mut shapes = BTreeMap::new();
        let mut inputs = 3;
        for (index, &Block { width, bottleneck }) in self.blocks.iter().enumerate() {
            let key = |k: &str| k.replace("{i}", &(index + 1).to_string());
            shapes.insert(key("conv{i}.weight"), vec![width, inputs, 3, 3]);
            for vector in ["conv{i}.bias", "bn{i}.weight", "bn{i}.bias", "bn{i}.running_mean", "bn{i}.running_var"] {
                shapes.insert(key(vector), vec![width]);
            }
            shapes.insert(key("ca{i}.fc.0.weight"), vec![bottleneck, width]);
            shapes.insert(key("ca{i}.fc.2.weight"), vec![width, bottleneck]);
            inputs = width;
        }
        let flat = inputs * self.final_side() * self.final_side();
        shapes.insert("fc1.weight".into(), vec![self.hidden, flat]);
        shapes.insert("fc1.bias".into(), vec![self.hidden]);
        shapes.insert("fc2.weight".into(), vec![self.classes, self.hidden]);
        shapes.insert("fc2.bias".into(), vec![self.classes]);
        shapes
    }
}

/// The blocks: `conv1.weight`, `conv2.weight`, … up to the first one missing, each a 3×3
/// convolution of the previous block's channels, with its SE bottleneck.
fn blocks(tensors: &Tensors) -> Result<Vec<Block>, OnnxError> {
    let count = (1..).take_while(|i| tensors.contains_key(&format!("conv{i}.weight"))).count();
    if count == 0 {
        return Err(OnnxError::Missing("conv1.weight".into()));
    }
    if count > MAX_BLOCKS {
        return Err(OnnxError::BlockCount(count));
    }
    let mut blocks: Vec<Block> = Vec::with_capacity(count);
    for i in 1..=count {
        let inputs = blocks.last().map_or(3, |b| b.width);
        let tensor = format!("conv{i}.weight");
        let width = match tensors[&tensor].shape.as_slice() {
            &[width, found, 3, 3] if found == inputs && width > 0 => width,
            shape => return Err(OnnxError::Shape { tensor, shape: shape.to_vec(), expected: format!("a 3x3 convolution of {inputs} channels is [out, {inputs}, 3, 3]") }),
        };
        let [bottleneck, _] = matrix(tensors, &format!("ca{i}.fc.0.weight"), 0)?;
        blocks.push(Block { width, bottleneck });
    }
    Ok(blocks)
}

/// The shape `[out, in]` of the linear layer weight `tensor`, with at least `min_rows` rows.
fn matrix(tensors: &Tensors, tensor: &str, min_rows: usize) -> Result<[usize; 2], OnnxError> {
    let view = tensors.get(tensor).ok_or_else(|| OnnxError::Missing(tensor.to_string()))?;
    match view.shape.as_slice() {
        &[rows, columns] if rows >= min_rows => Ok([rows, columns]),
        shape => Err(OnnxError::Shape { tensor: tensor.into(), shape: shape.to_vec(), expected: format!("a linear layer's weight is [out, in], with at least {min_rows} rows") }),
    }
}

/// The input size whose last pooled maps fill `flat` inputs of `fc1`: the last block's
/// channels times `(size / 2^blocks)²`.
fn input_size(flat: usize, blocks: &[Block]) -> Result<usize, OnnxError> {
    let channels = blocks.last().expect("at least one block").width;
    let area = flat / channels;
    let side = (area as f64).sqrt().round() as usize;
    if flat == 0 || area * channels != flat || side * side != area {
        let expected = format!("fc1's inputs are the last block's {channels} channels times a square number of pixels");
        return Err(OnnxError::Shape { tensor: "fc1.weight".into(), shape: vec![flat], expected });
    }
    Ok(side << blocks.len())
}

/// Every tensor of `architecture`'s `state_dict` is there, F32, of its shape, and nothing else
/// is (but `bn{i}.num_batches_tracked`).
fn check_tensors(tensors: &Tensors, architecture: &Architecture) -> Result<(), OnnxError> {
    let expected = architecture.state_dict_shapes();
    for (name, shape) in &expected {
        let view = tensors.get(name).ok_or_else(|| OnnxError::Missing(name.clone()))?;
        if view.dtype != "F32" {
            return Err(OnnxError::NotFloat32 { tensor: name.clone(), dtype: view.dtype.clone() });
        }
        if &view.shape != shape {
            return Err(OnnxError::Shape { tensor: name.clone(), shape: view.shape.clone(), expected: format!("this member has {shape:?}") });
        }
        let bytes = 4 * shape.iter().product::<usize>();
        if view.data.len() != bytes {
            return Err(OnnxError::BadEntry { tensor: name.clone(), why: format!("{} bytes where {shape:?} of F32 takes {bytes}", view.data.len()) });
        }
    }
    let counter = |name: &str| (1..=architecture.blocks.len()).any(|i| name == format!("bn{i}.num_batches_tracked"));
    let unexpected: Vec<String> = tensors.keys().filter(|n| !expected.contains_key(*n) && !counter(n)).cloned().collect();
    if !unexpected.is_empty() {
        return Err(OnnxError::Unexpected(unexpected));
    }
    Ok(())
}
