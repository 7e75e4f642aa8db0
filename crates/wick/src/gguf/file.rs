//! A GGUF file held in memory (normally a read-only memory map) with its parsed [`Content`].

use super::{Content, GgmlDType, TensorInfo};
use crate::cpu::SharedBytes;
use crate::{Context, DType, Device, Error, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A validated GGUF file whose tensors are read on demand.
///
/// Dense tensors (F32, F16, BF16, F64, I64) borrow their data from the map without copying
/// when it is aligned for the dtype (always, for files with the default alignment); I8, I16
/// and I32 tensors are converted to wick's I64, since wick has no narrower signed integer
/// dtypes. Quantized tensors are handed out as raw blocks by [`GgufFile::qtensor_bytes`].
pub struct GgufFile {
    bytes: SharedBytes,
    content: Content,
    index: HashMap<String, usize>,
    /// The same bytes as a file map, when [`GgufFile::open`] mapped them.
    map: Option<Arc<MappedFile>>,
}

/// A read-only memory map of a file.
pub(crate) struct MappedFile(memmap2::Mmap);

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl MappedFile {
    /// Drops this process's mapping of the whole pages inside bytes `start..start + len`, so
    /// they stop counting in its resident memory (a copy of them is in use instead). The bytes
    /// stay readable: a later read maps them again from the page cache.
    pub(crate) fn release(&self, start: usize, len: usize) {
        const PAGE: usize = 4096;
        let (from, to) = (start.next_multiple_of(PAGE), start.saturating_add(len) / PAGE * PAGE);
        if from >= to || to > self.0.len() {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: the map is read-only and file-backed: dropping pages discards no data,
            // and later reads fault them back in with the file's contents, so every `&[u8]`
            // into the map stays valid and unchanged. The range is inside the map (checked)
            // and page-aligned relative to the map's page-aligned start. Failure (say, larger
            // pages) only means the pages stay resident.
            let _ =
                unsafe { self.0.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
        }
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("len", &(*self.bytes).as_ref().len())
            .field("tensors", &self.content.tensor_infos.len())
            .field("metadata", &self.content.metadata.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps `path` and validates it with [`Content::read`]. Errors carry the path as
    /// context; their [`Error::root`] is the [`Error::Format`] or [`Error::Io`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is opened read-only and wick never writes through the map, so the
        // mapped bytes are only ever read as `&[u8]`. Like every memory-mapped reader, we
        // cannot stop another process from truncating or rewriting the file while it is
        // mapped (truncation would turn reads into SIGBUS); that is outside our control and
        // the usual caveat of `memmap2`.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let map = Arc::new(MappedFile(mmap));
        let mut f = Self::from_bytes(map.clone()).with_context(|| path.display())?;
        f.map = Some(map);
        Ok(f)
    }

    /// Validates an in-memory file image (a `Vec<u8>`, a map) with [`Content::read`].
    pub fn from_bytes(bytes: SharedBytes) -> Result<Self> {
        let content = Content::read((*bytes).as_ref())?;
        let index = content.tensor_infos.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(GgufFile { bytes, content, index, map: None })
    }

    /// The parsed metadata and tensor infos.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The whole file image.
    pub fn bytes(&self) -> &[u8] {
        (*self.bytes).as_ref()
    }

    /// The info of tensor `name`, or an error naming it.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.index
            .get(name)
            .and_then(|&i| self.content.tensor_infos.get(i))
            .ok_or_else(|| Error::format_tensor("gguf", name, "no such tensor in the file"))
    }

    fn data(&self, info: &TensorInfo) -> Result<(usize, &[u8])> {
        let range = info.data_range(self.content.data_offset)?;
        let start = range.start;
        let bytes = self.bytes().get(range.clone()).ok_or_else(|| {
            Error::format_tensor(
                "gguf",
                &info.name,
                format!(
                    "data bytes {}..{} are past the end of the file ({} bytes)",
                    range.start,
                    range.end,
                    self.bytes().len()
                ),
            )
        })?;
        Ok((start, bytes))
    }

    /// Tensor `name` as a CPU tensor. F32, F16, BF16, F64 and I64 data is borrowed from the
    /// file without copying when aligned; I8, I16 and I32 data is converted to I64. Quantized
    /// types are refused: use [`GgufFile::qtensor_bytes`].
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.tensor_info(name)?;
        let (start, data) = self.data(info)?;
        let shape = info.shape.clone();
        if let Some(dtype) = info.dtype.to_dtype() {
            return Tensor::from_shared_bytes(self.bytes.clone(), start, dtype, shape);
        }
        let widened: Vec<i64> = match info.dtype {
            GgmlDType::I8 => data.iter().map(|&b| i64::from(b as i8)).collect(),
            GgmlDType::I16 => {
                data.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect()
            }
            GgmlDType::I32 => data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            q => {
                return Err(Error::format_tensor(
                    "gguf",
                    name,
                    format!("is quantized ({q}); read its blocks with qtensor_bytes"),
                ))
            }
        };
        Tensor::from_vec(widened, shape, &Device::Cpu).map_err(|e| e.context(format!("gguf tensor {name:?}")))
    }

    /// The ggml type, row-major shape and raw bytes (blocks, for quantized types) of tensor
    /// `name`, borrowed from the file. Works for every type, dense ones included.
    pub fn qtensor_bytes(&self, name: &str) -> Result<(GgmlDType, Vec<usize>, &[u8])> {
        let info = self.tensor_info(name)?;
        let (_, data) = self.data(info)?;
        Ok((info.dtype, info.shape.clone(), data))
    }

    /// Like [`GgufFile::qtensor_bytes`], but hands out the file's shared owner and the byte
    /// range, so a [`crate::quantized::QTensor`] can borrow the data without copying.
    pub(crate) fn qtensor_shared(
        &self,
        name: &str,
    ) -> Result<(GgmlDType, Vec<usize>, SharedBytes, usize, usize)> {
        let info = self.tensor_info(name)?;
        let (start, data) = self.data(info)?;
        Ok((info.dtype, info.shape.clone(), self.bytes.clone(), start, data.len()))
    }

    /// The file map behind the bytes, when the file was opened (not given as bytes).
    pub(crate) fn map(&self) -> Option<&Arc<MappedFile>> {
        self.map.as_ref()
    }

    /// The wick dtype [`GgufFile::tensor`] returns for tensor `name`: its own for F32, F16,
    /// BF16, F64 and I64, I64 for I8/I16/I32, `None` for quantized types.
    pub fn tensor_dtype(&self, name: &str) -> Result<Option<DType>> {
        let t = self.tensor_info(name)?.dtype;
        Ok(match t {
            GgmlDType::I8 | GgmlDType::I16 | GgmlDType::I32 => Some(DType::I64),
            t => t.to_dtype(),
        })
    }
}
