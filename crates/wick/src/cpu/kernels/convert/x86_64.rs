//! AVX2 (+F16C) and AVX-512 variants, written per instruction set: the narrowing and widening
//! instructions differ too much to share a body.
//!
//! f32 → bf16 is integer arithmetic on the bit patterns, exactly `half`'s rule: add
//! `0x7FFF + lsb` (round to nearest, ties to even, carrying into the exponent as it should),
//! keep the high half; NaNs instead keep their high half with the quiet bit set.
//! (`vcvtneps2bf16` is not used: it flushes subnormal inputs to zero.)

pub(crate) mod avx512 {
    use crate::cpu::kernels::x86::avx512::LANES;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// The mask of the first `n < 16` lanes.
    #[inline]
    fn tail_mask(n: usize) -> __mmask16 {
        ((1u32 << n.min(LANES)) - 1) as __mmask16
    }

    /// bf16 bits of sixteen f32 bit patterns.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn to_bf16(b: __m512i) -> __m256i {
        let hi = _mm512_srli_epi32::<16>(b);
        let bias = _mm512_add_epi32(_mm512_and_si512(hi, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7FFF));
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(b, bias));
        let magnitude = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFF_FFFF));
        let nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7F80_0000));
        let quiet = _mm512_or_si512(hi, _mm512_set1_epi32(0x40));
        _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet))
    }

    /// f32 bit patterns of sixteen bf16s (NaNs quietened, as `half` does).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    fn from_bf16(h: __m256i) -> __m512i {
        let b = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h));
        let magnitude = _mm512_and_si512(b, _mm512_set1_epi32(0x7FFF_FFFF));
        let nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7F80_0000));
        _mm512_mask_or_epi32(b, nan, b, _mm512_set1_epi32(0x0040_0000))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    pub(crate) fn f32_to_bf16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<LANES>();
        let (os, ot) = out[..n].as_chunks_mut::<LANES>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 16 readable f32s (64 bytes), `o` 16 writable u16s (32 bytes);
            // unaligned loads and stores.
            unsafe {
                _mm256_storeu_si256(o.as_mut_ptr().cast(), to_bf16(_mm512_loadu_si512(x.as_ptr().cast())))
            }
        }
        if !xt.is_empty() {
            let k = tail_mask(xt.len());
            // SAFETY: the mask covers only the `xt.len()` lanes inside `xt` and `ot`;
            // masked-off lanes are neither accessed nor able to fault.
            unsafe {
                let b = _mm512_maskz_loadu_epi32(k, xt.as_ptr().cast());
                _mm256_mask_storeu_epi16(ot.as_mut_ptr().cast(), k, to_bf16(b));
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    pub(crate) fn bf16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<LANES>();
        let (os, ot) = out[..n].as_chunks_mut::<LANES>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 16 readable u16s (32 bytes), `o` 16 writable f32s (64 bytes).
            unsafe {
                _mm512_storeu_si512(o.as_mut_ptr().cast(), from_bf16(_mm256_loadu_si256(x.as_ptr().cast())))
            }
        }
        if !xt.is_empty() {
            let k = tail_mask(xt.len());
            // SAFETY: the mask covers only the lanes inside `xt` and `ot`.
            unsafe {
                let h = _mm256_maskz_loadu_epi16(k, xt.as_ptr().cast());
                _mm512_mask_storeu_epi32(ot.as_mut_ptr().cast(), k, from_bf16(h));
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    pub(crate) fn f32_to_f16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
        // Round to nearest even. Without `_MM_FROUND_NO_EXC`: the {sae} form of vcvtps2ph runs
        // at half speed on Zen 5, and exceptions are masked in MXCSR anyway.
        const RNE: i32 = _MM_FROUND_TO_NEAREST_INT;
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<LANES>();
        let (os, ot) = out[..n].as_chunks_mut::<LANES>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 16 readable f32s, `o` 16 writable u16s.
            unsafe {
                _mm256_storeu_si256(
                    o.as_mut_ptr().cast(),
                    _mm512_cvtps_ph::<RNE>(_mm512_loadu_ps(x.as_ptr())),
                )
            }
        }
        if !xt.is_empty() {
            let k = tail_mask(xt.len());
            // SAFETY: the mask covers only the lanes inside `xt` and `ot`.
            unsafe {
                let v = _mm512_maskz_loadu_ps(k, xt.as_ptr());
                _mm256_mask_storeu_epi16(ot.as_mut_ptr().cast(), k, _mm512_cvtps_ph::<RNE>(v));
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    pub(crate) fn f16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<LANES>();
        let (os, ot) = out[..n].as_chunks_mut::<LANES>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 16 readable u16s, `o` 16 writable f32s.
            unsafe {
                _mm512_storeu_ps(
                    o.as_mut_ptr().cast(),
                    _mm512_cvtph_ps(_mm256_loadu_si256(x.as_ptr().cast())),
                )
            }
        }
        if !xt.is_empty() {
            let k = tail_mask(xt.len());
            // SAFETY: the mask covers only the lanes inside `xt` and `ot`.
            unsafe {
                let h = _mm256_maskz_loadu_epi16(k, xt.as_ptr().cast());
                _mm512_mask_storeu_ps(ot.as_mut_ptr().cast(), k, _mm512_cvtph_ps(h));
            }
        }
    }
}

pub(crate) mod avx2 {
    use super::super::scalar;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// bf16 bits of eight f32 bit patterns, one per 32-bit lane.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn to_bf16(b: __m256i) -> __m256i {
        let hi = _mm256_srli_epi32::<16>(b);
        let bias = _mm256_add_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7FFF));
        let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(b, bias));
        // Both sides are non-negative as i32, so the signed comparison is the unsigned one.
        let magnitude = _mm256_and_si256(b, _mm256_set1_epi32(0x7FFF_FFFF));
        let nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F80_0000));
        let quiet = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
        _mm256_blendv_epi8(rounded, quiet, nan)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn f32_to_bf16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<16>();
        let (os, ot) = out[..n].as_chunks_mut::<16>();
        for (o, x) in os.iter_mut().zip(xs) {
            let (h, _) = x.as_chunks::<8>();
            // SAFETY: `h[0]` and `h[1]` are 8 readable f32s each, `o` 16 writable u16s.
            unsafe {
                let lo = to_bf16(_mm256_loadu_si256(h[0].as_ptr().cast()));
                let hi = to_bf16(_mm256_loadu_si256(h[1].as_ptr().cast()));
                // Every lane is ≤ 0xFFFF, so the saturating pack is exact; it interleaves the
                // 128-bit halves, which the permute puts back in order.
                let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi));
                _mm256_storeu_si256(o.as_mut_ptr().cast(), packed);
            }
        }
        scalar::f32_to_bf16(xt, ot);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn bf16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<8>();
        let (os, ot) = out[..n].as_chunks_mut::<8>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 8 readable u16s (16 bytes), `o` 8 writable f32s (32 bytes).
            unsafe {
                let b = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(x.as_ptr().cast())));
                let magnitude = _mm256_and_si256(b, _mm256_set1_epi32(0x7FFF_FFFF));
                let nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F80_0000));
                let quiet = _mm256_and_si256(nan, _mm256_set1_epi32(0x0040_0000));
                _mm256_storeu_si256(o.as_mut_ptr().cast(), _mm256_or_si256(b, quiet));
            }
        }
        scalar::bf16_to_f32(xt, ot);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn f32_to_f16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
        // F16C's immediate has 3 bits: round to nearest even.
        const RNE: i32 = _MM_FROUND_TO_NEAREST_INT;
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<8>();
        let (os, ot) = out[..n].as_chunks_mut::<8>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 8 readable f32s, `o` 8 writable u16s.
            unsafe {
                _mm_storeu_si128(o.as_mut_ptr().cast(), _mm256_cvtps_ph::<RNE>(_mm256_loadu_ps(x.as_ptr())))
            }
        }
        scalar::f32_to_f16(xt, ot);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) fn f16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
        let n = x.len().min(out.len());
        let (xs, xt) = x[..n].as_chunks::<8>();
        let (os, ot) = out[..n].as_chunks_mut::<8>();
        for (o, x) in os.iter_mut().zip(xs) {
            // SAFETY: `x` is 8 readable u16s, `o` 8 writable f32s.
            unsafe {
                _mm256_storeu_ps(o.as_mut_ptr().cast(), _mm256_cvtph_ps(_mm_loadu_si128(x.as_ptr().cast())))
            }
        }
        scalar::f16_to_f32(xt, ot);
    }
}
