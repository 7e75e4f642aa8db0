//! Scalar twins of the interleaved kernels: the same integer sums and the same f32 operations
//! in the same order (one fused multiply-add where the SIMD kernel has one), so results are
//! bit-identical.

use crate::quantized::interleaved::{Q4Kx16, Q4_0x16, Q8_0x16, ROWS};
use crate::quantized::{BlockQ8K, BlockQ8_0};

/// Calls `f(g, i)` for every group `g` of `w` and activation row `i`, with `kb` blocks a row.
fn each_pair(groups: usize, m: usize, mut f: impl FnMut(usize, usize)) {
    for g in 0..groups {
        for i in 0..m {
            f(g, i);
        }
    }
}

/// 32-element formats: `level(unit, r, e)` is the unsigned level of element `e` of row `r`,
/// `off` what it is offset by.
#[allow(clippy::too_many_arguments)]
fn gemm_legacy<U>(
    w: &[U],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    xs: &[i32],
    out: &mut [f32],
    ldo: usize,
    off: i32,
    scales: impl Fn(&U) -> [half::f16; ROWS],
    level: impl Fn(&U, usize, usize) -> i32,
) {
    if kb == 0 {
        return;
    }
    let (groups, m) = (w.len() / kb, x.len() / kb);
    each_pair(groups, m, |g, i| {
        let mut acc = [0f32; ROWS];
        for j in 0..kb {
            let (u, a) = (&w[g * kb + j], i * kb + j);
            let d = scales(u);
            for (r, acc) in acc.iter_mut().enumerate() {
                let dot: i32 = (0..32).map(|e| level(u, r, e) * i32::from(x[a].qs[e])).sum();
                let s = (dot - off * xs[a]) as f32;
                *acc = s.mul_add(d[r].to_f32() * xd[a], *acc);
            }
        }
        out[i * ldo + ROWS * g..][..ROWS].copy_from_slice(&acc);
    });
}

/// Q4_0 units × Q8_0 rows: `out[i·ldo + 16g + r]` = row `16g + r` · activation row `i`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_q4_0x16(
    w: &[Q4_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    let level = |u: &Q4_0x16, r: usize, e: usize| {
        let byte = u.qs[64 * (e % 16 / 4) + 4 * r + e % 4];
        i32::from(if e < 16 { byte & 0x0F } else { byte >> 4 })
    };
    gemm_legacy(w, kb, x, xd, xs, out, ldo, 8, |u| u.d, level);
}

/// Q8_0 units × Q8_0 rows, as [`gemm_q4_0x16`].
pub(crate) fn gemm_q8_0x16(
    w: &[Q8_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    let level = |u: &Q8_0x16, r: usize, e: usize| i32::from(u.qs[64 * (e / 4) + 4 * r + e % 4]);
    gemm_legacy(w, kb, x, xd, xs, out, ldo, 128, |u| u.d, level);
}

/// Q4_K units × Q8_K rows, as [`gemm_q4_0x16`]; `pairs` are the activation's 32-sums paired
/// as the kernel takes them.
pub(crate) fn gemm_q4kx16(
    w: &[Q4Kx16],
    kb: usize,
    x: &[BlockQ8K],
    pairs: &[[i32; 4]],
    out: &mut [f32],
    ldo: usize,
) {
    if kb == 0 {
        return;
    }
    let (groups, m) = (w.len() / kb, x.len() / kb);
    each_pair(groups, m, |g, i| {
        let mut acc = [0f32; ROWS];
        for j in 0..kb {
            let (u, a) = (&w[g * kb + j], &x[i * kb + j]);
            let p = pairs[i * kb + j];
            for (r, acc) in acc.iter_mut().enumerate() {
                let sdy = u.d[r].to_f32() * a.d;
                for s in 0..8 {
                    let (c, hi) = (s / 2, s % 2 == 1);
                    let dot: i32 = (0..32)
                        .map(|e| {
                            let byte = u.qs[64 * (8 * c + e / 4) + 4 * r + e % 4];
                            let q = if hi { byte >> 4 } else { byte & 0x0F };
                            i32::from(q) * i32::from(a.qs[64 * c + 32 * usize::from(hi) + e])
                        })
                        .sum();
                    let scale = f32::from(u.scales[16 * s + r]) * sdy;
                    *acc = (dot as f32).mul_add(scale, *acc);
                }
                let msum: i32 = (0..8)
                    .map(|s| {
                        let b = (p[s / 2] >> (16 * (s % 2))) as i16;
                        i32::from(u.mins[32 * (s / 2) + 2 * r + s % 2]) * i32::from(b)
                    })
                    .sum();
                *acc = (-(msum as f32)).mul_add(u.dmin[r].to_f32() * a.d, *acc);
            }
        }
        out[i * ldo + ROWS * g..][..ROWS].copy_from_slice(&acc);
    });
}
