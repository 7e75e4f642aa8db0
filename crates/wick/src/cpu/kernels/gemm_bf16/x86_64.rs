//! The AVX-512 BF16 register tile and the vector packer for row-major `b`.

pub(crate) mod avx512bf16 {
    use super::super::{APair, BPair, MR, NR};
    use std::arch::x86_64::*;

    /// `c[i·ldc + j] (+)= Σ_p a_p[i] · b_p[j]` over the k-pairs `p` of the panels, for
    /// `i < rows ≤ MR`, `j < cols ≤ NR`; adds to `c` when `accumulate`, else overwrites it.
    ///
    /// # Safety
    /// `c` must be valid for reads and writes of `rows` rows of `cols` f32 at stride `ldc`,
    /// and the CPU must have the features this function is compiled with.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(crate) unsafe fn tile(
        ap: &[APair],
        bp: &[BPair],
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        debug_assert!(rows <= MR && cols <= NR);
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (a, b) in ap.iter().zip(bp) {
            // SAFETY: `b` is 64 u16 (128 bytes), read as two unaligned 64-byte vectors; every
            // bit pattern is a valid `__m512bh`.
            let (b0, b1) = unsafe {
                let p = b.as_ptr().cast::<__m512i>();
                (
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p)),
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.add(1))),
                )
            };
            for i in 0..MR {
                let x: __m512bh = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(a[i] as i32));
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], x, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], x, b1);
            }
        }
        let lanes = |from: usize| -> __mmask16 {
            let w = cols.saturating_sub(from).min(16);
            ((1u32 << w) - 1) as __mmask16
        };
        let masks = [lanes(0), lanes(16)];
        for (i, row) in acc.iter().enumerate().take(rows) {
            for (h, &v) in row.iter().enumerate() {
                if masks[h] == 0 {
                    continue;
                }
                // SAFETY: the caller guarantees `rows × cols` f32 at stride `ldc` from `c`;
                // the mask covers only columns `16h..cols` of row `i`, and masked-off lanes
                // are neither read nor written.
                unsafe {
                    let p = c.add(i * ldc + 16 * h);
                    let v = if accumulate { _mm512_add_ps(_mm512_maskz_loadu_ps(masks[h], p), v) } else { v };
                    _mm512_mask_storeu_ps(p, masks[h], v);
                }
            }
        }
    }

    /// [`super::super::pack_b_strided`] for `b` with unit column stride (row-major, rows at
    /// stride `ldb`): two rows at a time are interleaved element by element with one
    /// two-source permute per 16 columns.
    ///
    /// # Safety
    /// The CPU must have the features this function is compiled with.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(crate) unsafe fn pack_b_rows(
        b: &[u16],
        ldb: usize,
        j0: usize,
        cols: usize,
        k0: usize,
        kc: usize,
        dst: &mut [BPair],
    ) {
        assert!(cols <= NR && cols > 0, "pack_b_rows: {cols} columns");
        let lo: [i16; 32] = std::array::from_fn(|e| ((e / 2) + 32 * (e % 2)) as i16);
        let hi: [i16; 32] = std::array::from_fn(|e| ((e / 2) + 16 + 32 * (e % 2)) as i16);
        // SAFETY: both arrays are 64 bytes.
        let (lo, hi) =
            unsafe { (_mm512_loadu_si512(lo.as_ptr().cast()), _mm512_loadu_si512(hi.as_ptr().cast())) };
        let mask: __mmask32 = if cols == 32 { !0 } else { (1u32 << cols) - 1 };
        let row = |t: usize| -> __m512i {
            let r = &b[t * ldb + j0..][..cols];
            // SAFETY: `r` holds `cols` u16 and the mask enables exactly the first `cols`
            // lanes; masked-off lanes are not accessed (no fault) and read as zero.
            unsafe { _mm512_maskz_loadu_epi16(mask, r.as_ptr().cast()) }
        };
        for (p, d) in dst.iter_mut().enumerate() {
            let t = k0 + 2 * p;
            let r0 = row(t);
            let r1 = if 2 * p + 1 < kc { row(t + 1) } else { _mm512_setzero_si512() };
            // SAFETY: `d` is 64 u16 (128 bytes), written as two unaligned 64-byte vectors.
            unsafe {
                let q = d.as_mut_ptr().cast::<__m512i>();
                _mm512_storeu_si512(q, _mm512_permutex2var_epi16(r0, lo, r1));
                _mm512_storeu_si512(q.add(1), _mm512_permutex2var_epi16(r0, hi, r1));
            }
        }
    }

    /// Whether [`pack_b_cols`] can take a column stride of `ldb`: its gather indices count
    /// u16 elements (scale 2) from the first column's start, so the widest offset,
    /// `(NR - 1) · ldb`, must fit an i32.
    pub(crate) fn gather_reaches(ldb: usize) -> bool {
        (NR - 1).checked_mul(ldb).is_some_and(|o| o <= i32::MAX as usize)
    }

    /// [`super::super::pack_b_strided`] for `b` with unit row stride (a transposed row-major
    /// matrix, as `W.t()` in `x @ W.t()`; column `j` at `b[j·ldb..]`): a k-pair of one column
    /// is one 32-bit word, so each half of a [`BPair`] is one 16-lane gather of the columns'
    /// words at the same `t`. An odd last element pairs with zero.
    ///
    /// # Safety
    /// The CPU must have the features this function is compiled with.
    ///
    /// # Panics
    /// If `ldb` fails [`gather_reaches`], or the columns reach past `b`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(crate) unsafe fn pack_b_cols(
        b: &[u16],
        ldb: usize,
        j0: usize,
        cols: usize,
        k0: usize,
        kc: usize,
        dst: &mut [BPair],
    ) {
        assert!(cols <= NR && cols > 0 && kc > 0, "pack_b_cols: {cols} columns, {kc} rows");
        assert!(dst.len() >= kc.div_ceil(2), "pack_b_cols: {} pairs for {kc} rows", dst.len());
        let last = (j0 + cols - 1).checked_mul(ldb).and_then(|o| o.checked_add(k0 + kc));
        assert!(last.is_some_and(|l| l <= b.len()), "pack_b_cols: columns beyond b");
        assert!(gather_reaches(ldb), "pack_b_cols: column stride {ldb} too wide for gathers");
        let ld = ldb as i32;
        let offsets: [i32; NR] = std::array::from_fn(|c| c as i32 * ld);
        // SAFETY: both halves of `offsets` are 16 i32 (64 bytes).
        let idx = unsafe {
            [_mm512_loadu_si512(offsets.as_ptr().cast()), _mm512_loadu_si512(offsets[16..].as_ptr().cast())]
        };
        let lanes =
            |from: usize| -> __mmask16 { ((1u32 << cols.saturating_sub(from).min(16)) - 1) as __mmask16 };
        let masks = [lanes(0), lanes(16)];
        let base = b[j0 * ldb + k0..].as_ptr();
        let whole = kc / 2;
        for (p, d) in dst[..whole].iter_mut().enumerate() {
            let q = d.as_mut_ptr().cast::<__m512i>();
            for h in 0..2 {
                // SAFETY: enabled lane `c < cols` reads the two u16 at `(j0 + c)·ldb + k0 + 2p`
                // of `b`, inside it (asserted above: `2p + 1 < kc`); disabled lanes are not
                // read and stay zero. `d` is 128 bytes, written as two unaligned vectors.
                unsafe {
                    let v = _mm512_mask_i32gather_epi32::<2>(
                        _mm512_setzero_si512(),
                        masks[h],
                        idx[h],
                        base.add(2 * p).cast(),
                    );
                    _mm512_storeu_si512(q.add(h), v);
                }
            }
        }
        if kc % 2 == 1 {
            let d = &mut dst[whole];
            *d = [0; 2 * NR];
            for c in 0..cols {
                d[2 * c] = b[(j0 + c) * ldb + k0 + kc - 1];
            }
        }
    }

    /// `part[i·n + j] += Σ_t a[i·lda + t] · b[t·ldb + j]` for `i < R`, `j < n`, `t < kt`:
    /// rows of `b` (row-major) widened to f32 in registers and multiply-added into the
    /// partial output rows `part`, two rows of `b` per pass over `part`. Reads `b` strictly
    /// in memory order — the access a one-row product (decoding) is bound by.
    ///
    /// # Safety
    /// The CPU must have the features this function is compiled with.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(crate) unsafe fn rows_axpy<const R: usize>(
        a: &[f32],
        lda: usize,
        kt: usize,
        b: &[u16],
        ldb: usize,
        n: usize,
        part: &mut [f32],
    ) {
        assert!(part.len() >= R * n && (kt == 0 || b.len() >= (kt - 1) * ldb + n), "rows_axpy: shapes");
        assert!(R == 0 || a.len() >= (R - 1) * lda + kt, "rows_axpy: shapes");
        let widen = |p: &[u16]| -> __m512 {
            // SAFETY: callers pass 16 readable u16 (32 bytes), loaded unaligned.
            let h = unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
        };
        let full = n / 16 * 16;
        let mut t = 0;
        while t < kt {
            let two = t + 1 < kt;
            let (b0, b1) =
                (&b[t * ldb..][..n], if two { &b[(t + 1) * ldb..][..n] } else { &b[t * ldb..][..n] });
            let x: [[__m512; 2]; R] = std::array::from_fn(|i| {
                let s1 = if two { a[i * lda + t + 1] } else { 0.0 };
                [_mm512_set1_ps(a[i * lda + t]), _mm512_set1_ps(s1)]
            });
            let mut j = 0;
            while j < full {
                let (w0, w1) = (widen(&b0[j..j + 16]), widen(&b1[j..j + 16]));
                for (i, x) in x.iter().enumerate() {
                    let o = &mut part[i * n + j..][..16];
                    // SAFETY: `o` is 16 f32 (64 bytes), loaded and stored unaligned.
                    unsafe {
                        let acc = _mm512_loadu_ps(o.as_ptr());
                        let acc = _mm512_fmadd_ps(x[1], w1, _mm512_fmadd_ps(x[0], w0, acc));
                        _mm512_storeu_ps(o.as_mut_ptr(), acc);
                    }
                }
                j += 16;
            }
            for j in full..n {
                let (w0, w1) = (f32::from_bits((b0[j] as u32) << 16), f32::from_bits((b1[j] as u32) << 16));
                for i in 0..R {
                    let s1 = if two { a[i * lda + t + 1] } else { 0.0 };
                    part[i * n + j] += a[i * lda + t] * w0 + s1 * w1;
                }
            }
            t += 2;
        }
    }
}
