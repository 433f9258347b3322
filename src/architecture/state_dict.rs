//! A member of the family in PyTorch's words: the `state_dict` the seed's `CNN` class has when
//! edited to that architecture (the seed's names, PyTorch's layout), and the architecture a
//! `state_dict`'s shapes describe, each refusal named.

use super::{limits::MAX_BLOCKS, rules::ArchitectureError};
use crate::model::SeCnnConfig;
use std::collections::BTreeMap;

/// A `state_dict`'s keys and their shapes, in PyTorch's layout (`Linear` weights `[out, in]`).
pub type Shapes = BTreeMap<String, Vec<usize>>;

/// The `state_dict` of the member `config` describes: each key and its shape (BatchNorm's
/// `num_batches_tracked` aside, which is not used). A block without an SE bottleneck still
/// has PyTorch's empty `Linear(c, 0)` and `Linear(0, c)` weights, `[0, c]` and `[c, 0]`.
pub fn state_dict_shapes(config: &SeCnnConfig) -> Shapes {
    let mut shapes = Shapes::new();
    let mut inputs = 3;
    for (index, &c) in config.widths.iter().enumerate() {
        let bottleneck = config.bottleneck(c);
        let key = |k: &str| k.replace("{b}", &(index + 1).to_string());
        shapes.insert(key("conv{b}.weight"), vec![c, inputs, 3, 3]);
        for vector in ["conv{b}.bias", "bn{b}.weight", "bn{b}.bias", "bn{b}.running_mean", "bn{b}.running_var"] {
            shapes.insert(key(vector), vec![c]);
        }
        shapes.insert(key("ca{b}.fc.0.weight"), vec![bottleneck, c]);
        shapes.insert(key("ca{b}.fc.2.weight"), vec![c, bottleneck]);
        inputs = c;
    }
    shapes.insert("fc1.weight".into(), vec![config.hidden, config.flat_features()]);
    shapes.insert("fc1.bias".into(), vec![config.hidden]);
    shapes.insert("fc2.weight".into(), vec![config.num_classes, config.hidden]);
    shapes.insert("fc2.bias".into(), vec![config.num_classes]);
    shapes
}

/// The member whose `state_dict` has these shapes, checked by [`SeCnnConfig::check`]: blocks
/// from the `conv{i}.weight` present, widths from their shapes, the reduction from the SE
/// bottlenecks (`ca{i}.fc.0.weight`), hidden units and classes from `fc1` and `fc2`, the input
/// size from `fc1`'s inputs. The other tensors are compared with [`state_dict_shapes`] of the
/// result by the caller. Dropout is the seed's (a state_dict does not hold it).
pub fn from_state_dict(shapes: &Shapes) -> Result<SeCnnConfig, ArchitectureError> {
    let blocks = block_count(shapes)?;
    let widths = widths(shapes, blocks)?;
    let mut bottlenecks = Vec::with_capacity(blocks);
    for block in 1..=blocks {
        if !shapes.contains_key(&format!("bn{block}.weight")) {
            return Err(ArchitectureError::Missing(format!("bn{block}")));
        }
        bottlenecks.push(matrix(shapes, &format!("ca{block}.fc.0"))?[0]);
    }
    let reduction = reduction(&widths, &bottlenecks)?;
    let [hidden, inputs] = matrix(shapes, "fc1")?;
    let [classes, _] = matrix(shapes, "fc2")?;
    let input_size = input_size(inputs, &widths)?;
    let config = SeCnnConfig::new()
        .with_widths(widths)
        .with_reduction(reduction)
        .with_hidden(hidden)
        .with_num_classes(classes)
        .with_input_size(input_size);
    config.check()?;
    Ok(config)
}

/// How many blocks: `conv1.weight`, `conv2.weight`, … without a gap.
fn block_count(shapes: &Shapes) -> Result<usize, ArchitectureError> {
    let has = |block: usize| shapes.contains_key(&format!("conv{block}.weight"));
    let blocks = (1..).take_while(|&block| has(block)).count();
    let last_named = shapes.keys().filter_map(|key| key.strip_prefix("conv")?.split('.').next()?.parse::<usize>().ok()).max();
    if blocks == 0 || last_named.is_some_and(|last| last > blocks) {
        return Err(ArchitectureError::Missing(format!("conv{}", blocks + 1)));
    }
    if blocks > MAX_BLOCKS {
        return Err(ArchitectureError::BlockCount(blocks));
    }
    Ok(blocks)
}

/// Each block's output channels, every convolution a 3x3 one reading the previous block's.
fn widths(shapes: &Shapes, blocks: usize) -> Result<Vec<usize>, ArchitectureError> {
    let mut widths: Vec<usize> = Vec::with_capacity(blocks);
    for block in 1..=blocks {
        let name = format!("conv{block}.weight");
        let shape = &shapes[&name];
        let &[channels, inputs, 3, 3] = shape.as_slice() else {
            return Err(ArchitectureError::Shape { shape: shape.clone(), name, expected: "a 3x3 convolution is [out, in, 3, 3]" });
        };
        let (from, expected) = match widths.last() {
            Some(&previous) => (format!("conv{}", block - 1), previous),
            None => ("the RGB image".to_string(), 3),
        };
        if inputs != expected {
            return Err(ArchitectureError::InputChannels { layer: format!("conv{block}"), found: inputs, from, expected });
        }
        widths.push(channels);
    }
    Ok(widths)
}

/// The shape of `layer.weight`, a matrix `[out, in]`.
fn matrix(shapes: &Shapes, layer: &str) -> Result<[usize; 2], ArchitectureError> {
    let name = format!("{layer}.weight");
    match shapes.get(&name).map(Vec::as_slice) {
        Some(&[outputs, inputs]) => Ok([outputs, inputs]),
        Some(shape) => Err(ArchitectureError::Shape { name, shape: shape.to_vec(), expected: "a linear layer's weight is [out, in]" }),
        None => Err(ArchitectureError::Missing(layer.to_string())),
    }
}

/// A reduction ratio `r` with `width // r == bottleneck` in every block. Where several fit
/// (PyTorch rounds down), the seed's 16 when it does, else the largest power of two, else the
/// largest; where every bottleneck is 0, `r` is only known to exceed every width: 16 when it
/// does, else the smallest power of two that does. Every choice builds the same model.
fn reduction(widths: &[usize], bottlenecks: &[usize]) -> Result<usize, ArchitectureError> {
    // `c // r == b` ⇔ `c / (b + 1) < r ≤ c / b` (no upper bound when b is 0).
    let low = widths.iter().zip(bottlenecks).map(|(&c, &b)| c / (b + 1) + 1).max().unwrap_or(1);
    let high = widths.iter().zip(bottlenecks).filter(|(_, b)| **b > 0).map(|(&c, &b)| c / b).min();
    let fits = |r: usize| r >= low && high.is_none_or(|high| r <= high);
    if high.is_some_and(|high| high < low) {
        return Err(ArchitectureError::Reduction { widths: widths.to_vec(), bottlenecks: bottlenecks.to_vec() });
    }
    if fits(16) {
        return Ok(16);
    }
    Ok(match high {
        Some(high) => (0..usize::BITS).rev().map(|p| 1usize << p).find(|&r| fits(r)).unwrap_or(high),
        None => low.next_power_of_two(),
    })
}

/// The input size that makes the last block's pooled maps fill `inputs` of `fc1`.
fn input_size(inputs: usize, widths: &[usize]) -> Result<usize, ArchitectureError> {
    let channels = *widths.last().expect("at least one block");
    let refused = ArchitectureError::Fc1Inputs { inputs, blocks: widths.len(), channels };
    if inputs == 0 || !inputs.is_multiple_of(channels) {
        return Err(refused);
    }
    let area = inputs / channels;
    let side = (area as f64).sqrt().round() as usize;
    if side * side != area {
        return Err(refused);
    }
    Ok(side << widths.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(widths: &[usize], reduction: usize, hidden: usize, classes: usize, input_size: usize) -> SeCnnConfig {
        SeCnnConfig::new()
            .with_widths(widths.to_vec())
            .with_reduction(reduction)
            .with_hidden(hidden)
            .with_num_classes(classes)
            .with_input_size(input_size)
    }

    #[test]
    fn a_members_state_dict_gives_it_back() {
        for config in [
            SeCnnConfig::new(),
            member(&[16, 24, 40], 4, 256, 5, 32),
            member(&[8, 12, 16, 20], 8, 1024, 100, 64),
            member(&[4, 4, 8, 8, 8, 8], 4, 32, 3, 64),
            member(&[64], 16, 128, 2, 96),
        ] {
            assert_eq!(from_state_dict(&state_dict_shapes(&config)), Ok(config));
        }
    }

    #[test]
    fn ambiguous_reductions_pick_one_that_builds_the_same_model() {
        // 12 // 8 == 20 // 8 == 1, and the same for ratios 7 to 10: 8 is the power of two.
        let picked = from_state_dict(&state_dict_shapes(&member(&[12, 20], 10, 8, 2, 32))).unwrap().reduction;
        assert_eq!(picked, 8);
        // Every bottleneck 0 (widths below the ratio): 16 when it exceeds every width…
        assert_eq!(from_state_dict(&state_dict_shapes(&member(&[3, 5], 8, 8, 2, 32))).unwrap().reduction, 16);
        // …else the smallest power of two that does.
        assert_eq!(from_state_dict(&state_dict_shapes(&member(&[24, 20], 32, 8, 2, 32))).unwrap().reduction, 32);
    }

    #[test]
    fn impossible_state_dicts_are_refused_by_name() {
        let seed = state_dict_shapes(&SeCnnConfig::new());
        let without = |key: &str| {
            let mut shapes = seed.clone();
            shapes.retain(|k, _| !k.starts_with(key));
            from_state_dict(&shapes).unwrap_err().to_string()
        };
        assert_eq!(without("bn3."), "bn3 is missing");
        assert_eq!(without("conv2."), "conv2 is missing");
        assert_eq!(without("fc1."), "fc1 is missing");
        let mut shapes = seed.clone();
        shapes.insert("fc1.weight".into(), vec![512, 3000]);
        assert_eq!(from_state_dict(&shapes).unwrap_err().to_string(), "fc1 has 3000 inputs, which fits no input size for 3 blocks ending at 128 channels");
        let mut shapes = seed.clone();
        shapes.insert("conv2.weight".into(), vec![64, 16, 3, 3]);
        assert_eq!(from_state_dict(&shapes).unwrap_err().to_string(), "conv2.weight has 16 input channels where conv1 gives 32");
        let mut shapes = seed.clone();
        shapes.insert("ca2.fc.0.weight".into(), vec![9, 64]);
        assert!(from_state_dict(&shapes).unwrap_err().to_string().starts_with("SE bottlenecks [2, 9, 8]"));
        let seven = state_dict_shapes(&member(&[4; 7], 16, 8, 2, 128));
        assert_eq!(from_state_dict(&seven).unwrap_err().to_string(), "7 blocks: a model has 1 to 6");
    }
}
