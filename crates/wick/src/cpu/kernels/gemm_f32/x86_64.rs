//! The AVX2 register tile: `MR` rows by two 8-lane vectors of columns, 12 accumulators plus
//! two `b` vectors and one broadcast `a` element, 15 of the 16 registers.

pub(crate) mod avx2 {
    use super::super::{BRow, MR, NR};
    use std::arch::x86_64::*;

    /// Lanes `0..w` all ones, the rest zero: the mask of a row's first `w` columns.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn first_lanes(w: usize) -> __m256i {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(w as i32), lane)
    }

    /// `c[i·ldc + j] (+)= Σ_t a[t·MR + i] · b[t][j]` over `t < b.len()`, for `i < rows ≤ MR`
    /// and `j < cols ≤ NR`; adds to `c` when `accumulate`, else overwrites it (without
    /// reading it).
    ///
    /// # Safety
    /// `c` must be valid for writes (and, with `accumulate`, reads of initialized values) of
    /// `rows` rows of `cols` f32 at stride `ldc`, with no other thread accessing them, and the
    /// CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn tile(
        a: &[f32],
        b: &[BRow],
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        assert!(a.len() >= b.len() * MR, "gemm_f32 tile: a panel shorter than the b panel");
        debug_assert!(rows <= MR && cols <= NR);
        // The rows of `c` are wanted at the end; ask for them now, behind the loop.
        for i in 0..rows {
            let row = c.wrapping_add(i * ldc).cast::<i8>();
            _mm_prefetch::<_MM_HINT_T0>(row);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(4 * NR - 4));
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let ap = a.as_ptr();
        let step = |acc: &mut [[__m256; 2]; MR], t: usize| {
            // SAFETY: `t < b.len()`; a `BRow` is 16 f32 aligned to 64 bytes, read as two
            // aligned 8-lane vectors.
            let (b0, b1) = unsafe {
                let p = b.as_ptr().add(t).cast::<f32>();
                (_mm256_load_ps(p), _mm256_load_ps(p.add(8)))
            };
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `t·MR + i < b.len()·MR ≤ a.len()` (asserted above).
                let x = _mm256_set1_ps(unsafe { *ap.add(t * MR + i) });
                acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
            }
        };
        // Four steps per loop trip: the loop's own counter and branch come once per 48
        // multiply-adds.
        let kc = b.len();
        let mut t = 0;
        while t + 4 <= kc {
            for u in 0..4 {
                step(&mut acc, t + u);
            }
            t += 4;
        }
        for t in t..kc {
            step(&mut acc, t);
        }
        if rows == MR && cols == NR {
            for (i, acc) in acc.iter().enumerate() {
                for (h, &v) in acc.iter().enumerate() {
                    // SAFETY: the caller guarantees the whole `MR × NR` tile at stride `ldc`.
                    unsafe {
                        let p = c.add(i * ldc + 8 * h);
                        let v = if accumulate { _mm256_add_ps(_mm256_loadu_ps(p), v) } else { v };
                        _mm256_storeu_ps(p, v);
                    }
                }
            }
            return;
        }
        let masks = [first_lanes(cols.min(8)), first_lanes(cols.saturating_sub(8))];
        for (i, acc) in acc.iter().enumerate().take(rows) {
            for (h, &v) in acc.iter().enumerate() {
                if 8 * h >= cols {
                    continue;
                }
                // SAFETY: the caller guarantees `rows × cols` f32 at stride `ldc` from `c`;
                // the mask covers only columns `8h..cols` of row `i`, and masked-off lanes are
                // neither read nor written.
                unsafe {
                    let p = c.add(i * ldc + 8 * h);
                    let v = if accumulate { _mm256_add_ps(_mm256_maskload_ps(p, masks[h]), v) } else { v };
                    _mm256_maskstore_ps(p, masks[h], v);
                }
            }
        }
    }
}
