//! The elementwise math of the kernels, one f32 at a time, with the constants the vector
//! versions share (`x86/math.rs` computes the same formulas lane-wise, with FMA).
//!
//! * `exp`: Cephes `expf` (S. L. Moshier): `e^x = 2^n · e^r` with `n = round(x·log2 e)`,
//!   `r = x − n·ln 2` in two parts, and a degree-5 polynomial for `e^r − 1 − r`. Within 2 ulp
//!   of the correctly rounded result, subnormal results included; `x > EXP_HI` gives +inf,
//!   `x < −103.97` gives 0, NaN stays NaN.
//! * `sigmoid`, `silu`, `gelu` (tanh form) are built on `e^−|x|`, which never overflows, so they
//!   keep their relative accuracy in both tails.
//! * `tanh`: Cephes `tanhf`, an odd polynomial below |x| = 0.625 and `1 − 2/(e^2|x| + 1)` above.
//! * `erf`: the Taylor series (11 terms) for |x| < 1, above `1 − erfc(|x|)` with erfc from the
//!   Chebyshev-fitted `erfcc` of Numerical Recipes (§6.2, relative error < 1.2e-7): absolute
//!   error ≤ 2e-7. `gelu_erf` uses erfc alone.

/// Above this (the largest f32 whose exponential is finite) `e^x` is +inf.
pub(crate) const EXP_HI: f32 = f32::from_bits(0x42B1_7217); // 88.722832
/// Inputs are clamped to this before reduction: `e^-104 < 2^-150`, so it rounds to 0, as does
/// the exponential of anything smaller.
pub(crate) const EXP_LO: f32 = -104.0;
/// log2(e).
pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split: `LN2_HI` has few mantissa bits, so `n · LN2_HI` is exact for |n| < 2^14.
pub(crate) const LN2_HI: f32 = 0.693_359_4; // 355/512 exactly
/// ln 2 − `LN2_HI`.
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` polynomial, highest degree first.
pub(crate) const EXP_P: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_6e-1, 0.5];

/// `2·sqrt(2/π)`: tanh-GELU is `x · sigmoid(2u)` with `u = sqrt(2/π)(x + 0.044715 x³)`.
pub(crate) const GELU_K: f32 = 1.595_769_2;
/// `2·sqrt(2/π)·0.044715`.
pub(crate) const GELU_K3: f32 = 0.071_354_814;

/// Below this |x|, tanh uses its odd polynomial.
pub(crate) const TANH_SMALL: f32 = 0.625;
/// Cephes `tanhf` polynomial in x², highest degree first.
pub(crate) const TANH_P: [f32; 5] =
    [-5.704_988_7e-3, 2.063_908_8e-2, -5.373_971_5e-2, 1.333_144_2e-1, -3.333_328e-1];

/// Taylor coefficients of erf(z)/z in z², highest degree first: `2/√π · (−1)^n / (n!(2n+1))`.
pub(crate) const ERF_T: [f32; 11] = [
    1.480_719_3e-8,
    -1.636_584_4e-7,
    1.646_211_4e-6,
    -1.492_565e-5,
    1.205_533_3e-4,
    -8.548_327e-4,
    5.223_978e-3,
    -2.686_617_2e-2,
    1.128_379_2e-1,
    -3.761_263_8e-1,
    std::f32::consts::FRAC_2_SQRT_PI,
];
/// Numerical Recipes `erfcc`: `erfc(z) = t·exp(−z² + Σ c_k t^k)`, `t = 1/(1 + z/2)`, highest
/// degree first.
pub(crate) const ERFC_C: [f32; 10] = [
    0.170_872_76,
    -0.822_152_26,
    1.488_515_9,
    -1.135_204,
    0.278_868_08,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_95,
    1.000_023_7,
    -1.265_512_2,
];

/// Horner's rule, coefficients highest degree first.
#[inline(always)]
fn poly(c: &[f32], x: f32) -> f32 {
    c.iter().fold(0.0, |acc, &k| acc * x + k)
}

/// Rounds to the nearest integer, ties to even, for |x| < 2^22 (adding 1.5·2^23 leaves no
/// fraction bits; SSE2 has no rounding instruction, so this beats a libm call).
#[inline(always)]
fn round_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// `y · 2^n` for n in [-252, 254], in two normal-float steps so only the last one rounds.
#[inline(always)]
fn ldexp(y: f32, n: i32) -> f32 {
    let n1 = n >> 1;
    let n2 = n - n1;
    let p = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    y * p(n1) * p(n2)
}

/// `e^x`.
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x + x;
    }
    if x > EXP_HI {
        return f32::INFINITY;
    }
    let x = if x < EXP_LO { EXP_LO } else { x };
    let n = round_even(x * LOG2E);
    let r = x - n * LN2_HI;
    let r = r - n * LN2_LO;
    let y = poly(&EXP_P, r) * (r * r) + r + 1.0;
    ldexp(y, n as i32)
}

/// `1 / (1 + e^-x)`.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x < 0.0 {
        e * r
    } else {
        r
    }
}

/// `x · sigmoid(x)`.
#[inline]
pub(crate) fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// GELU, tanh approximation: `0.5·x·(1 + tanh(u)) = x · sigmoid(2u)`.
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    x * sigmoid(x * (GELU_K + GELU_K3 * (x * x)))
}

/// Hyperbolic tangent.
#[inline]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    if a < TANH_SMALL {
        let z = x * x;
        poly(&TANH_P, z) * z * x + x
    } else {
        (1.0 - 2.0 / (exp(a + a) + 1.0)).copysign(x)
    }
}

/// erf(z) for |z| < 1, by its Taylor series.
#[inline(always)]
fn erf_small(z: f32) -> f32 {
    poly(&ERF_T, z * z) * z
}

/// erfc(z) for z ≥ 0 (relative error < 1.2e-7 in exact arithmetic).
#[inline(always)]
fn erfc_large(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    t * exp(poly(&ERFC_C, t) - z * z)
}

/// The error function.
#[inline]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    if a < 1.0 {
        erf_small(x)
    } else {
        (1.0 - erfc_large(a)).copysign(x)
    }
}

/// GELU with the exact erf, `0.5·x·(1 + erf(x/√2))`, computed as `x − x·erfc(z)/2` for
/// x > 0 and `x·erfc(z)/2` otherwise (z = |x|/√2): no cancellation on either side, so the
/// left tail keeps its relative accuracy.
#[inline]
pub(crate) fn gelu_erf(x: f32) -> f32 {
    let half_c = 0.5 * erfc_large(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x > 0.0 {
        x * (1.0 - half_c)
    } else {
        x * half_c
    }
}
