//! AVX2 and AVX-512 VNNI dot products: Q4_0, Q5_0, IQ4_NL, Q8_0 · Q8_0; Q4_1, Q5_1 · Q8_1;
//! Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, Q8_K · Q8_K.
//!
//! The bodies are written once; the only difference between the two variants is the
//! unsigned × signed byte dot product that sums groups of four into i32 lanes: AVX2 uses
//! `vpmaddubsw` + `vpmaddwd`, AVX-512 VNNI one `vpdpbusd` on 256-bit vectors (`avx512vl`).
//! `vpmaddubsw` adds two u8 × i8 products into an i16 with saturation; it cannot saturate
//! here because every unsigned operand is at most 128 and every signed one at least −127
//! (2 · 128 · 127 = 32512 < 32767). Weight levels with an offset are therefore taken either
//! as signed levels through the `sign` trick below (Q4_0, Q5_0, IQ4_NL, IQ4_XS, Q8) or as
//! small unsigned levels with the offset taken off afterwards from the activation sums:
//! Q8_K's `bsums` (Q3_K, Q6_K, and the K-quant minimums) or Q8_1's `s` (Q4_1, Q5_1).
//!
//! Signed × signed products use the `sign` trick: `|x| · (y · sign(x))`, exact when `y` is
//! never −128, which holds for activations from the Q8_0/Q8_1/Q8_K quantizers (they give
//! −127..=127).

macro_rules! quant_kernels {
    ($feat:literal, $dot:item) => {
        use crate::quantized::{
            BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K,
            BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
        };
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

        /// `u · s` for unsigned and signed bytes, summed by 4 into i32 lanes.
        #[inline]
        #[target_feature(enable = $feat)]
        fn dot_unsigned(u: __m256i, s: __m256i) -> __m256i {
            dot_u8_i8(_mm256_setzero_si256(), u, s)
        }

        /// The 32 nibbles of a 32-element block: low nibbles (elements 0..16) in the low
        /// 128-bit lane, high nibbles (16..32) in the high one.
        #[inline]
        #[target_feature(enable = $feat)]
        fn nibbles(qs: &[u8; 16]) -> __m256i {
            let q = load16(qs);
            _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(q), q), _mm256_set1_epi8(0x0F))
        }

        /// 0x10 in byte `j` where bit `j` of the little-endian `qh` is set, 0 elsewhere: the
        /// fifth bits of a Q5_0/Q5_1 block in place.
        #[inline]
        #[target_feature(enable = $feat)]
        fn fifth_bits(qh: [u8; 4]) -> __m256i {
            // Byte j takes byte j / 8 of qh (the shuffle works per 128-bit lane; both lanes
            // hold all four bytes), then keeps bit j % 8.
            let spread = _mm256_shuffle_epi8(
                _mm256_set1_epi32(i32::from_le_bytes(qh)),
                _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303),
            );
            let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
            let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
            _mm256_and_si256(set, _mm256_set1_epi8(0x10))
        }

        /// The IQ4 level table in both 128-bit lanes, for `vpshufb` lookups by index.
        #[inline]
        #[target_feature(enable = $feat)]
        fn iq4_table() -> __m256i {
            let t: &[u8; 16] = bytemuck::cast_ref(crate::quantized::iq4_values());
            _mm256_broadcastsi128_si256(load16(t))
        }

        /// The four 2-bit planes of 32 bytes: byte `l` of plane `s` is bits `2s..2s+2` of
        /// byte `l` (Q2_K/Q3_K: elements `32s + l` of a 128-element half).
        #[inline]
        #[target_feature(enable = $feat)]
        fn two_bit_planes(q: __m256i) -> [__m256i; 4] {
            let m = _mm256_set1_epi8(3);
            [
                _mm256_and_si256(q, m),
                _mm256_and_si256(_mm256_srli_epi16::<2>(q), m),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q), m),
                _mm256_and_si256(_mm256_srli_epi16::<6>(q), m),
            ]
        }

        /// Lanes 0..4 of `p` (the sums of a 32-element step's first 16 elements) times `s0`,
        /// lanes 4..8 times `s1`: the scales of two 16-element sub-blocks.
        #[inline]
        #[target_feature(enable = $feat)]
        fn scale_halves(p: __m256i, s0: i32, s1: i32) -> __m256i {
            _mm256_mullo_epi32(p, _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1))
        }

        /// Every lane of `p` times `s`: the scale of a 32-element sub-block.
        #[inline]
        #[target_feature(enable = $feat)]
        fn scale_all(p: __m256i, s: i32) -> __m256i {
            _mm256_mullo_epi32(p, _mm256_set1_epi32(s))
        }

        /// `v` with `c` taken off lane 0 (an integer correction of the whole sum).
        #[inline]
        #[target_feature(enable = $feat)]
        fn sub_lane0(v: __m256i, c: i32) -> __m256i {
            _mm256_sub_epi32(v, _mm256_setr_epi32(c, 0, 0, 0, 0, 0, 0, 0))
        }

        /// Σ over the blocks zipped pairwise of what `one(x, y, acc)` adds to `acc`,
        /// alternating two accumulators so that consecutive blocks' FMAs are independent.
        #[inline]
        #[target_feature(enable = $feat)]
        fn sum_blocks<X, Y>(a: &[X], b: &[Y], one: impl Fn(&X, &Y, __m256) -> __m256) -> f32 {
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
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

        /// `acc + p · d` for a block's integer lane sums `p` and its combined scale `d`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn fmadd_scaled(p: __m256i, d: f32, acc: __m256) -> __m256 {
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc)
        }

        /// `acc` with `c` added to lane 0 (a per-block f32 term of the whole sum).
        #[inline]
        #[target_feature(enable = $feat)]
        fn add_lane0(acc: __m256, c: f32) -> __m256 {
            _mm256_add_ps(acc, _mm256_setr_ps(c, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        }

        /// Q4_0 · Q8_0.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4_0_q8_0(a: &[BlockQ4_0], b: &[BlockQ8_0]) -> f32 {
            let eight = _mm256_set1_epi8(8);
            sum_blocks(a, b, |x, y, acc| {
                let p = dot_signed(_mm256_sub_epi8(nibbles(&x.qs), eight), load_i8(&y.qs));
                fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc)
            })
        }

        /// Q4_1 · Q8_1: `d_x d_y Σ q·y + m_x s_y`, the nibbles unsigned as they are.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4_1_q8_1(a: &[BlockQ4_1], b: &[BlockQ8_1]) -> f32 {
            sum_blocks(a, b, |x, y, acc| {
                let p = dot_unsigned(nibbles(&x.qs), load_i8(&y.qs));
                add_lane0(fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc), h2f(x.m) * h2f(y.s))
            })
        }

        /// Q5_0 · Q8_0: levels `q − 16` in −16..=15, signed.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5_0_q8_0(a: &[BlockQ5_0], b: &[BlockQ8_0]) -> f32 {
            let sixteen = _mm256_set1_epi8(16);
            sum_blocks(a, b, |x, y, acc| {
                let q = _mm256_or_si256(nibbles(&x.qs), fifth_bits(x.qh));
                let p = dot_signed(_mm256_sub_epi8(q, sixteen), load_i8(&y.qs));
                fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc)
            })
        }

        /// Q5_1 · Q8_1: as Q4_1 with the 5-bit levels (0..=31) unsigned.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5_1_q8_1(a: &[BlockQ5_1], b: &[BlockQ8_1]) -> f32 {
            sum_blocks(a, b, |x, y, acc| {
                let q = _mm256_or_si256(nibbles(&x.qs), fifth_bits(x.qh));
                let p = dot_unsigned(q, load_i8(&y.qs));
                add_lane0(fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc), h2f(x.m) * h2f(y.s))
            })
        }

        /// IQ4_NL · Q8_0: the indices looked up in the level table (signed, −127..=113).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_iq4nl_q8_0(a: &[BlockIQ4NL], b: &[BlockQ8_0]) -> f32 {
            let table = iq4_table();
            sum_blocks(a, b, |x, y, acc| {
                let levels = _mm256_shuffle_epi8(table, nibbles(&x.qs));
                let p = dot_signed(levels, load_i8(&y.qs));
                fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc)
            })
        }

        /// Q8_0 · Q8_0.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q8_0_q8_0(a: &[BlockQ8_0], b: &[BlockQ8_0]) -> f32 {
            sum_blocks(a, b, |x, y, acc| {
                let p = dot_signed(load_i8(&x.qs), load_i8(&y.qs));
                fmadd_scaled(p, h2f(x.d) * h2f(y.d), acc)
            })
        }

        /// `Σ m_j · (bsum_2j + bsum_2j+1)`: the minimums of Q4_K/Q5_K's 32-element
        /// sub-blocks times the activation sums.
        fn q45_mins(m: &[u8; 8], y: &BlockQ8K) -> i32 {
            let pair_sum = |j: usize| i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1]);
            (0..8).map(|j| i32::from(m[j]) * pair_sum(j)).sum()
        }

        /// Q2_K · Q8_K: `d_y (d Σ sc·Σq·y − dmin Σ m·bsum)`, the 2-bit levels unsigned.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q2k_q8k(a: &[BlockQ2K], b: &[BlockQ8K]) -> f32 {
            let mut acc = _mm256_setzero_ps();
            let mut mins = 0f32;
            for (x, y) in a.iter().zip(b) {
                let sc = |g: usize| i32::from(x.scales[g] & 0xF);
                let mut isum = _mm256_setzero_si256();
                for n in 0..2 {
                    let planes = two_bit_planes(load(&x.qs[32 * n..32 * n + 32]));
                    for (s, q) in planes.into_iter().enumerate() {
                        let off = 128 * n + 32 * s;
                        let p = dot_unsigned(q, load_i8(&y.qs[off..off + 32]));
                        isum = _mm256_add_epi32(isum, scale_halves(p, sc(off / 16), sc(off / 16 + 1)));
                    }
                }
                let summs: i32 = (0..16).map(|g| i32::from(x.scales[g] >> 4) * i32::from(y.bsums[g])).sum();
                acc = fmadd_scaled(isum, y.d * h2f(x.d), acc);
                mins += y.d * h2f(x.dmin) * summs as f32;
            }
            hsum(acc) - mins
        }

        /// Q3_K · Q8_K: levels taken as unsigned `q + 4` (the two low bits, plus 4 where the
        /// `hmask` bit is set) and `4 Σ sc·bsum` taken off afterwards.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q3k_q8k(a: &[BlockQ3K], b: &[BlockQ8K]) -> f32 {
            let one = _mm256_set1_epi8(1);
            let mut acc = _mm256_setzero_ps();
            for (x, y) in a.iter().zip(b) {
                let sc = x.sub_scales();
                // Bit k of hmask byte l belongs to element 32k + l: step k reads bit 0 and
                // shifts by one (bits shifted in from the next byte reach bit 0 only after 8).
                let mut hmask = load(&x.hmask);
                let mut isum = _mm256_setzero_si256();
                for n in 0..2 {
                    let planes = two_bit_planes(load(&x.qs[32 * n..32 * n + 32]));
                    for (s, low) in planes.into_iter().enumerate() {
                        let high = _mm256_slli_epi16::<2>(_mm256_and_si256(hmask, one));
                        hmask = _mm256_srli_epi16::<1>(hmask);
                        let off = 128 * n + 32 * s;
                        let p = dot_unsigned(_mm256_or_si256(low, high), load_i8(&y.qs[off..off + 32]));
                        let (s0, s1) = (i32::from(sc[off / 16]), i32::from(sc[off / 16 + 1]));
                        isum = _mm256_add_epi32(isum, scale_halves(p, s0, s1));
                    }
                }
                let bias: i32 = (0..16).map(|g| i32::from(sc[g]) * i32::from(y.bsums[g])).sum();
                acc = fmadd_scaled(sub_lane0(isum, 4 * bias), h2f(x.d) * y.d, acc);
            }
            hsum(acc)
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
                    let p0 = dot_unsigned(lo, load_i8(&y.qs[64 * c..64 * c + 32]));
                    let p1 = dot_unsigned(hi, load_i8(&y.qs[64 * c + 32..64 * c + 64]));
                    isum = _mm256_add_epi32(isum, scale_all(p0, i32::from(sc[2 * c])));
                    isum = _mm256_add_epi32(isum, scale_all(p1, i32::from(sc[2 * c + 1])));
                }
                acc = fmadd_scaled(isum, y.d * h2f(x.d), acc);
                mins += y.d * h2f(x.dmin) * q45_mins(&m, y) as f32;
            }
            hsum(acc) - mins
        }

        /// Q5_K · Q8_K: Q4_K with the fifth bit of each level (0..=31, unsigned) from `qh`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5k_q8k(a: &[BlockQ5K], b: &[BlockQ8K]) -> f32 {
            let mask = _mm256_set1_epi8(0x0F);
            let one = _mm256_set1_epi8(1);
            let mut acc = _mm256_setzero_ps();
            let mut mins = 0f32;
            for (x, y) in a.iter().zip(b) {
                let (sc, m) = x.scales_mins();
                // Bit j of qh byte l belongs to element 32j + l (sub-block j): as in Q3_K's
                // hmask, sub-block j reads bit 0 after j shifts by one.
                let mut qh = load(&x.qh);
                let mut isum = _mm256_setzero_si256();
                for c in 0..4 {
                    let q = load(&x.qs[32 * c..32 * c + 32]);
                    let lows = [_mm256_and_si256(q, mask), _mm256_and_si256(_mm256_srli_epi16::<4>(q), mask)];
                    for (h, low) in lows.into_iter().enumerate() {
                        let j = 2 * c + h;
                        let high = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, one));
                        qh = _mm256_srli_epi16::<1>(qh);
                        let p = dot_unsigned(_mm256_or_si256(low, high), load_i8(&y.qs[32 * j..32 * j + 32]));
                        isum = _mm256_add_epi32(isum, scale_all(p, i32::from(sc[j])));
                    }
                }
                acc = fmadd_scaled(isum, y.d * h2f(x.d), acc);
                mins += y.d * h2f(x.dmin) * q45_mins(&m, y) as f32;
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
                        let p = dot_unsigned(u, load_i8(&y.qs[off..off + 32]));
                        let g = off / 16;
                        let (s0, s1) = (i32::from(x.scales[g]), i32::from(x.scales[g + 1]));
                        isum = _mm256_add_epi32(isum, scale_halves(p, s0, s1));
                    }
                }
                let bias: i32 = (0..16).map(|g| i32::from(x.scales[g]) * i32::from(y.bsums[g])).sum();
                acc = fmadd_scaled(sub_lane0(isum, 32 * bias), y.d * h2f(x.d), acc);
            }
            hsum(acc)
        }

        /// IQ4_XS · Q8_K: per 32-element sub-block, the table levels (signed) times the
        /// sub-block scale `ls − 32`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_iq4xs_q8k(a: &[BlockIQ4XS], b: &[BlockQ8K]) -> f32 {
            let table = iq4_table();
            let mut acc = _mm256_setzero_ps();
            for (x, y) in a.iter().zip(b) {
                let sc = x.sub_scales();
                let mut isum = _mm256_setzero_si256();
                for (ib, qs) in x.qs.as_chunks::<16>().0.iter().enumerate() {
                    let levels = _mm256_shuffle_epi8(table, nibbles(qs));
                    let p = dot_signed(levels, load_i8(&y.qs[32 * ib..32 * ib + 32]));
                    isum = _mm256_add_epi32(isum, scale_all(p, i32::from(sc[ib])));
                }
                acc = fmadd_scaled(isum, h2f(x.d) * y.d, acc);
            }
            hsum(acc)
        }

        /// Q8_K · Q8_K.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q8k_q8k(a: &[BlockQ8K], b: &[BlockQ8K]) -> f32 {
            let mut acc = _mm256_setzero_ps();
            for (x, y) in a.iter().zip(b) {
                let mut isum = _mm256_setzero_si256();
                for c in 0..8 {
                    let (xq, yq) = (&x.qs[32 * c..32 * c + 32], &y.qs[32 * c..32 * c + 32]);
                    isum = _mm256_add_epi32(isum, dot_signed(load_i8(xq), load_i8(yq)));
                }
                acc = fmadd_scaled(isum, x.d * y.d, acc);
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
