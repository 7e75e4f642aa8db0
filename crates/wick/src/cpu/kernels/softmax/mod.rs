//! Softmax and log-softmax over the rows of a contiguous f32 matrix, fused into three passes
//! per row: the max, `e^(x − max)` (stored) and its sum, then the scaling.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, fill_nan_from, Isa};
use std::mem::MaybeUninit;

/// Softmax (or, with `log`, log-softmax) of each `dim`-long row of `x` into `out`, which
/// may be uninitialized memory: every element of `out` is written, those past the whole
/// rows of `x` and `out` with NaN.
pub(crate) fn softmax(x: &[f32], out: &mut [MaybeUninit<f32>], dim: usize, log: bool) {
    let rows = x.len().min(out.len()).checked_div(dim).unwrap_or(0);
    let isa = Isa::selected();
    if rows > 0 {
        let (x, o) = (&x[..rows * dim], &mut out[..rows * dim]);
        dispatch!(isa, softmax(x, o, dim, log))
    }
    fill_nan_from(out, rows * dim);
}

/// The row kernel with a given instruction set, into initialized memory; rows past
/// `min(x.len(), out.len())` are left alone.
#[cfg(test)]
pub(crate) fn softmax_with(isa: Isa, x: &[f32], out: &mut [f32], dim: usize, log: bool) {
    if dim == 0 {
        return;
    }
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, softmax(x, out, dim, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths};

    /// Compares every instruction set with the scalar twin on two rows of every test length,
    /// rows with specials included: NaN-ness must agree exactly, values to within
    /// `$rtol·|scalar| + $atol`.
    macro_rules! softmax_test {
        ($name:ident, $log:expr, $rtol:expr, $atol:expr) => {
            #[test]
            fn $name() {
                each_isa(stringify!($name), |isa| {
                    for dim in lengths().into_iter().filter(|&d| d > 0) {
                        for (seed, scale) in [(dim as u64, 3.0), (dim as u64 + 7, 30.0)] {
                            let x = inputs(2 * dim, seed, scale);
                            let mut want = vec![0.0; x.len()];
                            let mut got = vec![0.0; x.len()];
                            softmax_with(Isa::Scalar, &x, &mut want, dim, $log);
                            softmax_with(isa, &x, &mut got, dim, $log);
                            for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
                                let ok = if e.is_nan() {
                                    g.is_nan()
                                } else {
                                    g == e || (g - e).abs() <= $rtol * e.abs() + $atol
                                };
                                assert!(
                                    ok,
                                    "{} {} dim {dim} [{i}]: {g:e} vs scalar {e:e}",
                                    isa.name(),
                                    stringify!($name)
                                );
                            }
                        }
                    }
                });
            }
        };
    }

    // Softmax: exp within 2 ulp in each, sums in a different order (≲ 1e-6 relative at these
    // lengths), one product: 4e-6 relative.
    softmax_test!(softmax_matches_twin, false, 4e-6, 1e-30);
    // Log-softmax: `(x − max) − ln Σ`, the log of a sum that differs by ≲ 1e-6 relative:
    // 1e-6 absolute plus 1 ulp of the result.
    softmax_test!(log_softmax_matches_twin, true, 2e-7, 1e-6);

    #[test]
    fn rows_sum_to_one_and_match_f64() {
        each_isa("rows_sum_to_one_and_match_f64", |isa| {
            for dim in [1, 7, 16, 33, 768, 32000] {
                let x = inputs(dim, dim as u64, 5.0)
                    .into_iter()
                    .map(|v| if v.is_finite() { v.clamp(-50.0, 50.0) } else { 0.0 })
                    .collect::<Vec<f32>>();
                let mut out = vec![0.0; dim];
                softmax_with(isa, &x, &mut out, dim, false);
                let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let s: f64 = x.iter().map(|&v| (v as f64 - m).exp()).sum();
                for (&o, &v) in out.iter().zip(&x) {
                    let want = (v as f64 - m).exp() / s;
                    assert!((o as f64 - want).abs() <= 1e-5 * want + 1e-12, "{o} vs {want}");
                }
                let total: f64 = out.iter().map(|&v| v as f64).sum();
                assert!((total - 1.0).abs() < 1e-5, "{} dim {dim}: sum {total}", isa.name());
            }
        });
    }

    /// The entry point writes every slot of an output that starts uninitialized: whole rows
    /// as the selected row kernel does, the ragged tail (everything, for `dim` 0) as NaN.
    #[test]
    fn entry_point_writes_every_slot() {
        let (dim, n) = (37, 3 * 37 + 5);
        let x = inputs(n, 3, 4.0);
        let bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|x| x.to_bits()).collect() };
        let read = |o: &[MaybeUninit<f32>]| -> Vec<f32> {
            // SAFETY: the entry point writes every slot (what this test checks: a slot left
            // unwritten would read as the 7.5 it was created with).
            o.iter().map(|v| unsafe { v.assume_init() }).collect()
        };
        for log in [false, true] {
            let mut out = vec![MaybeUninit::new(7.5f32); n];
            softmax(&x, &mut out, dim, log);
            let mut want = vec![0.0; n];
            softmax_with(Isa::selected(), &x, &mut want, dim, log);
            let got = read(&out);
            assert_eq!(bits(&got[..3 * dim]), bits(&want[..3 * dim]), "log {log}");
            assert!(got[3 * dim..].iter().all(|v| v.is_nan()), "log {log}");
            let mut out = vec![MaybeUninit::new(7.5f32); n];
            softmax(&x, &mut out, 0, log);
            assert!(read(&out).iter().all(|v| v.is_nan()));
        }
    }
}
