//! Parsing of the GGUF header, metadata and tensor infos, validating every length, count and
//! range before anything is allocated.

use super::value::{Array, Value, ValueType};
use super::{Content, GgmlDType, TensorInfo};
use super::{DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS, MAX_STRING_LEN};
use crate::{Error, Result};
use std::collections::HashSet;

fn err(msg: impl Into<String>) -> Error {
    Error::format("gguf", msg)
}

/// Smallest metadata entry: key length (8) + an empty key + type tag (4) + a 1-byte value.
const MIN_KV_SIZE: usize = 8 + 4 + 1;
/// Smallest tensor info: name length (8) + an empty name + n_dims (4) + type (4) + offset (8).
const MIN_TENSOR_INFO_SIZE: usize = 8 + 4 + 4 + 8;

/// A bounds-checked little-endian cursor over the file image.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes, or a "truncated" error saying what was being read.
    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            err(format!(
                "truncated: {} at byte {} needs {n} bytes but only {} remain",
                what(),
                self.pos,
                self.remaining()
            ))
        })?;
        let s = self.bytes.get(self.pos..end).ok_or_else(|| err("internal: range checked above"))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        <[u8; N]>::try_from(s).map_err(|_| err("internal: slice length checked above"))
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A length or count stored as `u64`, which must be at most `cap` and (times
    /// `elem_size`) fit in the remaining bytes.
    fn count(&mut self, elem_size: usize, cap: usize, what: &dyn Fn() -> String) -> Result<usize> {
        let at = self.pos;
        let n = self.u64(what)?;
        let rem = self.remaining();
        if n > cap as u64 {
            return Err(err(format!("{} at byte {at} claims {n}, over the limit of {cap}", what())));
        }
        let n = usize::try_from(n)
            .map_err(|_| err(format!("{} at byte {at} ({n}) does not fit in usize", what())))?;
        match n.checked_mul(elem_size) {
            Some(need) if need <= rem => Ok(n),
            _ => Err(err(format!(
                "{} at byte {at} claims {n} (at least {n} x {elem_size} bytes) but only {rem} bytes remain",
                what()
            ))),
        }
    }

    /// Raw string bytes: `u64` length, then the bytes.
    fn string_bytes(&mut self, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let at = self.pos;
        let len = self.u64(&|| format!("length of {}", what()))?;
        if len > MAX_STRING_LEN as u64 {
            return Err(err(format!(
                "string length {len} of {} at byte {at} is over the limit of {MAX_STRING_LEN} bytes",
                what()
            )));
        }
        let rem = self.remaining();
        if len > rem as u64 {
            return Err(err(format!(
                "string length {len} of {} at byte {at} runs past the end of the file ({rem} bytes remain)",
                what()
            )));
        }
        // `len <= rem <= usize::MAX`, so the cast is exact.
        self.take(len as usize, what)
    }

    /// A string that must be valid UTF-8 (keys, tensor names).
    fn strict_string(&mut self, what: &dyn Fn() -> String) -> Result<String> {
        let at = self.pos;
        let b = self.string_bytes(what)?;
        String::from_utf8(b.to_vec())
            .map_err(|e| err(format!("{} at byte {at} is not valid UTF-8 ({e})", what())))
    }

    /// A string value, converted lossily if it is not UTF-8 (see [`Value::String`]).
    fn lossy_string(&mut self, what: &dyn Fn() -> String) -> Result<String> {
        Ok(String::from_utf8_lossy(self.string_bytes(what)?).into_owned())
    }

    fn value_type(&mut self, what: &dyn Fn() -> String) -> Result<ValueType> {
        let at = self.pos;
        let id = self.u32(&|| format!("type of {}", what()))?;
        ValueType::from_id(id)
            .ok_or_else(|| err(format!("unknown metadata value type {id} for {} at byte {at}", what())))
    }

    /// `count` fixed-size elements decoded by `f` from one bounds-checked slice.
    fn fixed<T, const N: usize>(
        &mut self,
        count: usize,
        what: &dyn Fn() -> String,
        f: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        // `count()` checked `count * min_encoded_size <= remaining`, and N is that size.
        let n = count.checked_mul(N).ok_or_else(|| err(format!("{}: size overflow", what())))?;
        let s = self.take(n, what)?;
        Ok(s.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect())
    }

    fn value(&mut self, ty: ValueType, depth: usize, what: &dyn Fn() -> String) -> Result<Value> {
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(what)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(what)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            ValueType::Bool => Value::Bool(self.bool(what)?),
            ValueType::String => Value::String(self.lossy_string(what)?),
            ValueType::Array => Value::Array(self.array_value(depth + 1, what)?),
        })
    }

    fn bool(&mut self, what: &dyn Fn() -> String) -> Result<bool> {
        let at = self.pos;
        match self.array::<1>(what)? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(err(format!("invalid bool value {b} for {} at byte {at} (must be 0 or 1)", what()))),
        }
    }

    /// An array: element type, `u64` count, elements. `depth` is 1 for a top-level array.
    fn array_value(&mut self, depth: usize, what: &dyn Fn() -> String) -> Result<Array> {
        let at = self.pos;
        if depth > MAX_ARRAY_DEPTH {
            return Err(err(format!(
                "{} at byte {at}: arrays nested deeper than {MAX_ARRAY_DEPTH} levels",
                what()
            )));
        }
        let elem = self.value_type(&|| format!("elements of {}", what()))?;
        let count =
            self.count(elem.min_encoded_size(), usize::MAX, &|| format!("array count of {}", what()))?;
        Ok(match elem {
            ValueType::U8 => Array::U8(self.fixed(count, what, u8::from_le_bytes)?),
            ValueType::I8 => Array::I8(self.fixed(count, what, i8::from_le_bytes)?),
            ValueType::U16 => Array::U16(self.fixed(count, what, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.fixed(count, what, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.fixed(count, what, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.fixed(count, what, i32::from_le_bytes)?),
            ValueType::U64 => Array::U64(self.fixed(count, what, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.fixed(count, what, i64::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.fixed(count, what, f32::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.fixed(count, what, f64::from_le_bytes)?),
            ValueType::Bool => {
                let mut v = Vec::with_capacity(count);
                for i in 0..count {
                    v.push(self.bool(&|| format!("element {i} of {}", what()))?);
                }
                Array::Bool(v)
            }
            ValueType::String => {
                // Capacity is bounded: `count()` checked count * 8 <= remaining bytes.
                let mut v = Vec::with_capacity(count);
                for i in 0..count {
                    v.push(self.lossy_string(&|| format!("element {i} of {}", what()))?);
                }
                Array::String(v)
            }
            ValueType::Array => {
                let mut v = Vec::with_capacity(count);
                for i in 0..count {
                    v.push(self.array_value(depth + 1, &|| format!("element {i} of {}", what()))?);
                }
                Array::Array(v)
            }
        })
    }
}

/// Parses and validates a whole GGUF file image. See [`Content::read`].
pub(super) fn read_content(bytes: &[u8]) -> Result<Content> {
    let mut r = Reader { bytes, pos: 0 };
    let magic = r.array::<4>(&|| "magic".to_string())?;
    if magic != MAGIC {
        return Err(err(format!("not a GGUF file: magic is {magic:?}, expected {MAGIC:?} (\"GGUF\")")));
    }
    let version = r.u32(&|| "version".to_string())?;
    match version {
        2 | 3 => {}
        1 => return Err(err("GGUF version 1 is not supported (it used 32-bit counts); re-convert the file")),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(err(format!(
                "big-endian GGUF (version {}) is not supported; convert it to little-endian",
                v.swap_bytes()
            )))
        }
        v => return Err(err(format!("unsupported GGUF version {v} (wick reads versions 2 and 3)"))),
    }
    let tensor_count = r.count(MIN_TENSOR_INFO_SIZE, usize::MAX, &|| "tensor count".to_string())?;
    let kv_count = r.count(MIN_KV_SIZE, usize::MAX, &|| "metadata key-value count".to_string())?;
    // Both sections share the remaining bytes.
    let need = tensor_count
        .checked_mul(MIN_TENSOR_INFO_SIZE)
        .and_then(|a| kv_count.checked_mul(MIN_KV_SIZE).and_then(|b| a.checked_add(b)));
    if need.is_none_or(|n| n > r.remaining()) {
        return Err(err(format!(
            "tensor count {tensor_count} and metadata key-value count {kv_count} cannot fit in the {} bytes after the header",
            r.remaining()
        )));
    }

    let mut metadata = Vec::with_capacity(kv_count);
    let mut keys = HashSet::with_capacity(kv_count);
    for i in 0..kv_count {
        let at = r.pos;
        let key = r.strict_string(&|| format!("metadata key {i}"))?;
        if !keys.insert(key.clone()) {
            return Err(err(format!("duplicate metadata key {key:?} at byte {at}")));
        }
        let what = || format!("metadata key {key:?}");
        let ty = r.value_type(&what)?;
        let value = r.value(ty, 0, &what)?;
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, Value::U32(a))) if a.is_power_of_two() => *a as usize,
        Some((_, Value::U32(a))) => {
            return Err(err(format!("general.alignment must be a non-zero power of two, found {a}")))
        }
        Some((_, v)) => return Err(err(format!("general.alignment must be a u32, found {}", v.describe()))),
    };

    let mut tensor_infos = Vec::with_capacity(tensor_count);
    let mut names = HashSet::with_capacity(tensor_count);
    for i in 0..tensor_count {
        let at = r.pos;
        let name = r.strict_string(&|| format!("name of tensor {i}"))?;
        if !names.insert(name.clone()) {
            return Err(Error::format_tensor("gguf", &name, format!("duplicate tensor name at byte {at}")));
        }
        let info = read_tensor_info(&mut r, &name, alignment).map_err(|e| match e {
            Error::Format { format, tensor: None, msg } => {
                Error::Format { format, tensor: Some(name.clone()), msg }
            }
            e => e,
        })?;
        tensor_infos.push(info);
    }

    let infos_end = r.pos;
    let data_offset = infos_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| err(format!("data offset after byte {infos_end} overflows")))?;
    check_ranges(&tensor_infos, data_offset, bytes.len())?;
    Ok(Content { version, metadata, tensor_infos, alignment, data_offset })
}

/// One tensor info after its name: dims (innermost first), ggml type, offset. Errors carry no
/// tensor name; the caller adds it.
fn read_tensor_info(r: &mut Reader<'_>, name: &str, alignment: usize) -> Result<TensorInfo> {
    let at = r.pos;
    let n_dims = r.u32(&|| "number of dims".to_string())?;
    if n_dims as usize > MAX_DIMS {
        return Err(err(format!("{n_dims} dims (at byte {at}), at most {MAX_DIMS} are supported")));
    }
    let dims_at = r.pos;
    let mut shape = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        let x = r.u64(&|| format!("dim {d}"))?;
        let x = usize::try_from(x)
            .map_err(|_| err(format!("dim {d} = {x} at byte {dims_at} does not fit in usize")))?;
        shape.push(x);
    }
    // GGUF (like ggml) stores dims innermost first; wick shapes are row-major.
    shape.reverse();
    if shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).is_none() {
        return Err(err(format!("element count of dims {shape:?} (at byte {dims_at}) overflows")));
    }
    let type_at = r.pos;
    let type_id = r.u32(&|| "ggml type".to_string())?;
    let dtype = GgmlDType::lookup(type_id).map_err(|m| err(format!("{m} (at byte {type_at})")))?;
    let size_in_bytes = dtype.byte_size(&shape).map_err(err)?;
    let offset_at = r.pos;
    let offset = r.u64(&|| "data offset".to_string())?;
    let offset = usize::try_from(offset)
        .map_err(|_| err(format!("data offset {offset} at byte {offset_at} does not fit in usize")))?;
    if offset % alignment != 0 {
        return Err(err(format!(
            "data offset {offset} (at byte {offset_at}) is misaligned: not a multiple of the alignment {alignment}"
        )));
    }
    Ok(TensorInfo { name: name.to_string(), shape, dtype, offset, size_in_bytes })
}

/// Every tensor's data lies inside the file and no two overlap.
fn check_ranges(infos: &[TensorInfo], data_offset: usize, file_len: usize) -> Result<()> {
    let mut ranges = Vec::with_capacity(infos.len());
    for t in infos {
        let range = t.data_range(data_offset)?;
        if range.end > file_len {
            return Err(Error::format_tensor(
                "gguf",
                &t.name,
                format!(
                    "data bytes {}..{} ({} bytes of {} at offset {} after the data start {data_offset}) run past the end of the file ({file_len} bytes)",
                    range.start, range.end, t.size_in_bytes, t.dtype, t.offset
                ),
            ));
        }
        if !range.is_empty() {
            ranges.push((range, t.name.as_str()));
        }
    }
    ranges.sort_by_key(|(r, _)| (r.start, r.end));
    for w in ranges.windows(2) {
        if let [(a, an), (b, bn)] = w {
            if a.end > b.start {
                return Err(Error::format_tensor(
                    "gguf",
                    *bn,
                    format!(
                        "data bytes {}..{} overlap tensor {an:?} at bytes {}..{}",
                        b.start, b.end, a.start, a.end
                    ),
                ));
            }
        }
    }
    Ok(())
}
