//! Writing GGUF version 3 files.

use super::value::{Array, Value};
use super::{GgmlDType, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS, MAX_STRING_LEN, VERSION};
use crate::{Error, Result, Tensor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// Longest tensor name llama.cpp accepts (`GGML_MAX_NAME` is 64 including the NUL).
const MAX_NAME_LEN: usize = 63;

/// The data of one tensor to write.
#[derive(Debug, Clone)]
pub enum TensorData<'a> {
    /// A wick tensor, written as F32, F16, BF16, F64 or I64 (U8 and U32 have no GGUF type).
    Dense(&'a Tensor),
    /// Raw data of any ggml type (quantized blocks, or I8/I16/I32 elements), little-endian,
    /// with its row-major shape; `bytes` must be exactly the size the type and shape need.
    Raw {
        /// The ggml type.
        dtype: GgmlDType,
        /// Row-major shape (written innermost first).
        shape: Vec<usize>,
        /// The blocks or elements.
        bytes: &'a [u8],
    },
}

fn err(msg: impl Into<String>) -> Error {
    Error::format("gguf", msg)
}

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, x: usize) {
    out.extend_from_slice(&(x as u64).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &dyn Fn() -> String) -> Result<()> {
    if s.len() > MAX_STRING_LEN {
        return Err(err(format!("{} is {} bytes, over the limit of {MAX_STRING_LEN}", what(), s.len())));
    }
    put_u64(out, s.len());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_array(out: &mut Vec<u8>, a: &Array, what: &dyn Fn() -> String) -> Result<()> {
    put_u32(out, a.elem_type().id());
    put_u64(out, a.len());
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::U16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::U64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::Bool(v) => v.iter().for_each(|&x| out.push(u8::from(x))),
        Array::String(v) => {
            for (i, s) in v.iter().enumerate() {
                put_str(out, s, &|| format!("element {i} of {}", what()))?;
            }
        }
        Array::Array(v) => {
            for (i, inner) in v.iter().enumerate() {
                put_array(out, inner, &|| format!("element {i} of {}", what()))?;
            }
        }
    }
    Ok(())
}

fn put_value(out: &mut Vec<u8>, v: &Value, what: &dyn Fn() -> String) -> Result<()> {
    put_u32(out, v.value_type().id());
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s, what)?,
        Value::Array(a) => {
            if a.depth() > MAX_ARRAY_DEPTH {
                return Err(err(format!("{}: arrays nested deeper than {MAX_ARRAY_DEPTH} levels", what())));
            }
            put_array(out, a, what)?
        }
    }
    Ok(())
}

/// One tensor ready to write: its ggml type, dims innermost first, and bytes.
struct Prepared<'a> {
    name: &'a str,
    dtype: GgmlDType,
    dims: Vec<usize>,
    bytes: Cow<'a, [u8]>,
}

fn prepare<'a>(name: &'a str, data: &TensorData<'a>) -> Result<Prepared<'a>> {
    let terr = |msg: String| Error::format_tensor("gguf", name, msg);
    let (dtype, shape, bytes): (GgmlDType, &[usize], Cow<'a, [u8]>) = match data {
        TensorData::Dense(t) => {
            let dtype = GgmlDType::from_dtype(t.dtype()).ok_or_else(|| {
                Error::unsupported_dtype(
                    "gguf::write",
                    t.dtype(),
                    "GGUF stores f32, f16, bf16, f64 and i64 tensors",
                )
            })?;
            (dtype, t.dims(), Cow::Owned(t.to_le_bytes()?))
        }
        TensorData::Raw { dtype, shape, bytes } => (*dtype, shape.as_slice(), Cow::Borrowed(*bytes)),
    };
    if shape.len() > MAX_DIMS {
        return Err(terr(format!(
            "shape {shape:?} has {} dims, at most {MAX_DIMS} are supported",
            shape.len()
        )));
    }
    let need = dtype.byte_size(shape).map_err(&terr)?;
    if need != bytes.len() {
        return Err(terr(format!("shape {shape:?} of {dtype} needs {need} bytes, got {}", bytes.len())));
    }
    Ok(Prepared { name, dtype, dims: shape.iter().rev().copied().collect(), bytes })
}

fn alignment_of(metadata: &[(&str, Value)]) -> Result<usize> {
    match metadata.iter().find(|(k, _)| *k == "general.alignment") {
        None => Ok(DEFAULT_ALIGNMENT),
        Some((_, Value::U32(a))) if a.is_power_of_two() => Ok(*a as usize),
        Some((_, v)) => {
            Err(err(format!("general.alignment must be a non-zero power-of-two u32, found {}", v.describe())))
        }
    }
}

fn padding(pos: usize, alignment: usize) -> Result<usize> {
    pos.checked_next_multiple_of(alignment)
        .map(|p| p - pos)
        .ok_or_else(|| err(format!("padding after byte {pos} overflows")))
}

/// Writes a GGUF v3 file to `w`: `metadata` in the given order, then `tensors`, each tensor's
/// data aligned to `general.alignment` (if present in `metadata`, a power-of-two `u32`) or
/// 32, with zero padding after the tensor infos and after every tensor, as llama.cpp's
/// `gguf-py` writer does.
///
/// Refused before anything is written: duplicate keys or tensor names, tensor names over 63
/// bytes (llama.cpp's limit), strings over [`MAX_STRING_LEN`](super::MAX_STRING_LEN), arrays
/// nested deeper than [`MAX_ARRAY_DEPTH`](super::MAX_ARRAY_DEPTH), shapes over
/// [`MAX_DIMS`](super::MAX_DIMS) dims, rows that are not whole blocks, raw data of the wrong
/// size, and U8/U32 tensors.
pub fn write_to(
    w: &mut impl Write,
    metadata: &[(&str, Value)],
    tensors: &[(&str, TensorData<'_>)],
) -> Result<()> {
    let alignment = alignment_of(metadata)?;
    let mut keys = HashSet::new();
    let mut head = Vec::new();
    head.extend_from_slice(&MAGIC);
    put_u32(&mut head, VERSION);
    put_u64(&mut head, tensors.len());
    put_u64(&mut head, metadata.len());
    for (key, value) in metadata {
        if !keys.insert(*key) {
            return Err(err(format!("duplicate metadata key {key:?}")));
        }
        let what = || format!("metadata key {key:?}");
        put_str(&mut head, key, &what)?;
        put_value(&mut head, value, &what)?;
    }

    let mut names = HashSet::new();
    let mut prepared = Vec::with_capacity(tensors.len());
    for (name, data) in tensors {
        if !names.insert(*name) {
            return Err(Error::format_tensor("gguf", *name, "duplicate tensor name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(Error::format_tensor(
                "gguf",
                *name,
                format!("name is {} bytes; llama.cpp reads at most {MAX_NAME_LEN}", name.len()),
            ));
        }
        prepared.push(prepare(name, data)?);
    }

    let mut offset = 0usize;
    for t in &prepared {
        put_str(&mut head, t.name, &|| format!("name of tensor {:?}", t.name))?;
        put_u32(&mut head, t.dims.len() as u32);
        t.dims.iter().for_each(|&d| put_u64(&mut head, d));
        put_u32(&mut head, t.dtype.id());
        put_u64(&mut head, offset);
        offset = offset
            .checked_add(t.bytes.len())
            .and_then(|end| end.checked_next_multiple_of(alignment))
            .ok_or_else(|| Error::format_tensor("gguf", t.name, "data offset overflows"))?;
    }
    let pad = padding(head.len(), alignment)?;
    head.resize(head.len() + pad, 0);

    let io = |e: std::io::Error| Error::io("<gguf writer>", e);
    w.write_all(&head).map_err(io)?;
    let zeros = vec![0u8; alignment];
    for t in &prepared {
        w.write_all(&t.bytes).map_err(io)?;
        let pad = padding(t.bytes.len(), alignment)?;
        w.write_all(zeros.get(..pad).unwrap_or(&[])).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Writes a GGUF v3 file at `path` (see [`write_to`]). The file is written to a temporary
/// name next to `path` and renamed into place, so a failed write leaves no partial file.
pub fn write(
    path: impl AsRef<Path>,
    metadata: &[(&str, Value)],
    tensors: &[(&str, TensorData<'_>)],
) -> Result<()> {
    let path = path.as_ref();
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = std::io::BufWriter::new(file);
        write_to(&mut w, metadata, tensors).map_err(|e| match e {
            Error::Io { source, .. } => Error::io(path, source),
            e => e,
        })?;
        w.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
