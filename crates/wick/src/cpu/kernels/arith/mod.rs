//! Elementwise `+ − × ÷` of two f32 slices, and of a slice and one scalar.
//!
//! IEEE arithmetic rounds each result once whatever the vector width, so every variant gives
//! the same bits as the scalar twin (NaN payloads aside).

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};
use std::mem::MaybeUninit;

/// One of the four basic operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arith {
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a × b`.
    Mul,
    /// `a ÷ b`.
    Div,
}

impl Arith {
    /// The operation on two scalars (the definition every kernel follows).
    #[inline(always)]
    pub(crate) fn f(self, a: f32, b: f32) -> f32 {
        match self {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
        }
    }
}

/// `out[i] = a[i] op b[i]` for `i < min(a.len(), b.len(), out.len())`, written into memory
/// that may be uninitialized.
pub(crate) fn zip(op: Arith, a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
    let isa = Isa::selected();
    dispatch!(isa, zip(op, a, b, out))
}

/// `out[i] = a[i] op b` (`scalar_rhs`) or `out[i] = b op a[i]` (otherwise), for
/// `i < min(a.len(), out.len())`, written into memory that may be uninitialized.
pub(crate) fn zip_scalar(op: Arith, a: &[f32], b: f32, scalar_rhs: bool, out: &mut [MaybeUninit<f32>]) {
    let isa = Isa::selected();
    dispatch!(isa, zip_scalar(op, a, b, scalar_rhs, out))
}

/// [`zip`] with a given instruction set, into initialized memory.
#[cfg(test)]
pub(crate) fn zip_with(isa: Isa, op: Arith, a: &[f32], b: &[f32], out: &mut [f32]) {
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, zip(op, a, b, out))
}

/// [`zip_scalar`] with a given instruction set, into initialized memory.
#[cfg(test)]
pub(crate) fn zip_scalar_with(isa: Isa, op: Arith, a: &[f32], b: f32, scalar_rhs: bool, out: &mut [f32]) {
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, zip_scalar(op, a, b, scalar_rhs, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths, specials};

    const OPS: [Arith; 4] = [Arith::Add, Arith::Sub, Arith::Mul, Arith::Div];

    /// The independent reference: the operation in f64, rounded once to f32. f64 carries more
    /// than twice f32's precision, so this double rounding is exact for `+ − × ÷`.
    fn reference(op: Arith, a: f32, b: f32) -> f32 {
        let (a, b) = (a as f64, b as f64);
        (match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
        }) as f32
    }

    fn same(got: f32, want: f32) -> bool {
        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
    }

    #[test]
    fn zip_is_exact_on_every_isa() {
        each_isa("zip_is_exact_on_every_isa", |isa| {
            let mut cases: Vec<(Vec<f32>, Vec<f32>)> = lengths()
                .into_iter()
                .map(|n| (inputs(n, n as u64, 10.0), inputs(n, n as u64 + 1000, 10.0)))
                .collect();
            // Every special against every special.
            let sp = specials();
            let a: Vec<f32> = sp.iter().flat_map(|&x| sp.iter().map(move |_| x)).collect();
            let b: Vec<f32> = sp.iter().flat_map(|_| sp.iter().copied()).collect();
            cases.push((a, b));
            for op in OPS {
                for (a, b) in &cases {
                    // One element more in `out` than in the inputs: it must stay untouched.
                    let mut out = vec![7.5f32; a.len() + 1];
                    zip_with(isa, op, a, b, &mut out);
                    for i in 0..a.len() {
                        let want = reference(op, a[i], b[i]);
                        assert!(
                            same(out[i], want),
                            "{} {op:?}({:e}, {:e}) = {:e}, want {want:e}",
                            isa.name(),
                            a[i],
                            b[i],
                            out[i]
                        );
                    }
                    assert_eq!(out[a.len()], 7.5, "{} {op:?} wrote past the end", isa.name());
                }
            }
        });
    }

    #[test]
    fn zip_scalar_is_exact_on_every_isa() {
        each_isa("zip_scalar_is_exact_on_every_isa", |isa| {
            for op in OPS {
                for n in lengths() {
                    let a = inputs(n, n as u64 + 5, 10.0);
                    for b in [1.5f32, -0.0, 3e-39, f32::INFINITY, f32::NAN] {
                        for rhs in [true, false] {
                            let mut out = vec![7.5f32; n + 1];
                            zip_scalar_with(isa, op, &a, b, rhs, &mut out);
                            for i in 0..n {
                                let want = if rhs { reference(op, a[i], b) } else { reference(op, b, a[i]) };
                                assert!(
                                    same(out[i], want),
                                    "{} {op:?} rhs={rhs} a={:e} b={b:e}: {:e}, want {want:e}",
                                    isa.name(),
                                    a[i],
                                    out[i]
                                );
                            }
                            assert_eq!(out[n], 7.5);
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn simd_matches_scalar_twin_bitwise() {
        let (a, b) = (inputs(4099, 11, 1e3), inputs(4099, 12, 1e-3));
        for op in OPS {
            let mut want = vec![0.0; a.len()];
            zip_with(Isa::Scalar, op, &a, &b, &mut want);
            each_isa("simd_matches_scalar_twin_bitwise", |isa| {
                let mut got = vec![0.0; a.len()];
                zip_with(isa, op, &a, &b, &mut got);
                assert!(got.iter().zip(&want).all(|(&g, &w)| same(g, w)), "{} {op:?}", isa.name());
            });
        }
    }
}
