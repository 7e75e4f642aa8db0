//! Shared inputs and comparisons for the kernel twin tests.

use super::Isa;
use crate::device::Xoshiro256;

/// Lengths every family is tried on: empty, single, around each vector width and unroll
/// factor (8, 16, 64), and long ones with odd tails.
pub(crate) fn lengths() -> Vec<usize> {
    let mut v =
        vec![0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 127, 129, 1001, 1031, 4099];
    let mut rng = Xoshiro256::seed_from_u64(99);
    v.extend((0..6).map(|_| (rng.next_u64() % 3000) as usize));
    v
}

/// Values that break careless kernels: signed zeros, infinities, NaNs, subnormals, the
/// exponential's overflow and underflow edges, large magnitudes.
pub(crate) fn specials() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7FC0_1234),
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        -1e-40,
        f32::from_bits(1),
        -f32::from_bits(1),
        1e-20,
        -1e-7,
        88.72283,
        88.72284,
        88.7,
        88.8,
        -87.3,
        -87.4,
        -103.0,
        -103.97,
        -103.98,
        -104.0,
        100.0,
        -100.0,
        1e30,
        -1e30,
        f32::MAX,
        f32::MIN,
        0.5,
        -0.5,
        0.625,
        -0.625,
        0.6249,
        1.0,
        -1.0,
        std::f32::consts::SQRT_2,
        -std::f32::consts::SQRT_2,
        9.0,
        -9.0,
        20.0,
        -20.0,
    ];
    v.extend((1..8).map(|k| k as f32 * std::f32::consts::LN_2 / 2.0)); // rounding ties of n
    v
}

/// `len` values: mostly `N(0, scale²)`, about one in eight a special value.
pub(crate) fn inputs(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = Xoshiro256::seed_from_u64(seed);
    let sp = specials();
    let mut normal = vec![0.0f64; len];
    rng.fill_normal(&mut normal);
    normal
        .into_iter()
        .map(|z| {
            if rng.next_u64().is_multiple_of(8) {
                sp[(rng.next_u64() % sp.len() as u64) as usize]
            } else {
                z as f32 * scale
            }
        })
        .collect()
}

/// Distance in units in the last place; +0 and −0 are the same point, NaN is far from all
/// numbers and at distance 0 from NaN.
pub(crate) fn ulps(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => return 0,
        (true, false) | (false, true) => return u64::MAX,
        _ => {}
    }
    let ord = |x: f32| {
        let b = x.to_bits() as i32 as i64;
        if b < 0 {
            i32::MIN as i64 - b
        } else {
            b
        }
    };
    (ord(a) - ord(b)).unsigned_abs()
}

/// Runs `f` for every instruction set this CPU has, reporting the ones it skips.
pub(crate) fn each_isa(test: &str, mut f: impl FnMut(Isa)) {
    for isa in Isa::ALL {
        if isa.available() {
            f(isa);
        } else {
            eprintln!("{test}: skipping {} (this CPU lacks it)", isa.name());
        }
    }
}

/// `len` samples of `N(0, scale²)` as f32.
pub(crate) fn normals(rng: &mut Xoshiro256, len: usize, scale: f64) -> Vec<f32> {
    let mut v = vec![0f64; len];
    rng.fill_normal(&mut v);
    v.into_iter().map(|x| (x * scale) as f32).collect()
}

/// Checks a matrix product `run(a, b, m, n, k)` (row-major `m × n` f32 result) against a plain
/// triple loop in f64 over `widen`ed elements, for every shape and every layout: each operand
/// row-major or transposed, with rows 3 elements wider than the matrix. The bound per output
/// is an f32 sum's rounding error, `k · 2⁻²³ · Σ|a·b|`, doubled for the two orders.
pub(crate) fn check_product_layouts<T: Copy>(
    label: &str,
    seed: u64,
    shapes: &[(usize, usize, usize)],
    narrow: impl Fn(&[f32]) -> Vec<T>,
    widen: impl Fn(T) -> f32,
    mut run: impl FnMut(super::mat::Mat<T>, super::mat::Mat<T>, usize, usize, usize) -> Vec<f32>,
) {
    use super::mat::Mat;
    let mut rng = Xoshiro256::seed_from_u64(seed);
    let pad = 3;
    for &(m, n, k) in shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let av = narrow(&normals(&mut rng, (m + pad) * (k + pad), 1.0));
            let bv = narrow(&normals(&mut rng, (k + pad) * (n + pad), 10.0));
            let a = if ta {
                Mat { data: &av, rs: 1, cs: m + pad }
            } else {
                Mat { data: &av, rs: k + pad, cs: 1 }
            };
            let b = if tb {
                Mat { data: &bv, rs: 1, cs: k + pad }
            } else {
                Mat { data: &bv, rs: n + pad, cs: 1 }
            };
            let got = run(a, b, m, n, k);
            for i in 0..m {
                for j in 0..n {
                    let (mut want, mut tol) = (0f64, 0f64);
                    for t in 0..k {
                        let p = widen(a.at(i, t)) as f64 * widen(b.at(t, j)) as f64;
                        want += p;
                        tol += p.abs();
                    }
                    let tol = tol * 2.0 * k as f64 * f32::EPSILON as f64 + 1e-30;
                    let g = got[i * n + j];
                    assert!(
                        (g as f64 - want).abs() <= tol,
                        "{label} {m}x{n}x{k} ta {ta} tb {tb} at ({i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
    }
}
