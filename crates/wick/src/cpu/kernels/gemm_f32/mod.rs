//! `c = a · b` for f32 matrices of any strides, through packed panels and a register tile
//! written for AVX2 (the `gemm` crate's tile reached ~60% of a Zen 3 core's FMA peak there).
//!
//! Both operands are repacked so that the tile reads memory in order: a panel of `b` holds,
//! for each `t` of `k`, [`NR`] consecutive columns as one 64-byte row ([`BRow`], two aligned
//! vectors); a panel of `a` holds, for each `t`, the elements of [`MR`] rows, which the tile
//! broadcasts one by one. A tile then grows `MR × NR` sums by outer products with no
//! horizontal sums, whatever `k` is. Packing handles every stride, so transposed operands
//! (`x @ W.t()`) cost no extra copy.
//!
//! Loop nest: columns in blocks whose packed `b` fits [`PACKED_B_BYTES`] (packed once, in
//! parallel); then tasks of a row block (about [`MC_PANELS`] row panels) × a run of column
//! panels, each task walking `k` in blocks of at most [`KC`]: it packs its rows of that block
//! (`MC × KC` f32, ~150 KiB, in L2), then for each column panel (`KC × NR`, 16 KiB, in L1)
//! runs the tile over all its row panels. The first `k` block writes `c`, later ones add to
//! it, so `c` needs no initialization.

mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use super::mat::{Mat, Out};
use super::{team, Isa};
use std::mem::MaybeUninit;

/// Rows of `a` per register tile.
pub(crate) const MR: usize = 6;
/// Columns of `b` per register tile: two vectors of 8 f32.
pub(crate) const NR: usize = 16;
/// Longest block of `k` per pass over `c` (a `b` panel of it is 16 KiB, half of L1).
const KC: usize = 256;
/// Row panels per row block (144 rows: the packed `a` block, ~150 KiB, stays in L2).
const MC_PANELS: usize = 24;
/// Most bytes of packed `b` held at once; wider products go in column blocks.
const PACKED_B_BYTES: usize = 16 << 20;
/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_WORK: usize = 1 << 18;

/// One `t` of a packed `b` panel: `NR` columns, aligned so that each half is one aligned
/// vector load.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct BRow(pub [f32; NR]);

/// Fewest rows of `a` [`suits`] takes: below, packing `b` costs more than the product, and the
/// `gemm` crate's vector-times-matrix path wins (1×4096×4096: 7 ms there, 20 ms packed).
const MIN_ROWS: usize = 16;

/// Whether [`gemm_f32`] is the fastest f32 product here for `m` rows: AVX2 is the selected
/// instruction set (with AVX-512, the `gemm` crate's wider tiles serve better) and `m` is
/// at least [`MIN_ROWS`].
pub(crate) fn suits(m: usize) -> bool {
    m >= MIN_ROWS && Isa::selected() == Isa::Avx2
}

/// Packs rows `i0..i0 + rows` (`rows ≤ MR`, the rest zero) and elements `k0..k0 + kc` of
/// `a` into `dst` (`kc · MR` f32, `t`-major).
fn pack_a(a: Mat<f32>, i0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [f32]) {
    let dst = &mut dst[..kc * MR];
    if rows < MR {
        dst.fill(0.0);
    }
    if a.cs == 1 {
        let src: [&[f32]; MR] =
            std::array::from_fn(|r| if r < rows { &a.data[(i0 + r) * a.rs + k0..][..kc] } else { &[] });
        for (t, d) in dst.chunks_exact_mut(MR).enumerate() {
            for r in 0..rows {
                d[r] = src[r][t];
            }
        }
    } else {
        for (t, d) in dst.chunks_exact_mut(MR).enumerate() {
            for (r, e) in d.iter_mut().enumerate().take(rows) {
                *e = a.at(i0 + r, k0 + t);
            }
        }
    }
}

/// Columns of `b` per packing task: each row of a row-major `b` is read in runs this long.
const PACK_B_COLS: usize = 8 * NR;

/// Packs rows `k0..k0 + kc` of columns `j0..j0 + cols` of `b` into `cols.div_ceil(NR)`
/// panels of `kc` rows each in `dst` (the last panel's missing columns zero). A row-major `b`
/// is read row by row, a transposed one column by column, each in memory order: walking a
/// row-major `b` down a panel would touch a new page on every row.
fn pack_b(b: Mat<f32>, j0: usize, cols: usize, k0: usize, kc: usize, dst: &mut [BRow]) {
    let panels = cols.div_ceil(NR);
    let dst = &mut dst[..panels * kc];
    if b.cs == 1 {
        for t in 0..kc {
            let src = &b.data[(k0 + t) * b.rs + j0..][..cols];
            for (p, chunk) in src.chunks(NR).enumerate() {
                let d = &mut dst[p * kc + t].0;
                if let Ok(whole) = <&[f32; NR]>::try_from(chunk) {
                    *d = *whole;
                } else {
                    d[..chunk.len()].copy_from_slice(chunk);
                    d[chunk.len()..].fill(0.0);
                }
            }
        }
        return;
    }
    for (p, panel) in dst.chunks_exact_mut(kc).enumerate() {
        let w = NR.min(cols - p * NR);
        if w < NR {
            for d in panel.iter_mut() {
                d.0[w..].fill(0.0);
            }
        }
        for c in 0..w {
            let j = j0 + p * NR + c;
            if b.rs == 1 {
                // A transposed row-major matrix (`W.t()`): each column is a contiguous row.
                for (d, &v) in panel.iter_mut().zip(&b.data[j * b.cs + k0..][..kc]) {
                    d.0[c] = v;
                }
            } else {
                for (t, d) in panel.iter_mut().enumerate() {
                    d.0[c] = b.at(k0 + t, j);
                }
            }
        }
    }
}

/// One register tile through the selected instruction set's kernel.
///
/// # Safety
/// As [`scalar::tile`].
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    isa: Isa,
    a: &[f32],
    b: &[BRow],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx2 && Isa::Avx2.available() {
        // SAFETY: forwarded from the caller; the CPU has AVX2 and FMA (checked just above).
        unsafe { x86_64::avx2::tile(a, b, c, ldc, rows, cols, accumulate) };
        return;
    }
    let _ = isa;
    // SAFETY: forwarded from the caller.
    unsafe { scalar::tile(a, b, c, ldc, rows, cols, accumulate) }
}

/// Fewest column panels per task when columns are cut: each task packs its own rows of `a`,
/// and with fewer than 256 columns that packing costs more than 10% of the task
/// (128×4096×4096 cut into 64-column tasks: 74 GFLOP/s, against ~140 at 1024 columns).
const MIN_TASK_COL_PANELS: usize = 16;

/// How tasks cut the `mp × np` tile grid: (row panels, column panels) per task. Row blocks
/// of at most [`MC_PANELS`] panels, balanced; with several threads, as many tasks as a
/// multiple of the thread count (tasks are near-equal, so no thread idles at the end): the
/// columns are cut while each task keeps [`MIN_TASK_COL_PANELS`], else the rows are cut finer.
fn task_shape(mp: usize, np: usize, threads: usize) -> (usize, usize) {
    let mut row_blocks = mp.div_ceil(MC_PANELS);
    if threads <= 1 {
        return (mp.div_ceil(row_blocks), np);
    }
    let max_col_blocks = (np / MIN_TASK_COL_PANELS).max(1);
    let fits = |tasks: usize| tasks >= threads && tasks.is_multiple_of(threads);
    let mut col_blocks = 1;
    while col_blocks < max_col_blocks && !fits(row_blocks * col_blocks) {
        col_blocks += 1;
    }
    if !fits(row_blocks * col_blocks) {
        row_blocks = row_blocks.next_multiple_of(threads).min(mp);
    }
    (mp.div_ceil(row_blocks), np.div_ceil(col_blocks))
}

/// Packed panels kept by each thread between calls (taken for a call, given back after it),
/// so that a product does not fault in fresh pages for them every time; buffers over
/// [`KEPT_SCRATCH_BYTES`] are freed instead.
mod scratch {
    use super::BRow;
    use std::cell::RefCell;

    /// The most bytes of scratch one thread keeps.
    const KEPT_SCRATCH_BYTES: usize = 8 << 20;

    thread_local! {
        static A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
        static B: RefCell<Vec<BRow>> = const { RefCell::new(Vec::new()) };
    }

    fn with<T: Copy, R>(
        key: &'static std::thread::LocalKey<RefCell<Vec<T>>>,
        len: usize,
        fill: T,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> R {
        let mut v = key.with(|s| std::mem::take(&mut *s.borrow_mut()));
        v.reserve(len.saturating_sub(v.len()));
        crate::cpu::huge_pages::advise(v.spare_capacity_mut());
        v.resize(len, fill);
        let r = f(&mut v);
        if std::mem::size_of_val(v.as_slice()) <= KEPT_SCRATCH_BYTES {
            key.with(|s| *s.borrow_mut() = v);
        }
        r
    }

    /// Runs `f` on `len` f32 of this thread's `a` scratch (contents unspecified).
    pub(super) fn a<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
        with(&A, len, 0.0, f)
    }

    /// Runs `f` on `len` rows of this thread's `b` scratch (contents unspecified).
    pub(super) fn b<R>(len: usize, f: impl FnOnce(&mut [BRow]) -> R) -> R {
        with(&B, len, BRow([0.0; super::NR]), f)
    }
}

/// `c[i·n + j] = Σ_t a(i, t) · b(t, j)` for `i < m`, `j < n`, `t < k` (row-major `c`, every
/// element written); split over wick's threads when `parallel` and the product is large.
///
/// # Panics
/// If an operand or `c` is shorter than its shape.
pub(crate) fn gemm_f32(
    a: Mat<f32>,
    b: Mat<f32>,
    m: usize,
    n: usize,
    k: usize,
    c: &mut [MaybeUninit<f32>],
    parallel: bool,
) {
    gemm_f32_on(Isa::selected(), a, b, m, n, k, c, parallel)
}

/// [`gemm_f32`] with the tile of `isa` (or the best below it the CPU has).
#[allow(clippy::too_many_arguments)]
fn gemm_f32_on(
    isa: Isa,
    a: Mat<f32>,
    b: Mat<f32>,
    m: usize,
    n: usize,
    k: usize,
    c: &mut [MaybeUninit<f32>],
    parallel: bool,
) {
    assert!(super::mat::product_fits(a, b, m, n, k, c.len()), "gemm_f32: operands shorter than their shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for e in &mut c[..m * n] {
            e.write(0.0);
        }
        return;
    }
    let parallel = parallel && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_WORK;
    let threads = if parallel { crate::device::num_threads() } else { 1 };
    // Blocks of `k` of near-equal length (384 → 192 + 192, not 256 + 128).
    let kc = k.div_ceil(k.div_ceil(KC));
    let mp = m.div_ceil(MR);
    let nc = (PACKED_B_BYTES / (k.saturating_mul(std::mem::size_of::<BRow>()))).max(1) * NR;
    let out = Out { ptr: c.as_mut_ptr().cast::<f32>(), ld: n };
    scratch::b(nc.min(n.next_multiple_of(NR)) / NR * k, |bpack| {
        let mut j0 = 0;
        while j0 < n {
            let ncols = nc.min(n - j0);
            let np = ncols.div_ceil(NR);
            // Block `q` of `k` holds `np` panels of `kq` rows from `q·kc·np` on.
            let bp = &mut bpack[..np * k];
            let mut jobs: Vec<(usize, usize, &mut [BRow])> = Vec::new();
            for (q, block) in bp.chunks_mut(kc * np).enumerate() {
                let kq = block.len() / np;
                for (g, dst) in block.chunks_mut(PACK_B_COLS / NR * kq).enumerate() {
                    jobs.push((q * kc, g * PACK_B_COLS, dst));
                }
            }
            let pack = |(k0, c0, dst): (usize, usize, &mut [BRow])| {
                let kq = kc.min(k - k0);
                pack_b(b, j0 + c0, PACK_B_COLS.min(ncols - c0), k0, kq, dst)
            };
            if threads > 1 {
                team::for_each(jobs, pack);
            } else {
                jobs.into_iter().for_each(pack);
            }
            let bp = &*bp;
            let (tr, tc) = task_shape(mp, np, threads);
            let tasks: Vec<(usize, usize)> =
                (0..mp).step_by(tr).flat_map(|r0| (0..np).step_by(tc).map(move |q0| (r0, q0))).collect();
            let run = |t: usize| {
                let (r0, q0) = tasks[t];
                let (r1, q1) = ((r0 + tr).min(mp), (q0 + tc).min(np));
                scratch::a((r1 - r0) * MR * kc, |apack| {
                    let mut k0 = 0;
                    while k0 < k {
                        let kq = kc.min(k - k0);
                        for (ip, dst) in (r0..r1).zip(apack.chunks_exact_mut(MR * kq)) {
                            pack_a(a, ip * MR, MR.min(m - ip * MR), k0, kq, dst);
                        }
                        for jp in q0..q1 {
                            let bpanel = &bp[k0 * np + jp * kq..][..kq];
                            let (j, cols) = (j0 + jp * NR, NR.min(ncols - jp * NR));
                            for (ip, ap) in (r0..r1).zip(apack.chunks_exact(MR * kq)) {
                                let (i, rows) = (ip * MR, MR.min(m - ip * MR));
                                // SAFETY: the tile `i..i + rows` × `j..j + cols` lies inside
                                // the `m × n` matrix `c` (asserted long enough above); tasks
                                // cover disjoint tiles, so no two threads touch one element,
                                // and `c` is borrowed mutably for the whole call. A tile is
                                // read (`k0 > 0`) only after this task wrote it for the first
                                // `k` block.
                                unsafe { tile(isa, ap, bpanel, out.at(i, j), out.ld, rows, cols, k0 > 0) };
                            }
                        }
                        k0 += kq;
                    }
                })
            };
            if threads > 1 {
                team::for_each_index(tasks.len(), &run);
            } else {
                (0..tasks.len()).for_each(run);
            }
            j0 += ncols;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{check_product_layouts, normals};
    use crate::device::Xoshiro256;

    #[test]
    fn simd_tile_matches_scalar_twin_exactly() {
        let mut rng = Xoshiro256::seed_from_u64(5);
        for isa in Isa::ALL.into_iter().filter(|i| *i >= Isa::Avx2 && i.available()) {
            for kc in [0usize, 1, 2, 7, 64, 257] {
                let a = normals(&mut rng, kc * MR, 1.0);
                let bv = normals(&mut rng, kc * NR, 3.0);
                let b: Vec<BRow> = bv.chunks_exact(NR).map(|r| BRow(std::array::from_fn(|j| r[j]))).collect();
                for (rows, cols) in [(MR, NR), (1, 1), (5, 9), (MR, 3), (2, NR), (MR, 8), (4, 15)] {
                    for accumulate in [false, true] {
                        let ldc = NR + 3;
                        let init = normals(&mut rng, MR * ldc, 1.0);
                        let (mut got, mut want) = (init.clone(), init.clone());
                        // SAFETY: both buffers hold `MR` rows at stride `ldc ≥ NR`, owned here.
                        unsafe {
                            tile(isa, &a, &b, got.as_mut_ptr(), ldc, rows, cols, accumulate);
                            scalar::tile(&a, &b, want.as_mut_ptr(), ldc, rows, cols, accumulate);
                        }
                        // Same products, same order, one rounding each: equal bits, and
                        // elements outside the tile untouched.
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "{isa:?} k {kc} tile {rows}x{cols} acc {accumulate}"
                        );
                        for (e, (&g, &i)) in got.iter().zip(&init).enumerate() {
                            if e / ldc >= rows || e % ldc >= cols {
                                assert_eq!(g.to_bits(), i.to_bits(), "{isa:?} wrote outside the tile at {e}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn products_match_a_plain_loop_for_every_layout_and_edge() {
        // One row/column, partial tiles, k across blocks (and its balanced split), both
        // operands transposed, strides wider than the matrix, and products large enough to
        // run in parallel tasks with column splits.
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (6, 16, 256),
            (7, 17, 257),
            (4, 130, 301),
            (2, 64, 5),
            (13, 33, 2),
            (25, 70, 600),
            (100, 300, 64),
            (150, 97, 384),
            (64, 200, 576),
        ];
        for isa in [Isa::Scalar, Isa::Avx2] {
            check_product_layouts(
                isa.name(),
                13,
                &shapes,
                |v| v.to_vec(),
                |x| x,
                |a, b, m, n, k| {
                    let mut got = vec![f32::NAN; m * n];
                    // SAFETY: only f32 values are written through the view.
                    let slots = unsafe { super::super::as_uninit(&mut got) };
                    gemm_f32_on(isa, a, b, m, n, k, slots, true);
                    got
                },
            );
        }
    }

    #[test]
    fn zero_k_writes_zeros_and_short_operands_are_refused() {
        let mut c = [MaybeUninit::new(f32::NAN); 6];
        gemm_f32(Mat { data: &[], rs: 0, cs: 1 }, Mat { data: &[], rs: 3, cs: 1 }, 2, 3, 0, &mut c, false);
        // SAFETY: every element was initialized above.
        assert!(c.iter().all(|e| unsafe { e.assume_init() } == 0.0));
        let d = [0f32; 6];
        let r = std::panic::catch_unwind(|| {
            let mut c = [MaybeUninit::uninit(); 4];
            gemm_f32(Mat { data: &d, rs: 4, cs: 1 }, Mat { data: &d, rs: 2, cs: 1 }, 2, 2, 4, &mut c, false)
        });
        assert!(r.is_err(), "a 2x4 lhs in 6 elements must be refused");
    }
}
