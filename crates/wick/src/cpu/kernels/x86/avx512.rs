//! AVX-512 (F, BW, VL, DQ) primitives: 16 f32 lanes, comparisons give `__mmask16`.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Lanes per vector.
pub(crate) const LANES: usize = 16;
/// A vector of f32.
pub(crate) type F = __m512;
/// The result of a lane-wise comparison.
pub(crate) type M = __mmask16;

macro_rules! prim {
    ($($(#[$doc:meta])* fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? $body:block)*) => {$(
        $(#[$doc])*
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
        pub(crate) fn $name($($a: $t),*) $(-> $r)? $body
    )*};
}

prim! {
    /// Every lane `x`.
    fn splat(x: f32) -> F { _mm512_set1_ps(x) }
    /// `a + b`.
    fn add(a: F, b: F) -> F { _mm512_add_ps(a, b) }
    /// `a - b`.
    fn sub(a: F, b: F) -> F { _mm512_sub_ps(a, b) }
    /// `a * b`.
    fn mul(a: F, b: F) -> F { _mm512_mul_ps(a, b) }
    /// `a / b`.
    fn div(a: F, b: F) -> F { _mm512_div_ps(a, b) }
    /// `a * b + c`, one rounding.
    fn fmadd(a: F, b: F, c: F) -> F { _mm512_fmadd_ps(a, b, c) }
    /// `c - a * b`, one rounding.
    fn fnmadd(a: F, b: F, c: F) -> F { _mm512_fnmadd_ps(a, b, c) }
    /// `a > b ? a : b`; `b` when either is NaN (the x86 rule).
    fn max(a: F, b: F) -> F { _mm512_max_ps(a, b) }
    /// `a < b ? a : b`; `b` when either is NaN (the x86 rule).
    fn min(a: F, b: F) -> F { _mm512_min_ps(a, b) }
    /// `|a|`.
    fn abs(a: F) -> F { _mm512_abs_ps(a) }
    /// The magnitude of `mag` with the sign of `sign`.
    fn copysign(mag: F, sign: F) -> F {
        let s = _mm512_set1_epi32(i32::MIN);
        let m = _mm512_andnot_si512(s, _mm512_castps_si512(mag));
        _mm512_castsi512_ps(_mm512_or_si512(m, _mm512_and_si512(s, _mm512_castps_si512(sign))))
    }
    /// Rounds to the nearest integer, ties to even.
    fn round(a: F) -> F { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    /// `y · 2^n` for integral `n`, with IEEE overflow to inf and gradual underflow.
    fn ldexp(y: F, n: F) -> F { _mm512_scalef_ps(y, n) }
    /// Lanes where `a < b` (false for NaN).
    fn lt(a: F, b: F) -> M { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    /// Lanes where `a > b` (false for NaN).
    fn gt(a: F, b: F) -> M { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) }
    /// Lanes that are NaN.
    fn is_nan(a: F) -> M { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) }
    /// `t` where `m` is set, else `f`.
    fn select(m: M, t: F, f: F) -> F { _mm512_mask_blend_ps(m, f, t) }
    /// Whether any lane of `m` is set.
    fn any(m: M) -> bool { m != 0 }
    /// Sum of the lanes.
    fn hsum(a: F) -> f32 { _mm512_reduce_add_ps(a) }
    /// The lane sums of four vectors at once: each folded to 8 lanes, then the AVX2 sum.
    fn hsum4(a: F, b: F, c: F, d: F) -> [f32; 4] {
        macro_rules! halves {
            ($v:expr) => {
                _mm256_add_ps(
                    _mm512_castps512_ps256($v),
                    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd($v))),
                )
            };
        }
        super::avx2::hsum4(halves!(a), halves!(b), halves!(c), halves!(d))
    }
    /// Largest lane (the lanes hold no NaN).
    fn hmax(a: F) -> f32 { _mm512_reduce_max_ps(a) }
    /// Smallest lane (the lanes hold no NaN).
    fn hmin(a: F) -> f32 { _mm512_reduce_min_ps(a) }
    /// Loads 16 floats.
    fn load(a: &[f32; LANES]) -> F {
        // SAFETY: `a` is 16 readable f32s; `loadu` has no alignment requirement.
        unsafe { _mm512_loadu_ps(a.as_ptr()) }
    }
    /// Loads 16 IEEE halves (bit patterns) widened to f32.
    fn load_f16(a: &[u16; LANES]) -> F {
        // SAFETY: `a` is 16 readable u16s (32 bytes); `loadu` has no alignment requirement.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(a.as_ptr().cast())) }
    }
    /// Loads 16 bfloat16s (bit patterns) widened to f32 (exact: the high halves of f32s).
    fn load_bf16(a: &[u16; LANES]) -> F {
        // SAFETY: `a` is 16 readable u16s (32 bytes); `loadu` has no alignment requirement.
        unsafe {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
                a.as_ptr().cast(),
            ))))
        }
    }
    /// Stores 16 floats.
    fn store(a: &mut [f32; LANES], v: F) {
        // SAFETY: `a` is 16 writable f32s; `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_ps(a.as_mut_ptr(), v) }
    }
    /// Asks for the cache line holding `p` to be brought into L1 ahead of use. Never
    /// faults: `p` may point anywhere, even past the end of an allocation.
    fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
    /// Loads the first `min(a.len(), 16)` floats; the other lanes are `fill`.
    fn load_tail(a: &[f32], fill: f32) -> F {
        let k = tail_mask(a.len());
        // SAFETY: the mask selects only lanes below `a.len()`; masked-off lanes are neither
        // read nor able to fault.
        unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(fill), k, a.as_ptr()) }
    }
    /// Stores the first `min(a.len(), 16)` lanes of `v`.
    fn store_tail(a: &mut [f32], v: F) {
        let k = tail_mask(a.len());
        // SAFETY: the mask selects only lanes below `a.len()`; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(a.as_mut_ptr(), k, v) }
    }
    /// Stores 16 floats into memory that may not be initialized yet.
    fn store_uninit(a: &mut [MaybeUninit<f32>; LANES], v: F) {
        // SAFETY: `a` is 16 writable f32 slots; `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_ps(a.as_mut_ptr().cast(), v) }
    }
    /// Stores the first `min(a.len(), 16)` lanes of `v` into memory that may not be
    /// initialized yet.
    fn store_tail_uninit(a: &mut [MaybeUninit<f32>], v: F) {
        let k = tail_mask(a.len());
        // SAFETY: the mask selects only lanes below `a.len()`; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(a.as_mut_ptr().cast(), k, v) }
    }
}

/// The mask of the first `min(n, 16)` lanes.
#[inline]
fn tail_mask(n: usize) -> M {
    ((1u32 << n.min(LANES)) - 1) as M
}

vector_math!("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c");
