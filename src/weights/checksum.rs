//! The checksum a weights file carries of its own contents, so that a file damaged on a disk,
//! in a download or in the browser's storage is refused instead of predicting something else.
//!
//! It is a burnpack metadata entry of its own ([`KEY`], `crc32:1a2b3c4d`) beside the model's
//! description: a CRC-32 (the one ZIP uses) over every other metadata entry (key and value) and
//! every tensor (name, dtype, shape, parameter id and bytes), in the order the format keeps them
//! (by name, as its reader lists them). Files written before it have no entry and still load.

use burn::tensor::{Bytes, DType, Shape};
use std::collections::BTreeMap;

/// The metadata key holding the checksum.
pub(super) const KEY: &str = "secnn.checksum";

/// One tensor, as far as the checksum sees it.
pub(super) struct Part<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: &'a [usize],
    pub id: Option<u64>,
    pub bytes: &'a [u8],
}

impl<'a> Part<'a> {
    /// The part of a tensor taken apart by `burn_pack::Tensor::into_parts`.
    pub fn of((name, dtype, shape, id, bytes): &'a (String, DType, Shape, Option<u64>, Bytes)) -> Self {
        Self { name, dtype: *dtype, shape, id: *id, bytes }
    }
}

/// The checksum of `metadata` (without [`KEY`]) and `tensors`, as the file stores it.
pub(super) fn compute<'a>(metadata: &BTreeMap<String, String>, tensors: impl IntoIterator<Item = Part<'a>>) -> String {
    let mut hasher = crc32fast::Hasher::new();
    // Every field is length-prefixed, so that moving bytes between fields changes the sum too.
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for (key, value) in metadata.iter().filter(|(key, _)| *key != KEY) {
        field(key.as_bytes());
        field(value.as_bytes());
    }
    let mut tensors: Vec<Part> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.name.cmp(b.name));
    for tensor in tensors {
        field(tensor.name.as_bytes());
        field(format!("{:?}", tensor.dtype).as_bytes());
        field(&tensor.shape.iter().flat_map(|d| (*d as u64).to_le_bytes()).collect::<Vec<u8>>());
        field(&tensor.id.map_or(Vec::new(), |id| id.to_le_bytes().to_vec()));
        field(tensor.bytes);
    }
    format!("crc32:{:08x}", hasher.finalize())
}
