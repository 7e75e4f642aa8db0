//! Element types and the traits that let kernels be written once for all of them.

use half::{bf16, f16};

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Unsigned 8-bit integer (also used for boolean masks).
    U8,
    /// Unsigned 32-bit integer (indices).
    U32,
    /// Signed 64-bit integer (indices, PyTorch's default integer).
    I64,
    /// Brain floating point, 16 bits.
    BF16,
    /// IEEE half precision.
    F16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 7] =
        [DType::U8, DType::U32, DType::I64, DType::BF16, DType::F16, DType::F32, DType::F64];

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::BF16 | DType::F16 => 2,
            DType::U32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// True for the floating-point dtypes.
    pub fn is_float(self) -> bool {
        matches!(self, DType::BF16 | DType::F16 | DType::F32 | DType::F64)
    }

    /// True for the integer dtypes.
    pub fn is_int(self) -> bool {
        !self.is_float()
    }

    /// The lower-case name used by NumPy/safetensors-style tools (`"f32"`, `"bf16"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DType {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "u8" => DType::U8,
            "u32" => DType::U32,
            "i64" => DType::I64,
            "bf16" => DType::BF16,
            "f16" => DType::F16,
            "f32" => DType::F32,
            "f64" => DType::F64,
            _ => {
                return Err(crate::Error::invalid(
                    "dtype",
                    format!("unknown dtype {s:?} (expected u8, u32, i64, bf16, f16, f32 or f64)"),
                ))
            }
        })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is the element type of some [`DType`].
///
/// Arithmetic on integer types wraps (like PyTorch); float max/min propagate NaN.
pub trait WithDType:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + PartialEq
    + std::fmt::Debug
    + std::fmt::Display
    + Default
    + bytemuck::Pod
    + sealed::Sealed
{
    /// The dtype of this type.
    const DTYPE: DType;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Converts from f64 (saturating, NaN to 0 for integers).
    fn from_f64(v: f64) -> Self;
    /// Converts to f64.
    fn to_f64(self) -> f64;
    /// Sum (wrapping for integers).
    fn add(self, o: Self) -> Self;
    /// Difference (wrapping for integers).
    fn sub(self, o: Self) -> Self;
    /// Product (wrapping for integers).
    fn mul(self, o: Self) -> Self;
    /// Quotient; integer division by zero gives 0 (callers check divisors first).
    fn div(self, o: Self) -> Self;
    /// Larger value; NaN if either is NaN.
    fn max_(self, o: Self) -> Self;
    /// Smaller value; NaN if either is NaN.
    fn min_(self, o: Self) -> Self;
    /// True for NaN.
    fn is_nan_(self) -> bool;
    /// Smallest value (−inf for floats).
    const MIN_VALUE: Self;
    /// Largest value (+inf for floats).
    const MAX_VALUE: Self;
}

macro_rules! with_dtype_int {
    ($t:ty, $dt:ident) => {
        impl sealed::Sealed for $t {}
        impl WithDType for $t {
            const DTYPE: DType = DType::$dt;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MIN_VALUE: Self = <$t>::MIN;
            const MAX_VALUE: Self = <$t>::MAX;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self.checked_div(o).unwrap_or(0)
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                Ord::max(self, o)
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                Ord::min(self, o)
            }
            #[inline(always)]
            fn is_nan_(self) -> bool {
                false
            }
        }
    };
}
with_dtype_int!(u8, U8);
with_dtype_int!(u32, U32);
with_dtype_int!(i64, I64);

macro_rules! with_dtype_float {
    ($t:ty, $dt:ident, $zero:expr, $one:expr, $min:expr, $max:expr, $from:expr, $to:expr) => {
        impl sealed::Sealed for $t {}
        impl WithDType for $t {
            const DTYPE: DType = DType::$dt;
            const ZERO: Self = $zero;
            const ONE: Self = $one;
            const MIN_VALUE: Self = $min;
            const MAX_VALUE: Self = $max;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to(self)
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self >= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self <= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn is_nan_(self) -> bool {
                self.is_nan()
            }
        }
    };
}
with_dtype_float!(f32, F32, 0.0, 1.0, f32::NEG_INFINITY, f32::INFINITY, |v| v as f32, |v| v as f64);
with_dtype_float!(f64, F64, 0.0, 1.0, f64::NEG_INFINITY, f64::INFINITY, |v| v, |v| v);
with_dtype_float!(
    f16,
    F16,
    f16::ZERO,
    f16::ONE,
    f16::NEG_INFINITY,
    f16::INFINITY,
    f16::from_f64,
    f16::to_f64
);
with_dtype_float!(
    bf16,
    BF16,
    bf16::ZERO,
    bf16::ONE,
    bf16::NEG_INFINITY,
    bf16::INFINITY,
    bf16::from_f64,
    bf16::to_f64
);

/// A floating-point element type: the math of unary ops, written once.
///
/// f16 and bf16 compute in f32 and round once, like PyTorch on CPU.
pub trait FloatDType: WithDType {
    /// Widens to f32.
    fn to_f32(self) -> f32;
    /// Narrows from f32 (round to nearest even).
    fn from_f32(v: f32) -> Self;
    /// Applies an f32 function (f64 for f64 itself, so it keeps its precision).
    fn map_f(self, f32_fn: impl Fn(f32) -> f32, f64_fn: impl Fn(f64) -> f64) -> Self;
}

impl FloatDType for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn map_f(self, f: impl Fn(f32) -> f32, _: impl Fn(f64) -> f64) -> Self {
        f(self)
    }
}
impl FloatDType for f64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v as f64
    }
    #[inline(always)]
    fn map_f(self, _: impl Fn(f32) -> f32, f: impl Fn(f64) -> f64) -> Self {
        f(self)
    }
}
impl FloatDType for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    #[inline(always)]
    fn map_f(self, f: impl Fn(f32) -> f32, _: impl Fn(f64) -> f64) -> Self {
        f16::from_f32(f(f16::to_f32(self)))
    }
}
impl FloatDType for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    #[inline(always)]
    fn map_f(self, f: impl Fn(f32) -> f32, _: impl Fn(f64) -> f64) -> Self {
        bf16::from_f32(f(bf16::to_f32(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names_round_trip() {
        for dt in DType::ALL {
            let parsed: DType = dt.as_str().parse().unwrap();
            assert_eq!(parsed, dt);
        }
        assert_eq!(DType::BF16.size_in_bytes(), 2);
        assert!("f8".parse::<DType>().is_err());
    }

    #[test]
    fn float_max_min_propagate_nan() {
        assert!(1f32.max_(f32::NAN).is_nan());
        assert!(f32::NAN.min_(1.0).is_nan());
        assert_eq!(2f32.max_(1.0), 2.0);
    }

    #[test]
    fn int_arith_wraps_and_div_by_zero_is_zero() {
        assert_eq!(0u8.sub(1), 255);
        assert_eq!(7u32.div(0), 0);
        assert_eq!(i64::MAX.add(1), i64::MIN);
    }
}
