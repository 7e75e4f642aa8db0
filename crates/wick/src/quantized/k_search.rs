//! The scale searches of ggml's reference K-quant and IQ4 quantizers (`ggml-quants.c`):
//! for a small group of values, find a scale (and for the `_K` formats with a minimum, an
//! offset) and integer levels that minimise a weighted error, trying a few candidate scales
//! around the naive `max / nmax`.

// The loops index several parallel per-sub-block arrays (scales, minimums, levels) by the
// same sub-block number, as the format spec does; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::nearest_int;

/// Below this magnitude a group counts as all zeros.
pub(super) const GROUP_MAX_EPS: f32 = 1e-15;

/// Symmetric levels in `-nmax..nmax` (stored `+ nmax` in `levels`) for `x`, weighting each
/// squared error by `x²`, searching 18 scales around `-nmax / max` (ggml's
/// `make_qx_quants` with `rmse_type = 1`). Returns the scale.
pub(super) fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        x.iter().fold((0f32, 0f32), |(slx, sl2), &v| {
            let (w, l) = (v * v, level(iscale, v) as f32);
            (slx + w * v * l, sl2 + w * l * l)
        })
    };
    let mut iscale = -(nmax as f32) / max;
    let (sumlx, suml2) = sums(iscale);
    for (l, &v) in levels.iter_mut().zip(x) {
        *l = (level(iscale, v) + nmax) as i8;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (l, &v) in levels.iter_mut().zip(x) {
                *l = (level(iscale, v) + nmax) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Levels in `-nmax..nmax` (stored `+ nmax`) for Q3_K's sub-blocks: the naive scale, then up
/// to five rounds of moving single levels while that lowers the `x²`-weighted error (ggml's
/// `make_q3_quants` with `do_rmse`). Returns the scale.
pub(super) fn make_q3_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    let mut l = [0i32; 16];
    let n = x.len().min(16);
    for i in 0..n {
        l[i] = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        let w = x[i] * x[i];
        sumlx += w * x[i] * l[i] as f32;
        suml2 += w * (l[i] * l[i]) as f32;
    }
    for _ in 0..5 {
        let mut changed = 0;
        for i in 0..n {
            let w = x[i] * x[i];
            let mut slx = sumlx - w * x[i] * l[i] as f32;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * (l[i] * l[i]) as f32;
                let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l[i] {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * (new_l * new_l) as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed += 1;
                    }
                }
            }
        }
        if changed == 0 {
            break;
        }
    }
    for (dst, &v) in levels.iter_mut().zip(&l[..n]) {
        *dst = (v + nmax) as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Parameters of the scale-and-minimum search.
pub(super) struct Qkx2 {
    /// Largest level.
    pub nmax: i32,
    /// First candidate offset of the scale search.
    pub rmin: f32,
    /// Step between candidates.
    pub rdelta: f32,
    /// Number of steps.
    pub nstep: i32,
    /// Absolute rather than squared error.
    pub use_mad: bool,
}

/// Levels `0..=nmax` with `x ≈ scale · l − min` minimising the weighted error, searching
/// `nstep + 1` candidate scales and solving for scale and minimum by least squares at each
/// (ggml's `make_qkx2_quants`). Returns `(scale, min)` with `min ≥ 0`.
pub(super) fn make_qkx2_quants(p: &Qkx2, x: &[f32], weights: &[f32], levels: &mut [u8]) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let nmax = p.nmax as f32;
    let mut iscale = nmax / (max - min);
    let mut scale = 1.0 / iscale;
    let err = |d: f32, w: f32| if p.use_mad { w * d.abs() } else { w * (d * d) };
    let mut best_error = 0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, p.nmax);
        levels[i] = l as u8;
        best_error += err(scale * l as f32 + min - x[i], weights[i]);
    }
    let mut aux = [0u8; 32];
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmax) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, p.nmax);
            aux[i] = l as u8;
            let (w, l) = (weights[i], l as f32);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur: f32 =
                (0..n).map(|i| err(this_scale * aux[i] as f32 + this_min - x[i], weights[i])).sum();
            if cur < best_error {
                levels[..n].copy_from_slice(&aux[..n]);
                best_error = cur;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// IQ4's 16 non-linear levels (ggml's `kvalues_iq4nl`).
pub(crate) const IQ4_VALUES: [i8; 16] =
    [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Index of the level in the sorted `values` nearest to `x` (the lower one on ties).
pub(super) fn best_index(values: &[i8; 16], x: f32) -> u8 {
    if x <= f32::from(values[0]) {
        return 0;
    }
    if x >= f32::from(values[15]) {
        return 15;
    }
    let (mut lo, mut hi) = (0usize, 15usize);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if x < f32::from(values[mid]) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if x - f32::from(values[hi - 1]) < f32::from(values[hi]) - x {
        (hi - 1) as u8
    } else {
        hi as u8
    }
}

/// The IQ4 scale of one 32-value block with `x²` weights, trying `2·ntry + 1` scales around
/// `max / values[0]` (ggml's `quantize_row_iq4_nl_impl` inner search); `levels` gets the
/// indices for the first candidate. Returns the scale (0 for an all-zero block).
pub(super) fn iq4_block_scale(x: &[f32], levels: &mut [u8], ntry: i32) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let v0 = f32::from(IQ4_VALUES[0]);
    let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
    let mut id = 1.0 / d;
    let sums = |id: f32, levels: Option<&mut [u8]>| {
        let (mut sqx, mut sq2) = (0f32, 0f32);
        let mut levels = levels;
        for (j, &v) in x.iter().enumerate() {
            let l = best_index(&IQ4_VALUES, id * v);
            if let Some(ls) = levels.as_deref_mut() {
                ls[j] = l;
            }
            let q = f32::from(IQ4_VALUES[l as usize]);
            let w = v * v;
            sqx += w * q * v;
            sq2 += w * q * q;
        }
        (sqx, sq2)
    };
    let (sqx, sq2) = sums(id, Some(levels));
    d = if sq2 > 0.0 { sqx / sq2 } else { 0.0 };
    let mut best = d * sqx;
    for itry in -ntry..=ntry {
        id = (itry as f32 + v0) / max;
        let (sqx, sq2) = sums(id, None);
        if sq2 > 0.0 && sqx * sqx > best * sq2 {
            d = sqx / sq2;
            best = d * sqx;
        }
    }
    d
}
