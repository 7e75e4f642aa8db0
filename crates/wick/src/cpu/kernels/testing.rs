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
