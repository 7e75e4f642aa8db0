//! `c = a · b` for bf16 matrices of any strides on CPUs with AVX-512 BF16, without widening
//! either operand to f32 first.
//!
//! `vdpbf16ps` multiplies 32 bf16 pairs and adds each pair's two products into one of 16 f32
//! lanes, so both operands are repacked into *k-pairs*: a panel of `b` holds, for each pair of
//! consecutive `k` and each of [`NR`] columns, the two elements side by side (one vector per
//! 16 columns); a panel of `a` holds, for each k-pair, the pair of each of [`MR`] rows as one
//! 32-bit word that the kernel broadcasts. A register tile of `MR × NR` f32 sums then grows by
//! outer products with no horizontal sums, whatever `k` is — what the dot-product kernel of
//! `gemm_nt` cannot do for short `k` (attention heads) and what the `gemm` crate cannot do in
//! bf16 at all (it needs both operands widened to f32 copies).
//!
//! Products of two bf16 values are exact in f32; sums are f32. The instruction treats
//! subnormal inputs and results as zero, so the result can differ from the f32 twin by the
//! order of the sums plus contributions below 1.2e-38.
//!
//! On CPUs with the AMX tile unit, products of 16 rows or more go to [`amx`] instead (the
//! same `b` packing, `tdpbf16ps` on 16 × 16 tiles: 2048³ in ~17 ms against ~130 ms here).
//!
//! Loop nest: `k` in blocks of [`KC`]; per block all of `a` and `b` are packed (in parallel),
//! then tasks of up to [`TASK_ROW_PANELS`] × [`TASK_COL_PANELS`] tiles run in parallel, each
//! walking its `b` panels outermost so that one `b` panel (`KC/2 × 2·NR` bf16, 32 KiB) stays
//! in L1 while the task's `a` panels stream from L2.

#[cfg(target_arch = "x86_64")]
mod amx;
mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use super::mat::Out;
use rayon::prelude::*;

/// Rows of `a` per register tile.
pub(crate) const MR: usize = 12;
/// Columns of `b` per register tile (two vectors of 16 f32 sums; 12 × 2 accumulators, two
/// `b` vectors and a broadcast fill 27 of the 32 registers).
pub(crate) const NR: usize = 32;
/// Elements of `k` per block (even, so that every block but the last is whole pairs).
const KC: usize = 512;
/// Row and column panels per parallel task.
const TASK_ROW_PANELS: usize = 8;
const TASK_COL_PANELS: usize = 16;
/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_WORK: usize = 1 << 20;

/// One k-pair of an `a` panel: the two bf16 elements (low half first) of each of `MR` rows.
pub(crate) type APair = [u32; MR];
/// One k-pair of a `b` panel: for each of `NR` columns, its elements at `t` and `t + 1`.
pub(crate) type BPair = [u16; 2 * NR];

/// A bf16 matrix (as bit patterns) with element `(r, c)` at `data[r·rs + c·cs]`.
pub(crate) type Mat<'a> = super::mat::Mat<'a, u16>;

/// Whether [`gemm_bf16`] can run here: AVX-512 is the selected instruction set and the CPU
/// has its BF16 extension.
pub(crate) fn available() -> bool {
    super::gemm_nt::bf16_pairs_available()
}

/// Whether a product of `m` rows goes to the AMX tile unit here (which then beats the
/// dot-product kernel of `gemm_nt` on `x @ W.t()` too: 128×2048×5632 in 17–19 ms against
/// 33 ms on Sapphire Rapids, 2 threads).
pub(crate) fn tile_unit_takes(m: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        m >= amx::MIN_ROWS && amx::usable()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = m;
        false
    }
}

/// The task rectangle for `rows × cols` units of work: `most` (rows, columns) halved, columns
/// first, until there are at least `tasks` rectangles or it is one unit.
fn task_shape(rows: usize, cols: usize, most: (usize, usize), tasks: usize) -> (usize, usize) {
    let (mut tr, mut tc) = most;
    while rows.div_ceil(tr) * cols.div_ceil(tc) < tasks && (tr > 1 || tc > 1) {
        if tc > 1 {
            tc /= 2;
        } else {
            tr /= 2;
        }
    }
    (tr, tc)
}

/// Packs rows `i0..i0 + rows` (`rows ≤ MR`, the rest zero) and `k` elements `k0..k0 + kc`
/// of `a` into `dst` (`kc.div_ceil(2)` pairs; an odd tail pairs with zero).
fn pack_a(a: Mat, i0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [APair]) {
    for d in dst.iter_mut() {
        *d = [0; MR];
    }
    if a.cs == 1 {
        for r in 0..rows {
            let row = &a.data[(i0 + r) * a.rs + k0..][..kc];
            let (pairs, tail) = row.as_chunks::<2>();
            for (d, &[lo, hi]) in dst.iter_mut().zip(pairs) {
                d[r] = lo as u32 | (hi as u32) << 16;
            }
            if let (Some(&lo), Some(d)) = (tail.first(), dst.get_mut(pairs.len())) {
                d[r] = lo as u32;
            }
        }
        return;
    }
    for r in 0..rows {
        let i = i0 + r;
        for (p, d) in dst.iter_mut().enumerate() {
            let t = k0 + 2 * p;
            let lo = a.at(i, t) as u32;
            let hi = if 2 * p + 1 < kc { a.at(i, t + 1) as u32 } else { 0 };
            d[r] = lo | hi << 16;
        }
    }
}

/// Packs columns `j0..j0 + cols` (`cols ≤ NR`, the rest zero) and rows `k0..k0 + kc` of `b`
/// into `dst` (`kc.div_ceil(2)` pairs; an odd tail pairs with zero). Portable; the x86 module
/// has a vector version for unit column stride.
pub(crate) fn pack_b_strided(b: Mat, j0: usize, cols: usize, k0: usize, kc: usize, dst: &mut [BPair]) {
    for (p, d) in dst.iter_mut().enumerate() {
        *d = [0; 2 * NR];
        let t = k0 + 2 * p;
        let second = 2 * p + 1 < kc;
        for c in 0..cols {
            d[2 * c] = b.at(t, j0 + c);
            if second {
                d[2 * c + 1] = b.at(t + 1, j0 + c);
            }
        }
    }
}

fn pack_b(b: Mat, j0: usize, cols: usize, k0: usize, kc: usize, dst: &mut [BPair]) {
    #[cfg(target_arch = "x86_64")]
    if b.cs == 1 && available() {
        // SAFETY: `available` checked AVX-512 F/BW and BF16, the features the packer needs.
        unsafe { x86_64::avx512bf16::pack_b_rows(b.data, b.rs, j0, cols, k0, kc, dst) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if b.rs == 1 && available() && x86_64::avx512bf16::gather_reaches(b.cs) {
        // SAFETY: as above.
        unsafe { x86_64::avx512bf16::pack_b_cols(b.data, b.cs, j0, cols, k0, kc, dst) };
        return;
    }
    pack_b_strided(b, j0, cols, k0, kc, dst)
}

/// `c[i·n + j] = Σ_t a(i, t) · b(t, j)` for `i < m`, `j < n`, `t < k` (row-major `c`), on the
/// AVX-512 BF16 kernel; split over wick's threads when `parallel` and the product is large.
///
/// # Panics
/// If [`available`] is false, or an operand or `c` is shorter than its shape.
pub(crate) fn gemm_bf16(a: Mat, b: Mat, m: usize, n: usize, k: usize, c: &mut [f32], parallel: bool) {
    assert!(available(), "gemm_bf16: the CPU lacks AVX-512 BF16");
    assert!(
        super::mat::product_fits(a, b, m, n, k, c.len()),
        "gemm_bf16: operands shorter than their shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    let parallel = parallel && crate::device::num_threads() > 1 && m * n * k >= PARALLEL_WORK;
    if m <= FEW_ROWS && b.cs == 1 {
        return few_rows(a, b, m, n, k, c, parallel);
    }
    #[cfg(target_arch = "x86_64")]
    if m >= amx::MIN_ROWS && amx::usable() {
        return amx::gemm(a, b, m, n, k, c, parallel);
    }
    let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
    let kp_max = KC.min(k).div_ceil(2);
    let mut apack = vec![[0u32; MR]; mp * kp_max];
    let mut bpack = vec![[0u16; 2 * NR]; np * kp_max];
    // Tasks: rectangles of row panels × column panels, narrowed until there are enough of
    // them to keep every thread busy.
    let threads = if parallel { crate::device::num_threads() } else { 1 };
    let (tr, tc) = task_shape(mp, np, (TASK_ROW_PANELS, TASK_COL_PANELS), 4 * threads);
    let tasks: Vec<(usize, usize)> =
        (0..mp.div_ceil(tr)).flat_map(|r| (0..np.div_ceil(tc)).map(move |q| (r * tr, q * tc))).collect();
    let out = Out { ptr: c.as_mut_ptr(), ld: n };
    let mut k0 = 0;
    while k0 < k {
        let kc = KC.min(k - k0);
        let kp = kc.div_ceil(2);
        let accumulate = k0 > 0;
        let pack_a_panel =
            |(ip, dst): (usize, &mut [APair])| pack_a(a, ip * MR, MR.min(m - ip * MR), k0, kc, dst);
        let pack_b_panel =
            |(jp, dst): (usize, &mut [BPair])| pack_b(b, jp * NR, NR.min(n - jp * NR), k0, kc, dst);
        let (ap, bp) = (&mut apack[..mp * kp], &mut bpack[..np * kp]);
        if parallel {
            crate::device::install(|| {
                ap.par_chunks_mut(kp).enumerate().for_each(pack_a_panel);
                bp.par_chunks_mut(kp).enumerate().for_each(pack_b_panel);
            });
        } else {
            ap.chunks_mut(kp).enumerate().for_each(pack_a_panel);
            bp.chunks_mut(kp).enumerate().for_each(pack_b_panel);
        }
        let (ap, bp) = (&*ap, &*bp);
        let run_task = |&(r0, q0): &(usize, usize)| {
            for jp in q0..(q0 + tc).min(np) {
                let (j, cols) = (jp * NR, NR.min(n - jp * NR));
                for ip in r0..(r0 + tr).min(mp) {
                    let (i, rows) = (ip * MR, MR.min(m - ip * MR));
                    // SAFETY: the tile `i..i + rows` × `j..j + cols` lies inside the `m × n`
                    // matrix `c` (asserted long enough above); tasks cover disjoint sets of
                    // (row panel, column panel) tiles, so no two threads write one element,
                    // and `c` is borrowed mutably for the whole call.
                    unsafe {
                        let dst = out.at(i, j);
                        tile(&ap[ip * kp..][..kp], &bp[jp * kp..][..kp], dst, out.ld, rows, cols, accumulate)
                    };
                }
            }
        };
        if parallel {
            crate::device::install(|| tasks.par_iter().for_each(run_task));
        } else {
            tasks.iter().for_each(run_task);
        }
        k0 += kc;
    }
}

/// Up to this many rows of `a` go through the kernel that reads `b` once without packing it.
const FEW_ROWS: usize = 4;

/// Rows of `b` per task of [`few_rows`].
const FEW_ROWS_CHUNK: usize = 64;

/// [`gemm_bf16`] for `m ≤ FEW_ROWS` and row-major `b`: each task streams a run of whole
/// rows of `b` through registers once, in memory order, into partial sums of its own, which
/// are added up at the end (packing `b` would write and read all of it once more, and column
/// blocks cut every row into pieces a page apart: 11 GB/s for 1×4096×4096). The tasks are
/// shared by the decode team inside a forward pass.
fn few_rows(a: Mat, b: Mat, m: usize, n: usize, k: usize, c: &mut [f32], parallel: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        use x86_64::avx512bf16::rows_axpy;
        // The rows of `a`, widened (they are few).
        let mut x = vec![0f32; m * k];
        for (i, row) in x.chunks_mut(k).enumerate() {
            for (t, v) in row.iter_mut().enumerate() {
                *v = half::bf16::from_bits(a.at(i, t)).to_f32();
            }
        }
        let chunks = if parallel { k.div_ceil(FEW_ROWS_CHUNK) } else { 1 };
        let per = k.div_ceil(chunks);
        let mut parts = vec![0f32; chunks * m * n];
        let tasks: Vec<(usize, &mut [f32])> = parts.chunks_mut(m * n).enumerate().collect();
        let run = |(q, part): (usize, &mut [f32])| {
            let (t0, kt) = (q * per, per.min(k - q * per));
            let (x, bt) = (&x[t0..], &b.data[t0 * b.rs..]);
            // SAFETY: `available` (asserted by the caller) checked the CPU features.
            unsafe {
                match m {
                    1 => rows_axpy::<1>(x, k, kt, bt, b.rs, n, part),
                    2 => rows_axpy::<2>(x, k, kt, bt, b.rs, n, part),
                    3 => rows_axpy::<3>(x, k, kt, bt, b.rs, n, part),
                    _ => rows_axpy::<4>(x, k, kt, bt, b.rs, n, part),
                }
            }
        };
        if parallel {
            super::team::for_each(tasks, run);
        } else {
            tasks.into_iter().for_each(run);
        }
        let c = &mut c[..m * n];
        c.copy_from_slice(&parts[..m * n]);
        for part in parts.chunks(m * n).skip(1) {
            for (o, p) in c.iter_mut().zip(part) {
                *o += p;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, m, n, k, c, parallel);
        unreachable!("gemm_bf16 is only available on x86_64")
    }
}

/// One register tile through the AVX-512 BF16 kernel.
///
/// # Safety
/// `c` must be valid for writes of `rows` rows of `cols` f32 at stride `ldc`, with no other
/// thread accessing them, and [`available`] must be true.
unsafe fn tile(
    ap: &[APair],
    bp: &[BPair],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: forwarded from the caller; the CPU features are `available`'s.
        unsafe { x86_64::avx512bf16::tile(ap, bp, c, ldc, rows, cols, accumulate) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (ap, bp, c, ldc, rows, cols, accumulate);
        unreachable!("gemm_bf16 is only available on x86_64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{check_product_layouts, normals};
    use crate::device::Xoshiro256;
    use half::bf16;

    fn bits(v: &[f32]) -> Vec<u16> {
        v.iter().map(|&x| bf16::from_f32(x).to_bits()).collect()
    }

    fn widen(x: u16) -> f32 {
        bf16::from_bits(x).to_f32()
    }

    #[test]
    fn tile_matches_scalar_twin() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 on this CPU");
            return;
        }
        let mut rng = Xoshiro256::seed_from_u64(7);
        for kp in [1usize, 2, 5, 64, 257] {
            let av = bits(&normals(&mut rng, kp * 2 * MR, 1.0));
            let bv = bits(&normals(&mut rng, kp * 2 * NR, 3.0));
            let ap: Vec<APair> = (0..kp)
                .map(|p| {
                    std::array::from_fn(|i| {
                        av[(p * MR + i) * 2] as u32 | (av[(p * MR + i) * 2 + 1] as u32) << 16
                    })
                })
                .collect();
            let bp: Vec<BPair> = (0..kp).map(|p| std::array::from_fn(|e| bv[p * 2 * NR + e])).collect();
            for (rows, cols) in [(MR, NR), (1, 1), (5, 17), (MR, 3), (7, NR)] {
                for accumulate in [false, true] {
                    let init = normals(&mut rng, MR * NR, 1.0);
                    let (mut got, mut want) = (init.clone(), init.clone());
                    // SAFETY: `got` holds MR × NR f32 at stride NR, owned here.
                    unsafe { tile(&ap, &bp, got.as_mut_ptr(), NR, rows, cols, accumulate) };
                    scalar::tile(&ap, &bp, &mut want, NR, rows, cols, accumulate);
                    for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                        let scale: f32 = (0..kp)
                            .map(|p| {
                                let (i, j) = (e / NR, e % NR);
                                if i >= MR {
                                    return 0.0;
                                }
                                let a = ap[p][i];
                                (widen(a as u16) * widen(bp[p][2 * j])).abs()
                                    + (widen((a >> 16) as u16) * widen(bp[p][2 * j + 1])).abs()
                            })
                            .sum();
                        let tol = 2.0 * (2 * kp) as f32 * f32::EPSILON * (scale + w.abs()) + 1e-30;
                        assert!(
                            (g - w).abs() <= tol,
                            "kp {kp} tile {rows}x{cols} acc {accumulate} at {e}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn task_shape_narrows_columns_first_until_enough_tasks() {
        assert_eq!(task_shape(100, 100, (8, 16), 8), (8, 16));
        assert_eq!(task_shape(8, 8, (8, 8), 4), (8, 2));
        assert_eq!(task_shape(2, 1, (8, 8), 4), (1, 1));
        assert_eq!(task_shape(4, 1, (8, 8), 2), (2, 1));
    }

    #[test]
    fn vector_packer_matches_portable_one() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 on this CPU");
            return;
        }
        let mut rng = Xoshiro256::seed_from_u64(3);
        let (rows, ld) = (9, 70);
        let data = bits(&normals(&mut rng, rows * ld, 1.0));
        let b = Mat { data: &data, rs: ld, cs: 1 };
        for (j0, cols) in [(0, NR), (5, NR), (38, NR), (40, 30), (69, 1)] {
            for (k0, kc) in [(0usize, 9usize), (1, 8), (3, 5), (8, 1)] {
                let kp = kc.div_ceil(2);
                let (mut got, mut want) = (vec![[7u16; 2 * NR]; kp], vec![[9u16; 2 * NR]; kp]);
                pack_b(b, j0, cols, k0, kc, &mut got);
                pack_b_strided(b, j0, cols, k0, kc, &mut want);
                assert_eq!(got, want, "cols {j0}+{cols}, k {k0}+{kc}");
            }
        }
        // Transposed (`W.t()`): 40 columns of 70 elements, each a row of `W` at stride 75.
        let (n, k, ldw) = (40usize, 70usize, 75usize);
        let w = bits(&normals(&mut rng, n * ldw, 1.0));
        let bt = Mat { data: &w, rs: 1, cs: ldw };
        for (j0, cols) in [(0, NR), (8, NR), (0, 9), (3, 6), (39, 1), (20, 20)] {
            for (k0, kc) in [(0usize, k), (1, k - 1), (3, 5), (68, 2), (69, 1), (0, 64)] {
                let kp = kc.div_ceil(2);
                let (mut got, mut want) = (vec![[7u16; 2 * NR]; kp], vec![[9u16; 2 * NR]; kp]);
                pack_b(bt, j0, cols, k0, kc, &mut got);
                pack_b_strided(bt, j0, cols, k0, kc, &mut want);
                assert_eq!(got, want, "transposed: cols {j0}+{cols}, k {k0}+{kc}");
            }
        }
    }

    #[test]
    fn products_match_a_plain_loop_for_every_layout_and_edge() {
        if !available() {
            eprintln!("skipped: no AVX-512 BF16 on this CPU");
            return;
        }
        // Edges of every kind: one row/column, odd k, k across blocks, partial tiles, both
        // operands transposed, strides wider than the matrix, and a product large enough to
        // run in parallel tasks.
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (4, 130, 301),
            (2, 64, 5),
            (1, 200, 1030),
            (13, 33, 2),
            (12, 32, 513),
            (25, 70, 1100),
            (100, 300, 64),
            (130, 97, 600),
        ];
        check_product_layouts("gemm_bf16", 11, &shapes, bits, widen, |a, b, m, n, k| {
            let mut got = vec![f32::NAN; m * n];
            gemm_bf16(a, b, m, n, k, &mut got, true);
            got
        });
    }

    #[test]
    #[should_panic(expected = "shorter than their shapes")]
    fn refuses_short_operands() {
        if !available() {
            panic!("shorter than their shapes (skipped: no AVX-512 BF16)");
        }
        let d = [0u16; 6];
        let mut c = [0f32; 4];
        gemm_bf16(Mat { data: &d, rs: 4, cs: 1 }, Mat { data: &d, rs: 2, cs: 1 }, 2, 2, 4, &mut c, false);
    }
}
