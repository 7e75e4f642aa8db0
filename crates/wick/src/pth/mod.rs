//! PyTorch checkpoints (`.pth`, `.pt`, `.bin`) written by `torch.save`, read through a safe,
//! allow-listed unpickler.
//!
//! Since PyTorch 1.6 `torch.save` writes a zip archive: `<top>/data.pkl`, a pickle of the
//! saved object in which every tensor is a call to `torch._utils._rebuild_tensor_v2`
//! (storage, offset, size, stride, ...) and every storage a persistent id naming a member
//! `<top>/data/<key>` with the raw little-endian elements. The top folder's name varies
//! (`archive`, the file's stem, ...). [`read`] and [`read_bytes`] interpret `data.pkl` with
//! [`unpickle`], a pickle machine that knows only the opcodes and globals a state dict
//! needs and refuses every other global (`os.system`, `builtins.eval`, ...) with an error
//! that names it: nothing in the file is ever executed.
//!
//! The result is a list of `(name, tensor)` in the order the pickle lists them. Nested dicts
//! (a full `model.state_dict()`, or `{'model': ..., 'optimizer': ...}` checkpoints) are
//! flattened with `.`-joined keys, lists and tuples by index (`layers.0.weight`), and values
//! that are not tensors (ints, strings, ...) are left out; a tensor saved on its own is named
//! `""`. Each tensor reads its own strided view (transposed and sliced tensors, and several
//! tensors sharing one storage, all come out right) and is contiguous in wick. Contiguous
//! views of plain dtypes borrow the storage's bytes instead of copying them.
//!
//! | torch dtype                 | wick dtype | notes                                     |
//! |-----------------------------|------------|-------------------------------------------|
//! | float64/32/16, bfloat16     | same       |                                           |
//! | int64, uint8, uint32        | same       |                                           |
//! | int32, int16, int8          | `I64`      | widened, lossless                         |
//! | uint16                      | `U32`      | widened, lossless                         |
//! | uint64                      | `I64`      | an error if a value exceeds `i64::MAX`    |
//! | bool                        | `U8`       | 0 or 1                                    |
//!
//! Complex, quantized, float8 and sparse tensors are refused with an error naming the
//! storage type, dtype or rebuild function. The legacy non-zip format (PyTorch < 1.6, or
//! `_use_new_zipfile_serialization=False`) is not supported: re-save such a file with a
//! recent PyTorch. TorchScript archives (`torch.jit.save`) are not state dicts and are
//! refused too.
//!
//! ```no_run
//! for (name, t) in wick::pth::read("pytorch_model.bin")? {
//!     println!("{name}: {:?} {}", t.dims(), t.dtype());
//! }
//! # Ok::<(), wick::Error>(())
//! ```

mod pickle;
mod value;

pub use pickle::unpickle;
pub use value::{StorageRef, TensorRef, TorchDType, Value};

use crate::npy::raw_to_tensor;
use crate::npz::{read_member_exact, zip_error};
use crate::{Error, Result, Tensor};
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use zip::{CompressionMethod, ZipArchive};

const FORMAT: &str = "pth";

/// The largest `data.pkl` accepted, in bytes.
const MAX_PICKLE_LEN: usize = 256 << 20;
/// Bytes reserved before reading a compressed storage (it grows as data arrives).
const MAX_PREALLOC: usize = 64 << 20;
/// The most bytes a tensor whose strides overlap (an expanded tensor, stride 0) may
/// materialize beyond its storage.
const MAX_EXPANDED_BYTES: usize = 1 << 30;

/// Reads every tensor of a `torch.save` checkpoint file (see the [module docs](self)).
pub fn read<P: AsRef<Path>>(path: P) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_archive(std::io::BufReader::new(f)).map_err(|e| e.context(path.display()))
}

/// Reads every tensor of an in-memory `torch.save` checkpoint (see the [module docs](self)).
///
/// ```
/// let e = wick::pth::read_bytes(b"\x80\x02\x8a\x0alegacy").unwrap_err();
/// assert!(e.to_string().contains("re-save"));
/// ```
pub fn read_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    read_archive(Cursor::new(bytes))
}

fn io_err(e: std::io::Error) -> Error {
    Error::format(FORMAT, format!("reading the archive: {e}"))
}

/// Checks the magic and gives the archive's length.
fn sniff<R: Read + Seek>(r: &mut R) -> Result<u64> {
    let len = r.seek(SeekFrom::End(0)).map_err(io_err)?;
    r.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut head = Vec::with_capacity(512);
    r.by_ref().take(512).read_to_end(&mut head).map_err(io_err)?;
    r.seek(SeekFrom::Start(0)).map_err(io_err)?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(len);
    }
    let legacy = "is not supported; re-save the checkpoint with a recent PyTorch (torch.save writes the zip \
                  format by default since 1.6)";
    if head.first() == Some(&0x80) {
        return Err(Error::format(FORMAT, format!("the legacy (non-zip) torch.save format {legacy}")));
    }
    if head.get(257..262) == Some(b"ustar") {
        return Err(Error::format(FORMAT, format!("the legacy tar torch.save format {legacy}")));
    }
    Err(Error::format(FORMAT, "not a PyTorch checkpoint (no zip signature)"))
}

fn read_archive<R: Read + Seek>(mut reader: R) -> Result<Vec<(String, Tensor)>> {
    let archive_len = sniff(&mut reader)?;
    let mut zip = ZipArchive::new(reader).map_err(|e| zip_error(FORMAT, e))?;
    let names: Vec<String> = zip.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
    let torchscript = names.iter().any(|n| n.ends_with("constants.pkl"));
    let pkl_name = names
        .iter()
        .find(|n| n.as_str() == "data.pkl" || (n.ends_with("/data.pkl") && n.matches('/').count() == 1))
        .cloned()
        .ok_or_else(|| {
            let hint = if torchscript {
                " (this looks like a TorchScript archive, which is not supported)"
            } else {
                ""
            };
            Error::format(FORMAT, format!("no data.pkl member in the archive{hint}"))
        })?;
    let prefix = pkl_name.strip_suffix("data.pkl").unwrap_or_default().to_string();

    let pkl = {
        let mut m = zip.by_name(&pkl_name).map_err(|e| zip_error(FORMAT, e))?;
        let len = usize::try_from(m.size()).unwrap_or(usize::MAX);
        if len > MAX_PICKLE_LEN {
            return Err(Error::format(
                FORMAT,
                format!("{pkl_name} is {len} bytes, more than {MAX_PICKLE_LEN}"),
            ));
        }
        read_member_exact(&mut m, len, MAX_PREALLOC, FORMAT, &pkl_name)?
    };
    let big_endian = byte_order(&mut zip, &prefix)?;
    let value = unpickle(&pkl).map_err(|e| {
        if torchscript {
            e.context("this looks like a TorchScript archive (torch.jit.save), which is not supported")
        } else {
            e
        }
    })?;

    let mut refs = Vec::new();
    flatten(value, String::new(), &mut refs);
    let mut seen = HashSet::new();
    let mut storages: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for (name, t) in refs {
        if !seen.insert(name.clone()) {
            return Err(Error::format_tensor(FORMAT, name, "duplicate tensor name after flattening"));
        }
        let storage = match storages.get(&t.storage.key) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(load_storage(&mut zip, &prefix, &t.storage, archive_len)?);
                storages.insert(t.storage.key.clone(), s.clone());
                s
            }
        };
        let tensor = build_tensor(&t, &storage, big_endian).map_err(|e| match e {
            Error::Format { format, tensor: None, msg } => {
                Error::Format { format, tensor: Some(name.clone()), msg }
            }
            e => e.context(format!("tensor {name:?}")),
        })?;
        out.push((name, tensor));
    }
    Ok(out)
}

/// True when `<prefix>byteorder` says `big`; files without it are little-endian.
fn byte_order<R: Read + Seek>(zip: &mut ZipArchive<R>, prefix: &str) -> Result<bool> {
    let name = format!("{prefix}byteorder");
    if zip.index_for_name(&name).is_none() {
        return Ok(false);
    }
    let mut m = zip.by_name(&name).map_err(|e| zip_error(FORMAT, e))?;
    if m.size() > 16 {
        return Err(Error::format(FORMAT, format!("{name} is {} bytes long", m.size())));
    }
    let len = usize::try_from(m.size()).unwrap_or(0);
    let b = read_member_exact(&mut m, len, 16, FORMAT, &name)?;
    match b.as_slice() {
        b"little" => Ok(false),
        b"big" => Ok(true),
        other => Err(Error::format(FORMAT, format!("{name} says {:?}", String::from_utf8_lossy(other)))),
    }
}

fn load_storage<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    prefix: &str,
    s: &StorageRef,
    archive_len: u64,
) -> Result<Vec<u8>> {
    let key = &s.key;
    let nbytes = s.nbytes().ok_or_else(|| {
        Error::format(FORMAT, format!("storage {key:?} of {} elements overflows the address space", s.numel))
    })?;
    let name = format!("{prefix}data/{key}");
    if zip.index_for_name(&name).is_none() {
        return Err(Error::format(FORMAT, format!("storage {key:?} is missing (no member {name})")));
    }
    let mut m = zip.by_name(&name).map_err(|e| zip_error(FORMAT, e))?;
    if m.size() != nbytes as u64 {
        return Err(Error::format(
            FORMAT,
            format!(
                "storage {key:?} has {} bytes but the pickle declares {nbytes} ({} elements of {})",
                m.size(),
                s.numel,
                s.dtype.map_or("bytes", TorchDType::name)
            ),
        ));
    }
    // A stored member's bytes are physically in the archive, so its size bounds a real
    // allocation; a compressed one grows its buffer as data actually arrives.
    let prealloc = if m.compression() == CompressionMethod::Stored && m.size() <= archive_len {
        nbytes
    } else {
        MAX_PREALLOC
    };
    read_member_exact(&mut m, nbytes, prealloc, FORMAT, &name)
}

/// Collects the tensors of a value tree with their flattened names.
fn flatten(v: Value, prefix: String, out: &mut Vec<(String, TensorRef)>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Tensor(t) => out.push((prefix, *t)),
        Value::Dict(items) => {
            for (k, v) in items {
                let key = match k {
                    Value::Str(s) => s,
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                flatten(v, join(&key), out);
            }
        }
        Value::List(items) | Value::Tuple(items) => {
            for (i, v) in items.into_iter().enumerate() {
                flatten(v, join(&i.to_string()), out);
            }
        }
        _ => {}
    }
}

fn strided_err(t: &TensorRef, what: String) -> Error {
    Error::format(
        FORMAT,
        format!(
            "view (offset {}, size {:?}, stride {:?}) of storage {:?} {what}",
            t.offset, t.shape, t.stride, t.storage.key
        ),
    )
}

/// The tensor a [`TensorRef`] describes, read from its storage's bytes.
fn build_tensor(t: &TensorRef, storage: &Arc<Vec<u8>>, big_endian: bool) -> Result<Tensor> {
    if let Some(sd) = t.storage.dtype {
        if sd != t.dtype {
            return Err(Error::format(
                FORMAT,
                format!("tensor of {} over a storage of {}", t.dtype.name(), sd.name()),
            ));
        }
    }
    let elem = t.dtype.elem();
    let es = elem.size();
    let avail = storage.len() / es;
    let dims = t.shape.as_slice();
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| strided_err(t, "has an element count that overflows".into()))?;
    if n == 0 {
        return raw_to_tensor(FORMAT, elem, false, &[], dims);
    }
    let last = dims
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| d.checked_sub(1)?.checked_mul(s)?.checked_add(acc))
        .ok_or_else(|| strided_err(t, "reaches past the address space".into()))?;
    if last >= avail {
        return Err(strided_err(
            t,
            format!("reaches element {last}, but the storage holds {avail} elements of {}", t.dtype.name()),
        ));
    }
    let out_bytes = n.checked_mul(es).ok_or_else(|| strided_err(t, "overflows the address space".into()))?;
    if n > avail && out_bytes > MAX_EXPANDED_BYTES {
        return Err(strided_err(
            t,
            format!(
                "expands {avail} elements to {n} (overlapping strides), more than {MAX_EXPANDED_BYTES} bytes"
            ),
        ));
    }
    let start = t.offset.checked_mul(es).ok_or_else(|| strided_err(t, "offset overflows".into()))?;
    if is_contiguous(dims, &t.stride) {
        if elem.is_native() && !big_endian {
            return Tensor::from_shared_bytes(storage.clone(), start, elem.target(), dims);
        }
        let end = start.checked_add(out_bytes).ok_or_else(|| strided_err(t, "overflows".into()))?;
        let raw = storage.get(start..end).ok_or_else(|| strided_err(t, "is out of range".into()))?;
        return raw_to_tensor(FORMAT, elem, big_endian, raw, dims);
    }
    let raw = gather(storage, es, t.offset, dims, &t.stride, out_bytes)
        .ok_or_else(|| strided_err(t, "is out of range".into()))?;
    raw_to_tensor(FORMAT, elem, big_endian, &raw, dims)
}

/// True when the strides are the row-major ones (dims of size 1 may have any stride).
fn is_contiguous(dims: &[usize], stride: &[usize]) -> bool {
    let mut acc = 1usize;
    for (&d, &s) in dims.iter().zip(stride).rev() {
        if d != 1 && s != acc {
            return false;
        }
        acc = acc.saturating_mul(d);
    }
    true
}

/// Copies the elements of a strided view into row-major order. The caller has checked that
/// the view's last element lies inside `src`, so every offset computed here does too (the
/// `get`s are a second line of defence and give `None` rather than a panic).
fn gather(
    src: &[u8],
    es: usize,
    offset: usize,
    dims: &[usize],
    stride: &[usize],
    out_bytes: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_bytes);
    let mut idx = vec![0usize; dims.len()];
    let mut pos = offset;
    loop {
        let a = pos.checked_mul(es)?;
        out.extend_from_slice(src.get(a..a.checked_add(es)?)?);
        // Odometer step: bump the last dim; on overflow reset it (subtracting exactly what
        // was added) and carry into the previous one.
        let mut d = dims.len();
        loop {
            if d == 0 {
                return Some(out);
            }
            d -= 1;
            let (i, size, s) = (idx.get_mut(d)?, *dims.get(d)?, *stride.get(d)?);
            if *i + 1 < size {
                *i += 1;
                pos = pos.checked_add(s)?;
                break;
            }
            pos = pos.checked_sub(i.checked_mul(s)?)?;
            *i = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tref(offset: usize, shape: &[usize], stride: &[usize], numel: usize) -> TensorRef {
        TensorRef {
            storage: StorageRef { key: "0".into(), dtype: Some(TorchDType::F32), numel },
            dtype: TorchDType::F32,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn storage(n: usize) -> Arc<Vec<u8>> {
        Arc::new((0..n).flat_map(|i| (i as f32).to_le_bytes()).collect())
    }

    #[test]
    fn strided_views() {
        let s = storage(12);
        let t = build_tensor(&tref(0, &[4, 3], &[1, 4], 12), &s, false).unwrap();
        assert_eq!(t.to_vec2::<f32>().unwrap()[1], vec![1., 5., 9.]);
        let t = build_tensor(&tref(5, &[2, 2], &[4, 2], 12), &s, false).unwrap();
        assert_eq!(t.flatten_to_vec::<f32>().unwrap(), vec![5., 7., 9., 11.]);
        let t = build_tensor(&tref(2, &[3, 2], &[0, 1], 12), &s, false).unwrap();
        assert_eq!(t.flatten_to_vec::<f32>().unwrap(), vec![2., 3., 2., 3., 2., 3.]);
        let t = build_tensor(&tref(11, &[], &[], 12), &s, false).unwrap();
        assert_eq!(t.to_scalar::<f32>().unwrap(), 11.);
        let t = build_tensor(&tref(100, &[0, 5], &[5, 1], 12), &s, false).unwrap();
        assert_eq!(t.dims(), &[0, 5]);
        for (bad, msg) in [
            (tref(10, &[3], &[1], 12), "reaches element 12"),
            (tref(0, &[1 << 20, 1 << 20], &[0, 0], 12), "expands"),
            (tref(0, &[2, usize::MAX], &[1, 1], 12), "overflow"),
            (tref(0, &[2, 2], &[usize::MAX, 1], 12), "address space"),
        ] {
            let e = build_tensor(&bad, &s, false).unwrap_err().to_string();
            assert!(e.contains(msg), "{bad:?}: {e}");
        }
    }

    #[test]
    fn flatten_names() {
        let t = Value::Tensor(Box::new(tref(0, &[1], &[1], 1)));
        let v = Value::Dict(vec![
            (Value::Str("model".into()), Value::Dict(vec![(Value::Str("w".into()), t.clone())])),
            (Value::Str("epoch".into()), Value::Int(3)),
            (Value::Str("list".into()), Value::List(vec![Value::None, t.clone()])),
            (Value::Int(7), t),
        ]);
        let mut out = Vec::new();
        flatten(v, String::new(), &mut out);
        let names: Vec<_> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["model.w", "list.1", "7"]);
    }
}
