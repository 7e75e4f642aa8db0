//! The CPU backend: storage as typed vectors, kernels written once over [`WithDType`].

mod binary;
mod buffer;
mod cast;
mod conv;
mod copy;
mod fused;
pub(crate) mod huge_pages;
mod index;
pub(crate) mod kernels;
mod matmul;
mod pool;
mod reduce;
mod rope;
mod scratch;
mod sort;
mod unary;

pub use buffer::{CpuBuffer, SharedBytes};
pub use conv::{ParamsConv1D, ParamsConv2D, ParamsConvTranspose1D, ParamsConvTranspose2D};
pub use matmul::MatmulDims;

use crate::dtype::{FloatDType, WithDType};
use crate::{DType, Error, Layout, Result};
use half::{bf16, f16};

/// Tensor data in host memory, one variant per dtype.
#[derive(Debug, Clone)]
pub enum CpuStorage {
    /// u8 data.
    U8(CpuBuffer<u8>),
    /// u32 data.
    U32(CpuBuffer<u32>),
    /// i64 data.
    I64(CpuBuffer<i64>),
    /// bf16 data.
    BF16(CpuBuffer<bf16>),
    /// f16 data.
    F16(CpuBuffer<f16>),
    /// f32 data.
    F32(CpuBuffer<f32>),
    /// f64 data.
    F64(CpuBuffer<f64>),
}

/// Runs `$body` with `$v` bound to the typed vector of any variant.
macro_rules! with_vec {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            CpuStorage::U8($v) => $body,
            CpuStorage::U32($v) => $body,
            CpuStorage::I64($v) => $body,
            CpuStorage::BF16($v) => $body,
            CpuStorage::F16($v) => $body,
            CpuStorage::F32($v) => $body,
            CpuStorage::F64($v) => $body,
        }
    };
}
pub(crate) use with_vec;

/// Runs `$body` (a `Result`) with `$x`, `$y` bound to the data of two storages of one dtype;
/// storages of different dtypes give an error naming `$op`. The per-dtype match for every
/// two-operand kernel lives here, once.
macro_rules! with_pair {
    ($op:expr, $a:expr, $b:expr, ($x:ident, $y:ident) => $body:expr) => {
        match ($a, $b) {
            (CpuStorage::U8($x), CpuStorage::U8($y)) => $body,
            (CpuStorage::U32($x), CpuStorage::U32($y)) => $body,
            (CpuStorage::I64($x), CpuStorage::I64($y)) => $body,
            (CpuStorage::BF16($x), CpuStorage::BF16($y)) => $body,
            (CpuStorage::F16($x), CpuStorage::F16($y)) => $body,
            (CpuStorage::F32($x), CpuStorage::F32($y)) => $body,
            (CpuStorage::F64($x), CpuStorage::F64($y)) => $body,
            (a, b) => Err(Error::DTypeMismatch { op: $op, lhs: a.dtype(), rhs: b.dtype() }),
        }
    };
}
pub(crate) use with_pair;

impl CpuStorage {
    /// The dtype of the data.
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::U8(_) => DType::U8,
            CpuStorage::U32(_) => DType::U32,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
        }
    }

    /// Number of elements stored.
    pub fn len(&self) -> usize {
        with_vec!(self, v => v.len())
    }

    /// True when no element is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes, native endianness.
    pub fn as_bytes(&self) -> &[u8] {
        with_vec!(self, v => bytemuck::cast_slice(v.as_slice()))
    }

    /// `n` zeros of `dtype`.
    pub fn zeros(n: usize, dtype: DType) -> Self {
        Self::filled(n, dtype, 0.0)
    }

    /// `n` copies of `value` (converted to `dtype`).
    pub fn filled(n: usize, dtype: DType, value: f64) -> Self {
        fn fill<T: WithDType>(n: usize, v: f64) -> CpuBuffer<T> {
            let x = T::from_f64(v);
            if v == 0.0 {
                // Zeros come from `calloc`, whose fresh pages are untouched until written.
                let mut out = vec![x; n];
                huge_pages::advise(&mut out);
                return CpuBuffer::Owned(out);
            }
            let mut out = Vec::with_capacity(n);
            huge_pages::advise(out.spare_capacity_mut());
            out.resize(n, x);
            CpuBuffer::Owned(out)
        }
        match dtype {
            DType::U8 => CpuStorage::U8(fill(n, value)),
            DType::U32 => CpuStorage::U32(fill(n, value)),
            DType::I64 => CpuStorage::I64(fill(n, value)),
            DType::BF16 => CpuStorage::BF16(fill(n, value)),
            DType::F16 => CpuStorage::F16(fill(n, value)),
            DType::F32 => CpuStorage::F32(fill(n, value)),
            DType::F64 => CpuStorage::F64(fill(n, value)),
        }
    }

    /// The typed slice, if `T` is this storage's element type.
    pub fn as_slice<T: CpuElement>(&self) -> Result<&[T]> {
        T::slice_of(self).ok_or_else(|| Error::DTypeMismatch {
            op: "as_slice",
            lhs: self.dtype(),
            rhs: T::DTYPE,
        })
    }

    /// The element at storage offset `i` as f64 (for printing).
    pub(crate) fn get_f64(&self, i: usize) -> f64 {
        with_vec!(self, v => v[i].to_f64())
    }
}

/// Moves typed vectors in and out of [`CpuStorage`].
pub trait CpuElement: WithDType {
    /// Wraps a vector.
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    /// Borrows the vector, if the variant matches.
    fn slice_of(s: &CpuStorage) -> Option<&[Self]>;
    /// Borrows the vector mutably, if the variant matches.
    fn slice_of_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! cpu_element {
    ($t:ty, $v:ident) => {
        impl CpuElement for $t {
            fn into_storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$v(CpuBuffer::Owned(v))
            }
            fn slice_of(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_of_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$v(v) => Some(v.to_mut()),
                    _ => None,
                }
            }
        }
    };
}
cpu_element!(u8, U8);
cpu_element!(u32, U32);
cpu_element!(i64, I64);
cpu_element!(bf16, BF16);
cpu_element!(f16, F16);
cpu_element!(f32, F32);
cpu_element!(f64, F64);

/// A kernel generic over every dtype that keeps the dtype (`Vec<T>` in, `Vec<T>` out).
pub(crate) trait Map1 {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<Vec<T>>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        Ok(with_vec!(s, v => CpuElement::into_storage(self.f(v, l)?)))
    }
}

/// A kernel over float dtypes only.
pub(crate) trait Map1Float {
    const OP: &'static str;
    fn f<T: CpuElement + FloatDType>(&self, v: &[T], l: &Layout) -> Result<Vec<T>>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        Ok(match s {
            CpuStorage::BF16(v) => CpuStorage::BF16(self.f(v, l)?.into()),
            CpuStorage::F16(v) => CpuStorage::F16(self.f(v, l)?.into()),
            CpuStorage::F32(v) => CpuStorage::F32(self.f(v, l)?.into()),
            CpuStorage::F64(v) => CpuStorage::F64(self.f(v, l)?.into()),
            _ => {
                return Err(Error::unsupported_dtype(
                    Self::OP,
                    s.dtype(),
                    "needs a float dtype (bf16, f16, f32, f64)",
                ))
            }
        })
    }
}

/// A kernel over every dtype whose output storage may have another dtype.
pub(crate) trait Map1Any {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<CpuStorage>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        with_vec!(s, v => self.f(v, l))
    }
}

/// A kernel over two storages of the same dtype.
pub(crate) trait Map2 {
    const OP: &'static str;
    fn f<T: CpuElement>(&self, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Result<Vec<T>>;

    fn map(&self, a: &CpuStorage, al: &Layout, b: &CpuStorage, bl: &Layout) -> Result<CpuStorage> {
        with_pair!(Self::OP, a, b, (x, y) => Ok(CpuElement::into_storage(self.f(x, al, y, bl)?)))
    }
}

/// Index element types accepted by indexing ops.
pub(crate) trait IndexElement: CpuElement {
    /// The index as `usize`, or `None` when negative.
    fn as_index(self) -> Option<usize>;
    /// The raw value, for error messages.
    fn as_i64(self) -> i64;
}
impl IndexElement for u8 {
    fn as_index(self) -> Option<usize> {
        Some(self as usize)
    }
    fn as_i64(self) -> i64 {
        self as i64
    }
}
impl IndexElement for u32 {
    fn as_index(self) -> Option<usize> {
        Some(self as usize)
    }
    fn as_i64(self) -> i64 {
        self as i64
    }
}
impl IndexElement for i64 {
    fn as_index(self) -> Option<usize> {
        usize::try_from(self).ok()
    }
    fn as_i64(self) -> i64 {
        self
    }
}

/// Runs `$body` with `$ids` bound to the index slice (U8, U32 or I64), else errors.
macro_rules! with_index {
    ($op:expr, $s:expr, $ids:ident => $body:expr) => {
        match $s {
            CpuStorage::U8($ids) => $body,
            CpuStorage::U32($ids) => $body,
            CpuStorage::I64($ids) => $body,
            other => Err(Error::unsupported_dtype($op, other.dtype(), "indices must be u8, u32 or i64")),
        }
    };
}
pub(crate) use with_index;

/// Gathers the elements of a strided layout into a new row-major vector.
pub(crate) fn contiguous_vec<T: Copy>(v: &[T], l: &Layout) -> Vec<T> {
    if let Some((a, b)) = l.contiguous_offsets() {
        return v[a..b].to_vec();
    }
    let mut out = Vec::with_capacity(l.shape().elem_count());
    copy::extend_strided(v, l, &mut out);
    out
}

/// Borrows a contiguous layout's data, or gathers it when strided.
pub(crate) fn contiguous_cow<'a, T: Copy>(v: &'a [T], l: &Layout) -> std::borrow::Cow<'a, [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => std::borrow::Cow::Borrowed(&v[a..b]),
        None => std::borrow::Cow::Owned(contiguous_vec(v, l)),
    }
}

/// The instruction set the CPU kernels run with: `"avx512"`, `"avx2"` or `"scalar"` — the
/// best this CPU has, capped by the `WICK_ISA` environment variable (read once).
///
/// ```
/// assert!(["avx512", "avx2", "scalar"].contains(&wick::cpu::kernel_isa()));
/// ```
pub fn kernel_isa() -> &'static str {
    kernels::Isa::selected().name()
}

/// Problem size (in elements) below which kernels stay on the calling thread.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 15;

pub(crate) use binary::{binary_map, cmp_map, where_cond};
pub(crate) use cast::to_dtype;
pub(crate) use conv::{conv1d, conv2d, conv_transpose1d, conv_transpose2d};
pub(crate) use copy::{affine, cat_columns, copy2d, copy_strided_src, powf};
pub(crate) use fused::{layer_norm, rms_norm, softmax_last_dim};
pub(crate) use index::{gather, index_add, index_select, scatter_add};
pub(crate) use matmul::matmul;
pub(crate) use pool::{avg_pool2d, max_pool2d, upsample_nearest2d};
pub(crate) use reduce::{cumsum, reduce_op};
pub(crate) use rope::rope;
pub(crate) use sort::arg_sort_last_dim;
pub(crate) use unary::unary_map;
