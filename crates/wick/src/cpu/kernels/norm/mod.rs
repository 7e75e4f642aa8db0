//! Layer norm and RMS norm over the rows of a contiguous f32 matrix, fused: two passes over a
//! row for the statistics (sum, then squared deviations, accumulated in f32), one to
//! normalize, scale and shift.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, fill_nan_from, Isa};
use std::mem::MaybeUninit;

/// The whole rows of `w.len()` elements that `x` and `out` share (0 without `w`).
fn whole_rows(x: &[f32], out: &[MaybeUninit<f32>], w: &[f32]) -> usize {
    x.len().min(out.len()).checked_div(w.len()).unwrap_or(0) * w.len()
}

/// `out = (x − mean) / sqrt(var + eps) · w (+ b)` per row of `w.len()` elements (population
/// variance), into `out`, which may be uninitialized memory: every element of `out` is
/// written, those past the whole rows of `x` and `out` (all of them when `b` is not as long
/// as `w`) with NaN.
pub(crate) fn layer_norm(x: &[f32], w: &[f32], b: Option<&[f32]>, out: &mut [MaybeUninit<f32>], eps: f32) {
    let n = if b.is_some_and(|b| b.len() != w.len()) { 0 } else { whole_rows(x, out, w) };
    let isa = Isa::selected();
    if n > 0 {
        let (x, o) = (&x[..n], &mut out[..n]);
        dispatch!(isa, layer_norm(x, w, b, o, eps))
    }
    fill_nan_from(out, n);
}

/// `out = x / sqrt(mean(x²) + eps) · w` per row of `w.len()` elements, into `out` as
/// [`layer_norm`] does.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], out: &mut [MaybeUninit<f32>], eps: f32) {
    let n = whole_rows(x, out, w);
    let isa = Isa::selected();
    if n > 0 {
        let (x, o) = (&x[..n], &mut out[..n]);
        dispatch!(isa, rms_norm(x, w, o, eps))
    }
    fill_nan_from(out, n);
}

/// The layer-norm row kernel with a given instruction set, into initialized memory; rows past
/// `min(x.len(), out.len())` are left alone.
#[cfg(test)]
pub(crate) fn layer_norm_with(isa: Isa, x: &[f32], w: &[f32], b: Option<&[f32]>, out: &mut [f32], eps: f32) {
    if w.is_empty() || b.is_some_and(|b| b.len() != w.len()) {
        return;
    }
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, layer_norm(x, w, b, out, eps))
}

/// The RMS-norm row kernel with a given instruction set, into initialized memory.
#[cfg(test)]
pub(crate) fn rms_norm_with(isa: Isa, x: &[f32], w: &[f32], out: &mut [f32], eps: f32) {
    if w.is_empty() {
        return;
    }
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, rms_norm(x, w, out, eps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths};

    /// Runs `$kernel(isa, x, w, b, out)` for every instruction set and row length, three rows
    /// each (offset and scaled so the mean matters), and compares with the scalar twin:
    /// `|simd − scalar| ≤ 1e-5 · (|scalar| + 1)` — the statistics are summed in another order
    /// (relative difference ≲ n·ε), then multiplied by normalized values of size O(1..10).
    macro_rules! norm_test {
        ($name:ident, $kernel:expr) => {
            #[test]
            fn $name() {
                let kernel = $kernel;
                each_isa(stringify!($name), |isa| {
                    for dim in lengths().into_iter().filter(|&d| d > 0) {
                        let x: Vec<f32> = inputs(3 * dim, dim as u64, 3.0)
                            .into_iter()
                            .map(|v| if v.is_finite() && v.abs() < 1e3 { v + 5.0 } else { 0.25 })
                            .collect();
                        let w = inputs(dim, dim as u64 + 1, 1.0)
                            .into_iter()
                            .map(|v| if v.is_finite() && v.abs() < 1e3 { v } else { 1.0 })
                            .collect::<Vec<f32>>();
                        let b: Vec<f32> = w.iter().map(|v| v * 0.5 - 0.1).collect();
                        let mut want = vec![0.0; x.len()];
                        let mut got = vec![0.0; x.len()];
                        kernel(Isa::Scalar, &x, &w, &b, &mut want);
                        kernel(isa, &x, &w, &b, &mut got);
                        for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
                            let (r, c) = (i / dim, i % dim);
                            let xr = &x[r * dim..(r + 1) * dim];
                            let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / dim as f64;
                            let var = xr.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / dim as f64;
                            let r64 = (xr[c] as f64 - mean) / (var + 1e-5).sqrt() * w[c] as f64 + b[c] as f64;
                            assert!(
                                (g - e).abs() <= 1e-5 * (e.abs() + 1.0),
                                "{} {} dim {dim} [{i}]: {g} vs scalar {e} (f64 {r64})",
                                isa.name(),
                                stringify!($name)
                            );
                        }
                    }
                });
            }
        };
    }

    norm_test!(layer_norm_matches_twin, |isa, x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]| {
        layer_norm_with(isa, x, w, Some(b), out, 1e-5)
    });
    norm_test!(layer_norm_no_bias_matches_twin, |isa, x: &[f32], w: &[f32], _b: &[f32], out: &mut [f32]| {
        layer_norm_with(isa, x, w, None, out, 1e-5)
    });
    norm_test!(rms_norm_matches_twin, |isa, x: &[f32], w: &[f32], _b: &[f32], out: &mut [f32]| {
        rms_norm_with(isa, x, w, out, 1e-6)
    });

    #[test]
    fn scalar_twin_matches_f64() {
        // The twin itself against an f64 evaluation of the definition.
        let dim = 1001;
        let x: Vec<f32> = inputs(2 * dim, 5, 2.0)
            .into_iter()
            .map(|v| if v.is_finite() && v.abs() < 1e3 { v } else { 0.0 })
            .collect();
        let w: Vec<f32> = (0..dim).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
        let b: Vec<f32> = (0..dim).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut got = vec![0.0; x.len()];
        layer_norm_with(Isa::Scalar, &x, &w, Some(&b), &mut got, 1e-5);
        for (xr, gr) in x.chunks(dim).zip(got.chunks(dim)) {
            let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / dim as f64;
            let var = xr.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / dim as f64;
            for i in 0..dim {
                let want = (xr[i] as f64 - mean) / (var + 1e-5).sqrt() * w[i] as f64 + b[i] as f64;
                assert!((gr[i] as f64 - want).abs() <= 1e-5 * (want.abs() + 1.0), "{} vs {want}", gr[i]);
            }
        }
    }

    #[test]
    fn nan_and_inf_rows_give_nan() {
        each_isa("nan_and_inf_rows_give_nan", |isa| {
            for bad in [f32::NAN, f32::INFINITY] {
                let mut x = vec![1.0f32; 40];
                x[27] = bad;
                let w = vec![1.0f32; 20];
                let mut out = vec![0.0; 40];
                layer_norm_with(isa, &x, &w, None, &mut out, 1e-5);
                assert!(out[..20].iter().all(|v| v.is_finite()) && out[20..].iter().all(|v| v.is_nan()));
                rms_norm_with(isa, &x, &w, &mut out, 1e-5);
                assert!(out[..20].iter().all(|v| v.is_finite()));
                assert!(out[20..].iter().all(|v| v.is_nan() || *v == 0.0), "{}", isa.name());
            }
        });
    }

    /// The entry points write every slot of an output that starts uninitialized: whole rows
    /// as the selected row kernel does, the ragged tail (and everything, for a bias of the
    /// wrong length) as NaN.
    #[test]
    fn entry_points_write_every_slot() {
        let (dim, n) = (37, 3 * 37 + 5);
        let x = inputs(n, 3, 4.0);
        let w = inputs(dim, 4, 1.0);
        let b = inputs(dim, 5, 1.0);
        let bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|x| x.to_bits()).collect() };
        let read = |o: &[MaybeUninit<f32>]| -> Vec<f32> {
            // SAFETY: the entry points write every slot (what this test checks: a slot left
            // unwritten would read as the 7.5 it was created with).
            o.iter().map(|v| unsafe { v.assume_init() }).collect()
        };
        let fresh = || vec![MaybeUninit::new(7.5f32); n];
        let mut want = vec![0.0; n];
        let mut out = fresh();
        layer_norm(&x, &w, Some(&b), &mut out, 1e-5);
        layer_norm_with(Isa::selected(), &x, &w, Some(&b), &mut want, 1e-5);
        let got = read(&out);
        assert_eq!(bits(&got[..3 * dim]), bits(&want[..3 * dim]));
        assert!(got[3 * dim..].iter().all(|v| v.is_nan()));
        let mut out = fresh();
        rms_norm(&x, &w, &mut out, 1e-5);
        rms_norm_with(Isa::selected(), &x, &w, &mut want, 1e-5);
        let got = read(&out);
        assert_eq!(bits(&got[..3 * dim]), bits(&want[..3 * dim]));
        assert!(got[3 * dim..].iter().all(|v| v.is_nan()));
        let mut out = fresh();
        layer_norm(&x, &w, Some(&b[1..]), &mut out, 1e-5);
        assert!(read(&out).iter().all(|v| v.is_nan()));
        let mut out = fresh();
        rms_norm(&x, &[], &mut out, 1e-5);
        assert!(read(&out).iter().all(|v| v.is_nan()));
    }
}
