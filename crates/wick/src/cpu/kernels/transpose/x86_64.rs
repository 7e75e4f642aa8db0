//! AVX2 8×8 tiles, stamped for both instruction sets (AVX-512 adds nothing to a shuffle of
//! 32-byte rows that the memory system, not the shuffles, limits).

macro_rules! transpose {
    ($feat:literal) => {
        use std::arch::x86_64::*;

        /// Loads the 8 u32s starting at `s[0]` (panics if `s` is shorter).
        #[inline]
        #[target_feature(enable = $feat)]
        fn load8(s: &[u32]) -> __m256 {
            let s: &[u32; 8] = s[..8].try_into().unwrap();
            // SAFETY: `s` is 8 readable u32s (32 bytes); `loadu` has no alignment requirement.
            unsafe { _mm256_loadu_ps(s.as_ptr().cast()) }
        }

        /// Transposes the 8×8 tile at `src[i0 + j0·ss ..]` into `dst[j0 + i0·ds ..]`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn tile8(src: &[u32], ss: usize, dst: &mut [u32], ds: usize, i0: usize, j0: usize) {
            let at = |r: usize| (j0 + r) * ss + i0;
            let (r0, r1, r2, r3) =
                (load8(&src[at(0)..]), load8(&src[at(1)..]), load8(&src[at(2)..]), load8(&src[at(3)..]));
            let (r4, r5, r6, r7) =
                (load8(&src[at(4)..]), load8(&src[at(5)..]), load8(&src[at(6)..]), load8(&src[at(7)..]));
            // Pairs of rows interleaved, then pairs of pairs: lane k of `u` holds column k
            // (low half) and k + 4 (high half) of four rows.
            let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
            let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
            let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let cols = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (k, c) in cols.into_iter().enumerate() {
                let d: &mut [u32; 8] = (&mut dst[(i0 + k) * ds + j0..][..8]).try_into().unwrap();
                // SAFETY: `d` is 8 writable u32s; `storeu` has no alignment requirement.
                unsafe { _mm256_storeu_ps(d.as_mut_ptr().cast(), c) }
            }
        }

        /// The bounds were checked by the caller (`mod.rs`); the slicing in `tile8` checks them
        /// again, so a mistake there panics rather than touching memory out of bounds.
        #[target_feature(enable = $feat)]
        pub(crate) fn transpose32(
            src: &[u32],
            ss: usize,
            dst: &mut [u32],
            ds: usize,
            rows: usize,
            cols: usize,
        ) {
            let (rows8, cols8) = (rows / 8 * 8, cols / 8 * 8);
            for i0 in (0..rows8).step_by(16) {
                let band = (rows8 - i0).min(16);
                for j0 in (0..cols8).step_by(8) {
                    for i in (i0..i0 + band).step_by(8) {
                        tile8(src, ss, dst, ds, i, j0);
                    }
                }
                // Columns past the last whole tile.
                for i in i0..i0 + band {
                    for j in cols8..cols {
                        dst[i * ds + j] = src[j * ss + i];
                    }
                }
            }
            // Rows past the last whole tile.
            for i in rows8..rows {
                for j in 0..cols {
                    dst[i * ds + j] = src[j * ss + i];
                }
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(transpose);
