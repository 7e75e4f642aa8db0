//! Tensors from raw little-endian bytes: copied, or borrowed from a shared owner such as a
//! memory-mapped file.

use super::Tensor;
use crate::backend::Storage;
use crate::cpu::{CpuBuffer, CpuElement, CpuStorage, SharedBytes};
use crate::{DType, Device, Error, Result, Shape};
use half::{bf16, f16};

fn byte_len(shape: &Shape, dtype: DType, op: &'static str) -> Result<usize> {
    shape
        .checked_elem_count(op)?
        .checked_mul(dtype.size_in_bytes())
        .ok_or_else(|| Error::overflow(op, format!("byte size of {shape:?} {dtype}")))
}

fn copy_le<T: CpuElement>(bytes: &[u8]) -> CpuStorage {
    let n = bytes.len() / std::mem::size_of::<T>();
    let mut v = vec![T::ZERO; n];
    // Little-endian on disk; `Pod` lets us copy bytes straight into the (aligned) vector.
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes[..n * std::mem::size_of::<T>()]);
    if cfg!(target_endian = "big") {
        for x in bytemuck::cast_slice_mut::<T, u8>(&mut v).chunks_exact_mut(std::mem::size_of::<T>()) {
            x.reverse();
        }
    }
    T::into_storage(v)
}

impl Tensor {
    /// A tensor copied from little-endian `bytes`, whose length must be exactly the
    /// element count times the dtype size.
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let bytes: Vec<u8> = [1f32, 2.].iter().flat_map(|x| x.to_le_bytes()).collect();
    /// let t = Tensor::from_raw_bytes(&bytes, DType::F32, 2, &Device::Cpu)?;
    /// assert_eq!(t.to_vec1::<f32>()?, vec![1., 2.]);
    /// assert!(Tensor::from_raw_bytes(&bytes, DType::F32, 3, &Device::Cpu).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn from_raw_bytes<S: Into<Shape>>(
        bytes: &[u8],
        dtype: DType,
        shape: S,
        device: &Device,
    ) -> Result<Self> {
        let shape = shape.into();
        let need = byte_len(&shape, dtype, "from_raw_bytes")?;
        if need != bytes.len() {
            return Err(Error::invalid(
                "from_raw_bytes",
                format!("{shape:?} of {dtype} needs {need} bytes, got {}", bytes.len()),
            ));
        }
        let s = match dtype {
            DType::U8 => copy_le::<u8>(bytes),
            DType::U32 => copy_le::<u32>(bytes),
            DType::I64 => copy_le::<i64>(bytes),
            DType::BF16 => copy_le::<bf16>(bytes),
            DType::F16 => copy_le::<f16>(bytes),
            DType::F32 => copy_le::<f32>(bytes),
            DType::F64 => copy_le::<f64>(bytes),
        };
        match device {
            Device::Cpu => Ok(Tensor::from_storage_contiguous(Storage::Cpu(s), shape)),
        }
    }

    /// A CPU tensor over `byte_offset..` of `owner`'s little-endian bytes. The data is
    /// borrowed, not copied, when it is aligned for the dtype; otherwise it is copied.
    pub fn from_shared_bytes<S: Into<Shape>>(
        owner: SharedBytes,
        byte_offset: usize,
        dtype: DType,
        shape: S,
    ) -> Result<Self> {
        let shape = shape.into();
        let n = shape.checked_elem_count("from_shared_bytes")?;
        let size = byte_len(&shape, dtype, "from_shared_bytes")?;
        let total = (*owner).as_ref().len();
        let end = byte_offset.checked_add(size).filter(|&e| e <= total).ok_or_else(|| {
            Error::invalid(
                "from_shared_bytes",
                format!(
                    "{shape:?} of {dtype} at byte {byte_offset} needs {size} bytes but only {} remain",
                    total.saturating_sub(byte_offset)
                ),
            )
        })?;
        macro_rules! borrow {
            ($t:ty, $v:ident) => {
                match CpuBuffer::<$t>::borrow_bytes(owner.clone(), byte_offset, n)? {
                    Some(b) => CpuStorage::$v(b),
                    None => copy_le::<$t>(&(*owner).as_ref()[byte_offset..end]),
                }
            };
        }
        let s = match dtype {
            DType::U8 => borrow!(u8, U8),
            DType::U32 => borrow!(u32, U32),
            DType::I64 => borrow!(i64, I64),
            DType::BF16 => borrow!(bf16, BF16),
            DType::F16 => borrow!(f16, F16),
            DType::F32 => borrow!(f32, F32),
            DType::F64 => borrow!(f64, F64),
        };
        Ok(Tensor::from_storage_contiguous(Storage::Cpu(s), shape))
    }

    /// True when the data is borrowed from a shared owner (e.g. a memory map) rather than
    /// owned.
    pub fn is_borrowed(&self) -> bool {
        match &*self.storage() {
            Storage::Cpu(s) => crate::cpu::with_vec!(s, v => v.is_borrowed()),
        }
    }

    /// The elements as little-endian bytes, row-major.
    pub fn to_le_bytes(&self) -> Result<Vec<u8>> {
        let c = self.contiguous()?;
        let guard = c.storage();
        match &*guard {
            Storage::Cpu(s) => {
                let (start, end) = c.layout().contiguous_offsets().unwrap_or((0, 0));
                let size = self.dtype().size_in_bytes();
                let mut out = s.as_bytes()[start * size..end * size].to_vec();
                if cfg!(target_endian = "big") {
                    for x in out.chunks_exact_mut(size) {
                        x.reverse();
                    }
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn shared_bytes_borrow_when_aligned_and_copy_otherwise() {
        let vals: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let mut bytes: Vec<u8> = vec![0u8; 4];
        bytes.extend(vals.iter().flat_map(|x| x.to_le_bytes()));
        bytes.push(0);
        let owner: SharedBytes = Arc::new(bytes);
        let t = Tensor::from_shared_bytes(owner.clone(), 4, DType::F32, (4, 4)).unwrap();
        assert_eq!(t.flatten_to_vec::<f32>().unwrap(), vals);
        // A Vec<u8> allocation is at least 4-byte aligned in practice for this size, so offset
        // 4 is aligned; offset 5 never is.
        assert!(t.is_borrowed());
        let u = Tensor::from_shared_bytes(owner.clone(), 5, DType::F32, 2).unwrap();
        assert!(!u.is_borrowed());
        assert!(Tensor::from_shared_bytes(owner.clone(), 8, DType::F32, (4, 4)).is_err());
        assert!(Tensor::from_shared_bytes(owner, usize::MAX, DType::U8, 1).is_err());
        assert_eq!(t.to_le_bytes().unwrap().len(), 64);
        // Ops on borrowed data produce owned results.
        assert!(!t.exp().unwrap().is_borrowed());
    }
}
