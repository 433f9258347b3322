//! The tensors of a `torch.save` file, read from bytes (so the browser reads them too): the ZIP
//! archive PyTorch writes since 1.6 (`data.pkl` plus one stored entry per storage, each checked
//! against the CRC-32 the archive stores for it) and the older bare-pickle format. The ZIP's
//! directory is read here, not by the zip crate (secnn-archive's): torch.save stores every entry
//! as it is, so no inflating is needed, and the page's module stays 20 kB smaller (BENCHMARKS.md).
//! Only what a `state_dict` uses is understood: a small pickle machine that
//! builds dicts, tuples and tensors and keeps any other object as an opaque name. It never runs
//! code. Names and values come back as the file has them; `interop` maps them to the model.

mod pickle;

use pickle::{Value, View, unpickle};
use std::collections::{BTreeMap, HashMap};

/// One tensor of the file: its dtype in safetensors' words (`F32`, `I64`, …), its shape and
/// its values as contiguous little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTensor {
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// The dtypes a file may hold, in safetensors' words.
pub const DTYPES: [&str; 10] = ["F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"];

/// Why bytes could not be read as a `torch.save` file.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("unreadable PyTorch file: {0}")]
    Unreadable(String),
    /// An entry of the ZIP archive differs from the CRC-32 stored for it: the file was damaged.
    #[error("{entry} is corrupted: CRC-32 {stored:08x} does not match its contents")]
    Corrupted { entry: String, stored: u32 },
}

fn fail<T>(why: impl Into<String>) -> Result<T, PthError> {
    Err(PthError::Unreadable(why.into()))
}

/// The legacy format starts with a pickled magic number (protocol 2, a 10-byte LONG1).
const LEGACY_MAGIC: [u8; 14] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Whether `bytes` look like a `torch.save` file (either format).
pub fn is_pth(bytes: &[u8]) -> bool {
    bytes.starts_with(&LEGACY_MAGIC) || (bytes.starts_with(b"PK\x03\x04") && zip_directory(bytes).is_ok_and(|e| data_pickle(&e).is_some()))
}

/// The file's tensors by name: a `state_dict`, or the one under `state_dict`,
/// `model_state_dict` or `model` of a training checkpoint.
pub fn read_state_dict(bytes: &[u8]) -> Result<BTreeMap<String, FileTensor>, PthError> {
    StateDict::read(bytes)?.tensors()
}

/// A file's `state_dict` read as far as its tensors' names, dtypes and shapes: their values
/// are gathered by [`Self::tensors`], so a caller can refuse a file by its shapes first.
pub struct StateDict<'a> {
    views: Vec<(String, View)>,
    storages: Storages<'a>,
}

impl<'a> StateDict<'a> {
    /// The `state_dict` in `bytes` (or in the checkpoint dict they hold), not yet gathered.
    pub fn read(bytes: &'a [u8]) -> Result<Self, PthError> {
        let (root, storages) = match bytes.starts_with(&LEGACY_MAGIC) {
            true => read_legacy(bytes)?,
            false => read_zip(bytes)?,
        };
        let views: Vec<(String, View)> = state_dict_in(root)?
            .into_iter()
            .filter_map(|entry| match entry {
                (Value::Str(name), Value::Tensor(view)) => Some((name, view)),
                _ => None,
            })
            .collect();
        if views.is_empty() {
            return fail("no named tensors in it (save `model.state_dict()`)");
        }
        Ok(Self { views, storages })
    }

    /// Each tensor's shape by name.
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.views.iter().map(|(name, view)| (name.clone(), view.shape.clone())).collect()
    }

    /// Every tensor, its values gathered contiguous.
    pub fn tensors(self) -> Result<BTreeMap<String, FileTensor>, PthError> {
        let mut tensors = BTreeMap::new();
        for (name, view) in self.views {
            let storage = self.storages.get(&view.key).ok_or_else(|| PthError::Unreadable(format!("{name}: storage {} is missing", view.key)))?;
            let tensor = view.gather(storage).map_err(|why| PthError::Unreadable(format!("{name}: {why}")))?;
            tensors.insert(name, tensor);
        }
        Ok(tensors)
    }
}

fn state_dict_in(root: Value) -> Result<Vec<(Value, Value)>, PthError> {
    let Value::Dict(entries) = root else { return fail("the saved object is not a dict (save `model.state_dict()`)") };
    if entries.iter().any(|(_, value)| matches!(value, Value::Tensor(_))) {
        return Ok(entries);
    }
    let nested = ["state_dict", "model_state_dict", "model"].into_iter().find_map(|wanted| {
        entries.iter().find_map(|entry| match entry {
            (Value::Str(key), Value::Dict(inner)) if key == wanted => Some(inner.clone()),
            _ => None,
        })
    });
    Ok(nested.unwrap_or(entries))
}

// ----- the two containers -----

/// Storage key → its raw bytes, in the file.
type Storages<'a> = HashMap<String, &'a [u8]>;

fn read_zip(bytes: &[u8]) -> Result<(Value, Storages<'_>), PthError> {
    let entries = zip_directory(bytes)?;
    for entry in entries.values() {
        checked(entry)?;
    }
    let pickle = data_pickle(&entries).ok_or_else(|| PthError::Unreadable("a ZIP archive without data.pkl".into()))?;
    let prefix = pickle.strip_suffix("data.pkl").unwrap_or_default();
    if entries.get(&format!("{prefix}byteorder")).is_some_and(|order| order.data.starts_with(b"big")) {
        return fail("saved on a big-endian machine");
    }
    let (root, _, found) = unpickle(entries[&pickle].data, 0)?;
    let mut storages = Storages::new();
    for key in found.into_keys() {
        let entry = entries.get(&format!("{prefix}data/{key}")).ok_or_else(|| PthError::Unreadable(format!("storage {key} is missing")))?;
        storages.insert(key, entry.data);
    }
    Ok((root, storages))
}

fn data_pickle(entries: &HashMap<String, Entry<'_>>) -> Option<String> {
    entries.keys().find(|name| name.ends_with("data.pkl")).cloned()
}

/// The legacy format: five pickles (magic number, protocol, system info, the object, the storage
/// keys in file order), then each storage as an element count (u64) and its bytes.
fn read_legacy(bytes: &[u8]) -> Result<(Value, Storages<'_>), PthError> {
    let mut at = 0;
    for _header in 0..3 {
        at = unpickle(bytes, at)?.1;
    }
    let (root, after_root, found) = unpickle(bytes, at)?;
    let (keys, mut at, _) = unpickle(bytes, after_root)?;
    let Value::List(keys) = keys else { return fail("no storage list after the object") };
    let mut storages = Storages::new();
    for key in keys {
        let Value::Str(key) = key else { return fail("a storage key is not a string") };
        let element_size = found.get(&key).copied().unwrap_or(1);
        let count = le(bytes, at, 8)? as usize;
        let (start, length) = (at.saturating_add(8), count.saturating_mul(element_size));
        let data = bytes.get(start..start.saturating_add(length)).ok_or_else(|| PthError::Unreadable(format!("storage {key} is cut short")))?;
        storages.insert(key, data);
        at = start + length;
    }
    Ok((root, storages))
}

/// `n` little-endian bytes at `at` as a number.
fn le(bytes: &[u8], at: usize, n: usize) -> Result<u64, PthError> {
    let field = bytes.get(at..at.saturating_add(n)).ok_or_else(|| PthError::Unreadable("the file is cut short".into()))?;
    Ok(field.iter().rev().fold(0, |value, &byte| value << 8 | byte as u64))
}

/// A stored ZIP entry: its name, its bytes in the file, and the CRC-32 the directory gives it.
struct Entry<'a> {
    name: String,
    data: &'a [u8],
    crc32: u32,
}

/// The entry's bytes, once they match the CRC-32 stored for them (every entry is checked before any is used).
fn checked<'a>(entry: &Entry<'a>) -> Result<&'a [u8], PthError> {
    match crc32fast::hash(entry.data) == entry.crc32 {
        true => Ok(entry.data),
        false => Err(PthError::Corrupted { entry: entry.name.clone(), stored: entry.crc32 }),
    }
}

/// A ZIP archive's entries by name, from its central directory. PyTorch stores entries
/// uncompressed, so a compressed one is refused and nothing is ever inflated; each entry's
/// CRC-32 is checked by [`checked`].
fn zip_directory(bytes: &[u8]) -> Result<HashMap<String, Entry<'_>>, PthError> {
    let search_from = bytes.len().saturating_sub(22 + u16::MAX as usize);
    let end = (search_from..bytes.len().saturating_sub(21)).rev().find(|&i| bytes[i..].starts_with(b"PK\x05\x06"));
    let end = end.ok_or_else(|| PthError::Unreadable("a ZIP archive without its directory".into()))?;
    let (count, mut at) = (le(bytes, end + 10, 2)?, le(bytes, end + 16, 4)? as usize);
    if at == u32::MAX as usize {
        return fail("a ZIP64 archive (over 4 GB)");
    }
    let mut entries = HashMap::new();
    for _ in 0..count {
        let (entry, next) = directory_entry(bytes, at)?;
        entries.insert(entry.name.clone(), entry);
        at = next;
    }
    Ok(entries)
}

/// The directory record at `at` and where the next one starts.
fn directory_entry(bytes: &[u8], at: usize) -> Result<(Entry<'_>, usize), PthError> {
    if !bytes[at.min(bytes.len())..].starts_with(b"PK\x01\x02") {
        return fail("a damaged ZIP directory");
    }
    let (method, crc32, size) = (le(bytes, at + 10, 2)?, le(bytes, at + 16, 4)? as u32, le(bytes, at + 20, 4)? as usize);
    let (name_length, extra, comment) = (le(bytes, at + 28, 2)? as usize, le(bytes, at + 30, 2)? as usize, le(bytes, at + 32, 2)? as usize);
    let local = le(bytes, at + 42, 4)? as usize;
    let name = String::from_utf8_lossy(bytes.get(at + 46..at + 46 + name_length).unwrap_or_default()).into_owned();
    if method != 0 {
        return fail(format!("{name} is compressed (torch.save stores entries uncompressed)"));
    }
    let header = 30 + le(bytes, local.saturating_add(26), 2)? as usize + le(bytes, local.saturating_add(28), 2)? as usize;
    let start = local.saturating_add(header);
    let data = bytes.get(start..start.saturating_add(size)).ok_or_else(|| PthError::Unreadable(format!("{name} is cut short")))?;
    Ok((Entry { name, data, crc32 }, at + 46 + name_length + extra + comment))
}
