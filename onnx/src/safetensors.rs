//! A `.safetensors` file read without copying: 8 bytes of header length (little-endian), a JSON
//! header (each tensor's dtype, shape and byte range; `__metadata__`, strings), then the data.
//! Anything else is refused by name.

use crate::OnnxError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One tensor as the file has it: its bytes are little-endian values of `dtype`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorView<'a> {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

/// The tensors by name, and the metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Safetensors<'a> {
    pub tensors: BTreeMap<String, TensorView<'a>>,
    pub metadata: BTreeMap<String, String>,
}

/// A tensor's header entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

const METADATA_KEY: &str = "__metadata__";

/// Reads `bytes` as a safetensors file.
pub fn read_safetensors(bytes: &[u8]) -> Result<Safetensors<'_>, OnnxError> {
    let not = |why: &str| OnnxError::NotSafetensors(why.to_string());
    let length = bytes.get(..8).ok_or_else(|| not("shorter than its 8-byte header length"))?;
    let length = usize::try_from(u64::from_le_bytes(length.try_into().expect("8 bytes"))).map_err(|_| not("a header longer than memory"))?;
    let header = bytes.get(8..).and_then(|rest| rest.get(..length)).ok_or_else(|| not("the header runs past the end of the file"))?;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| OnnxError::NotSafetensors(format!("the header is not a JSON object ({e})")))?;
    let metadata = match header.remove(METADATA_KEY) {
        Some(value) => serde_json::from_value(value).map_err(|_| not("__metadata__ is not a map of strings"))?,
        None => BTreeMap::new(),
    };
    let data = &bytes[8 + length..];
    let tensors = header.into_iter().map(|(name, entry)| Ok((name.clone(), tensor_view(name, entry, data)?))).collect::<Result<_, OnnxError>>()?;
    Ok(Safetensors { tensors, metadata })
}

/// The tensor `name`'s entry and its bytes within `data`.
fn tensor_view(name: String, entry: serde_json::Value, data: &[u8]) -> Result<TensorView<'_>, OnnxError> {
    let entry: Entry = serde_json::from_value(entry).map_err(|e| OnnxError::BadEntry { tensor: name.clone(), why: format!("not a tensor entry ({e})") })?;
    let [start, end] = entry.data_offsets;
    let data = data.get(start..end).ok_or_else(|| OnnxError::BadEntry { tensor: name, why: format!("its bytes {start}..{end} are not in the file") })?;
    Ok(TensorView { dtype: entry.dtype, shape: entry.shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `header` (JSON) and `data`.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn tensors_and_metadata_are_read_in_place() {
        let bytes = file(r#"{"__metadata__":{"name":"m"},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"I64","shape":[],"data_offsets":[0,4]}}"#, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let file = read_safetensors(&bytes).unwrap();
        assert_eq!(file.metadata["name"], "m");
        assert_eq!(file.tensors["a"], TensorView { dtype: "I64".into(), shape: vec![], data: &[1, 2, 3, 4] });
        assert_eq!(file.tensors["b"].data, &[5, 6, 7, 8]);
    }

    #[test]
    fn malformed_files_are_refused_by_name() {
        let refusal = |bytes: &[u8]| read_safetensors(bytes).unwrap_err().to_string();
        assert_eq!(refusal(b"1234"), "not a safetensors file: shorter than its 8-byte header length");
        assert_eq!(refusal(&file("{}", b"")[..9]), "not a safetensors file: the header runs past the end of the file");
        assert!(refusal(&file("[1, 2]", b"")).starts_with("not a safetensors file: the header is not a JSON object"));
        assert!(refusal(b"PK\x03\x04 this is a zip").starts_with("not a safetensors file: the header runs past"));
        assert_eq!(refusal(&file(r#"{"__metadata__":{"n":1}}"#, b"")), "not a safetensors file: __metadata__ is not a map of strings");
        assert_eq!(
            refusal(&file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 4])),
            "w: its bytes 0..8 are not in the file"
        );
        assert_eq!(
            refusal(&file(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, &[0; 4])),
            "w: its bytes 4..0 are not in the file"
        );
        assert!(refusal(&file(r#"{"w":{"dtype":"F32","shape":[1]}}"#, b"")).starts_with("w: not a tensor entry"));
    }
}
