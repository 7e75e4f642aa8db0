//! GGUF (v2 and v3) files: metadata, tensor infos, dense and quantized tensor data.
//!
//! GGUF is llama.cpp's single-file model format (spec: `docs/gguf.md` in ggml). Layout, all
//! little-endian:
//!
//! 1. header: magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata count;
//! 2. metadata: `(string key, u32 value type, value)` entries; strings are a `u64` byte length
//!    and UTF-8 bytes, arrays an element type, a `u64` count and the elements;
//! 3. tensor infos: name, `u32` n_dims, `u64` dims **innermost first** (wick reverses them to
//!    its row-major shape), `u32` ggml type, `u64` offset relative to the data section;
//! 4. padding to `general.alignment` (default 32), then the data section.
//!
//! [`Content::read`] parses and validates 1–3 from a file image, checking every length,
//! count and range against the bytes that remain before allocating anything; each failure is
//! an [`Error::Format`] with format `"gguf"` naming the tensor (if any) and the byte offset.
//! [`GgufFile`] memory-maps a file and hands out tensors (dense ones zero-copy) or raw
//! quantized blocks; [`write`] and [`write_to`] write version 3.
//!
//! ```
//! use wick::gguf::{self, GgmlDType, GgufFile, TensorData, Value};
//! use wick::{Device, Tensor};
//! let path = std::env::temp_dir().join(format!("wick_gguf_doc_{}.gguf", std::process::id()));
//! let w = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &Device::Cpu)?;
//! let q = vec![0u8; 34]; // one Q8_0 block: 32 elements
//! gguf::write(
//!     &path,
//!     &[("general.architecture", Value::from("demo")), ("demo.block_count", Value::U32(2))],
//!     &[
//!         ("w", TensorData::Dense(&w)),
//!         ("q", TensorData::Raw { dtype: GgmlDType::Q8_0, shape: vec![1, 32], bytes: &q }),
//!     ],
//! )?;
//! let file = GgufFile::open(&path)?;
//! assert_eq!(file.content().get::<u32>("demo.block_count")?, 2);
//! assert_eq!(file.tensor("w")?.to_vec2::<f32>()?, vec![vec![1., 2., 3.], vec![4., 5., 6.]]);
//! let (dtype, shape, bytes) = file.qtensor_bytes("q")?;
//! assert_eq!((dtype, shape, bytes.len()), (GgmlDType::Q8_0, vec![1, 32], 34));
//! # drop(file);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), wick::Error>(())
//! ```

mod file;
mod ggml_dtype;
mod read;
mod value;
mod write;

pub use file::GgufFile;
pub(crate) use file::MappedFile;
pub use ggml_dtype::GgmlDType;
pub use value::{Array, FromValue, Value, ValueType};
pub use write::{write, write_to, TensorData};

use crate::{Error, Result};

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The version [`write`] produces.
pub const VERSION: u32 = 3;
/// Data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// Longest string (key, name or value) accepted, in bytes: 64 MiB.
pub const MAX_STRING_LEN: usize = 64 << 20;
/// Most dims a tensor may have (ggml itself supports 4).
pub const MAX_DIMS: usize = 8;
/// Deepest nesting of arrays accepted (1 = an array of scalars).
pub const MAX_ARRAY_DEPTH: usize = 16;

/// Where one tensor's data is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name.
    pub name: String,
    /// Row-major shape (the reverse of the dims order stored in the file).
    pub shape: Vec<usize>,
    /// The ggml element type.
    pub dtype: GgmlDType,
    /// Byte offset relative to the start of the data section ([`Content::data_offset`]).
    pub offset: usize,
    /// Bytes of data: blocks × bytes per block.
    pub size_in_bytes: usize,
}

impl TensorInfo {
    /// The absolute byte range of the data in a file whose data section starts at
    /// `data_offset`.
    pub fn data_range(&self, data_offset: usize) -> Result<std::ops::Range<usize>> {
        data_offset
            .checked_add(self.offset)
            .and_then(|start| Some(start..start.checked_add(self.size_in_bytes)?))
            .ok_or_else(|| {
                Error::format_tensor(
                    "gguf",
                    &self.name,
                    format!(
                        "data range {data_offset} + {} + {} bytes overflows",
                        self.offset, self.size_in_bytes
                    ),
                )
            })
    }
}

/// The parsed header of a GGUF file: version, metadata in file order, tensor infos in file
/// order, and where the data section starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Format version, 2 or 3 (they differ only in that v3 allows big-endian files, which
    /// wick does not read).
    pub version: u32,
    /// Metadata entries in file order; keys are unique.
    pub metadata: Vec<(String, Value)>,
    /// Tensor infos in file order; names are unique.
    pub tensor_infos: Vec<TensorInfo>,
    /// Data alignment: `general.alignment`, or 32.
    pub alignment: usize,
    /// Absolute byte offset of the data section (the aligned end of the tensor infos).
    pub data_offset: usize,
}

impl Content {
    /// Parses and validates the header, metadata and tensor infos of a whole GGUF file image
    /// `bytes` (for example a memory map), and checks that every tensor's data lies inside
    /// `bytes`, is aligned, and overlaps no other. Tensor data is not read.
    ///
    /// Refused, each with an [`Error::Format`] naming the byte offset (and tensor): a wrong
    /// magic; versions other than 2 and 3 (version 1 and big-endian files included); any
    /// length, count or offset that cannot fit in the bytes that remain; strings over
    /// [`MAX_STRING_LEN`]; keys or tensor names that are not UTF-8, or repeated; unknown value
    /// types; bools other than 0 and 1; arrays nested deeper than [`MAX_ARRAY_DEPTH`]; a
    /// `general.alignment` that is not a non-zero power-of-two `u32`; more than [`MAX_DIMS`]
    /// dims; element counts or byte sizes that overflow; unknown or unsupported ggml types;
    /// rows that are not a whole number of blocks; data that is misaligned, past the end of
    /// the file, or overlapping.
    pub fn read(bytes: &[u8]) -> Result<Content> {
        read::read_content(bytes)
    }

    /// The value of metadata `key`, if present.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of metadata `key` as `T` (`u32`, `f32`, `&str`, `&[String]`, `usize`, ...);
    /// an [`Error::Format`] naming the key when it is missing or has another type.
    ///
    /// ```
    /// # use wick::gguf::{Content, Value};
    /// # let content = Content { version: 3, metadata: vec![("llama.block_count".into(), Value::U32(32))],
    /// #     tensor_infos: vec![], alignment: 32, data_offset: 0 };
    /// let n: u32 = content.get("llama.block_count")?;
    /// assert_eq!(n, 32);
    /// let e = content.get::<f32>("llama.block_count").unwrap_err();
    /// assert_eq!(e.to_string(), "gguf: metadata key \"llama.block_count\": expected f32, found u32 32");
    /// assert!(content.get::<u32>("llama.nope").is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn get<'a, T: FromValue<'a>>(&'a self, key: &str) -> Result<T> {
        let v = self
            .value(key)
            .ok_or_else(|| Error::format("gguf", format!("metadata key {key:?} is missing")))?;
        T::from_value(v).ok_or_else(|| v.mismatch(T::EXPECTED, Some(key)))
    }

    /// The info of tensor `name`, if present.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_infos.iter().find(|t| t.name == name)
    }
}
