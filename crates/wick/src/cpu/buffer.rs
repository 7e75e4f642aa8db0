//! Typed element buffers that either own their data or borrow it from a shared byte owner
//! (typically a memory-mapped weight file), so loading copies nothing.

use crate::dtype::WithDType;
use crate::{Error, Result};
use std::sync::Arc;

/// Bytes that some owner keeps alive and never changes (a read-only memory map, a `Vec<u8>`).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The elements of one CPU storage.
#[derive(Clone)]
pub enum CpuBuffer<T: WithDType> {
    /// Data owned by this buffer.
    Owned(Vec<T>),
    /// `len` elements starting `byte_offset` bytes into `owner`, aligned for `T`.
    Borrowed {
        /// Keeps the bytes alive.
        owner: SharedBytes,
        /// Where the elements start.
        byte_offset: usize,
        /// Number of elements.
        len: usize,
    },
}

impl<T: WithDType> CpuBuffer<T> {
    /// Borrows `len` elements at `byte_offset` of `owner` without copying, if they are in
    /// bounds and aligned for `T` and the host is little-endian; otherwise `Ok(None)` so the
    /// caller can copy instead.
    pub fn borrow_bytes(owner: SharedBytes, byte_offset: usize, len: usize) -> Result<Option<Self>> {
        let bytes = (*owner).as_ref();
        let size = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::overflow("borrow_bytes", format!("{len} elements of {}", T::DTYPE)))?;
        let end = byte_offset.checked_add(size).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            Error::invalid(
                "borrow_bytes",
                format!(
                    "bytes {byte_offset}..{byte_offset}+{size} exceed the buffer of {} bytes",
                    bytes.len()
                ),
            )
        })?;
        let ptr = bytes[byte_offset..end].as_ptr();
        if cfg!(target_endian = "big") || !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Ok(None);
        }
        Ok(Some(CpuBuffer::Borrowed { owner, byte_offset, len }))
    }

    /// True when the data is borrowed (no copy was made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self, CpuBuffer::Borrowed { .. })
    }

    /// Mutable access, copying borrowed data into an owned vector first.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let CpuBuffer::Borrowed { .. } = self {
            *self = CpuBuffer::Owned(self.as_slice().to_vec());
        }
        match self {
            CpuBuffer::Owned(v) => v,
            CpuBuffer::Borrowed { .. } => unreachable!("converted to owned just above"),
        }
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        match self {
            CpuBuffer::Owned(v) => v,
            CpuBuffer::Borrowed { owner, byte_offset, len } => {
                let bytes = (**owner).as_ref();
                let p = bytes[*byte_offset..].as_ptr() as *const T;
                // SAFETY: `borrow_bytes` checked that `len` elements of `T` starting at
                // `byte_offset` lie inside the owner's bytes and that the start is aligned for
                // `T`; the owner is immutable and kept alive by the `Arc` we hold, and every
                // bit pattern is a valid `T` (`T: Pod`).
                unsafe { std::slice::from_raw_parts(p, *len) }
            }
        }
    }
}

impl<T: WithDType> std::ops::Deref for CpuBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: WithDType> From<Vec<T>> for CpuBuffer<T> {
    fn from(v: Vec<T>) -> Self {
        CpuBuffer::Owned(v)
    }
}

impl<T: WithDType> FromIterator<T> for CpuBuffer<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        CpuBuffer::Owned(iter.into_iter().collect())
    }
}

impl<T: WithDType> std::fmt::Debug for CpuBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CpuBuffer::Owned(v) => write!(f, "Owned({} × {})", v.len(), T::DTYPE),
            CpuBuffer::Borrowed { len, byte_offset, .. } => {
                write!(f, "Borrowed({len} × {} at byte {byte_offset})", T::DTYPE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_aligned_and_refuses_out_of_bounds() {
        let data: Vec<u8> = (0..64).collect();
        let owner: SharedBytes = Arc::new(data);
        let b = CpuBuffer::<u8>::borrow_bytes(owner.clone(), 3, 10).unwrap().unwrap();
        assert_eq!(&b[..], &(3..13).collect::<Vec<u8>>()[..]);
        assert!(CpuBuffer::<u8>::borrow_bytes(owner.clone(), 60, 10).is_err());
        assert!(CpuBuffer::<f32>::borrow_bytes(owner.clone(), 0, usize::MAX / 2).is_err());
        let mut c = b.clone();
        c.to_mut()[0] = 99;
        assert_eq!(c[0], 99);
        assert_eq!(b[0], 3, "copy on write leaves the borrowed bytes alone");
    }
}
