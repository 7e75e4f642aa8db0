//! Conversion between dtypes.

use super::copy::{map_slices_uninit, map_strided};
use super::kernels::convert;
use super::{CpuElement, CpuStorage, Map1Any};
use crate::{DType, Layout, Result};

struct ToDType(DType);

fn cast_vec<T: CpuElement, U: CpuElement>(v: &[T], l: &Layout) -> Vec<U> {
    map_strided(v, l, |x| U::from_f64(x.to_f64()))
}

impl Map1Any for ToDType {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<CpuStorage> {
        Ok(match self.0 {
            DType::U8 => CpuStorage::U8(cast_vec(v, l).into()),
            DType::U32 => CpuStorage::U32(cast_vec(v, l).into()),
            DType::I64 => CpuStorage::I64(cast_vec(v, l).into()),
            DType::BF16 => CpuStorage::BF16(cast_vec(v, l).into()),
            DType::F16 => CpuStorage::F16(cast_vec(v, l).into()),
            DType::F32 => CpuStorage::F32(cast_vec(v, l).into()),
            DType::F64 => CpuStorage::F64(cast_vec(v, l).into()),
        })
    }
}

/// Converts to `dtype`. Float to integer truncates toward zero and saturates (NaN gives 0);
/// integer to integer goes through f64 and so saturates too.
pub(crate) fn to_dtype(s: &CpuStorage, l: &Layout, dtype: DType) -> Result<CpuStorage> {
    // Direct paths for the conversions models do all the time.
    Ok(match (s, dtype) {
        // Vector kernels, bit-exact with `half`'s scalar conversions.
        // SAFETY (each of the four): the conversions write every element of their output.
        (CpuStorage::F32(v), DType::BF16) => {
            CpuStorage::BF16(unsafe { map_slices_uninit(v, l, convert::f32_to_bf16_uninit) }.into())
        }
        // SAFETY: as above.
        (CpuStorage::F32(v), DType::F16) => {
            CpuStorage::F16(unsafe { map_slices_uninit(v, l, convert::f32_to_f16_uninit) }.into())
        }
        // SAFETY: as above.
        (CpuStorage::BF16(v), DType::F32) => {
            CpuStorage::F32(unsafe { map_slices_uninit(v, l, convert::bf16_to_f32_uninit) }.into())
        }
        // SAFETY: as above.
        (CpuStorage::F16(v), DType::F32) => {
            CpuStorage::F32(unsafe { map_slices_uninit(v, l, convert::f16_to_f32_uninit) }.into())
        }
        (CpuStorage::F32(v), DType::F64) => CpuStorage::F64(map_strided(v, l, |x| x as f64).into()),
        (CpuStorage::F64(v), DType::F32) => CpuStorage::F32(map_strided(v, l, |x| x as f32).into()),
        (CpuStorage::U32(v), DType::I64) => CpuStorage::I64(map_strided(v, l, |x| x as i64).into()),
        (CpuStorage::U8(v), DType::U32) => CpuStorage::U32(map_strided(v, l, |x| x as u32).into()),
        (CpuStorage::U8(v), DType::I64) => CpuStorage::I64(map_strided(v, l, |x| x as i64).into()),
        (CpuStorage::U8(v), DType::F32) => CpuStorage::F32(map_strided(v, l, |x| x as f32).into()),
        (CpuStorage::U32(v), DType::F32) => CpuStorage::F32(map_strided(v, l, |x| x as f32).into()),
        (CpuStorage::I64(v), DType::F32) => CpuStorage::F32(map_strided(v, l, |x| x as f32).into()),
        _ => return ToDType(dtype).map(s, l),
    })
}
