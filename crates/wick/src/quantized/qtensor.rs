//! [`QTensor`]: a shape, a ggml type and block bytes, owned or borrowed from a memory map.

use super::interleaved::Interleaved;
use super::{with_block, GgmlBlock};
use crate::cpu::SharedBytes;
use crate::gguf::MappedFile;
use crate::gguf::{GgmlDType, GgufFile};
use crate::{DType, Device, Error, Result, Tensor};
use std::sync::{Arc, OnceLock};

/// Bytes owned by a [`QTensor`], stored in `u64`s so every block type (alignment ≤ 4) can
/// be viewed in place.
struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }
}

impl AlignedBytes {
    fn copy_of(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes { words, len: bytes.len() }
    }
}

/// A tensor of ggml blocks (or of a dense ggml type: F32, F16, BF16) that a quantized matrix
/// product reads directly. The bytes are either owned or borrowed from a shared owner such as
/// a memory-mapped GGUF file ([`QTensor::from_gguf`] copies nothing when the data is aligned).
///
/// ```
/// use wick::quantized::QTensor;
/// use wick::gguf::GgmlDType;
/// use wick::{Device, Tensor};
/// let w = Tensor::randn(0f32, 1.0, (4, 64), &Device::Cpu)?;
/// let q = QTensor::quantize(&w, GgmlDType::Q4_0)?;
/// assert_eq!((q.dtype(), q.shape(), q.bytes().len()), (GgmlDType::Q4_0, &[4usize, 64][..], 4 * 2 * 18));
/// assert_eq!(q.dequantize()?.dims(), &[4, 64]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Clone)]
pub struct QTensor {
    dtype: GgmlDType,
    shape: Vec<usize>,
    owner: SharedBytes,
    start: usize,
    len: usize,
    borrowed: bool,
    /// The matrix interleaved for the SIMD kernels, made at the first product (shared by
    /// clones; `None` inside when this CPU or format has no interleaved kernel).
    interleaved: Arc<OnceLock<Option<Interleaved>>>,
    /// The file map the bytes are borrowed from, whose pages are released once interleaved.
    map: Option<Arc<MappedFile>>,
}

impl std::fmt::Debug for QTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QTensor({} {:?}, {} bytes{})",
            self.dtype,
            self.shape,
            self.len,
            if self.borrowed { ", borrowed" } else { "" }
        )
    }
}

/// False when `WICK_INTERLEAVE=0` asks for ggml's layout (to compare the two).
fn interleave_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("WICK_INTERLEAVE").map_or(true, |v| v != "0"))
}

/// Whether a ggml type can live in a [`QTensor`].
fn supported(dtype: GgmlDType) -> bool {
    dtype.is_quantized() || matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// Required alignment of the data of `dtype` (of its block struct or element).
fn alignment(dtype: GgmlDType) -> usize {
    with_block!(dtype, B => std::mem::align_of::<B>(), d => d.type_size().min(4))
}

impl QTensor {
    /// A tensor of `dtype` and row-major `shape` over `len` bytes at `start` of `owner`,
    /// borrowed when aligned for the type, copied otherwise. The size is checked: the last
    /// dim must be a whole number of blocks and the bytes must be exactly the tensor's size.
    pub fn from_shared(
        dtype: GgmlDType,
        shape: Vec<usize>,
        owner: SharedBytes,
        start: usize,
        len: usize,
    ) -> Result<Self> {
        let op = "QTensor";
        if !supported(dtype) {
            return Err(Error::invalid(
                op,
                format!("ggml type {dtype} is not supported (block types, F32, F16, BF16)"),
            ));
        }
        if shape.is_empty() {
            return Err(Error::invalid(op, "a quantized tensor needs at least one dim"));
        }
        let want = dtype.byte_size(&shape).map_err(|m| Error::invalid(op, m))?;
        if want != len {
            return Err(Error::invalid(op, format!("{dtype} {shape:?} needs {want} bytes, got {len}")));
        }
        let bytes = (*owner).as_ref();
        let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            Error::invalid(op, format!("bytes {start}+{len} exceed the owner's {} bytes", bytes.len()))
        })?;
        let data = &bytes[start..end];
        if (data.as_ptr() as usize).is_multiple_of(alignment(dtype)) {
            return Ok(QTensor {
                dtype,
                shape,
                owner,
                start,
                len,
                borrowed: true,
                interleaved: Arc::default(),
                map: None,
            });
        }
        let copy: SharedBytes = Arc::new(AlignedBytes::copy_of(data));
        Ok(QTensor {
            dtype,
            shape,
            owner: copy,
            start: 0,
            len,
            borrowed: false,
            interleaved: Arc::default(),
            map: None,
        })
    }

    /// A tensor over a copy of `bytes`.
    pub fn from_bytes(dtype: GgmlDType, shape: Vec<usize>, bytes: &[u8]) -> Result<Self> {
        let owner: SharedBytes = Arc::new(AlignedBytes::copy_of(bytes));
        let mut t = Self::from_shared(dtype, shape, owner, 0, bytes.len())?;
        t.borrowed = false;
        Ok(t)
    }

    /// Tensor `name` of a GGUF file, borrowing the file's bytes (no copy when aligned, which
    /// GGUF's data alignment guarantees for every block type).
    pub fn from_gguf(file: &GgufFile, name: &str) -> Result<Self> {
        let (dtype, shape, owner, start, len) = file.qtensor_shared(name)?;
        let mut t = Self::from_shared(dtype, shape, owner, start, len)
            .map_err(|e| e.context(format!("gguf tensor {name:?}")))?;
        if t.borrowed {
            t.map = file.map().cloned();
        }
        Ok(t)
    }

    /// Quantizes a float tensor (its innermost dim must be a multiple of the block size).
    pub fn quantize(t: &Tensor, dtype: GgmlDType) -> Result<Self> {
        let shape = t.dims().to_vec();
        let x = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if !supported(dtype) {
            return Err(Error::invalid("QTensor::quantize", format!("cannot quantize to {dtype}")));
        }
        let row = shape.last().copied().unwrap_or(1);
        if shape.is_empty() || !row.is_multiple_of(dtype.block_size()) {
            return Err(Error::invalid(
                "QTensor::quantize",
                format!(
                    "shape {shape:?}: the last dim must be a multiple of {}'s block size {}",
                    dtype,
                    dtype.block_size()
                ),
            ));
        }
        let bytes: Vec<u8> = match dtype {
            GgmlDType::F32 => bytemuck::cast_slice(&x).to_vec(),
            GgmlDType::F16 => x.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
            GgmlDType::BF16 => x.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
            q => super::quantize_bytes(q, &x)?,
        };
        Self::from_bytes(dtype, shape, &bytes)
    }

    /// The ggml type.
    pub fn dtype(&self) -> GgmlDType {
        self.dtype
    }

    /// The row-major shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The raw bytes (blocks, row after row).
    pub fn bytes(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.start..self.start + self.len]
    }

    /// True when the bytes are borrowed from a shared owner (a memory map) rather than copied.
    pub fn is_borrowed(&self) -> bool {
        self.borrowed
    }

    /// The number of elements.
    pub fn elem_count(&self) -> usize {
        // `from_shared` checked that the byte size, hence the element count, fits in usize.
        self.shape.iter().product()
    }

    /// This (n, k) matrix with its rows interleaved 16 at a time, made on first use; `None`
    /// when it is not 2-D or this CPU or format has no interleaved kernel (or
    /// `WICK_INTERLEAVE=0`).
    pub(crate) fn interleaved(&self) -> Option<&Interleaved> {
        self.interleaved
            .get_or_init(|| {
                let iw = match self.shape() {
                    &[n, k] if interleave_enabled() => Interleaved::new(self.dtype, self.bytes(), n, k),
                    _ => None,
                };
                // The copy is what the products read from now on: keep memory at one copy.
                if let (Some(_), Some(map)) = (&iw, &self.map) {
                    map.release(self.start, self.len);
                }
                iw
            })
            .as_ref()
    }

    /// The data as blocks of `B` (which must be this tensor's format).
    pub(crate) fn blocks<B: GgmlBlock>(&self) -> Result<&[B]> {
        if B::DTYPE != self.dtype {
            return Err(Error::invalid("QTensor", format!("{} data read as {}", self.dtype, B::DTYPE)));
        }
        bytemuck::try_cast_slice(self.bytes()).map_err(|e| Error::invalid("QTensor", format!("{e:?}")))
    }

    /// Rows `ids` of this (n, k) tensor as an F32 tensor of shape `(ids.len(), k)`: an
    /// embedding lookup that dequantizes only the rows asked for, so a quantized token table
    /// stays quantized in memory.
    ///
    /// ```
    /// use wick::quantized::QTensor;
    /// use wick::gguf::GgmlDType;
    /// use wick::{Device, Tensor};
    /// let w = Tensor::randn(0f32, 1.0, (10, 64), &Device::Cpu)?;
    /// let q = QTensor::quantize(&w, GgmlDType::Q8_0)?;
    /// let rows = q.dequantize_rows(&[7, 2, 7])?;
    /// assert_eq!(rows.dims(), &[3, 64]);
    /// assert!(q.dequantize_rows(&[10]).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn dequantize_rows(&self, ids: &[u32]) -> Result<Tensor> {
        let op = "QTensor::dequantize_rows";
        let (n, k) = match self.shape() {
            &[n, k] => (n, k),
            s => return Err(Error::invalid(op, format!("the table must be 2-D (n, k), got {s:?}"))),
        };
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= n) {
            return Err(Error::invalid(
                op,
                format!("id {bad} is out of range for a table of {n} rows ({self:?})"),
            ));
        }
        let len = ids
            .len()
            .checked_mul(k)
            .ok_or_else(|| Error::overflow(op, format!("{} rows of {k}", ids.len())))?;
        let mut out = vec![0f32; len];
        let row_bytes = self.dtype.byte_size(&[k]).map_err(|m| Error::invalid(op, m))?;
        let bytes = self.bytes();
        for (&id, dst) in ids.iter().zip(out.chunks_exact_mut(k.max(1))) {
            let row = &bytes[id as usize * row_bytes..][..row_bytes];
            match self.dtype {
                GgmlDType::F32 => {
                    for (d, c) in dst.iter_mut().zip(row.chunks_exact(4)) {
                        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                }
                GgmlDType::F16 => {
                    for (d, c) in dst.iter_mut().zip(row.chunks_exact(2)) {
                        *d = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                    }
                }
                GgmlDType::BF16 => {
                    for (d, c) in dst.iter_mut().zip(row.chunks_exact(2)) {
                        *d = half::bf16::from_le_bytes([c[0], c[1]]).to_f32();
                    }
                }
                q => with_block!(q, B => {
                    let blocks: &[B] = bytemuck::try_cast_slice(row).map_err(|e| Error::invalid(op, format!("{e:?}")))?;
                    B::dequantize_row(blocks, dst)?;
                }, d => return Err(Error::invalid(op, format!("unsupported type {d}")))),
            }
        }
        Tensor::from_vec(out, (ids.len(), k), &Device::Cpu)
    }

    /// The values as an F32 tensor of the same shape.
    pub fn dequantize(&self) -> Result<Tensor> {
        let n = self.elem_count();
        let bytes = self.bytes();
        let v: Vec<f32> = match self.dtype {
            GgmlDType::F32 => {
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            GgmlDType::F16 => {
                bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            GgmlDType::BF16 => {
                bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            q => with_block!(q, B => {
                let mut out = vec![0f32; n];
                B::dequantize_row(self.blocks::<B>()?, &mut out)?;
                out
            }, d => return Err(Error::invalid("QTensor::dequantize", format!("unsupported type {d}")))),
        };
        Tensor::from_vec(v, self.shape.clone(), &Device::Cpu)
    }
}
