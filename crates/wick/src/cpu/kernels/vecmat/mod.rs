//! `c = a · b` for an `a` of a few rows and a row-major `b` (a decode step through a weight
//! stored `[in, out]`, as GPT-2 keeps its projections): each row of `c` is a sum of rows of
//! `b` scaled by that row of `a`, so `b` streams from memory once, row after row.
//!
//! The kernel adds four scaled rows of `b` to one row of `c` per pass ([`add_rows4`]); the
//! driver splits the columns over the threads (every output keeps one summation order,
//! whatever the thread count) and walks `t` in steps of four.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::mat::Mat;
use super::{dispatch, team, Isa};
use std::mem::MaybeUninit;

/// Most rows of `a` [`suits`] takes: each further row re-reads the rows of `b` from cache,
/// and with more rows a packed product uses the FMA units better.
const MAX_ROWS: usize = 4;
/// Columns per parallel task, at least (a whole number of 64-byte lines per row of `b`).
const MIN_TASK_COLS: usize = 256;
/// Products with fewer multiply-adds than this run on the calling thread.
const PARALLEL_WORK: usize = 1 << 16;

/// Whether [`vecmat`] takes a product of `m` rows whose `b` has column stride `b_cs`.
pub(crate) fn suits(m: usize, b_cs: usize) -> bool {
    m <= MAX_ROWS && b_cs == 1
}

/// `c[j] += Σ_r coef[r] · rows[r][j]` for `j < c.len()`, the four products added in order
/// `r = 0..4`, each with one rounding (`mul_add`).
///
/// # Panics
/// If a row is shorter than `c`.
pub(crate) fn add_rows4(coef: [f32; 4], rows: [&[f32]; 4], c: &mut [f32]) {
    add_rows4_with(Isa::selected(), coef, rows, c)
}

/// [`add_rows4`] with a given instruction set.
pub(crate) fn add_rows4_with(isa: Isa, coef: [f32; 4], rows: [&[f32]; 4], c: &mut [f32]) {
    let n = c.len();
    assert!(rows.iter().all(|r| r.len() >= n), "add_rows4: a row is shorter than the {n} outputs");
    let rows = rows.map(|r| &r[..n]);
    dispatch!(isa, add_rows4(coef, rows, c))
}

/// `c[i·n + j] = Σ_t a(i, t) · b(t, j)` for `i < m ≤ 4`, `j < n`, `t < k`, with `b.cs == 1`
/// (every element of the row-major `c` written, so it may start uninitialized); columns split
/// over wick's threads when `parallel` and the product is large.
///
/// # Panics
/// If an operand or `c` is shorter than its shape, or `b.cs != 1`.
pub(crate) fn vecmat(
    a: Mat<f32>,
    b: Mat<f32>,
    m: usize,
    n: usize,
    k: usize,
    c: &mut [MaybeUninit<f32>],
    parallel: bool,
) {
    assert!(
        b.cs == 1 && super::mat::product_fits(a, b, m, n, k, c.len()),
        "vecmat: operands shorter than their shapes, or b's rows not contiguous"
    );
    let c = &mut c[..m * n];
    for e in c.iter_mut() {
        e.write(0.0);
    }
    // SAFETY: every element was initialized just above, and `MaybeUninit<f32>` has the layout
    // of `f32`.
    let c = unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) };
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let threads = if parallel && m * n * k >= PARALLEL_WORK { crate::device::num_threads() } else { 1 };
    let width = n.div_ceil(threads).next_multiple_of(16).max(MIN_TASK_COLS);
    let columns = |j0: usize, out: &mut [&mut [f32]]| {
        let w = out.first().map_or(0, |o| o.len());
        // Past the last row of `b` (the final pass when `k % 4 ≠ 0`), a zero row with
        // coefficient −0: `−0 · 0 = −0` leaves every sum as it is, −0, NaN and ±∞ included
        // (a real row there would turn an infinite element into NaN).
        let zeros = if k.is_multiple_of(4) { Vec::new() } else { vec![0f32; w] };
        let row = |t: usize| if t < k { &b.data[t * b.rs + j0..][..w] } else { &zeros[..] };
        for t in (0..k).step_by(4) {
            let rows = [row(t), row(t + 1), row(t + 2), row(t + 3)];
            for (i, o) in out.iter_mut().enumerate() {
                let coef: [f32; 4] = std::array::from_fn(|u| if t + u < k { a.at(i, t + u) } else { -0.0 });
                add_rows4(coef, rows, o);
            }
        }
    };
    // Task `q` owns columns `q·width..` of every row of `c`.
    let mut tasks: Vec<(usize, Vec<&mut [f32]>)> =
        (0..n.div_ceil(width)).map(|q| (q * width, Vec::with_capacity(m))).collect();
    for row in c.chunks_exact_mut(n) {
        for ((_, out), part) in tasks.iter_mut().zip(row.chunks_mut(width)) {
            out.push(part);
        }
    }
    if tasks.len() > 1 {
        team::for_each(tasks, |(j0, mut out)| columns(j0, &mut out));
    } else {
        tasks.into_iter().for_each(|(j0, mut out)| columns(j0, &mut out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::normals;
    use crate::device::Xoshiro256;

    #[test]
    fn simd_rows_match_scalar_twin_exactly() {
        let mut rng = Xoshiro256::seed_from_u64(3);
        for n in [0usize, 1, 7, 16, 17, 63, 64, 65, 200] {
            let rows: Vec<Vec<f32>> = (0..4).map(|_| normals(&mut rng, n + 5, 2.0)).collect();
            let coef = [0.5, -1.25, 3.0, f32::MIN_POSITIVE];
            let init = normals(&mut rng, n, 1.0);
            let mut want = init.clone();
            add_rows4_with(Isa::Scalar, coef, std::array::from_fn(|r| &rows[r][..]), &mut want);
            for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                let mut got = init.clone();
                add_rows4_with(isa, coef, std::array::from_fn(|r| &rows[r][..]), &mut got);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{isa:?} n {n}");
            }
        }
    }

    #[test]
    fn products_match_a_plain_loop() {
        let mut rng = Xoshiro256::seed_from_u64(4);
        // k not a multiple of 4, columns across several tasks, strided rows of a and b.
        for (m, n, k) in [(1, 1, 1), (1, 5, 3), (2, 300, 7), (4, 1000, 130), (3, 33, 64), (1, 4096, 70)] {
            let (lda, ldb) = (k + 3, n + 5);
            let av = normals(&mut rng, m * lda, 1.0);
            let bv = normals(&mut rng, k * ldb, 1.0);
            let (a, b) = (Mat { data: &av, rs: lda, cs: 1 }, Mat { data: &bv, rs: ldb, cs: 1 });
            for parallel in [false, true] {
                let mut got = vec![f32::NAN; m * n];
                // SAFETY: only f32 values are written through the view.
                vecmat(a, b, m, n, k, unsafe { crate::cpu::kernels::as_uninit(&mut got) }, parallel);
                for i in 0..m {
                    for j in 0..n {
                        let (mut want, mut tol) = (0f64, 0f64);
                        for t in 0..k {
                            let p = a.at(i, t) as f64 * b.at(t, j) as f64;
                            want += p;
                            tol += p.abs();
                        }
                        let tol = tol * 2.0 * k as f64 * f32::EPSILON as f64 + 1e-30;
                        let g = got[i * n + j] as f64;
                        assert!((g - want).abs() <= tol, "{m}x{n}x{k} at ({i}, {j}): {g} vs {want}");
                    }
                }
            }
        }
        // An infinity in the last row of `b` with `k % 4 ≠ 0`: the padding of the final pass
        // must not turn it into NaN.
        let (av, mut bv) = (vec![1f32; 5], vec![1f32; 5 * 3]);
        bv[4 * 3 + 1] = f32::INFINITY;
        let mut got = [MaybeUninit::uninit(); 3];
        vecmat(Mat { data: &av, rs: 5, cs: 1 }, Mat { data: &bv, rs: 3, cs: 1 }, 1, 3, 5, &mut got, false);
        // SAFETY: `vecmat` wrote every element.
        let got = got.map(|e| unsafe { e.assume_init() });
        assert_eq!(got, [5.0, f32::INFINITY, 5.0]);
        let short = std::panic::catch_unwind(|| {
            let d = [0f32; 6];
            let mut c = [MaybeUninit::uninit(); 3];
            vecmat(Mat { data: &d, rs: 3, cs: 1 }, Mat { data: &d, rs: 3, cs: 1 }, 1, 3, 3, &mut c, false)
        });
        assert!(short.is_err(), "a 3x3 rhs in 6 elements must be refused");
    }
}
