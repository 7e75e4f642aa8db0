//! AVX2 + FMA primitives: 8 f32 lanes, comparisons give all-ones/all-zeros lanes.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Lanes per vector.
pub(crate) const LANES: usize = 8;
/// A vector of f32.
pub(crate) type F = __m256;
/// The result of a lane-wise comparison.
pub(crate) type M = __m256;

macro_rules! prim {
    ($($(#[$doc:meta])* fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? $body:block)*) => {$(
        $(#[$doc])*
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(crate) fn $name($($a: $t),*) $(-> $r)? $body
    )*};
}

prim! {
    /// Every lane `x`.
    fn splat(x: f32) -> F { _mm256_set1_ps(x) }
    /// `a + b`.
    fn add(a: F, b: F) -> F { _mm256_add_ps(a, b) }
    /// `a - b`.
    fn sub(a: F, b: F) -> F { _mm256_sub_ps(a, b) }
    /// `a * b`.
    fn mul(a: F, b: F) -> F { _mm256_mul_ps(a, b) }
    /// `a / b`.
    fn div(a: F, b: F) -> F { _mm256_div_ps(a, b) }
    /// `a * b + c`, one rounding.
    fn fmadd(a: F, b: F, c: F) -> F { _mm256_fmadd_ps(a, b, c) }
    /// `c - a * b`, one rounding.
    fn fnmadd(a: F, b: F, c: F) -> F { _mm256_fnmadd_ps(a, b, c) }
    /// `a > b ? a : b`; `b` when either is NaN (the x86 rule).
    fn max(a: F, b: F) -> F { _mm256_max_ps(a, b) }
    /// `a < b ? a : b`; `b` when either is NaN (the x86 rule).
    fn min(a: F, b: F) -> F { _mm256_min_ps(a, b) }
    /// `|a|`.
    fn abs(a: F) -> F { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    /// The magnitude of `mag` with the sign of `sign`.
    fn copysign(mag: F, sign: F) -> F {
        let s = _mm256_set1_ps(-0.0);
        _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign))
    }
    /// Rounds to the nearest integer, ties to even.
    fn round(a: F) -> F { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    /// `y · 2^n` for integral `n` in [-252, 254], with IEEE overflow to inf and gradual
    /// underflow: the power is applied as two halves, each a normal float, so only the last
    /// multiplication rounds.
    fn ldexp(y: F, n: F) -> F {
        let n = _mm256_cvtps_epi32(n);
        let n1 = _mm256_srai_epi32::<1>(n);
        let n2 = _mm256_sub_epi32(n, n1);
        let bias = _mm256_set1_epi32(127);
        let p1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
        let p2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
        _mm256_mul_ps(_mm256_mul_ps(y, p1), p2)
    }
    /// Lanes where `a < b` (false for NaN).
    fn lt(a: F, b: F) -> M { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    /// Lanes where `a > b` (false for NaN).
    fn gt(a: F, b: F) -> M { _mm256_cmp_ps::<_CMP_GT_OQ>(a, b) }
    /// Lanes that are NaN.
    fn is_nan(a: F) -> M { _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a) }
    /// `t` where `m` is set, else `f`.
    fn select(m: M, t: F, f: F) -> F { _mm256_blendv_ps(f, t, m) }
    /// Whether any lane of `m` is set.
    fn any(m: M) -> bool { _mm256_movemask_ps(m) != 0 }
    /// Sum of the lanes.
    fn hsum(a: F) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
    /// The lane sums of four vectors at once (pairwise adds shared between them).
    fn hsum4(a: F, b: F, c: F, d: F) -> [f32; 4] {
        let h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
        let s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        let mut out = [0f32; 4];
        // SAFETY: `out` is 4 writable f32s; `storeu` has no alignment requirement.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), s) };
        out
    }
    /// Largest lane (the lanes hold no NaN).
    fn hmax(a: F) -> f32 {
        let s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)))
    }
    /// Smallest lane (the lanes hold no NaN).
    fn hmin(a: F) -> f32 {
        let s = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_min_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_min_ss(s, _mm_movehdup_ps(s)))
    }
    /// Loads 8 floats.
    fn load(a: &[f32; LANES]) -> F {
        // SAFETY: `a` is 8 readable f32s; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_ps(a.as_ptr()) }
    }
    /// Loads 8 IEEE halves (bit patterns) widened to f32.
    fn load_f16(a: &[u16; LANES]) -> F {
        // SAFETY: `a` is 8 readable u16s (16 bytes); `loadu` has no alignment requirement.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(a.as_ptr().cast())) }
    }
    /// Loads 8 bfloat16s (bit patterns) widened to f32 (exact: the high halves of f32s).
    fn load_bf16(a: &[u16; LANES]) -> F {
        // SAFETY: `a` is 8 readable u16s (16 bytes); `loadu` has no alignment requirement.
        unsafe {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(
                a.as_ptr().cast(),
            ))))
        }
    }
    /// Stores 8 floats.
    fn store(a: &mut [f32; LANES], v: F) {
        // SAFETY: `a` is 8 writable f32s; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) }
    }
    /// Asks for the cache line holding `p` to be brought into L1 ahead of use. Never
    /// faults: `p` may point anywhere, even past the end of an allocation.
    fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
    /// Loads the first `min(a.len(), 8)` floats; the other lanes are `fill`.
    fn load_tail(a: &[f32], fill: f32) -> F {
        let mut buf = [fill; LANES];
        let n = a.len().min(LANES);
        buf[..n].copy_from_slice(&a[..n]);
        load(&buf)
    }
    /// Stores the first `min(a.len(), 8)` lanes of `v`.
    fn store_tail(a: &mut [f32], v: F) {
        let mut buf = [0.0; LANES];
        store(&mut buf, v);
        let n = a.len().min(LANES);
        a[..n].copy_from_slice(&buf[..n]);
    }
    /// Stores 8 floats into memory that may not be initialized yet.
    fn store_uninit(a: &mut [MaybeUninit<f32>; LANES], v: F) {
        // SAFETY: `a` is 8 writable f32 slots; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr().cast(), v) }
    }
    /// Stores the first `min(a.len(), 8)` lanes of `v` into memory that may not be
    /// initialized yet.
    fn store_tail_uninit(a: &mut [MaybeUninit<f32>], v: F) {
        let mut buf = [0.0; LANES];
        store(&mut buf, v);
        for (a, &b) in a.iter_mut().zip(&buf) {
            a.write(b);
        }
    }
}

vector_math!("avx2,fma,f16c");
