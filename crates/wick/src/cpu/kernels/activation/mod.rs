//! Elementwise activations on f32 slices: `exp`, `sigmoid`, `silu`, `gelu` (tanh form),
//! `gelu_erf`, `tanh`, `erf`.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};

/// An elementwise function with a vector kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `e^x`.
    Exp,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `x · sigmoid(x)`.
    Silu,
    /// GELU, tanh approximation.
    Gelu,
    /// GELU with the exact erf.
    GeluErf,
    /// Hyperbolic tangent.
    Tanh,
    /// The error function.
    Erf,
}

/// `out[i] = act(x[i])` for `i < min(x.len(), out.len())`.
pub(crate) fn apply(act: Activation, x: &[f32], out: &mut [f32]) {
    apply_with(Isa::selected(), act, x, out)
}

/// [`apply`] into memory that may be uninitialized.
pub(crate) fn apply_uninit(act: Activation, x: &[f32], out: &mut [std::mem::MaybeUninit<f32>]) {
    let isa = Isa::selected();
    dispatch!(isa, apply(act, x, out))
}

/// [`apply`] with a given instruction set (the best one below it the CPU has).
pub(crate) fn apply_with(isa: Isa, act: Activation, x: &[f32], out: &mut [f32]) {
    // SAFETY: the kernels write only f32 values.
    let out = unsafe { super::as_uninit(out) };
    dispatch!(isa, apply(act, x, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths, specials, ulps};

    /// Checks every instruction set's `$act` against the f64 reference `$reference`, allowing
    /// `$ulps(x)` units in the last place of error; results whose reference lies below
    /// `$abs` in magnitude may instead be off by `$abs` absolutely. Prints the worst error.
    macro_rules! activation_test {
        ($name:ident, $act:expr, $reference:expr, $ulps:expr, $abs:expr) => {
            #[test]
            fn $name() {
                let reference: fn(f64) -> f64 = $reference;
                let allowed: fn(f64) -> f64 = $ulps;
                let abs: f64 = $abs;
                each_isa(stringify!($name), |isa| {
                    let mut worst = (0.0f64, 0.0f32);
                    let mut cases: Vec<Vec<f32>> =
                        lengths().into_iter().map(|n| inputs(n, n as u64, 4.0)).collect();
                    cases.push(specials());
                    cases.push(inputs(4099, 7, 30.0));
                    // A dense sweep of [-12, 12], where the interesting curvature is.
                    cases.push((0..24_001).map(|i| -12.0 + i as f32 * 1e-3).collect());
                    for x in &cases {
                        let mut out = vec![f32::NAN; x.len()];
                        apply_with(isa, $act, x, &mut out);
                        for (&xi, &got) in x.iter().zip(&out) {
                            let want = reference(xi as f64);
                            let err = ulps(got, want as f32);
                            let small_ok = want.abs() < abs && (got as f64 - want).abs() <= abs;
                            let ok = err == 0 || err as f64 <= allowed(xi as f64) || small_ok;
                            assert!(
                                ok,
                                "{} {}({xi:e}) = {got:e}, want {want:e} ({err} ulp)",
                                isa.name(),
                                stringify!($name)
                            );
                            if !small_ok && err as f64 > worst.0 {
                                worst = (err as f64, xi);
                            }
                        }
                    }
                    eprintln!(
                        "{} {}: worst {} ulp at x = {:e}",
                        stringify!($name),
                        isa.name(),
                        worst.0,
                        worst.1
                    );
                });
            }
        };
    }

    fn sigmoid64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// The tanh-GELU written as `x · sigmoid(2u)`, free of the cancellation of `1 + tanh(u)`.
    fn gelu64(x: f64) -> f64 {
        let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
        x * sigmoid64(2.0 * u)
    }

    // exp: ≤ 2 ulp everywhere, subnormal results included.
    activation_test!(exp, Activation::Exp, |x| x.exp(), |_| 2.0, 0.0);
    // sigmoid: ≤ 3 ulp (exp, one add, one division, one product).
    activation_test!(sigmoid, Activation::Sigmoid, sigmoid64, |_| 3.0, 0.0);
    // silu: ≤ 4 ulp; results below 1e-36 (x < −85, where e^x is subnormal and has lost
    // precision before the product with x) are compared absolutely, to 1e-36.
    activation_test!(silu, Activation::Silu, |x| x * sigmoid64(x), |_| 4.0, 1e-36);
    // gelu: ≤ 4 ulp plus the conditioning of e^-2u on the rounding of 2u (three roundings,
    // ≈ 1.5 ε relative, i.e. up to 3·|2u| ulp of the result); results below 1e-36
    // absolutely, as for silu.
    activation_test!(
        gelu,
        Activation::Gelu,
        gelu64,
        |x| 4.0 + 4.8 * (x * (1.0 + 0.044715 * x * x)).abs(),
        1e-36
    );
    // tanh: ≤ 3 ulp.
    activation_test!(tanh, Activation::Tanh, |x| x.tanh(), |_| 3.0, 0.0);
    // erf: absolute error ≤ 2e-7 (≈ 3 ulp near 1), relative ≤ 3 ulp for |x| < 1.
    activation_test!(erf, Activation::Erf, libm::erf, |x| if x.abs() < 1.0 { 3.0 } else { 4.0 }, 2e-7);
    // gelu_erf: ≤ 8 ulp (erfcc's own 1.2e-7, exp, the division for t), plus in the left tail
    // the conditioning of erfc's exponent −x²/2 + q(t) on its rounding: 2·x² ulp.
    activation_test!(
        gelu_erf,
        Activation::GeluErf,
        |x| 0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2),
        |x| 8.0 + if x < 0.0 { 2.0 * x * x } else { 0.0 },
        f32::MIN_POSITIVE as f64
    );

    #[test]
    fn erf_abs_error_below_2e_7() {
        // A dense sweep of [-6, 6] (erf is ±1 in f32 beyond) plus random inputs.
        let mut x: Vec<f32> = (0..1_200_001).map(|i| -6.0 + i as f32 * 1e-5).collect();
        x.extend(inputs(10_000, 17, 2.0));
        each_isa("erf_abs_error_below_2e_7", |isa| {
            let mut out = vec![0.0; x.len()];
            apply_with(isa, Activation::Erf, &x, &mut out);
            let worst = x
                .iter()
                .zip(&out)
                .filter(|(x, _)| !x.is_nan())
                .map(|(&x, &g)| ((g as f64 - libm::erf(x as f64)).abs(), x))
                .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
            eprintln!("erf {}: worst absolute error {:e} at x = {:e}", isa.name(), worst.0, worst.1);
            assert!(worst.0 <= 2e-7, "{}: erf error {:e} at {:e}", isa.name(), worst.0, worst.1);
        });
    }

    #[test]
    fn simd_matches_scalar_twin_closely() {
        // The variants compute one formula; FMA contraction is the only difference.
        let x = inputs(5001, 3, 6.0);
        for act in [Activation::Exp, Activation::Silu, Activation::Tanh, Activation::GeluErf] {
            let mut want = vec![0.0; x.len()];
            apply_with(Isa::Scalar, act, &x, &mut want);
            each_isa("simd_matches_scalar_twin_closely", |isa| {
                let mut got = vec![0.0; x.len()];
                apply_with(isa, act, &x, &mut got);
                for ((&xi, &g), &w) in x.iter().zip(&got).zip(&want) {
                    let close = ulps(g, w) <= 4 || (g - w).abs() <= 1e-7;
                    assert!(close, "{act:?} {}: x = {xi:e}: {g:e} vs scalar {w:e}", isa.name());
                }
            });
        }
    }
}
