//! AVX2 and AVX-512 VNNI dot products for Q4_0, Q8_0 (· Q8_0) and Q4_K, Q6_K (· Q8_K).
//!
//! The bodies are written once; the only difference between the two variants is the
//! unsigned × signed byte dot product that sums groups of four into i32 lanes: AVX2 uses
//! `vpmaddubsw` + `vpmaddwd` (the i16 intermediate cannot saturate here: every unsigned
//! operand is at most 128 and every signed one at least −127), AVX-512 VNNI one `vpdpbusd`
//! on 256-bit vectors (`avx512vl`).
//!
//! Signed × signed products use the `sign` trick: `|x| · (y · sign(x))`, exact when `y` is
//! never −128, which holds for activations from the Q8_0/Q8_K quantizers (they give
//! −127..=127).

macro_rules! quant_kernels {
    ($feat:literal, $dot:item) => {
        use crate::quantized::{BlockQ4K, BlockQ4_0, BlockQ6K, BlockQ8K, BlockQ8_0};
        use std::arch::x86_64::*;

        /// Σ over groups of 4 of `u · s` added to `acc` (u unsigned, s signed bytes).
        #[inline]
        #[target_feature(enable = $feat)]
        $dot

        #[inline]
        #[target_feature(enable = $feat)]
        fn load(s: &[u8]) -> __m256i {
            assert!(s.len() >= 32);
            // SAFETY: `s` holds at least 32 bytes (checked above); the load is unaligned.
            unsafe { _mm256_loadu_si256(s.as_ptr() as *const __m256i) }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn load_i8(s: &[i8]) -> __m256i {
            load(bytemuck::cast_slice(s))
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn load16(s: &[u8; 16]) -> __m128i {
            // SAFETY: `s` is 16 bytes; the load is unaligned.
            unsafe { _mm_loadu_si128(s.as_ptr() as *const __m128i) }
        }

        /// f16 → f32 with F16C (the `half` crate checks for F16C at run time on every call).
        #[inline]
        #[target_feature(enable = $feat)]
        fn h2f(h: half::f16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits()))))
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }

        /// `x · y` for signed bytes, summed by 4 into i32 lanes.
        #[inline]
        #[target_feature(enable = $feat)]
        fn dot_signed(x: __m256i, y: __m256i) -> __m256i {
            dot_u8_i8(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
        }

        /// Q4_0 · Q8_0.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4_0_q8_0(a: &[BlockQ4_0], b: &[BlockQ8_0]) -> f32 {
            let mask = _mm256_set1_epi8(0x0F);
            let eight = _mm256_set1_epi8(8);
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut pairs = a.chunks_exact(2).zip(b.chunks_exact(2));
            let one = |x: &BlockQ4_0, y: &BlockQ8_0, acc: __m256| {
                let q = load16(&x.qs);
                let both = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
                let xv = _mm256_sub_epi8(_mm256_and_si256(both, mask), eight);
                let p = dot_signed(xv, load_i8(&y.qs));
                let d = _mm256_set1_ps(h2f(x.d) * h2f(y.d));
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc)
            };
            for (x, y) in pairs.by_ref() {
                acc0 = one(&x[0], &y[0], acc0);
                acc1 = one(&x[1], &y[1], acc1);
            }
            let n = a.len().min(b.len());
            if n % 2 == 1 {
                acc0 = one(&a[n - 1], &b[n - 1], acc0);
            }
            hsum(_mm256_add_ps(acc0, acc1))
        }

        /// Q8_0 · Q8_0.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q8_0_q8_0(a: &[BlockQ8_0], b: &[BlockQ8_0]) -> f32 {
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let one = |x: &BlockQ8_0, y: &BlockQ8_0, acc: __m256| {
                let p = dot_signed(load_i8(&x.qs), load_i8(&y.qs));
                let d = _mm256_set1_ps(h2f(x.d) * h2f(y.d));
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc)
            };
            for (x, y) in a.chunks_exact(2).zip(b.chunks_exact(2)) {
                acc0 = one(&x[0], &y[0], acc0);
                acc1 = one(&x[1], &y[1], acc1);
            }
            let n = a.len().min(b.len());
            if n % 2 == 1 {
                acc0 = one(&a[n - 1], &b[n - 1], acc0);
            }
            hsum(_mm256_add_ps(acc0, acc1))
        }

        /// Q4_K · Q8_K.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4k_q8k(a: &[BlockQ4K], b: &[BlockQ8K]) -> f32 {
            let mask = _mm256_set1_epi8(0x0F);
            let mut acc = _mm256_setzero_ps();
            let mut mins = 0f32;
            for (x, y) in a.iter().zip(b) {
                let (sc, m) = x.scales_mins();
                let mut isum = _mm256_setzero_si256();
                for c in 0..4 {
                    let q = load(&x.qs[32 * c..32 * c + 32]);
                    let lo = _mm256_and_si256(q, mask);
                    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), mask);
                    let p0 = dot_u8_i8(_mm256_setzero_si256(), lo, load_i8(&y.qs[64 * c..64 * c + 32]));
                    let p1 = dot_u8_i8(_mm256_setzero_si256(), hi, load_i8(&y.qs[64 * c + 32..64 * c + 64]));
                    let s0 = _mm256_set1_epi32(i32::from(sc[2 * c]));
                    let s1 = _mm256_set1_epi32(i32::from(sc[2 * c + 1]));
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p0, s0));
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p1, s1));
                }
                let summs: i32 = (0..8)
                    .map(|j| i32::from(m[j]) * (i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1])))
                    .sum();
                let d = y.d * h2f(x.d);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
                mins += y.d * h2f(x.dmin) * summs as f32;
            }
            hsum(acc) - mins
        }

        /// Q6_K · Q8_K: levels are taken as unsigned `q + 32` and `32 Σ sc·bsum` is taken
        /// off afterwards.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q6k_q8k(a: &[BlockQ6K], b: &[BlockQ8K]) -> f32 {
            let mask = _mm256_set1_epi8(0x0F);
            let three = _mm256_set1_epi8(3);
            let mut acc = _mm256_setzero_ps();
            for (x, y) in a.iter().zip(b) {
                let mut isum = _mm256_setzero_si256();
                for n in 0..2 {
                    let ql0 = load(&x.ql[64 * n..64 * n + 32]);
                    let ql1 = load(&x.ql[64 * n + 32..64 * n + 64]);
                    let qh = load(&x.qh[32 * n..32 * n + 32]);
                    let lows = [
                        _mm256_and_si256(ql0, mask),
                        _mm256_and_si256(ql1, mask),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), mask),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), mask),
                    ];
                    let highs = [
                        qh,
                        _mm256_srli_epi16::<2>(qh),
                        _mm256_srli_epi16::<4>(qh),
                        _mm256_srli_epi16::<6>(qh),
                    ];
                    for s in 0..4 {
                        let h = _mm256_slli_epi16::<4>(_mm256_and_si256(highs[s], three));
                        let u = _mm256_or_si256(lows[s], h);
                        let off = 128 * n + 32 * s;
                        let p = dot_u8_i8(_mm256_setzero_si256(), u, load_i8(&y.qs[off..off + 32]));
                        let g = off / 16;
                        let (s0, s1) = (i32::from(x.scales[g]), i32::from(x.scales[g + 1]));
                        let scale = _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
                        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p, scale));
                    }
                }
                let bias: i32 = (0..16).map(|g| i32::from(x.scales[g]) * i32::from(y.bsums[g])).sum();
                let isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * bias, 0, 0, 0, 0, 0, 0, 0));
                let d = y.d * h2f(x.d);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
            }
            hsum(acc)
        }
    };
}

pub(crate) mod avx2 {
    quant_kernels!(
        "avx2,fma,f16c",
        fn dot_u8_i8(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
            let pairs = _mm256_maddubs_epi16(u, s);
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    );
}

pub(crate) mod avx512 {
    quant_kernels!(
        "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c",
        fn dot_u8_i8(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
            _mm256_dpbusd_epi32(acc, u, s)
        }
    );
}
