//! AVX2 and AVX-512 variants: register tiles of `MR` rows of `a` by `NR` rows of `b`, each
//! output a vector accumulator over `k` reduced once at the end of the block.
//!
//! Every `b` element is loaded once per tile and used for `MR` multiply-adds, every `a`
//! element for `NR`; the `b` rows of a tile stay in L1 while all rows of `a` pass by.

/// How far ahead of the current `b` element the single-row kernel prefetches.
pub(crate) const PREFETCH_BYTES: usize = 2048;
/// Rows of `a` per AVX-512 register tile.
pub(crate) const MR: usize = 4;
/// Rows of `b` per AVX-512 register tile (4 × 6 accumulators + 4 `a` vectors + a `b` vector
/// fill 29 of its 32 registers). Measured single-thread on 128×2048×5632 f32: 4×4 and 4×6
/// alike (~78 GFLOP/s at KC 1024), 2×12 three times slower.
pub(crate) const NR: usize = 6;
/// The AVX2 tile, within its 16 registers: 3 × 4 accumulators + 3 `a` vectors + a `b`
/// vector (the AVX-512 tile spilled accumulators to the stack on every step).
pub(crate) const MR_AVX2: usize = 3;
/// See [`MR_AVX2`].
pub(crate) const NR_AVX2: usize = 4;

/// The loop nest every variant shares: one `a` row (decoding a token) goes row by row
/// through `$dot` — `b` is read once either way, and one stream of rows at a time is what the
/// prefetchers follow best (1×2048×5632 f32 on 2 threads: 1.04 ms one row at a time, 1.26 ms
/// six at a time); more rows go through `$tile` in register tiles, wide ones first (each `a`
/// load feeds `NR` multiply-adds), then narrower ones for the last rows of `b`.
macro_rules! sweep_tiles {
    ($tile:ident, $dot:ident, $mr:expr, $nr:expr, $a:expr, $lda:expr, $m:expr, $k:expr, $b:expr, $ldb:expr, $n:expr, $c:expr, $ldc:expr) => {{
        let (a, lda, m, k, b, ldb, n, c, ldc) = ($a, $lda, $m, $k, $b, $ldb, $n, $c, $ldc);
        if m == 1 {
            for (j, cj) in c[..n].iter_mut().enumerate() {
                *cj += $dot(&a[..k], &b[j * ldb..][..k]);
            }
            return;
        }
        let (mr, nr): (usize, usize) = ($mr, $nr);
        let mut j = 0;
        for s in [nr, 4, 1] {
            while j + s <= n {
                let mut i = 0;
                while i < m {
                    // One row past a whole tile is split into two shorter tiles: a lone row
                    // reloads each `b` vector for a single multiply-add.
                    let rest = m - i;
                    let r = if rest == mr + 1 { rest.div_ceil(2) } else { rest.min(mr) };
                    let cc = &mut c[i * ldc + j..];
                    macro_rules! go {
                        ($r:literal, $s:literal) => {
                            $tile::<$r, $s>(&a[i * lda..], lda, &b[j * ldb..], ldb, k, cc, ldc)
                        };
                    }
                    match (r, s) {
                        (4, 6) => go!(4, 6),
                        (3, 6) => go!(3, 6),
                        (2, 6) => go!(2, 6),
                        (1, 6) => go!(1, 6),
                        (4, 4) => go!(4, 4),
                        (3, 4) => go!(3, 4),
                        (2, 4) => go!(2, 4),
                        (1, 4) => go!(1, 4),
                        (4, _) => go!(4, 1),
                        (3, _) => go!(3, 1),
                        (2, _) => go!(2, 1),
                        (_, _) => go!(1, 1),
                    }
                    i += r;
                }
                j += s;
            }
        }
    }};
}

macro_rules! gemm_nt {
    ($feat:literal) => {
        gemm_nt!(@elem $feat, nt_f32, f32, load, |w: f32| w);
        gemm_nt!(@elem $feat, nt_f16, u16, load_f16, |w: u16| half::f16::from_bits(w).to_f32());
        gemm_nt!(@elem $feat, nt_bf16, u16, load_bf16, |w: u16| half::bf16::from_bits(w).to_f32());
    };
    (@elem $feat:literal, $name:ident, $t:ty, $load:ident, $widen:expr) => {
        pub(crate) mod $name {
            use super::*;
            use $crate::cpu::kernels::gemm_nt::x86_64::{MR, MR_AVX2, NR, NR_AVX2, PREFETCH_BYTES};

            /// The register tile for this instruction set's register count.
            const TILE: (usize, usize) = if LANES >= 16 { (MR, NR) } else { (MR_AVX2, NR_AVX2) };

            /// One `R × S` tile: `c[i·ldc + j] += a_i · b_j` over the `k` elements of each row,
            /// row `i` of `a` at `i·lda` and row `j` of `b` at `j·ldb`.
            #[inline]
            #[target_feature(enable = $feat)]
            fn tile<const R: usize, const S: usize>(
                a: &[f32],
                lda: usize,
                b: &[$t],
                ldb: usize,
                k: usize,
                c: &mut [f32],
                ldc: usize,
            ) {
                assert!(
                    a.len() >= (R - 1) * lda + k && b.len() >= (S - 1) * ldb + k && c.len() >= (R - 1) * ldc + S,
                    "gemm_nt tile: operands shorter than the tile"
                );
                let chunks = k / LANES;
                // Row pointers, built without closures (which do not inherit the target
                // features, so they stayed calls) and read without per-row bounds checks
                // (as many instructions as the multiply-adds on AVX2).
                let mut ap = [a.as_ptr(); R];
                for i in 1..R {
                    ap[i] = ap[i - 1].wrapping_add(lda);
                }
                let mut bp = [b.as_ptr(); S];
                for j in 1..S {
                    bp[j] = bp[j - 1].wrapping_add(ldb);
                }
                let mut acc = [[splat(0.0); S]; R];
                let mut x = [splat(0.0); R];
                for t in 0..chunks {
                    let at = t * LANES;
                    for i in 0..R {
                        // SAFETY: row `i` of `a` starts at `i·lda` and holds `k ≥ at + LANES`
                        // elements inside `a` (asserted above).
                        x[i] = load(unsafe { &*ap[i].add(at).cast::<[f32; LANES]>() });
                    }
                    for j in 0..S {
                        // SAFETY: likewise for row `j` of `b`.
                        let w = $load(unsafe { &*bp[j].add(at).cast::<[$t; LANES]>() });
                        for i in 0..R {
                            acc[i][j] = fmadd(x[i], w, acc[i][j]);
                        }
                    }
                }
                let widen = $widen;
                let tail = chunks * LANES;
                for i in 0..R {
                    let mut sums = [0f32; S];
                    let mut j = 0;
                    while j + 4 <= S {
                        let q = hsum4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
                        sums[j..j + 4].copy_from_slice(&q);
                        j += 4;
                    }
                    for j in j..S {
                        sums[j] = hsum(acc[i][j]);
                    }
                    for j in 0..S {
                        let mut s = sums[j];
                        for t in tail..k {
                            s += a[i * lda + t] * widen(b[j * ldb + t]);
                        }
                        c[i * ldc + j] += s;
                    }
                }
            }

            /// `Σ a[t] · b[t]` with four independent accumulators (one would wait on each
            /// multiply-add's latency).
            #[inline]
            #[target_feature(enable = $feat)]
            fn dot(a: &[f32], b: &[$t]) -> f32 {
                let k = a.len().min(b.len());
                let (ac, _) = a[..k].as_chunks::<LANES>();
                let (bc, _) = b[..k].as_chunks::<LANES>();
                let mut acc = [splat(0.0); 4];
                let (a4, a1) = ac.as_chunks::<4>();
                let (b4, b1) = bc.as_chunks::<4>();
                for (x, w) in a4.iter().zip(b4) {
                    // The weights are often a memory-mapped file in 4 KiB pages, where the
                    // hardware prefetchers stop at every page boundary: ask ahead explicitly.
                    let ahead = w.as_ptr().cast::<u8>().wrapping_add(PREFETCH_BYTES);
                    for u in 0..4 {
                        prefetch(ahead.wrapping_add(u * 64));
                    }
                    for u in 0..4 {
                        acc[u] = fmadd(load(&x[u]), $load(&w[u]), acc[u]);
                    }
                }
                for (x, w) in a1.iter().zip(b1) {
                    acc[0] = fmadd(load(x), $load(w), acc[0]);
                }
                let mut s = hsum(add(add(acc[0], acc[1]), add(acc[2], acc[3])));
                let widen = $widen;
                for t in ac.len() * LANES..k {
                    s += a[t] * widen(b[t]);
                }
                s
            }

            /// `c[i·ldc + j] += Σ_t a[i·lda + t] · b[j·ldb + t]` for `i < m`, `j < n`, `t < k`.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $feat)]
            pub(crate) fn gemm(
                a: &[f32],
                lda: usize,
                m: usize,
                k: usize,
                b: &[$t],
                ldb: usize,
                n: usize,
                c: &mut [f32],
                ldc: usize,
            ) {
                sweep_tiles!(tile, dot, TILE.0, TILE.1, a, lda, m, k, b, ldb, n, c, ldc);
            }
        }

        /// See the `gemm` of the module of the same name.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = $feat)]
        pub(crate) fn $name(
            a: &[f32],
            lda: usize,
            m: usize,
            k: usize,
            b: &[$t],
            ldb: usize,
            n: usize,
            c: &mut [f32],
            ldc: usize,
        ) {
            $name::gemm(a, lda, m, k, b, ldb, n, c, ldc)
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(gemm_nt);

/// bf16 × bf16 with the AVX-512 BF16 dot-product instruction: `vdpbf16ps` multiplies 32 pairs
/// of bf16s exactly and adds each two neighbouring products into an f32 lane, twice the work
/// per instruction of widening to f32 first. Products are exact (8-bit mantissas); the sums
/// round to nearest even in f32 like the widening kernels' (subnormal bf16 inputs count as
/// zero, as the instruction defines).
pub(crate) mod avx512bf16 {
    use super::{MR, NR, PREFETCH_BYTES};
    use std::arch::x86_64::*;

    /// bf16 elements per vector.
    const PAIRS: usize = 32;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    fn ld(p: &[u16; PAIRS]) -> __m512bh {
        // SAFETY: `p` is 32 readable u16s (64 bytes), `loadu` has no alignment requirement;
        // `__m512i` and `__m512bh` are both 64 bytes and every bit pattern is valid in each.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.as_ptr().cast())) }
    }

    fn widen(x: u16) -> f32 {
        half::bf16::from_bits(x).to_f32()
    }

    /// One `R × S` tile, laid out as the f32 kernels' `tile`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    fn tile<const R: usize, const S: usize>(
        a: &[u16],
        lda: usize,
        b: &[u16],
        ldb: usize,
        k: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        assert!(
            a.len() >= (R - 1) * lda + k && b.len() >= (S - 1) * ldb + k && c.len() >= (R - 1) * ldc + S,
            "gemm_nt tile: operands shorter than the tile"
        );
        let chunks = k / PAIRS;
        let ac: [&[[u16; PAIRS]]; R] = std::array::from_fn(|i| &a[i * lda..][..k].as_chunks().0[..chunks]);
        let bc: [&[[u16; PAIRS]]; S] = std::array::from_fn(|j| &b[j * ldb..][..k].as_chunks().0[..chunks]);
        let mut acc = [[_mm512_setzero_ps(); S]; R];
        for t in 0..chunks {
            let x: [__m512bh; R] = std::array::from_fn(|i| ld(&ac[i][t]));
            for j in 0..S {
                let w = ld(&bc[j][t]);
                for i in 0..R {
                    acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x[i], w);
                }
            }
        }
        let tail = chunks * PAIRS;
        for i in 0..R {
            for j in 0..S {
                let mut s = _mm512_reduce_add_ps(acc[i][j]);
                for t in tail..k {
                    s += widen(a[i * lda + t]) * widen(b[j * ldb + t]);
                }
                c[i * ldc + j] += s;
            }
        }
    }

    /// One row of `a` against row `b`, four accumulators, prefetching ahead in `b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    fn dot(a: &[u16], b: &[u16]) -> f32 {
        let k = a.len().min(b.len());
        let (ac, _) = a[..k].as_chunks::<PAIRS>();
        let (bc, _) = b[..k].as_chunks::<PAIRS>();
        let mut acc = [_mm512_setzero_ps(); 4];
        let (a4, a1) = ac.as_chunks::<4>();
        let (b4, b1) = bc.as_chunks::<4>();
        for (x, w) in a4.iter().zip(b4) {
            let ahead = w.as_ptr().cast::<u8>().wrapping_add(PREFETCH_BYTES);
            for u in 0..4 {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(u * 64).cast());
            }
            for u in 0..4 {
                acc[u] = _mm512_dpbf16_ps(acc[u], ld(&x[u]), ld(&w[u]));
            }
        }
        for (x, w) in a1.iter().zip(b1) {
            acc[0] = _mm512_dpbf16_ps(acc[0], ld(x), ld(w));
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        let mut s = _mm512_reduce_add_ps(sum);
        for t in ac.len() * PAIRS..k {
            s += widen(a[t]) * widen(b[t]);
        }
        s
    }

    /// `c[i·ldc + j] += Σ_t a[i·lda + t] · b[j·ldb + t]` (bf16 bit patterns) for `i < m`,
    /// `j < n`, `t < k`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    pub(crate) fn nt_bf16_bf16(
        a: &[u16],
        lda: usize,
        m: usize,
        k: usize,
        b: &[u16],
        ldb: usize,
        n: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        sweep_tiles!(tile, dot, MR, NR, a, lda, m, k, b, ldb, n, c, ldc);
    }
}
