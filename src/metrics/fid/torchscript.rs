//! Reading the float tensors of a TorchScript archive (`torch.jit.save`), without PyTorch.
//!
//! A TorchScript file is a zip holding `<name>/data.pkl`, a pickle of the module tree, and one
//! `<name>/data/<key>` entry per tensor storage. Burn's PyTorch reader handles `torch.save`
//! files but refuses TorchScript modules (their objects are `__torch__.*` classes whose state
//! is a plain attribute dict), so this module runs the small part of the pickle machine such a
//! file uses and collects every tensor attribute under its dotted path, e.g.
//! `net.layers.mixed.tower.conv.weight`.
//!
//! Anything outside that subset is refused with [`Error::BadDataFile`] rather than guessed at.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One float32 tensor read from the archive, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Sizes of each dimension.
    pub shape: Vec<usize>,
    /// The values, contiguous in row-major order.
    pub values: Vec<f32>,
}

/// Every float tensor attribute of the module tree in `path`, by dotted attribute path.
pub fn read_torchscript_tensors(path: &Path) -> Result<HashMap<String, RawTensor>> {
    let bad = |reason: String| Error::BadDataFile {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingData {
            path: path.to_path_buf(),
            hint: "run scripts/fetch-fid-weights.sh to download the FID Inception weights".into(),
        },
        _ => Error::io(path)(e),
    })?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a TorchScript zip: {e}")))?;
    let pickle_name = archive
        .file_names()
        .filter_map(|name| name.ok().map(|name| name.to_string()))
        .find(|name| name.ends_with("/data.pkl") && name.matches('/').count() == 1)
        .ok_or_else(|| bad("no <name>/data.pkl entry: not a TorchScript archive".into()))?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_string();
    let pickle = read_entry(&mut archive, &pickle_name, path)?;
    let root = Machine::default()
        .run(&pickle)
        .map_err(|reason| bad(format!("data.pkl: {reason}")))?;

    let mut found = Vec::new();
    collect_tensors(&root, String::new(), &mut found);
    let mut tensors = HashMap::with_capacity(found.len());
    for (name, tensor) in found {
        let entry = format!("{prefix}data/{}", tensor.storage_key);
        let bytes = read_entry(&mut archive, &entry, path)?;
        let values = tensor
            .values(&bytes)
            .map_err(|reason| bad(format!("tensor {name}: {reason}")))?;
        let raw = RawTensor {
            shape: tensor.shape.clone(),
            values,
        };
        if tensors.insert(name.clone(), raw).is_some() {
            return Err(bad(format!("tensor {name} appears twice")));
        }
    }
    Ok(tensors)
}

fn read_entry(
    archive: &mut zip::ZipArchive<std::fs::File>,
    name: &str,
    path: &Path,
) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::BadDataFile {
        path: PathBuf::from(path),
        reason,
    };
    let mut entry = archive
        .by_name(name)
        .map_err(|e| bad(format!("entry {name}: {e}")))?;
    // Sizes come from the zip directory; refuse absurd ones before allocating.
    let size = usize::try_from(entry.size()).map_err(|_| bad(format!("entry {name} too large")))?;
    if size > 1 << 31 {
        return Err(bad(format!("entry {name} declares {size} bytes")));
    }
    let mut bytes = Vec::with_capacity(size);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("entry {name}: {e}")))?;
    Ok(bytes)
}

/// Walks objects and dicts, recording tensors under their attribute paths.
fn collect_tensors(value: &Value, path: String, out: &mut Vec<(String, TensorRef)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Tensor(tensor) => out.push((path, tensor.clone())),
        Value::Object { state, .. } => collect_tensors(state, path, out),
        Value::Dict(entries) => {
            for (key, value) in entries {
                if let Value::Str(key) = key {
                    collect_tensors(value, join(key), out);
                }
            }
        }
        _ => {}
    }
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage_key: String,
    storage_type: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorRef {
    /// The tensor's values out of its storage's bytes; contiguous float32 only.
    fn values(&self, storage: &[u8]) -> Result<Vec<f32>, String> {
        if self.storage_type != "FloatStorage" {
            return Err(format!("{} is not float32", self.storage_type));
        }
        let mut expected = 1;
        for (size, stride) in self.shape.iter().zip(&self.stride).rev() {
            if *size > 1 && *stride != expected {
                return Err(format!(
                    "not contiguous (shape {:?}, stride {:?})",
                    self.shape, self.stride
                ));
            }
            expected *= size;
        }
        let count: usize = self.shape.iter().product();
        let start = self.offset * 4;
        let end = start + count * 4;
        let bytes = storage.get(start..end).ok_or_else(|| {
            format!(
                "storage holds {} bytes, tensor needs {start}..{end}",
                storage.len()
            )
        })?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

/// The Python values a TorchScript module pickle builds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global { module: String, name: String },
    Object { class: String, state: Box<Value> },
    Storage { key: String, kind: String },
    Tensor(TensorRef),
    Mark,
}

impl Value {
    fn int(&self) -> Result<i64, String> {
        match self {
            Value::Int(v) => Ok(*v),
            other => Err(format!("expected an int, got {other:?}")),
        }
    }

    fn sizes(&self) -> Result<Vec<usize>, String> {
        match self {
            Value::Tuple(items) | Value::List(items) => items
                .iter()
                .map(|v| usize::try_from(v.int()?).map_err(|_| "negative size".to_string()))
                .collect(),
            other => Err(format!("expected a tuple of sizes, got {other:?}")),
        }
    }
}

/// The pickle machine: a stack, a memo and the opcodes TorchScript writes (protocol 2).
#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl Machine {
    fn run(mut self, bytes: &[u8]) -> Result<Value, String> {
        let mut input = Input { bytes, at: 0 };
        loop {
            let op = input.byte()?;
            match op {
                0x80 => {
                    input.byte()?; // PROTO n
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(input.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = input.byte()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(input.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                b'G' => {
                    let v = f64::from_be_bytes(input.array()?);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let len = u32::from_le_bytes(input.array()?) as usize;
                    self.stack.push(Value::Str(input.text(len)?));
                }
                0x8c => {
                    let len = input.byte()? as usize;
                    self.stack.push(Value::Str(input.text(len)?));
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err("stack underflow in TUPLEn".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_list(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.extend_list(items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_dict(vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    self.extend_dict(items)?;
                }
                b'q' => {
                    let key = input.byte()?.into();
                    self.put(key)?;
                }
                b'r' => {
                    let key = u32::from_le_bytes(input.array()?);
                    self.put(key)?;
                }
                b'h' => {
                    let key = input.byte()?.into();
                    self.get(key)?;
                }
                b'j' => {
                    let key = u32::from_le_bytes(input.array()?);
                    self.get(key)?;
                }
                b'c' => {
                    let module = input.line()?;
                    let name = input.line()?;
                    self.stack.push(Value::Global { module, name });
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args); the state arrives with BUILD.
                    let _args = self.pop()?;
                    let class = match self.pop()? {
                        Value::Global { module, name } => format!("{module}.{name}"),
                        other => return Err(format!("NEWOBJ on {other:?}")),
                    };
                    self.stack.push(Value::Object {
                        class,
                        state: Box::new(Value::None),
                    });
                }
                b'b' => {
                    let new_state = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::Object { state, .. }) => **state = new_state,
                        other => return Err(format!("BUILD on {other:?}")),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(persistent_load(pid)?);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(reduce(callable, args)?);
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("no MARK on the stack")?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<(), String> {
        match self.stack.last_mut() {
            Some(Value::List(list)) => {
                list.extend(items);
                Ok(())
            }
            other => Err(format!("APPEND on {other:?}")),
        }
    }

    fn extend_dict(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of items".into());
        }
        match self.stack.last_mut() {
            Some(Value::Dict(dict)) => {
                let mut items = items.into_iter();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    dict.push((key, value));
                }
                Ok(())
            }
            other => Err(format!("SETITEM on {other:?}")),
        }
    }

    fn put(&mut self, key: u32) -> Result<(), String> {
        let top = self.stack.last().ok_or("PUT on an empty stack")?.clone();
        self.memo.insert(key, top);
        Ok(())
    }

    fn get(&mut self, key: u32) -> Result<(), String> {
        let value = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo key {key} was never stored"))?
            .clone();
        self.stack.push(value);
        Ok(())
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)` names a zip entry.
fn persistent_load(pid: Value) -> Result<Value, String> {
    match pid {
        Value::Tuple(items) => match items.as_slice() {
            [
                Value::Str(tag),
                Value::Global { name, .. },
                Value::Str(key),
                ..,
            ] if tag == "storage" => Ok(Value::Storage {
                key: key.clone(),
                kind: name.clone(),
            }),
            _ => Err(format!("unknown persistent id {items:?}")),
        },
        other => Err(format!("persistent id is not a tuple: {other:?}")),
    }
}

/// Calls the pickle makes: tensor rebuilds are interpreted, others kept as opaque objects.
fn reduce(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global { module, name } = callable else {
        return Err(format!("REDUCE on {callable:?}"));
    };
    if module == "torch._utils" && name == "_rebuild_tensor_v2" {
        let Value::Tuple(args) = args else {
            return Err("_rebuild_tensor_v2 arguments are not a tuple".into());
        };
        return match args.as_slice() {
            [Value::Storage { key, kind }, offset, shape, stride, ..] => {
                Ok(Value::Tensor(TensorRef {
                    storage_key: key.clone(),
                    storage_type: kind.clone(),
                    offset: usize::try_from(offset.int()?).map_err(|_| "negative offset")?,
                    shape: shape.sizes()?,
                    stride: stride.sizes()?,
                }))
            }
            _ => Err(format!("unexpected _rebuild_tensor_v2 arguments {args:?}")),
        };
    }
    Ok(Value::Object {
        class: format!("{module}.{name}"),
        state: Box::new(args),
    })
}

/// A cursor over the pickle bytes that errors instead of reading past the end.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn text(&mut self, len: usize) -> Result<String, String> {
        String::from_utf8(self.take(len)?.to_vec()).map_err(|e| e.to_string())
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL line")?;
        let text = self.text(len)?;
        self.at += 1;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pickle.dumps(protocol=2) of a tiny module-like tree, as TorchScript lays it out:
    /// an object whose state dict holds a tensor rebuilt from storage '0' and a child object.
    fn module_pickle() -> Vec<u8> {
        let mut p = vec![0x80, 2];
        p.extend(b"c__torch__.m\nNet\n)\x81}(");
        p.extend(b"\x8c\x06weight");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend(b"(\x8c\x07storagectorch\nFloatStorage\n\x8c\x010\x8c\x03cpuK\x06tQ");
        p.extend(b"K\x00K\x02K\x03\x86K\x03K\x01\x86\x89N\x85tR");
        p.extend(b"\x8c\x06stride");
        p.extend(b"K\x02");
        p.extend(b"\x8c\x05child");
        p.extend(b"c__torch__.m\nChild\n)\x81}(\x8c\x04beta");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend(b"(\x8c\x07storagectorch\nFloatStorage\n\x8c\x010\x8c\x03cpuK\x06tQ");
        p.extend(b"K\x04K\x02\x85K\x01\x85\x89N\x85tR");
        p.extend(b"ub");
        p.extend(b"ub.");
        p
    }

    #[test]
    fn module_tree_yields_tensors_under_dotted_paths() {
        let root = Machine::default().run(&module_pickle()).unwrap();
        let mut found = Vec::new();
        collect_tensors(&root, String::new(), &mut found);
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["child.beta", "weight"]);
        let storage: Vec<u8> = (0..6u8).flat_map(|i| f32::from(i).to_le_bytes()).collect();
        assert_eq!(found[1].1.shape, [2, 3]);
        assert_eq!(
            found[1].1.values(&storage).unwrap(),
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        // `beta` starts at element 4 of the same storage.
        assert_eq!(found[0].1.values(&storage).unwrap(), [4.0, 5.0]);
    }

    #[test]
    fn truncated_or_foreign_pickles_are_refused() {
        let bytes = module_pickle();
        for cut in [1, 10, 40, bytes.len() - 1] {
            assert!(
                Machine::default().run(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(Machine::default().run(b"\x80\x02\xff.").is_err());
    }

    #[test]
    fn storages_too_short_or_strided_are_refused() {
        let tensor = TensorRef {
            storage_key: "0".into(),
            storage_type: "FloatStorage".into(),
            offset: 0,
            shape: vec![2, 3],
            stride: vec![3, 1],
        };
        assert!(tensor.values(&[0; 20]).is_err());
        let transposed = TensorRef {
            stride: vec![1, 2],
            ..tensor.clone()
        };
        assert!(transposed.values(&[0; 24]).is_err());
        let half = TensorRef {
            storage_type: "HalfStorage".into(),
            ..tensor
        };
        assert!(half.values(&[0; 24]).is_err());
    }
}
