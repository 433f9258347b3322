//! The pickle machine: runs the pickles PyTorch writes and builds the few Python objects a
//! `state_dict` is made of (dicts, tuples, strided tensors on storages); any other object stays
//! an opaque name. It never runs code.

use super::{FileTensor, PthError, fail, le};
use std::collections::{BTreeMap, HashMap};


/// What the machine builds: the few Python objects a `state_dict` is made of.
#[derive(Debug, Clone)]
pub(super) enum Value {
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
pub(super) struct View {
    pub(super) key: String,
    dtype: &'static str,
    element_size: usize,
    offset: usize,
    pub(super) shape: Vec<usize>,
    strides: Vec<usize>,
}

impl View {
    /// The view's elements, contiguous, in row-major order.
    pub(super) fn gather(&self, storage: &[u8]) -> Result<FileTensor, String> {
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
pub(super) type Found = BTreeMap<String, usize>;

/// Runs the pickle at `bytes[at..]` to its STOP: the object, where it ended, the storages seen.
pub(super) fn unpickle(bytes: &[u8], at: usize) -> Result<(Value, usize, Found), PthError> {
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
