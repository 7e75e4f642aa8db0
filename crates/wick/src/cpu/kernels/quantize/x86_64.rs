//! AVX2 and AVX-512 activation quantizers, bit-identical to `scalar.rs`.
//!
//! The scalar rounding is reproduced exactly: Q8_0's half-away-from-zero as
//! `trunc(|v|) + (frac(|v|) ≥ 0.5)` with the sign put back (the fraction `|v| − trunc(|v|)` is
//! exact in f32), Q8_K's ties-to-even by the default MXCSR conversion. NaN lanes become 0, as
//! Rust's float-to-int casts make them. A block whose reciprocal scale is not finite (a
//! subnormal largest value) goes to the scalar twin, whose saturating casts differ from the
//! vector conversions there.

use super::scalar;
use crate::quantized::{BlockQ8K, BlockQ8_0};

/// The first value of `x` whose magnitude is `amax` (`amax` must occur).
fn first_with_magnitude(x: &[f32], amax: f32) -> f32 {
    x.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax)
}

/// The row functions of an instruction set: its block quantizer over every whole block.
macro_rules! row_loops {
    ($feat:literal) => {
        /// See [`scalar::q8_0`].
        #[target_feature(enable = $feat)]
        pub(crate) fn q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
            for (x, b) in x.chunks_exact(32).zip(out) {
                if let Ok(x) = x.try_into() {
                    *b = q8_0_block(x);
                }
            }
        }

        /// See [`scalar::q8k`].
        #[target_feature(enable = $feat)]
        pub(crate) fn q8k(x: &[f32], out: &mut [BlockQ8K]) {
            for (x, b) in x.chunks_exact(256).zip(out) {
                if let Ok(x) = x.try_into() {
                    *b = q8k_block(x);
                }
            }
        }
    };
}

pub(crate) mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn load(x: &[f32]) -> __m512 {
        assert!(x.len() >= 16);
        // SAFETY: `x` holds at least 16 f32 (checked above); the load is unaligned.
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    }

    /// Stores the low bytes of the 16 i32 lanes of `q` to `dst`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn store_bytes(dst: &mut [i8], q: __m512i) {
        assert!(dst.len() >= 16);
        // SAFETY: `dst` holds at least 16 bytes (checked above); the store is unaligned.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, _mm512_cvtepi32_epi8(q)) }
    }

    /// Largest magnitude of the non-NaN lanes of `v`, at least `acc`'s.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn max_abs(v: __m512, acc: __m512) -> __m512 {
        // `max_ps` returns its second operand when either is NaN: NaN lanes keep `acc`.
        _mm512_max_ps(_mm512_abs_ps(v), acc)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn q8_0_block(x: &[f32; 32]) -> BlockQ8_0 {
        let v = [load(&x[..16]), load(&x[16..])];
        let amax = _mm512_reduce_max_ps(max_abs(v[1], max_abs(v[0], _mm512_setzero_ps())));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        if !id.is_finite() {
            return scalar::q8_0_block(x);
        }
        let mut b = BlockQ8_0 { d: half::f16::from_f32(d), qs: [0; 32] };
        let (idv, half) = (_mm512_set1_ps(id), _mm512_set1_ps(0.5));
        for (v, dst) in v.into_iter().zip(b.qs.chunks_exact_mut(16)) {
            let s = _mm512_mul_ps(v, idv);
            let a = _mm512_abs_ps(s);
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(a);
            let up = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_sub_ps(a, t), half);
            let r = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0));
            let signed = _mm512_or_ps(r, _mm512_and_ps(s, _mm512_set1_ps(-0.0)));
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(s, s);
            store_bytes(dst, _mm512_maskz_cvttps_epi32(ordered, signed));
        }
        b
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn q8k_block(x: &[f32; 256]) -> BlockQ8K {
        let mut acc = _mm512_setzero_ps();
        for c in x.chunks_exact(16) {
            acc = max_abs(load(c), acc);
        }
        let amax = _mm512_reduce_max_ps(acc);
        if amax == 0.0 {
            return BlockQ8K { d: 0.0, qs: [0; 256], bsums: [0; 16] };
        }
        let iscale = -127.0 / first_with_magnitude(x, amax);
        if !iscale.is_finite() {
            return scalar::q8k_block(x);
        }
        let mut b = BlockQ8K { d: 1.0 / iscale, qs: [0; 256], bsums: [0; 16] };
        let (sv, top) = (_mm512_set1_ps(iscale), _mm512_set1_epi32(127));
        for ((c, dst), sum) in x.chunks_exact(16).zip(b.qs.chunks_exact_mut(16)).zip(&mut b.bsums) {
            let s = _mm512_mul_ps(sv, load(c));
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(s, s);
            let q = _mm512_min_epi32(_mm512_maskz_cvtps_epi32(ordered, s), top);
            store_bytes(dst, q);
            // Quants lie in −127..=127 here, so the i32 sum is the sum of the stored bytes.
            *sum = _mm512_reduce_add_epi32(q) as i16;
        }
        b
    }

    row_loops!("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c");
}

pub(crate) mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn load(x: &[f32]) -> __m256 {
        assert!(x.len() >= 8);
        // SAFETY: `x` holds at least 8 f32 (checked above); the load is unaligned.
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn abs(v: __m256) -> __m256 {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), v)
    }

    /// Largest magnitude of the non-NaN lanes of `v`, at least `acc`'s.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn max_abs(v: __m256, acc: __m256) -> __m256 {
        // `max_ps` returns its second operand when either is NaN: NaN lanes keep `acc`.
        _mm256_max_ps(abs(v), acc)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hmax(v: __m256) -> f32 {
        let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
    }

    /// `v` with its NaN lanes set to 0.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn zero_nan(v: __m256) -> __m256 {
        _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v))
    }

    /// Packs four vectors of i32 in −128..=127 into 32 bytes in lane order and stores them.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn store_bytes(dst: &mut [i8], q: [__m256i; 4]) {
        assert!(dst.len() >= 32);
        let p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        // The packs work per 128-bit half: put the 4-byte groups back in order.
        let p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        // SAFETY: `dst` holds at least 32 bytes (checked above); the store is unaligned.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, p) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn hsum_i32(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s)))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn q8_0_block(x: &[f32; 32]) -> BlockQ8_0 {
        let v: [__m256; 4] = std::array::from_fn(|i| load(&x[8 * i..]));
        let amax = hmax(v.iter().fold(_mm256_setzero_ps(), |acc, &v| max_abs(v, acc)));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        if !id.is_finite() {
            return scalar::q8_0_block(x);
        }
        let (idv, half, one) = (_mm256_set1_ps(id), _mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
        let q = v.map(|v| {
            let s = zero_nan(_mm256_mul_ps(v, idv));
            let a = abs(s);
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(a);
            let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_sub_ps(a, t), half), one);
            let r = _mm256_or_ps(_mm256_add_ps(t, up), _mm256_and_ps(s, _mm256_set1_ps(-0.0)));
            _mm256_cvttps_epi32(r)
        });
        let mut b = BlockQ8_0 { d: half::f16::from_f32(d), qs: [0; 32] };
        store_bytes(&mut b.qs, q);
        b
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn q8k_block(x: &[f32; 256]) -> BlockQ8K {
        let acc = x.chunks_exact(8).fold(_mm256_setzero_ps(), |acc, c| max_abs(load(c), acc));
        let amax = hmax(acc);
        if amax == 0.0 {
            return BlockQ8K { d: 0.0, qs: [0; 256], bsums: [0; 16] };
        }
        let iscale = -127.0 / first_with_magnitude(x, amax);
        if !iscale.is_finite() {
            return scalar::q8k_block(x);
        }
        let mut b = BlockQ8K { d: 1.0 / iscale, qs: [0; 256], bsums: [0; 16] };
        let (sv, top) = (_mm256_set1_ps(iscale), _mm256_set1_epi32(127));
        for ((c, dst), sums) in
            x.chunks_exact(32).zip(b.qs.chunks_exact_mut(32)).zip(b.bsums.chunks_exact_mut(2))
        {
            let q: [__m256i; 4] = std::array::from_fn(|i| {
                let s = zero_nan(_mm256_mul_ps(sv, load(&c[8 * i..])));
                _mm256_min_epi32(_mm256_cvtps_epi32(s), top)
            });
            store_bytes(dst, q);
            // Quants lie in −127..=127 here, so the i32 sums are the sums of the stored bytes.
            sums[0] = hsum_i32(_mm256_add_epi32(q[0], q[1])) as i16;
            sums[1] = hsum_i32(_mm256_add_epi32(q[2], q[3])) as i16;
        }
        b
    }

    row_loops!("avx2,fma,f16c");
}
