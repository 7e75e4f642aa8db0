//! `a · bᵀ` where both operands hold their rows contiguous along the contracted dim: the
//! shape of every `Linear` (`x @ Wᵀ` with `W` stored `(out, in)` as checkpoints do) and of
//! attention scores (`q @ kᵀ`). General GEMM libraries want `b` with its rows along the
//! output dim and repack a transposed `b` with strided gathers on every call; here each
//! output is a dot product of two contiguous rows, so `b` streams from memory exactly once —
//! what decoding one token at a time (`m` = 1) is bound by — and f16/bf16 weights are widened
//! in registers instead of being converted to an f32 copy first.
//!
//! `a` is f32 (callers widen narrow activations once, they are small); `b` is f32, f16 or
//! bf16; the result is f32, accumulated in f32.

mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use super::{dispatch, Isa};
use half::{bf16, f16};
use rayon::prelude::*;

/// The rows of `b`.
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::F32(b) => b.len(),
            Rows::F16(b) => b.len(),
            Rows::BF16(b) => b.len(),
        }
    }
}

/// The rows of `a`: f32, or bf16 against bf16 rows of `b` on CPUs with AVX-512 BF16 (see
/// [`bf16_pairs_available`]); anything else is widened to f32 first.
#[derive(Clone, Copy)]
pub(crate) enum Lhs<'a> {
    F32(&'a [f32]),
    BF16(&'a [bf16]),
}

impl<'a> Lhs<'a> {
    fn from(self, o: usize) -> Lhs<'a> {
        match self {
            Lhs::F32(a) => Lhs::F32(&a[o..]),
            Lhs::BF16(a) => Lhs::BF16(&a[o..]),
        }
    }

    fn len(&self) -> usize {
        match self {
            Lhs::F32(a) => a.len(),
            Lhs::BF16(a) => a.len(),
        }
    }
}

/// Whether bf16 × bf16 products run on `vdpbf16ps` here (the selected instruction set is
/// AVX-512 and the CPU has its BF16 extension); callers pass [`Lhs::BF16`] only then.
pub(crate) fn bf16_pairs_available() -> bool {
    Isa::selected() == Isa::Avx512 && super::has_avx512bf16()
}

/// `k` is split into blocks of this many elements so that the `a` rows of a block (`m × KC`
/// f32) stay in cache while every tile of `b` passes over them; each block ends in one
/// horizontal sum per output, which costs more than L2 misses below a few thousand
/// (single-thread 128×2048×5632: KC 256 → 53 GFLOP/s, 1024 → 78, whole k → 94).
const KC: usize = 4096;
/// Rows of `b` per parallel task.
const TASK_ROWS: usize = 64;
/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_WORK: usize = 1 << 17;

/// `c[i·ldc + j] += Σ_t a[i·lda + t] · b[j·ldb + t]` for `i < m`, `j < n`, `t < k` on one
/// thread, with instruction set `isa`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_with(
    isa: Isa,
    a: Lhs,
    lda: usize,
    m: usize,
    k: usize,
    b: Rows,
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + k && b.len() >= (n - 1) * ldb + k && c.len() >= (m - 1) * ldc + n,
        "gemm_nt: operands shorter than their shapes"
    );
    let a = match a {
        Lhs::F32(a) => a,
        Lhs::BF16(a) => {
            if let Rows::BF16(b) = b {
                #[cfg(target_arch = "x86_64")]
                if isa.resolve() == Isa::Avx512 && super::has_avx512bf16() {
                    let (a, b): (&[u16], &[u16]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
                    // SAFETY: the CPU has AVX-512 F/BW/VL/DQ (`resolve`) and BF16 (checked
                    // just above), every feature the kernel is compiled with.
                    unsafe { x86_64::avx512bf16::nt_bf16_bf16(a, lda, m, k, b, ldb, n, c, ldc) };
                    return;
                }
            }
            // Without the instruction (or against other rows): widen the rows of `a`.
            let mut wide = vec![0f32; m * k];
            for (i, row) in wide.chunks_mut(k).enumerate() {
                for (d, s) in row.iter_mut().zip(&a[i * lda..][..k]) {
                    *d = s.to_f32();
                }
            }
            return block_with(isa, Lhs::F32(&wide), k, m, k, b, ldb, n, c, ldc);
        }
    };
    let mut t0 = 0;
    while t0 < k {
        let kc = (k - t0).min(KC);
        let a = &a[t0..];
        match b {
            Rows::F32(b) => dispatch!(isa, nt_f32(a, lda, m, kc, &b[t0..], ldb, n, c, ldc)),
            Rows::F16(b) => {
                let b: &[u16] = bytemuck::cast_slice(&b[t0..]);
                dispatch!(isa, nt_f16(a, lda, m, kc, b, ldb, n, c, ldc))
            }
            Rows::BF16(b) => {
                let b: &[u16] = bytemuck::cast_slice(&b[t0..]);
                dispatch!(isa, nt_bf16(a, lda, m, kc, b, ldb, n, c, ldc))
            }
        }
        t0 += kc;
    }
}

impl<'a> Rows<'a> {
    /// The rows from element `o` on.
    fn from(self, o: usize) -> Rows<'a> {
        match self {
            Rows::F32(b) => Rows::F32(&b[o..]),
            Rows::F16(b) => Rows::F16(&b[o..]),
            Rows::BF16(b) => Rows::BF16(&b[o..]),
        }
    }
}

/// A batch of products: `a · bᵀ` for the `a` matrix at each of `a_at` and the `b` matrix at
/// the same index of `b_at`, into one row-major `batches × m × n` f32 array. One batch runs
/// on the calling thread split by rows of `b`; several run in parallel, one per task.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_nt_batched(
    a: Lhs,
    a_at: &[usize],
    lda: usize,
    m: usize,
    k: usize,
    b: Rows,
    b_at: &[usize],
    ldb: usize,
    n: usize,
) -> Vec<f32> {
    assert_eq!(a_at.len(), b_at.len(), "gemm_nt_batched: batch offsets differ in number");
    if a_at.len() == 1 {
        return gemm_nt(a.from(a_at[0]), lda, m, k, b.from(b_at[0]), ldb, n);
    }
    let isa = Isa::selected();
    let mut c = vec![0f32; a_at.len() * m * n];
    if m * n == 0 || k == 0 {
        return c;
    }
    let run = |(i, dst): (usize, &mut [f32])| {
        block_with(isa, a.from(a_at[i]), lda, m, k, b.from(b_at[i]), ldb, n, dst, n)
    };
    if crate::device::num_threads() == 1 || c.len() * k < PARALLEL_WORK {
        c.chunks_mut(m * n).enumerate().for_each(run);
    } else {
        crate::device::install(|| c.par_chunks_mut(m * n).enumerate().for_each(run));
    }
    c
}

/// `a · bᵀ` as a new row-major `m × n` f32 matrix, for `a` with `m` rows at stride `lda` and
/// `b` with `n` rows at stride `ldb`, both `k` long; split over wick's threads by rows of `b`.
pub(crate) fn gemm_nt(a: Lhs, lda: usize, m: usize, k: usize, b: Rows, ldb: usize, n: usize) -> Vec<f32> {
    gemm_nt_with(Isa::selected(), a, lda, m, k, b, ldb, n)
}

/// [`gemm_nt`] with a given instruction set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_nt_with(
    isa: Isa,
    a: Lhs,
    lda: usize,
    m: usize,
    k: usize,
    b: Rows,
    ldb: usize,
    n: usize,
) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    let threads = crate::device::num_threads();
    if threads == 1 || m * n * k < PARALLEL_WORK || n <= TASK_ROWS {
        block_with(isa, a, lda, m, k, b, ldb, n, &mut c, n);
        return c;
    }
    if m == 1 {
        // One row (decode): each task writes its columns in place, shared by the spinning
        // team inside a forward pass.
        let tasks: Vec<(usize, &mut [f32])> = c.chunks_mut(TASK_ROWS).enumerate().collect();
        super::team::for_each(tasks, |(t, dst)| {
            let nb = dst.len();
            block_with(isa, a, lda, 1, k, b.from(t * TASK_ROWS * ldb), ldb, nb, dst, nb)
        });
        return c;
    }
    // Each task computes an `m × TASK_ROWS` block of columns into its own buffer; the blocks
    // are then placed (m·n copies against m·n·k multiply-adds).
    let tasks = n.div_ceil(TASK_ROWS);
    let blocks: Vec<Vec<f32>> = crate::device::install(|| {
        (0..tasks)
            .into_par_iter()
            .map(|t| {
                let j0 = t * TASK_ROWS;
                let nb = (n - j0).min(TASK_ROWS);
                let rows = b.from(j0 * ldb);
                let mut blk = vec![0f32; m * nb];
                block_with(isa, a, lda, m, k, rows, ldb, nb, &mut blk, nb);
                blk
            })
            .collect()
    });
    for (t, blk) in blocks.iter().enumerate() {
        let j0 = t * TASK_ROWS;
        let nb = blk.len() / m;
        for (dst, src) in c.chunks_mut(n).zip(blk.chunks(nb)) {
            dst[j0..j0 + nb].copy_from_slice(src);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::each_isa;
    use crate::device::Xoshiro256;

    fn randv(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Xoshiro256::seed_from_u64(seed);
        (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// f64 reference and the sum of |products| per output (the rounding-error scale).
    fn reference(
        a: &[f32],
        lda: usize,
        m: usize,
        k: usize,
        b: &[f32],
        ldb: usize,
        n: usize,
    ) -> Vec<(f64, f64)> {
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut mag) = (0f64, 0f64);
                for t in 0..k {
                    let p = a[i * lda + t] as f64 * b[j * ldb + t] as f64;
                    s += p;
                    mag += p.abs();
                }
                out.push((s, mag));
            }
        }
        out
    }

    fn check(got: &[f32], want: &[(f64, f64)], k: usize, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (idx, (g, (w, mag))) in got.iter().zip(want).enumerate() {
            // f32 accumulation of k products in any order: |err| ≤ k·ε·Σ|p| (a loose but
            // rigorous bound; a wrong index or a dropped tail misses it by far).
            let tol = (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30;
            assert!((*g as f64 - w).abs() <= tol, "{what}: element {idx}: {g} vs {w} (tol {tol})");
        }
    }

    #[test]
    fn every_isa_and_dtype_matches_an_f64_reference() {
        each_isa("gemm_nt", |isa| {
            for &(m, n, k) in &[
                (1, 1, 1),
                (1, 5, 15),
                (1, 7, 16),
                (3, 9, 17),
                (4, 4, 64),
                (5, 6, 33),
                (9, 130, 100),
                (7, 13, 300),
                (16, 9, 385),
                (2, 70, 1029),
                (17, 67, 2050),
                (1, 300, 600),
            ] {
                let (lda, ldb) = (k + 3, k + 5);
                let a = randv(m * lda, (m * 31 + k) as u64);
                let b32 = randv(n * ldb, (n * 17 + k) as u64);
                for (name, b) in [
                    ("f32", b32.clone()),
                    ("f16", b32.iter().map(|&x| f16::from_f32(x).to_f32()).collect()),
                    ("bf16", b32.iter().map(|&x| bf16::from_f32(x).to_f32()).collect::<Vec<f32>>()),
                ] {
                    let h: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
                    let g: Vec<bf16> = b.iter().map(|&x| bf16::from_f32(x)).collect();
                    let rows = match name {
                        "f32" => Rows::F32(&b),
                        "f16" => Rows::F16(&h),
                        _ => Rows::BF16(&g),
                    };
                    let want = reference(&a, lda, m, k, &b, ldb, n);
                    let got = gemm_nt_with(isa, Lhs::F32(&a), lda, m, k, rows, ldb, n);
                    check(&got, &want, k, &format!("{isa:?} {name} m={m} n={n} k={k}"));
                    // The scalar twin agrees with the same bound.
                    let mut twin = vec![0f32; m * n];
                    block_with(Isa::Scalar, Lhs::F32(&a), lda, m, k, rows, ldb, n, &mut twin, n);
                    check(&twin, &want, k, &format!("scalar {name} m={m} n={n} k={k}"));
                }
            }
        });
    }

    #[test]
    fn bf16_rows_against_bf16_rows_match_an_f64_reference() {
        // On AVX-512 BF16 CPUs the Avx512 level runs `vdpbf16ps`; every level is checked.
        eprintln!("vdpbf16ps available: {}", crate::cpu::kernels::has_avx512bf16());
        each_isa("gemm_nt_bf16_pairs", |isa| {
            for &(m, n, k) in
                &[(1, 3, 31), (1, 9, 200), (2, 7, 33), (4, 6, 64), (5, 13, 95), (9, 70, 1030), (1, 130, 4100)]
            {
                let (lda, ldb) = (k + 1, k + 7);
                let a: Vec<bf16> =
                    randv(m * lda, (m + 3 * k) as u64).into_iter().map(bf16::from_f32).collect();
                let b: Vec<bf16> =
                    randv(n * ldb, (n + 5 * k) as u64).into_iter().map(bf16::from_f32).collect();
                let (a32, b32): (Vec<f32>, Vec<f32>) =
                    (a.iter().map(|x| x.to_f32()).collect(), b.iter().map(|x| x.to_f32()).collect());
                let want = reference(&a32, lda, m, k, &b32, ldb, n);
                let got = gemm_nt_with(isa, Lhs::BF16(&a), lda, m, k, Rows::BF16(&b), ldb, n);
                check(&got, &want, k, &format!("{isa:?} bf16 pairs m={m} n={n} k={k}"));
                // bf16 rows of `a` against f32 rows of `b` take the widening path.
                let got = gemm_nt_with(isa, Lhs::BF16(&a), lda, m, k, Rows::F32(&b32), ldb, n);
                check(&got, &want, k, &format!("{isa:?} bf16 x f32 m={m} n={n} k={k}"));
            }
        });
    }

    #[test]
    fn block_accumulates_into_c_with_its_stride() {
        let (m, n, k) = (3, 5, 40);
        let a = randv(m * k, 1);
        let b = randv(n * k, 2);
        let want = reference(&a, k, m, k, &b, k, n);
        each_isa("gemm_nt_block", |isa| {
            let ldc = 8;
            let mut c = vec![1f32; m * ldc];
            block_with(isa, Lhs::F32(&a), k, m, k, Rows::F32(&b), k, n, &mut c, ldc);
            for i in 0..m {
                for j in 0..ldc {
                    let g = c[i * ldc + j];
                    if j < n {
                        let (w, mag) = want[i * n + j];
                        assert!((g as f64 - 1.0 - w).abs() <= 50.0 * f32::EPSILON as f64 * (mag + 1.0));
                    } else {
                        assert_eq!(g, 1.0, "{isa:?}: column {j} outside n was written");
                    }
                }
            }
        });
    }

    #[test]
    fn non_finite_values_propagate() {
        each_isa("gemm_nt_nan", |isa| {
            let a = vec![1f32; 40];
            let mut b = vec![1f32; 80];
            b[7] = f32::NAN;
            b[40 + 39] = f32::INFINITY;
            let c = gemm_nt_with(isa, Lhs::F32(&a), 40, 1, 40, Rows::F32(&b), 40, 2);
            assert!(c[0].is_nan() && c[1] == f32::INFINITY, "{isa:?}: {c:?}");
        });
    }
}
