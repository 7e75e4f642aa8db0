//! Sum, max and min of contiguous f32 rows.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};

/// Sum of `x` (0 when empty).
pub(crate) fn sum(x: &[f32]) -> f32 {
    sum_with(Isa::selected(), x)
}

/// Largest element of `x`: NaN if any is NaN, −inf when empty.
pub(crate) fn max(x: &[f32]) -> f32 {
    max_with(Isa::selected(), x)
}

/// Smallest element of `x`: NaN if any is NaN, +inf when empty.
pub(crate) fn min(x: &[f32]) -> f32 {
    min_with(Isa::selected(), x)
}

/// [`sum`] with a given instruction set.
pub(crate) fn sum_with(isa: Isa, x: &[f32]) -> f32 {
    dispatch!(isa, sum(x))
}

/// [`max`] with a given instruction set.
pub(crate) fn max_with(isa: Isa, x: &[f32]) -> f32 {
    dispatch!(isa, max(x))
}

/// [`min`] with a given instruction set.
pub(crate) fn min_with(isa: Isa, x: &[f32]) -> f32 {
    dispatch!(isa, min(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths, specials};

    /// Runs `$check(isa, x)` for every instruction set on every test length, on finite
    /// values alone and with specials mixed in.
    macro_rules! reduce_test {
        ($name:ident, $check:expr) => {
            #[test]
            fn $name() {
                each_isa(stringify!($name), |isa| {
                    for n in lengths() {
                        let finite: Vec<f32> = inputs(n, n as u64 + 1, 1e3)
                            .into_iter()
                            .map(|v| if v.is_finite() && v.abs() < 1e6 { v } else { 1.5 })
                            .collect();
                        $check(isa, &finite);
                        $check(isa, &inputs(n, n as u64 + 2, 10.0));
                    }
                    $check(isa, &specials());
                });
            }
        };
    }

    // Sum: the summation order differs (4·lanes partial sums vs 8), so the twins agree to
    // within n·ε·Σ|x| (the worst-case bound of either order, n the length); both are exact
    // on NaN-ness and infinities.
    reduce_test!(sum_matches_twin, |isa, x: &[f32]| {
        let (got, want) = (sum_with(isa, x), sum_with(Isa::Scalar, x));
        let abs_sum: f64 = x.iter().map(|v| v.abs() as f64).sum();
        let bound = x.len() as f64 * f32::EPSILON as f64 * abs_sum;
        let has_nan = x.iter().any(|v| v.is_nan());
        // Finite values near f32::MAX overflow or not depending on the order: only NaN-ness
        // is compared then.
        let has_huge = x.iter().any(|v| v.is_finite() && v.abs() > 1e37);
        let ok = if has_nan {
            got.is_nan() && want.is_nan()
        } else if has_huge {
            true
        } else if want.is_finite() {
            (got as f64 - want as f64).abs() <= bound
        } else {
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
        };
        assert!(ok, "{} sum of {} values: {got} vs scalar {want}", isa.name(), x.len());
    });

    // Max and min are exact: same value, and NaN whenever the input holds a NaN.
    reduce_test!(max_min_match_twin, |isa, x: &[f32]| {
        for (got, want) in
            [(max_with(isa, x), max_with(Isa::Scalar, x)), (min_with(isa, x), min_with(Isa::Scalar, x))]
        {
            let ok = got == want || (got.is_nan() && want.is_nan());
            assert!(ok, "{} max/min of {} values: {got} vs scalar {want}", isa.name(), x.len());
        }
        let has_nan = x.iter().any(|v| v.is_nan());
        assert_eq!(max_with(isa, x).is_nan(), has_nan);
    });

    #[test]
    fn empty_rows() {
        each_isa("empty_rows", |isa| {
            assert_eq!(sum_with(isa, &[]), 0.0);
            assert_eq!(max_with(isa, &[]), f32::NEG_INFINITY);
            assert_eq!(min_with(isa, &[]), f32::INFINITY);
        });
    }
}
