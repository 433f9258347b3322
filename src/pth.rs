//! The tensors of a `torch.save` file, read from bytes (so the browser reads them too): the ZIP
//! archive PyTorch writes since 1.6 (`data.pkl` plus one stored entry per storage, each checked
//! against the CRC-32 the archive stores for it) and the older bare-pickle format. The ZIP's
//! directory is read here, not by the zip crate (secnn-archive's): torch.save stores every entry
//! as it is, so no inflating is needed, and the page's module stays 20 kB smaller (BENCHMARKS.md).
//! Only what a `state_dict` uses is understood: a small pickle machine that
//! builds dicts, tuples and tensors and keeps any other object as an opaque name. It never runs
//! code. Names and values come back as the file has them; `interop` maps them to the model.

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

// ----- the pickle machine -----

/// What the machine builds: the few Python objects a `state_dict` is made of.
#[derive(Debug, Clone)]
enum Value {
    Mark,
    None,
    Int(i64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A class or function named by `module.name`; never called, only recognised.
    Global(String),
    /// A storage the file holds (key, dtype, element size).
    Storage(String, &'static str, usize),
    Tensor(View),
    /// Any other object (a float, bytes, an instance of a class we do not model).
    Other,
}

/// A tensor as PyTorch pickles it: a strided view of a storage.
#[derive(Debug, Clone)]
struct View {
    key: String,
    dtype: &'static str,
    element_size: usize,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

impl View {
    /// The view's elements, contiguous, in row-major order.
    fn gather(&self, storage: &[u8]) -> Result<FileTensor, String> {
        let size = self.element_size;
        let count = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|n| n.saturating_mul(size) <= MAX_TENSOR_BYTES);
        let count = count.ok_or("it is larger than 1 GB")?;
        let mut data = Vec::with_capacity(count * size);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..count {
            let element = index.iter().zip(&self.strides).fold(self.offset, |at, (i, s)| at.saturating_add(i.saturating_mul(*s)));
            let start = element.saturating_mul(size);
            data.extend_from_slice(storage.get(start..start.saturating_add(size)).ok_or("its view reaches past its storage")?);
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < self.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Ok(FileTensor { dtype: self.dtype, shape: self.shape.clone(), data })
    }
}

/// No tensor of a model this size comes near it; a damaged file may claim more.
const MAX_TENSOR_BYTES: usize = 1 << 30;

/// The storages a pickle refers to: key → element size (the legacy format counts elements).
type Found = BTreeMap<String, usize>;

/// Runs the pickle at `bytes[at..]` to its STOP: the object, where it ended, the storages seen.
fn unpickle(bytes: &[u8], at: usize) -> Result<(Value, usize, Found), PthError> {
    let mut machine = Machine { bytes, at, stack: Vec::new(), memo: HashMap::new(), found: Found::new() };
    let root = machine.run()?;
    Ok((root, machine.at, machine.found))
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    memo: HashMap<u64, Value>,
    found: Found,
}

impl Machine<'_> {
    fn run(&mut self) -> Result<Value, PthError> {
        loop {
            let op = self.take(1)?[0];
            if op == b'.' {
                return self.pop();
            }
            self.step(op)?;
        }
    }

    fn step(&mut self, op: u8) -> Result<(), PthError> {
        let value = match op {
            0x80 => return self.take(1).map(drop),            // PROTO
            0x95 => return self.take(8).map(drop),            // FRAME
            b'(' => Value::Mark,
            b')' => Value::Tuple(Vec::new()),
            b']' => Value::List(Vec::new()),
            b'}' => Value::Dict(Vec::new()),
            b'N' => Value::None,
            0x88 | 0x89 => Value::Other, // True, False
            b'J' => Value::Int(self.number(4)? as u32 as i32 as i64),
            b'K' => Value::Int(self.number(1)? as i64),
            b'M' => Value::Int(self.number(2)? as i64),
            0x8a => self.long()?,
            b'G' => self.take(8).map(|_| Value::Other)?, // a float
            b'X' | b'T' => self.text(4)?,
            0x8c | b'U' => self.text(1)?,
            0x8d => self.text(8)?,
            b'B' | b'C' => {
                let length = self.number(if op == b'B' { 4 } else { 1 })? as usize;
                self.take(length)?;
                Value::Other
            }
            b'c' => Value::Global(format!("{}.{}", self.line()?, self.line()?)),
            0x93 => {
                let (name, module) = (self.pop()?, self.pop()?);
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => Value::Global(format!("{module}.{name}")),
                    _ => return fail("STACK_GLOBAL without names"),
                }
            }
            _ => return self.step_on_stack(op),
        };
        self.stack.push(value);
        Ok(())
    }

    /// The opcodes that work on what is already on the stack.
    fn step_on_stack(&mut self, op: u8) -> Result<(), PthError> {
        match op {
            b'q' | b'r' | 0x94 => {
                let index = match op {
                    b'q' => self.number(1)?,
                    b'r' => self.number(4)?,
                    _ => self.memo.len() as u64,
                };
                let top = self.stack.last().cloned().ok_or_else(|| PthError::Unreadable("memo of an empty stack".into()))?;
                self.memo.insert(index, top);
            }
            b'h' | b'j' => {
                let index = self.number(if op == b'h' { 1 } else { 4 })?;
                let value = self.memo.get(&index).cloned().ok_or_else(|| PthError::Unreadable(format!("memo {index} is unset")))?;
                self.stack.push(value);
            }
            b't' | 0x85 | 0x86 | 0x87 => {
                let items = match op {
                    b't' => self.pop_to_mark()?,
                    _ => self.pop_n((op - 0x84) as usize)?,
                };
                self.stack.push(Value::Tuple(items));
            }
            b'l' | b'd' => {
                let items = self.pop_to_mark()?;
                self.stack.push(if op == b'l' { Value::List(items) } else { Value::Dict(pairs(items)?) });
            }
            b'a' | b'e' | b's' | b'u' => self.add_items(op)?,
            b'Q' => {
                let id = self.pop()?;
                let storage = self.storage(id)?;
                self.stack.push(storage);
            }
            b'R' | 0x81 => {
                let (arguments, callable) = (self.pop()?, self.pop()?);
                self.stack.push(reduce(callable, arguments)?);
            }
            b'b' => drop(self.pop()?), // BUILD: the state (an OrderedDict's `_metadata`) is not needed
            b'0' => drop(self.pop()?),
            b'2' => self.stack.push(self.stack.last().cloned().ok_or_else(|| PthError::Unreadable("DUP of an empty stack".into()))?),
            b'1' => drop(self.pop_to_mark()?),
            _ => return fail(format!("pickle opcode 0x{op:02x} at byte {} is not one a state_dict uses", self.at - 1)),
        }
        Ok(())
    }

    /// APPEND, APPENDS, SETITEM, SETITEMS: into the list or dict below the new items.
    fn add_items(&mut self, op: u8) -> Result<(), PthError> {
        let items = match op {
            b'a' => self.pop_n(1)?,
            b's' => self.pop_n(2)?,
            _ => self.pop_to_mark()?,
        };
        match (self.stack.last_mut(), op) {
            (Some(Value::List(list)), b'a' | b'e') => list.extend(items),
            (Some(Value::Dict(dict)), b's' | b'u') => dict.extend(pairs(items)?),
            (Some(Value::Other), _) => {} // items of an object we do not model
            _ => return fail("items added to something that is not a list or dict"),
        }
        Ok(())
    }

    /// A persistent id: `('storage', torch.FloatStorage, key, location, size, …)`.
    fn storage(&mut self, id: Value) -> Result<Value, PthError> {
        let Value::Tuple(parts) = id else { return fail("a persistent id that is not a tuple") };
        let (Some(Value::Str(kind)), Some(Value::Global(class)), Some(Value::Str(key))) = (parts.first(), parts.get(1), parts.get(2)) else {
            return fail("a persistent id that is not a storage");
        };
        if kind != "storage" {
            return fail(format!("a persistent id of kind {kind}"));
        }
        let (dtype, size) = storage_dtype(class).ok_or_else(|| PthError::Unreadable(format!("storages of type {class}")))?;
        self.found.insert(key.clone(), size);
        Ok(Value::Storage(key.clone(), dtype, size))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PthError> {
        let bytes = self.bytes.get(self.at..self.at.saturating_add(n)).ok_or_else(|| PthError::Unreadable("the pickle is cut short".into()))?;
        self.at += n;
        Ok(bytes)
    }

    fn number(&mut self, n: usize) -> Result<u64, PthError> {
        let value = le(self.bytes, self.at, n)?;
        self.at += n;
        Ok(value)
    }

    /// LONG1: a little-endian two's-complement integer of up to 255 bytes (kept if it fits).
    fn long(&mut self) -> Result<Value, PthError> {
        let length = self.number(1)? as usize;
        let bytes = self.take(length)?;
        Ok(match length {
            1..=8 => {
                let shift = 64 - 8 * length as u32;
                Value::Int((bytes.iter().rev().fold(0u64, |v, &b| v << 8 | b as u64) << shift) as i64 >> shift)
            }
            0 => Value::Int(0),
            _ => Value::Other, // the legacy magic number
        })
    }

    fn text(&mut self, length_bytes: usize) -> Result<Value, PthError> {
        let length = self.number(length_bytes)? as usize;
        Ok(Value::Str(String::from_utf8_lossy(self.take(length)?).into_owned()))
    }

    fn line(&mut self) -> Result<String, PthError> {
        let rest = &self.bytes[self.at.min(self.bytes.len())..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| PthError::Unreadable("GLOBAL without a newline".into()))?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn pop(&mut self) -> Result<Value, PthError> {
        self.stack.pop().ok_or_else(|| PthError::Unreadable("pop of an empty stack".into()))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>, PthError> {
        let from = self.stack.len().checked_sub(n).ok_or_else(|| PthError::Unreadable("too few items on the stack".into()))?;
        Ok(self.stack.split_off(from))
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, PthError> {
        let mark = self.stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or_else(|| PthError::Unreadable("no MARK on the stack".into()))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, PthError> {
    if !items.len().is_multiple_of(2) {
        return fail("a dict with an odd number of items");
    }
    let mut items = items.into_iter();
    Ok(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
}

/// Calling `callable(*arguments)`, for the few callables a `state_dict` pickles. Anything else
/// becomes `Other` (the machine never runs code).
fn reduce(callable: Value, arguments: Value) -> Result<Value, PthError> {
    let (Value::Global(name), Value::Tuple(arguments)) = (callable, arguments) else {
        return Ok(Value::Other);
    };
    Ok(match (name.as_str(), arguments.as_slice()) {
        ("torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor", [storage, offset, shape, strides, ..]) => rebuild_tensor(storage, offset, shape, strides)?,
        ("torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state", [tensor @ Value::Tensor(_), ..]) => tensor.clone(),
        ("torch._tensor._rebuild_from_type_v2", [function, _, Value::Tuple(inner), ..]) => reduce(function.clone(), Value::Tuple(inner.clone()))?,
        ("collections.OrderedDict", []) => Value::Dict(Vec::new()),
        _ => Value::Other,
    })
}

fn rebuild_tensor(storage: &Value, offset: &Value, shape: &Value, strides: &Value) -> Result<Value, PthError> {
    let sizes = |value: &Value| match value {
        Value::Tuple(items) => items.iter().map(|item| match item {
            Value::Int(n) if *n >= 0 => Ok(*n as usize),
            _ => fail("a tensor size that is not a natural number"),
        }).collect(),
        _ => fail("a tensor shape that is not a tuple"),
    };
    let (Value::Storage(key, dtype, element_size), &Value::Int(offset)) = (storage, offset) else {
        return fail("a tensor without its storage");
    };
    let (shape, strides): (Vec<usize>, Vec<usize>) = (sizes(shape)?, sizes(strides)?);
    if shape.len() != strides.len() || offset < 0 {
        return fail("a tensor whose shape and strides disagree");
    }
    Ok(Value::Tensor(View { key: key.clone(), dtype, element_size: *element_size, offset: offset as usize, shape, strides }))
}

/// `torch.FloatStorage` → (`F32`, 4), and so on.
fn storage_dtype(class: &str) -> Option<(&'static str, usize)> {
    Some(match class.strip_prefix("torch.")? {
        "FloatStorage" => ("F32", 4),
        "DoubleStorage" => ("F64", 8),
        "HalfStorage" => ("F16", 2),
        "BFloat16Storage" => ("BF16", 2),
        "LongStorage" => ("I64", 8),
        "IntStorage" => ("I32", 4),
        "ShortStorage" => ("I16", 2),
        "CharStorage" => ("I8", 1),
        "ByteStorage" => ("U8", 1),
        "BoolStorage" => ("BOOL", 1),
        _ => return None,
    })
}
