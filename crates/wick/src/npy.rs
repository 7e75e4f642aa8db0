//! NumPy `.npy` files: [`Tensor::read_npy`], [`Tensor::write_npy`] and the in-memory
//! [`read_npy_bytes`] / [`write_npy_bytes`].
//!
//! The format (versions 1.0, 2.0 and 3.0) is specified in NumPy's `numpy/lib/format.py`: the
//! magic `\x93NUMPY`, a two-byte version, a little-endian header length (2 bytes in 1.0, 4
//! bytes after), a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2,
//! 3), }` padded with spaces to a multiple of 64 bytes and ended by `\n`, then the raw data.
//!
//! The header is read by a small hand-written parser of that literal (nothing is evaluated),
//! at most [`MAX_HEADER_LEN`] bytes long; the element count and byte size are computed with
//! checked arithmetic and compared with the data actually present before anything is
//! allocated.
//!
//! | `descr`            | read as   | notes                                                 |
//! |--------------------|-----------|-------------------------------------------------------|
//! | `\|b1` (bool)      | `U8`      | any non-zero byte reads as 1                          |
//! | `\|u1`             | `U8`      |                                                       |
//! | `\|i1`, `<i2`, `<i4` | `I64`   | widened, lossless                                     |
//! | `<u2`              | `U32`     | widened, lossless                                     |
//! | `<u4`              | `U32`     |                                                       |
//! | `<u8` (uint64)     | `I64`     | an error if a value exceeds `i64::MAX`                |
//! | `<i8`              | `I64`     |                                                       |
//! | `<f2`, `<f4`, `<f8`| `F16`, `F32`, `F64` |                                             |
//!
//! Big-endian data (`>f4`, ...) is byte-swapped on read and `fortran_order: True` data is
//! transposed to row-major order, so every tensor read is contiguous and row-major. Other
//! dtypes (complex, strings, objects, structured records, datetimes) are refused with an
//! error naming the `descr`.
//!
//! Writing uses the little-endian `descr` of the tensor's dtype. NumPy has no bfloat16, so a
//! `BF16` tensor is refused; convert it first, e.g. with `t.to_dtype(DType::F32)`.

use crate::{DType, Device, Error, Result, Tensor};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

const FORMAT: &str = "npy";
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header accepted, in bytes (NumPy itself writes a few hundred at most).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// The largest rank accepted (NumPy's own limit, `NPY_MAXDIMS`, is 64).
pub const MAX_RANK: usize = 64;

/// How deeply the header literal may nest tuples, lists and dicts.
const MAX_LITERAL_DEPTH: usize = 8;

/// An element type as stored in a file, before conversion to a wick dtype. Shared with the
/// PyTorch reader, whose storages come in the same (plus bf16) types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    BF16,
    F16,
    F32,
    F64,
}

impl Elem {
    pub(crate) fn size(self) -> usize {
        match self {
            Elem::Bool | Elem::U8 | Elem::I8 => 1,
            Elem::U16 | Elem::I16 | Elem::BF16 | Elem::F16 => 2,
            Elem::U32 | Elem::I32 | Elem::F32 => 4,
            Elem::U64 | Elem::I64 | Elem::F64 => 8,
        }
    }

    /// The wick dtype the elements are read as.
    pub(crate) fn target(self) -> DType {
        match self {
            Elem::Bool | Elem::U8 => DType::U8,
            Elem::U16 | Elem::U32 => DType::U32,
            Elem::I8 | Elem::I16 | Elem::I32 | Elem::U64 | Elem::I64 => DType::I64,
            Elem::BF16 => DType::BF16,
            Elem::F16 => DType::F16,
            Elem::F32 => DType::F32,
            Elem::F64 => DType::F64,
        }
    }

    /// True when the bytes are already the wick dtype's little-endian representation.
    pub(crate) fn is_native(self) -> bool {
        matches!(self, Elem::U8 | Elem::U32 | Elem::I64 | Elem::BF16 | Elem::F16 | Elem::F32 | Elem::F64)
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version, `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub version: (u8, u8),
    /// The `descr` string, e.g. `"<f4"`.
    pub descr: String,
    /// The dtype the data is read as (see the module docs for the conversions).
    pub dtype: DType,
    /// True when the data is in column-major (Fortran) order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data: magic, version, length field and header together.
    pub data_offset: usize,
    /// Byte length of the data, as the shape and `descr` declare it.
    pub data_len: usize,
    elem: Elem,
    big_endian: bool,
}

/// Parses the magic, version and header of a `.npy` image. `bytes` must hold at least the
/// whole header; the data may follow but is not looked at.
///
/// ```
/// let bytes = wick::npy::write_npy_bytes(&wick::Tensor::zeros((2, 3), wick::DType::F32, &wick::Device::Cpu)?)?;
/// let h = wick::npy::parse_header(&bytes)?;
/// assert_eq!((h.descr.as_str(), h.shape.as_slice(), h.data_len), ("<f4", &[2usize, 3][..], 24));
/// assert!(wick::npy::parse_header(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
/// # Ok::<(), wick::Error>(())
/// ```
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader> {
    let (version, header_len, prefix_len) = parse_prefix(bytes)?;
    let end = prefix_len.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        Error::format(
            FORMAT,
            format!(
                "header length {header_len} at byte 8 runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        )
    })?;
    let text = bytes.get(prefix_len..end).ok_or_else(|| Error::format(FORMAT, "header out of range"))?;
    parse_dict(text, version, end)
}

/// Magic, version and header length: `(version, header_len, prefix_len)`.
fn parse_prefix(bytes: &[u8]) -> Result<((u8, u8), usize, usize)> {
    if bytes.len() < MAGIC.len() {
        return Err(Error::format(FORMAT, format!("file is too short ({} bytes) to be .npy", bytes.len())));
    }
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(Error::format(FORMAT, "not a .npy file (bad magic, expected \\x93NUMPY)"));
    }
    let short =
        || Error::format(FORMAT, format!("file ends inside the header prefix ({} bytes)", bytes.len()));
    let version = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(short()),
    };
    let (header_len, prefix_len) = match version {
        (1, 0) => match bytes.get(8..10) {
            Some(&[a, b]) => (usize::from(u16::from_le_bytes([a, b])), 10),
            _ => return Err(short()),
        },
        (2, 0) | (3, 0) => match bytes.get(8..12) {
            Some(&[a, b, c, d]) => {
                let n = u32::from_le_bytes([a, b, c, d]);
                (usize::try_from(n).unwrap_or(usize::MAX), 12)
            }
            _ => return Err(short()),
        },
        (major, minor) => {
            return Err(Error::format(FORMAT, format!("unsupported .npy format version {major}.{minor}")))
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(Error::format(
            FORMAT,
            format!("header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes"),
        ));
    }
    Ok((version, header_len, prefix_len))
}

/// A value of the header's Python literal.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    Int(i64),
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct LitParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LitParser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::format(FORMAT, format!("malformed header: {what} at header byte {}", self.i))
    }

    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i = self.i.saturating_add(1);
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i = self.i.saturating_add(1);
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit> {
        if depth > MAX_LITERAL_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'(') => self.seq(b')', depth),
            Some(b'[') => self.seq(b']', depth),
            Some(b'{') => self.dict(depth),
            Some(b'-' | b'0'..=b'9') => self.int(),
            Some(b'A'..=b'Z' | b'a'..=b'z') => {
                let start = self.i;
                while matches!(self.s.get(self.i), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9')) {
                    self.i = self.i.saturating_add(1);
                }
                match self.s.get(start..self.i) {
                    Some(b"True") => Ok(Lit::Bool(true)),
                    Some(b"False") => Ok(Lit::Bool(false)),
                    Some(b"None") => Ok(Lit::None),
                    _ => Err(self.err("unknown name")),
                }
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn string(&mut self, quote: u8) -> Result<Lit> {
        self.i = self.i.saturating_add(1);
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i).copied() {
                None => return Err(self.err("unterminated string")),
                Some(c) if c == quote => break,
                Some(b'\\') => {
                    self.i = self.i.saturating_add(1);
                    match self.s.get(self.i).copied() {
                        Some(c) => out.push(c),
                        None => return Err(self.err("unterminated string")),
                    }
                }
                Some(c) => out.push(c),
            }
            self.i = self.i.saturating_add(1);
        }
        self.i = self.i.saturating_add(1);
        String::from_utf8(out).map(Lit::Str).map_err(|_| self.err("string is not valid UTF-8"))
    }

    fn int(&mut self) -> Result<Lit> {
        let neg = self.eat(b'-');
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.s.get(self.i) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(c - b'0')))
                .ok_or_else(|| self.err("integer too large"))?;
            self.i = self.i.saturating_add(1);
        }
        if self.i == start {
            return Err(self.err("expected digits"));
        }
        // Python 2 wrote long integers as `3L`.
        if matches!(self.s.get(self.i), Some(b'L' | b'l')) {
            self.i = self.i.saturating_add(1);
        }
        Ok(Lit::Int(if neg { -v } else { v }))
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Lit> {
        self.i = self.i.saturating_add(1);
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(Lit::Seq(items));
            }
            items.push(self.value(depth.saturating_add(1))?);
            if !self.eat(b',') && self.peek() != Some(close) {
                return Err(self.err("expected ',' or a closing bracket"));
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Lit> {
        self.i = self.i.saturating_add(1);
        let mut items = Vec::new();
        loop {
            if self.eat(b'}') {
                return Ok(Lit::Dict(items));
            }
            let k = self.value(depth.saturating_add(1))?;
            if !self.eat(b':') {
                return Err(self.err("expected ':'"));
            }
            let v = self.value(depth.saturating_add(1))?;
            items.push((k, v));
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return Err(self.err("expected ',' or '}'"));
            }
        }
    }
}

fn parse_dict(text: &[u8], version: (u8, u8), data_offset: usize) -> Result<NpyHeader> {
    let mut p = LitParser { s: text, i: 0 };
    let lit = p.value(0)?;
    if p.peek().is_some() {
        return Err(p.err("trailing characters after the dict"));
    }
    let Lit::Dict(items) = lit else {
        return Err(Error::format(FORMAT, "malformed header: not a dict"));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in items {
        let Lit::Str(k) = k else {
            return Err(Error::format(FORMAT, format!("malformed header: non-string key {k:?}")));
        };
        let slot = match k.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            _ => return Err(Error::format(FORMAT, format!("unexpected key {k:?} in header"))),
        };
        if slot.replace(v).is_some() {
            return Err(Error::format(FORMAT, format!("duplicate key {k:?} in header")));
        }
    }
    let missing = |k: &str| Error::format(FORMAT, format!("header is missing the key '{k}'"));
    let descr = match descr.ok_or_else(|| missing("descr"))? {
        Lit::Str(s) => s,
        Lit::Seq(..) => {
            return Err(Error::format(FORMAT, "structured (record) dtypes are not supported"));
        }
        other => return Err(Error::format(FORMAT, format!("descr must be a string, got {other:?}"))),
    };
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Lit::Bool(b) => b,
        other => {
            return Err(Error::format(FORMAT, format!("fortran_order must be True or False, got {other:?}")))
        }
    };
    let dims = match shape.ok_or_else(|| missing("shape"))? {
        Lit::Seq(items) => items,
        other => return Err(Error::format(FORMAT, format!("shape must be a tuple, got {other:?}"))),
    };
    if dims.len() > MAX_RANK {
        return Err(Error::format(FORMAT, format!("shape has {} dims, more than {MAX_RANK}", dims.len())));
    }
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        match d {
            Lit::Int(n) => shape.push(usize::try_from(n).map_err(|_| {
                Error::format(FORMAT, format!("invalid dimension {n} in shape (negative or too large)"))
            })?),
            other => {
                return Err(Error::format(FORMAT, format!("shape entries must be integers, got {other:?}")))
            }
        }
    }
    let (elem, big_endian) = parse_descr(&descr)?;
    let data_len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(elem.size()))
        .ok_or_else(|| {
            Error::format(FORMAT, format!("shape {shape:?} of {descr} overflows the address space"))
        })?;
    Ok(NpyHeader {
        version,
        descr,
        dtype: elem.target(),
        fortran_order,
        shape,
        data_offset,
        data_len,
        elem,
        big_endian,
    })
}

/// `(element type, big-endian)` of a NumPy `descr` string.
fn parse_descr(descr: &str) -> Result<(Elem, bool)> {
    let (big, code) = match descr.as_bytes().first() {
        Some(b'<' | b'=') => (false, descr.get(1..)),
        Some(b'|') => (false, descr.get(1..)),
        Some(b'>') => (true, descr.get(1..)),
        _ => (false, Some(descr)),
    };
    let elem = match code.unwrap_or("") {
        "b1" | "?" => Elem::Bool,
        "u1" => Elem::U8,
        "i1" => Elem::I8,
        "u2" => Elem::U16,
        "i2" => Elem::I16,
        "u4" => Elem::U32,
        "i4" => Elem::I32,
        "u8" => Elem::U64,
        "i8" => Elem::I64,
        "f2" => Elem::F16,
        "f4" => Elem::F32,
        "f8" => Elem::F64,
        _ => {
            return Err(Error::format(
                FORMAT,
                format!(
                    "unsupported npy dtype '{descr}' (wick reads b1, u1, i1, u2, i2, u4, i4, u8, i8, f2, f4 \
                     and f8)"
                ),
            ))
        }
    };
    Ok((elem, big && elem.size() > 1))
}

fn chunk<const N: usize>(c: &[u8], big: bool) -> [u8; N] {
    let mut a = [0u8; N];
    // `c` comes from `chunks_exact(N)`, so the lengths match.
    a.copy_from_slice(c);
    if big {
        a.reverse();
    }
    a
}

/// A tensor of `dims` (row-major) from `data`, raw elements of type `elem` in the given byte
/// order, converted to the elem's wick dtype. `data.len()` must be the element count times
/// the element size, which [`Tensor::from_raw_bytes`] checks again.
pub(crate) fn raw_to_tensor(
    format: &'static str,
    elem: Elem,
    big_endian: bool,
    data: &[u8],
    dims: &[usize],
) -> Result<Tensor> {
    let dev = &Device::Cpu;
    let size = elem.size();
    if !data.len().is_multiple_of(size) {
        return Err(Error::format(format, format!("{} data bytes are not a multiple of {size}", data.len())));
    }
    if elem.is_native() {
        if big_endian && size > 1 {
            let mut v = data.to_vec();
            v.chunks_exact_mut(size).for_each(|c| c.reverse());
            return Tensor::from_raw_bytes(&v, elem.target(), dims, dev);
        }
        return Tensor::from_raw_bytes(data, elem.target(), dims, dev);
    }
    let b = big_endian;
    match elem {
        Elem::Bool => {
            Tensor::from_vec(data.iter().map(|&x| u8::from(x != 0)).collect::<Vec<u8>>(), dims, dev)
        }
        Elem::I8 => {
            Tensor::from_vec(data.iter().map(|&x| i64::from(x as i8)).collect::<Vec<i64>>(), dims, dev)
        }
        Elem::U16 => Tensor::from_vec(
            data.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes(chunk(c, b)))).collect::<Vec<u32>>(),
            dims,
            dev,
        ),
        Elem::I16 => Tensor::from_vec(
            data.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes(chunk(c, b)))).collect::<Vec<i64>>(),
            dims,
            dev,
        ),
        Elem::I32 => Tensor::from_vec(
            data.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(chunk(c, b)))).collect::<Vec<i64>>(),
            dims,
            dev,
        ),
        Elem::U64 => {
            let v = data
                .chunks_exact(8)
                .enumerate()
                .map(|(i, c)| {
                    let x = u64::from_le_bytes(chunk(c, b));
                    i64::try_from(x).map_err(|_| {
                        Error::format(
                            format,
                            format!(
                                "uint64 value {x} at element {i} does not fit i64 (uint64 is read as i64)"
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<i64>>>()?;
            Tensor::from_vec(v, dims, dev)
        }
        Elem::U8 | Elem::U32 | Elem::I64 | Elem::BF16 | Elem::F16 | Elem::F32 | Elem::F64 => {
            Err(Error::format(format, "internal: native element type reached the conversion path"))
        }
    }
}

/// The tensor a header describes, from exactly `header.data_len` bytes of data.
fn decode(h: &NpyHeader, data: &[u8]) -> Result<Tensor> {
    if data.len() != h.data_len {
        return Err(Error::format(
            FORMAT,
            format!(
                "shape {:?} of {} needs {} data bytes, found {}",
                h.shape,
                h.descr,
                h.data_len,
                data.len()
            ),
        ));
    }
    if h.fortran_order && h.shape.len() > 1 {
        // Column-major data of shape (a, b, c) is row-major data of shape (c, b, a).
        let rev: Vec<usize> = h.shape.iter().rev().copied().collect();
        let t = raw_to_tensor(FORMAT, h.elem, h.big_endian, data, &rev)?;
        let perm: Vec<usize> = (0..h.shape.len()).rev().collect();
        return t.permute(perm)?.contiguous();
    }
    raw_to_tensor(FORMAT, h.elem, h.big_endian, data, &h.shape)
}

/// Like [`decode`] but takes ownership, so plain little-endian row-major data is borrowed by
/// the tensor instead of copied.
pub(crate) fn decode_owned(h: &NpyHeader, data: Vec<u8>) -> Result<Tensor> {
    if h.elem.is_native() && !h.big_endian && (!h.fortran_order || h.shape.len() <= 1) {
        if data.len() != h.data_len {
            return decode(h, &data);
        }
        return Tensor::from_shared_bytes(Arc::new(data), 0, h.dtype, h.shape.as_slice());
    }
    decode(h, &data)
}

/// Reads the magic, version and header from a stream, leaving it at the start of the data.
pub(crate) fn read_header<R: Read>(r: &mut R) -> Result<NpyHeader> {
    let mut buf = vec![0u8; 10];
    read_exact(r, &mut buf)?;
    let extra = match (buf.get(..6), buf.get(6..8)) {
        (Some(m), Some(&[2 | 3, 0])) if m == MAGIC => 2,
        _ => 0,
    };
    buf.resize(10usize.saturating_add(extra), 0);
    read_exact(r, buf.get_mut(10..).unwrap_or_default())?;
    let (_, header_len, prefix_len) = parse_prefix(&buf)?;
    let total = prefix_len.saturating_add(header_len);
    buf.resize(total, 0);
    read_exact(r, buf.get_mut(prefix_len..).unwrap_or_default())?;
    parse_header(&buf)
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::format(FORMAT, "file ends inside the header"),
        _ => Error::format(FORMAT, format!("reading the header: {e}")),
    })
}

/// Reads a tensor from an in-memory `.npy` image.
///
/// ```
/// use wick::{Device, Tensor};
/// let t = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?;
/// let bytes = wick::npy::write_npy_bytes(&t)?;
/// assert_eq!(wick::npy::read_npy_bytes(&bytes)?.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
/// assert!(wick::npy::read_npy_bytes(&bytes[..bytes.len() - 1]).is_err());
/// # Ok::<(), wick::Error>(())
/// ```
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Tensor> {
    let h = parse_header(bytes)?;
    let data = bytes.get(h.data_offset..).unwrap_or_default();
    check_data_len(&h, data.len() as u64)?;
    decode(&h, data)
}

fn check_data_len(h: &NpyHeader, present: u64) -> Result<()> {
    let need = h.data_len as u64;
    if present < need {
        return Err(Error::format(
            FORMAT,
            format!(
                "data is truncated: shape {:?} of {} needs {need} bytes after the header, only {present} present",
                h.shape, h.descr
            ),
        ));
    }
    if present > need {
        return Err(Error::format(
            FORMAT,
            format!(
                "{} trailing bytes after the data of shape {:?} of {}",
                present.saturating_sub(need),
                h.shape,
                h.descr
            ),
        ));
    }
    Ok(())
}

/// The `descr` NumPy uses for a wick dtype; `None` for bf16, which NumPy lacks.
fn descr_of(dtype: DType) -> Option<&'static str> {
    match dtype {
        DType::U8 => Some("|u1"),
        DType::U32 => Some("<u4"),
        DType::I64 => Some("<i8"),
        DType::F16 => Some("<f2"),
        DType::F32 => Some("<f4"),
        DType::F64 => Some("<f8"),
        DType::BF16 => None,
    }
}

/// The header (magic through the closing `\n`) of a row-major `.npy` image; version 1.0
/// unless the header needs more than 65535 bytes.
fn header_bytes(descr: &str, dims: &[usize]) -> Vec<u8> {
    let shape = match dims {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let build = |prefix_len: usize| {
        // NumPy pads with spaces so that the data starts at a multiple of 64 bytes.
        let unpadded = prefix_len + dict.len() + 1;
        let pad = (64 - unpadded % 64) % 64;
        dict.len() + pad + 1
    };
    let (version, prefix_len) = if build(10) <= usize::from(u16::MAX) { (1u8, 10) } else { (2u8, 12) };
    let header_len = build(prefix_len);
    let mut out = Vec::with_capacity(prefix_len + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix_len + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// An in-memory `.npy` image of `t` (row-major, little-endian, version 1.0 header).
///
/// ```
/// use wick::{DType, Device, Tensor};
/// let t = Tensor::zeros(3, DType::BF16, &Device::Cpu)?;
/// let err = wick::npy::write_npy_bytes(&t).unwrap_err();
/// assert!(err.to_string().contains("to_dtype"));
/// assert!(wick::npy::write_npy_bytes(&t.to_dtype(DType::F32)?).is_ok());
/// # Ok::<(), wick::Error>(())
/// ```
pub fn write_npy_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let descr = descr_of(t.dtype()).ok_or_else(|| {
        Error::unsupported_dtype(
            "write_npy",
            t.dtype(),
            "NumPy has no bfloat16 dtype; convert first, e.g. t.to_dtype(DType::F32)",
        )
    })?;
    let mut out = header_bytes(descr, t.dims());
    out.extend_from_slice(&t.to_le_bytes()?);
    Ok(out)
}

impl Tensor {
    /// Reads a NumPy `.npy` file (see [`crate::npy`] for the dtypes and conversions).
    ///
    /// ```no_run
    /// let t = wick::Tensor::read_npy("weights.npy")?;
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn read_npy<P: AsRef<Path>>(path: P) -> Result<Tensor> {
        let path = path.as_ref();
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut read = || -> Result<Tensor> {
            // The same parser as for in-memory images, on the first bytes of the file (a
            // header is at most 12 + MAX_HEADER_LEN bytes).
            let head_len = usize::try_from(file_len).unwrap_or(usize::MAX).min(12 + MAX_HEADER_LEN);
            let mut head = vec![0u8; head_len];
            f.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
            let h = parse_header(&head)?;
            check_data_len(&h, file_len.saturating_sub(h.data_offset as u64))?;
            f.seek(SeekFrom::Start(h.data_offset as u64)).map_err(|e| Error::io(path, e))?;
            // The file holds exactly `data_len` more bytes, so this allocation is backed by
            // real data.
            let mut data = vec![0u8; h.data_len];
            f.read_exact(&mut data).map_err(|e| Error::io(path, e))?;
            decode_owned(&h, data)
        };
        read().map_err(|e| e.context(path.display()))
    }

    /// Writes this tensor as a NumPy `.npy` file (row-major, little-endian). bf16 tensors are
    /// refused, NumPy having no such dtype.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let path = std::env::temp_dir().join(format!("wick-doc-{}.npy", std::process::id()));
    /// let t = Tensor::arange(0i64, 6, &Device::Cpu)?.reshape((2, 3))?;
    /// t.write_npy(&path)?;
    /// assert_eq!(Tensor::read_npy(&path)?.to_vec2::<i64>()?, t.to_vec2::<i64>()?);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn write_npy<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let path = path.as_ref();
        let bytes = write_npy_bytes(self)?;
        std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_to_64_and_parses_back() {
        for dims in [&[][..], &[3][..], &[2, 3, 4][..]] {
            let h = header_bytes("<f4", dims);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(h.last(), Some(&b'\n'));
            let p = parse_header(&h).unwrap();
            assert_eq!(p.shape, dims);
            assert_eq!(p.data_offset, h.len());
        }
    }

    #[test]
    fn literal_parser_accepts_numpy_variants() {
        let parse = |s: &str| parse_dict(s.as_bytes(), (1, 0), 0);
        let h = parse("{'descr': '>i2', 'fortran_order': True, 'shape': (3L, 4), }  \n").unwrap();
        assert_eq!(
            (h.shape.as_slice(), h.fortran_order, h.big_endian, h.dtype),
            (&[3, 4][..], true, true, DType::I64)
        );
        let h = parse("{\"shape\": [], \"fortran_order\": False, \"descr\": \"|b1\"}").unwrap();
        assert_eq!((h.shape.len(), h.dtype, h.data_len), (0, DType::U8, 1));
        for (bad, msg) in [
            ("{'descr': '<f4', 'fortran_order': False}", "missing the key 'shape'"),
            ("{'descr': '<c8', 'fortran_order': False, 'shape': ()}", "'<c8'"),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "structured"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "invalid dimension -1"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unexpected key"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((1,),),),),),),),),),)}", "deep"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "trailing"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "overflows"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[test]
    fn conversions() {
        let t = raw_to_tensor(FORMAT, Elem::U64, true, &[0, 0, 0, 0, 0, 0, 1, 2], &[1]).unwrap();
        assert_eq!(t.to_vec1::<i64>().unwrap(), vec![258]);
        assert!(raw_to_tensor(FORMAT, Elem::U64, false, &[0xff; 8], &[1]).is_err());
        let t = raw_to_tensor(FORMAT, Elem::Bool, false, &[0, 1, 7], &[3]).unwrap();
        assert_eq!(t.to_vec1::<u8>().unwrap(), vec![0, 1, 1]);
        let t = raw_to_tensor(FORMAT, Elem::F32, true, &1.5f32.to_be_bytes(), &[]).unwrap();
        assert_eq!(t.to_scalar::<f32>().unwrap(), 1.5);
    }
}
