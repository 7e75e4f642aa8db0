//! Dot products of quantized weight rows with quantized activation rows.
//!
//! SIMD variants (`x86_64.rs`) exist for every weight format with its activation format:
//! Q4_0, Q5_0, IQ4_NL, Q8_0 · Q8_0; Q4_1, Q5_1 · Q8_1; Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS,
//! Q8_K · Q8_K. Only Q8_1 · Q8_1 (Q8_1 is an activation format) has the scalar reference
//! (`scalar.rs`) alone. The AVX-512 variants need VNNI (`vpdpbusd`); a CPU with AVX-512 but
//! without it gets the AVX2 variants.

#[cfg(target_arch = "x86_64")]
mod avx512_tile;
pub(crate) mod interleaved;
pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::Isa;
use crate::quantized::{
    BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0,
    BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};

/// The variant family a quantized dot runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

#[cfg(target_arch = "x86_64")]
fn has_vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| is_x86_feature_detected!("avx512vnni"))
}

fn level(isa: Isa) -> Level {
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if has_vnni() => Level::Avx512Vnni,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => Level::Avx2,
        _ => Level::Scalar,
    }
}

/// Calls the variant of `$f` for an [`Isa`].
macro_rules! quant_dispatch {
    ($isa:expr, $f:ident ( $($arg:expr),* )) => {
        match level($isa) {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => {
                // SAFETY: `level` yields Avx512Vnni only when `Isa::resolve` found AVX-512
                // F/BW/VL/DQ (with AVX2, FMA, F16C) and the CPU reports AVX512-VNNI: every
                // feature the avx512 variants are compiled with.
                unsafe { x86_64::avx512::$f($($arg),*) }
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                // SAFETY: `level` yields Avx2 only when `Isa::resolve` found at least AVX2,
                // FMA and F16C, the features of the avx2 variants.
                unsafe { x86_64::avx2::$f($($arg),*) }
            }
            Level::Scalar => scalar::$f($($arg),*),
        }
    };
}

/// Q4_0 · Q8_0 with an instruction set.
pub(crate) fn dot_q4_0_q8_0_with(isa: Isa, a: &[BlockQ4_0], b: &[BlockQ8_0]) -> f32 {
    quant_dispatch!(isa, dot_q4_0_q8_0(a, b))
}

/// Q4_1 · Q8_1 with an instruction set.
pub(crate) fn dot_q4_1_q8_1_with(isa: Isa, a: &[BlockQ4_1], b: &[BlockQ8_1]) -> f32 {
    quant_dispatch!(isa, dot_q4_1_q8_1(a, b))
}

/// Q5_0 · Q8_0 with an instruction set.
pub(crate) fn dot_q5_0_q8_0_with(isa: Isa, a: &[BlockQ5_0], b: &[BlockQ8_0]) -> f32 {
    quant_dispatch!(isa, dot_q5_0_q8_0(a, b))
}

/// Q5_1 · Q8_1 with an instruction set.
pub(crate) fn dot_q5_1_q8_1_with(isa: Isa, a: &[BlockQ5_1], b: &[BlockQ8_1]) -> f32 {
    quant_dispatch!(isa, dot_q5_1_q8_1(a, b))
}

/// Q8_0 · Q8_0 with an instruction set.
pub(crate) fn dot_q8_0_q8_0_with(isa: Isa, a: &[BlockQ8_0], b: &[BlockQ8_0]) -> f32 {
    quant_dispatch!(isa, dot_q8_0_q8_0(a, b))
}

/// IQ4_NL · Q8_0 with an instruction set.
pub(crate) fn dot_iq4nl_q8_0_with(isa: Isa, a: &[BlockIQ4NL], b: &[BlockQ8_0]) -> f32 {
    quant_dispatch!(isa, dot_iq4nl_q8_0(a, b))
}

/// Q2_K · Q8_K with an instruction set.
pub(crate) fn dot_q2k_q8k_with(isa: Isa, a: &[BlockQ2K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q2k_q8k(a, b))
}

/// Q3_K · Q8_K with an instruction set.
pub(crate) fn dot_q3k_q8k_with(isa: Isa, a: &[BlockQ3K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q3k_q8k(a, b))
}

/// Q4_K · Q8_K with an instruction set.
pub(crate) fn dot_q4k_q8k_with(isa: Isa, a: &[BlockQ4K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q4k_q8k(a, b))
}

/// Q5_K · Q8_K with an instruction set.
pub(crate) fn dot_q5k_q8k_with(isa: Isa, a: &[BlockQ5K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q5k_q8k(a, b))
}

/// Q6_K · Q8_K with an instruction set.
pub(crate) fn dot_q6k_q8k_with(isa: Isa, a: &[BlockQ6K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q6k_q8k(a, b))
}

/// IQ4_XS · Q8_K with an instruction set.
pub(crate) fn dot_iq4xs_q8k_with(isa: Isa, a: &[BlockIQ4XS], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_iq4xs_q8k(a, b))
}

/// Q8_K · Q8_K with an instruction set.
pub(crate) fn dot_q8k_q8k_with(isa: Isa, a: &[BlockQ8K], b: &[BlockQ8K]) -> f32 {
    quant_dispatch!(isa, dot_q8k_q8k(a, b))
}

/// Q4_0 · Q8_0 over the blocks zipped pairwise.
pub(crate) fn dot_q4_0_q8_0(a: &[BlockQ4_0], b: &[BlockQ8_0]) -> f32 {
    dot_q4_0_q8_0_with(Isa::selected(), a, b)
}

/// Q4_1 · Q8_1 over the blocks zipped pairwise.
pub(crate) fn dot_q4_1_q8_1(a: &[BlockQ4_1], b: &[BlockQ8_1]) -> f32 {
    dot_q4_1_q8_1_with(Isa::selected(), a, b)
}

/// Q5_0 · Q8_0 over the blocks zipped pairwise.
pub(crate) fn dot_q5_0_q8_0(a: &[BlockQ5_0], b: &[BlockQ8_0]) -> f32 {
    dot_q5_0_q8_0_with(Isa::selected(), a, b)
}

/// Q5_1 · Q8_1 over the blocks zipped pairwise.
pub(crate) fn dot_q5_1_q8_1(a: &[BlockQ5_1], b: &[BlockQ8_1]) -> f32 {
    dot_q5_1_q8_1_with(Isa::selected(), a, b)
}

/// Q8_0 · Q8_0 over the blocks zipped pairwise.
pub(crate) fn dot_q8_0_q8_0(a: &[BlockQ8_0], b: &[BlockQ8_0]) -> f32 {
    dot_q8_0_q8_0_with(Isa::selected(), a, b)
}

/// IQ4_NL · Q8_0 over the blocks zipped pairwise.
pub(crate) fn dot_iq4nl_q8_0(a: &[BlockIQ4NL], b: &[BlockQ8_0]) -> f32 {
    dot_iq4nl_q8_0_with(Isa::selected(), a, b)
}

/// Q2_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q2k_q8k(a: &[BlockQ2K], b: &[BlockQ8K]) -> f32 {
    dot_q2k_q8k_with(Isa::selected(), a, b)
}

/// Q3_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q3k_q8k(a: &[BlockQ3K], b: &[BlockQ8K]) -> f32 {
    dot_q3k_q8k_with(Isa::selected(), a, b)
}

/// Q4_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q4k_q8k(a: &[BlockQ4K], b: &[BlockQ8K]) -> f32 {
    dot_q4k_q8k_with(Isa::selected(), a, b)
}

/// Q5_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q5k_q8k(a: &[BlockQ5K], b: &[BlockQ8K]) -> f32 {
    dot_q5k_q8k_with(Isa::selected(), a, b)
}

/// Q6_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q6k_q8k(a: &[BlockQ6K], b: &[BlockQ8K]) -> f32 {
    dot_q6k_q8k_with(Isa::selected(), a, b)
}

/// IQ4_XS · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_iq4xs_q8k(a: &[BlockIQ4XS], b: &[BlockQ8K]) -> f32 {
    dot_iq4xs_q8k_with(Isa::selected(), a, b)
}

/// Q8_K · Q8_K over the blocks zipped pairwise.
pub(crate) fn dot_q8k_q8k(a: &[BlockQ8K], b: &[BlockQ8K]) -> f32 {
    dot_q8k_q8k_with(Isa::selected(), a, b)
}

/// `out[r * m + i]` = row `r` of `w` · row `i` of `x`, rows of `kb` blocks, by one dot
/// product per pair: the tile product of the formats and instruction sets without a tile
/// kernel.
fn tile_by_dots<W, X>(w: &[W], x: &[X], kb: usize, out: &mut [f32], dot: impl Fn(&[W], &[X]) -> f32) {
    if kb == 0 {
        return;
    }
    let m = x.len() / kb;
    for (wr, dst) in w.chunks_exact(kb).zip(out.chunks_mut(m.max(1))) {
        for (o, xr) in dst.iter_mut().zip(x.chunks_exact(kb)) {
            *o = dot(wr, xr);
        }
    }
}

/// Stamps out `$name(isa, w, x, kb, out)`: the tile product (see [`tile_by_dots`]) by the
/// AVX-512 VNNI tile kernel `$tile` where the CPU has it, by dots with `$dot` otherwise.
macro_rules! tile_fn {
    ($name:ident, $W:ty, $X:ty, $tile:ident, $dot:expr) => {
        /// Tile product `out[r * m + i] = w_r · x_i` with an instruction set.
        pub(crate) fn $name(isa: Isa, w: &[$W], x: &[$X], kb: usize, out: &mut [f32]) {
            if kb == 0 {
                return;
            }
            match level(isa) {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512Vnni => {
                    // SAFETY: `level` yields Avx512Vnni only when the CPU has AVX-512
                    // F/BW/VL, VNNI and F16C, the features the tile kernels are compiled with.
                    unsafe { avx512_tile::$tile(w, x, kb, out) }
                }
                _ => tile_by_dots(w, x, kb, out, |a, b| $dot(isa, a, b)),
            }
        }
    };
}

tile_fn!(tile_q4_0_with, BlockQ4_0, BlockQ8_0, tile_q4_0, dot_q4_0_q8_0_with);
tile_fn!(tile_q8_0_with, BlockQ8_0, BlockQ8_0, tile_q8_0, dot_q8_0_q8_0_with);
tile_fn!(tile_q5_0_with, BlockQ5_0, BlockQ8_0, tile_q5_0, dot_q5_0_q8_0_with);
tile_fn!(tile_iq4_nl_with, BlockIQ4NL, BlockQ8_0, tile_iq4_nl, dot_iq4nl_q8_0_with);
tile_fn!(tile_q4k_with, BlockQ4K, BlockQ8K, tile_q4k, dot_q4k_q8k_with);
tile_fn!(tile_q5k_with, BlockQ5K, BlockQ8K, tile_q5k, dot_q5k_q8k_with);
tile_fn!(tile_q6k_with, BlockQ6K, BlockQ8K, tile_q6k, dot_q6k_q8k_with);

/// Test data shared by the tests of the quantized kernels.
#[cfg(test)]
pub(crate) mod test_data {
    use crate::device::Xoshiro256;
    use crate::quantized::GgmlBlock;

    /// Weight-like values: N(0, scale²) with every 16th one an outlier of 30·scale and some
    /// all-zero and constant stretches; `scale` spans tiny to huge magnitudes.
    pub(crate) fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let mut v = vec![0f64; n];
        rng.fill_normal(&mut v);
        v.iter()
            .enumerate()
            .map(|(i, &z)| match (i / 64) % 7 {
                5 => 0.0,
                6 => scale,
                _ if i % 16 == 3 => 30.0 * scale * z.signum() as f32,
                _ => z as f32 * scale,
            })
            .collect()
    }

    pub(crate) fn quant<B: GgmlBlock>(x: &[f32]) -> Vec<B> {
        let mut out = vec![B::zeroed(); x.len() / B::BLOCK_SIZE];
        B::quantize_blocks(x, &mut out);
        out
    }

    pub(crate) fn dequant<B: GgmlBlock>(b: &[B]) -> Vec<f32> {
        let mut out = vec![0f32; b.len() * B::BLOCK_SIZE];
        B::dequantize_blocks(b, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_data::{dequant, quant, values};
    use super::*;
    use crate::cpu::kernels::testing::each_isa;
    use crate::quantized::GgmlBlock;

    /// Row lengths in blocks: empty, one, odd and even counts, long rows.
    const BLOCKS: [usize; 10] = [0, 1, 2, 3, 5, 8, 17, 31, 64, 129];

    /// For every instruction set, row length and magnitude: the SIMD dot equals the scalar
    /// twin within 1e-5 of Σ(|w| + 2·max|w|)·|a| over the dequantized values, a bound on
    /// the partial sums either order adds up in f32 (the integer block dots are exact in
    /// both; with mins, `d·sc·q` is at most |w| + 2·max|w|).
    macro_rules! twin_test {
        ($name:ident, $W:ty, $with:ident, $scalar:path) => {
            #[test]
            fn $name() {
                each_isa(stringify!($name), |isa| {
                    for (t, &nb) in BLOCKS.iter().enumerate() {
                        for (s, scale) in [1e-3f32, 1.0, 300.0, 1e4].into_iter().enumerate() {
                            let n = nb * <$W>::BLOCK_SIZE;
                            let w = quant::<$W>(&values(n, (t * 10 + s) as u64, scale));
                            let a = quant::<<$W as GgmlBlock>::VecDotType>(&values(n, 1000 + t as u64, 1.0));
                            let got = $with(isa, &w, &a);
                            let want = $scalar(&w, &a);
                            let (wd, ad) = (dequant(&w), dequant(&a));
                            let wmax = wd.iter().fold(0f32, |m, v| m.max(v.abs()));
                            let mag: f32 =
                                wd.iter().zip(&ad).map(|(x, y)| (x.abs() + 2.0 * wmax) * y.abs()).sum();
                            let tol = 1e-5 * mag + 1e-30;
                            assert!(
                                (got - want).abs() <= tol || (got.is_nan() && want.is_nan()) || got == want,
                                "{} {} blocks scale {scale}: {got} vs scalar {want} (tol {tol})",
                                isa.name(),
                                nb
                            );
                        }
                    }
                });
            }
        };
    }

    twin_test!(q4_0_matches_twin, BlockQ4_0, dot_q4_0_q8_0_with, scalar::dot_q4_0_q8_0);
    twin_test!(q8_0_matches_twin, BlockQ8_0, dot_q8_0_q8_0_with, scalar::dot_q8_0_q8_0);
    twin_test!(q4k_matches_twin, BlockQ4K, dot_q4k_q8k_with, scalar::dot_q4k_q8k);
    twin_test!(q6k_matches_twin, BlockQ6K, dot_q6k_q8k_with, scalar::dot_q6k_q8k);
    twin_test!(q4_1_matches_twin, BlockQ4_1, dot_q4_1_q8_1_with, scalar::dot_q4_1_q8_1);
    twin_test!(q5_0_matches_twin, BlockQ5_0, dot_q5_0_q8_0_with, scalar::dot_q5_0_q8_0);
    twin_test!(q5_1_matches_twin, BlockQ5_1, dot_q5_1_q8_1_with, scalar::dot_q5_1_q8_1);
    twin_test!(iq4_nl_matches_twin, BlockIQ4NL, dot_iq4nl_q8_0_with, scalar::dot_iq4nl_q8_0);
    twin_test!(q2k_matches_twin, BlockQ2K, dot_q2k_q8k_with, scalar::dot_q2k_q8k);
    twin_test!(q3k_matches_twin, BlockQ3K, dot_q3k_q8k_with, scalar::dot_q3k_q8k);
    twin_test!(q5k_matches_twin, BlockQ5K, dot_q5k_q8k_with, scalar::dot_q5k_q8k);
    twin_test!(iq4_xs_matches_twin, BlockIQ4XS, dot_iq4xs_q8k_with, scalar::dot_iq4xs_q8k);
    twin_test!(q8k_matches_twin, BlockQ8K, dot_q8k_q8k_with, scalar::dot_q8k_q8k);

    /// For every instruction set and tile shape (weight rows × activation rows × blocks,
    /// covering full 4×4 tiles, their edges, odd block counts and one activation row): every entry of the tile
    /// product equals the scalar dot within the bound of `twin_test`.
    macro_rules! tile_test {
        ($name:ident, $W:ty, $tile:ident, $scalar:path) => {
            #[test]
            fn $name() {
                type X = <$W as GgmlBlock>::VecDotType;
                each_isa(stringify!($name), |isa| {
                    for (t, &(n, m, kb)) in [
                        (1, 1, 1),
                        (4, 4, 2),
                        (5, 7, 3),
                        (9, 5, 1),
                        (4, 1, 8),
                        (3, 6, 5),
                        (8, 8, 4),
                        (5, 1, 3),
                        (9, 1, 7),
                        (12, 1, 16),
                    ]
                    .iter()
                    .enumerate()
                    {
                        let scale = [1e-3f32, 1.0, 300.0][t % 3];
                        let bs = <$W>::BLOCK_SIZE;
                        let w = quant::<$W>(&values(n * kb * bs, 50 + t as u64, scale));
                        let x = quant::<X>(&values(m * kb * bs, 90 + t as u64, 1.0));
                        let mut out = vec![f32::NAN; n * m];
                        $tile(isa, &w, &x, kb, &mut out);
                        for r in 0..n {
                            for i in 0..m {
                                let (wr, xr) = (&w[r * kb..(r + 1) * kb], &x[i * kb..(i + 1) * kb]);
                                let want = $scalar(wr, xr);
                                let (wd, xd) = (dequant(wr), dequant(xr));
                                let wmax = wd.iter().fold(0f32, |a, v| a.max(v.abs()));
                                let mag: f32 =
                                    wd.iter().zip(&xd).map(|(p, q)| (p.abs() + 2.0 * wmax) * q.abs()).sum();
                                let got = out[r * m + i];
                                assert!(
                                    (got - want).abs() <= 1e-5 * mag + 1e-30,
                                    "{} {n}x{m}x{kb} [{r},{i}]: {got} vs scalar {want}",
                                    isa.name()
                                );
                            }
                        }
                    }
                });
            }
        };
    }

    tile_test!(q4_0_tile_matches_twin, BlockQ4_0, tile_q4_0_with, scalar::dot_q4_0_q8_0);
    tile_test!(q8_0_tile_matches_twin, BlockQ8_0, tile_q8_0_with, scalar::dot_q8_0_q8_0);
    tile_test!(q5_0_tile_matches_twin, BlockQ5_0, tile_q5_0_with, scalar::dot_q5_0_q8_0);
    tile_test!(iq4_nl_tile_matches_twin, BlockIQ4NL, tile_iq4_nl_with, scalar::dot_iq4nl_q8_0);
    tile_test!(q4k_tile_matches_twin, BlockQ4K, tile_q4k_with, scalar::dot_q4k_q8k);
    tile_test!(q5k_tile_matches_twin, BlockQ5K, tile_q5k_with, scalar::dot_q5k_q8k);
    tile_test!(q6k_tile_matches_twin, BlockQ6K, tile_q6k_with, scalar::dot_q6k_q8k);

    /// Extreme quants: every level at its largest magnitude (weights ±max level, activations
    /// ±127) so an i16 intermediate that saturated would show.
    #[test]
    fn extreme_levels_match_twin() {
        each_isa("extreme_levels_match_twin", |isa| {
            let mut x = BlockQ8_0 { d: half::f16::ONE, qs: [-128; 32] };
            let y = BlockQ8_0 { d: half::f16::ONE, qs: [127; 32] };
            let want = scalar::dot_q8_0_q8_0(&[x], &[y]);
            assert_eq!(want, -128.0 * 127.0 * 32.0);
            assert_eq!(dot_q8_0_q8_0_with(isa, &[x], &[y]), want, "{}", isa.name());
            x.qs = [127; 32];
            assert_eq!(dot_q8_0_q8_0_with(isa, &[x], &[y]), 127.0 * 127.0 * 32.0);
            let w4 = BlockQ4_0 { d: half::f16::ONE, qs: [0; 16] }; // all levels −8
            let y4 = BlockQ8_0 { d: half::f16::ONE, qs: [-127; 32] };
            assert_eq!(dot_q4_0_q8_0_with(isa, &[w4], &[y4]), 8.0 * 127.0 * 32.0);
            let w6 = BlockQ6K { ql: [0xFF; 128], qh: [0xFF; 64], scales: [-128; 16], d: half::f16::ONE };
            let y8 = BlockQ8K { d: 1.0, qs: [-127; 256], bsums: [-127 * 16; 16] };
            let want6 = scalar::dot_q6k_q8k(&[w6], &[y8]);
            assert_eq!(want6, -128.0 * 31.0 * -127.0 * 256.0);
            assert_eq!(dot_q6k_q8k_with(isa, &[w6], &[y8]), want6, "{}", isa.name());
            let w4k =
                BlockQ4K { d: half::f16::ONE, dmin: half::f16::ONE, scales: [0xFF; 12], qs: [0xFF; 128] };
            let want4k = scalar::dot_q4k_q8k(&[w4k], &[y8]);
            assert_eq!(dot_q4k_q8k_with(isa, &[w4k], &[y8]), want4k, "{}", isa.name());
            // The tile kernels on the same extremes (all scale and min bits set, -127 levels).
            let mut out = [0f32; 1];
            tile_q4k_with(isa, &[w4k], &[y8], 1, &mut out);
            assert_eq!(out[0], want4k, "{} tile", isa.name());
            tile_q6k_with(isa, &[w6], &[y8], 1, &mut out);
            assert_eq!(out[0], want6, "{} tile", isa.name());
            tile_q8_0_with(isa, &[x], &[y], 1, &mut out);
            assert_eq!(out[0], 127.0 * 127.0 * 32.0, "{} tile", isa.name());
            tile_q4_0_with(isa, &[w4], &[y4], 1, &mut out);
            assert_eq!(out[0], 8.0 * 127.0 * 32.0, "{} tile", isa.name());
        });
    }

    /// The byte patterns of the extreme-level tests: every bit clear, every bit set.
    const BYTES: [u8; 2] = [0x00, 0xFF];

    /// Three copies of `w` (an odd count: the paired and the single-block paths) dotted with
    /// three activation blocks of all `q`, for `q` = ±127: the kernel equals its scalar twin
    /// exactly (the sums are integers times powers of two, exact in f32 in any order).
    fn assert_exact<W: Copy, X: Copy>(
        isa: Isa,
        what: &str,
        w: W,
        act: impl Fn(i8) -> X,
        with: fn(Isa, &[W], &[X]) -> f32,
        scalar: fn(&[W], &[X]) -> f32,
    ) {
        for q in [127, -127] {
            let (w, x) = ([w; 3], [act(q); 3]);
            let want = scalar(&w, &x);
            assert_eq!(with(isa, &w, &x), want, "{} {what}, activations {q}", isa.name());
        }
    }

    fn q8_0_all(q: i8) -> BlockQ8_0 {
        BlockQ8_0 { d: half::f16::ONE, qs: [q; 32] }
    }

    fn q8_1_all(q: i8) -> BlockQ8_1 {
        BlockQ8_1 { d: half::f16::ONE, s: half::f16::from_f32(32.0 * f32::from(q)), qs: [q; 32] }
    }

    fn q8k_all(q: i8) -> BlockQ8K {
        BlockQ8K { d: 1.0, qs: [q; 256], bsums: [16 * i16::from(q); 16] }
    }

    /// The formats added after `extreme_levels_match_twin`'s: every bit field of the weights
    /// all clear or all set (levels and scales at both ends of their ranges), activations
    /// all +127 or all −127, so an i16 `vpmaddubsw` intermediate that saturated would show.
    #[test]
    fn extreme_bit_patterns_match_twin() {
        use half::f16;
        each_isa("extreme_bit_patterns_match_twin", |isa| {
            for qs in BYTES {
                let what = format!("qs {qs:#x}");
                let w = BlockQ4_1 { d: f16::ONE, m: f16::ONE, qs: [qs; 16] };
                assert_exact(isa, &what, w, q8_1_all, dot_q4_1_q8_1_with, scalar::dot_q4_1_q8_1);
                let w = BlockIQ4NL { d: f16::ONE, qs: [qs; 16] };
                assert_exact(isa, &what, w, q8_0_all, dot_iq4nl_q8_0_with, scalar::dot_iq4nl_q8_0);
                for qh in BYTES {
                    let what = format!("qs {qs:#x} qh {qh:#x}");
                    let w = BlockQ5_0 { d: f16::ONE, qh: [qh; 4], qs: [qs; 16] };
                    assert_exact(isa, &what, w, q8_0_all, dot_q5_0_q8_0_with, scalar::dot_q5_0_q8_0);
                    let w = BlockQ5_1 { d: f16::ONE, m: f16::ONE, qh: [qh; 4], qs: [qs; 16] };
                    assert_exact(isa, &what, w, q8_1_all, dot_q5_1_q8_1_with, scalar::dot_q5_1_q8_1);
                    for sc in BYTES {
                        let what = format!("qs {qs:#x} high bits {qh:#x} scales {sc:#x}");
                        let w = BlockQ3K { hmask: [qh; 32], qs: [qs; 64], scales: [sc; 12], d: f16::ONE };
                        assert_exact(isa, &what, w, q8k_all, dot_q3k_q8k_with, scalar::dot_q3k_q8k);
                        let w = BlockQ5K {
                            d: f16::ONE,
                            dmin: f16::ONE,
                            scales: [sc; 12],
                            qh: [qh; 32],
                            qs: [qs; 128],
                        };
                        assert_exact(isa, &what, w, q8k_all, dot_q5k_q8k_with, scalar::dot_q5k_q8k);
                        let w = BlockIQ4XS {
                            d: f16::ONE,
                            scales_h: u16::from_le_bytes([qh; 2]),
                            scales_l: [sc; 4],
                            qs: [qs; 128],
                        };
                        assert_exact(isa, &what, w, q8k_all, dot_iq4xs_q8k_with, scalar::dot_iq4xs_q8k);
                    }
                }
                // Q2_K: scales and minimums separately at either end.
                for sc in [0x00, 0x0F, 0xF0, 0xFF] {
                    let what = format!("qs {qs:#x} scales {sc:#x}");
                    let w = BlockQ2K { scales: [sc; 16], qs: [qs; 64], d: f16::ONE, dmin: f16::ONE };
                    assert_exact(isa, &what, w, q8k_all, dot_q2k_q8k_with, scalar::dot_q2k_q8k);
                }
            }
            // Q8_K weights at the ends (|−128| = 128 is the largest unsigned operand).
            for q in [-128, -127, 127] {
                let w = BlockQ8K { d: 1.0, qs: [q; 256], bsums: [16 * i16::from(q); 16] };
                assert_exact(isa, &format!("qs {q}"), w, q8k_all, dot_q8k_q8k_with, scalar::dot_q8k_q8k);
            }
        });
    }

    /// The tile products of the formats whose non-VNNI tiles run the dots above, on the
    /// same extremes.
    #[test]
    fn extreme_bit_patterns_tiles_match_twin() {
        use half::f16;
        each_isa("extreme_bit_patterns_tiles_match_twin", |isa| {
            let mut out = [0f32; 1];
            for qs in BYTES {
                for qh in BYTES {
                    let w5 = BlockQ5_0 { d: f16::ONE, qh: [qh; 4], qs: [qs; 16] };
                    let w5k = BlockQ5K {
                        d: f16::ONE,
                        dmin: f16::ONE,
                        scales: [qh; 12],
                        qh: [qh; 32],
                        qs: [qs; 128],
                    };
                    for q in [127, -127] {
                        tile_q5_0_with(isa, &[w5], &[q8_0_all(q)], 1, &mut out);
                        assert_eq!(
                            out[0],
                            scalar::dot_q5_0_q8_0(&[w5], &[q8_0_all(q)]),
                            "{} Q5_0 tile",
                            isa.name()
                        );
                        tile_q5k_with(isa, &[w5k], &[q8k_all(q)], 1, &mut out);
                        assert_eq!(
                            out[0],
                            scalar::dot_q5k_q8k(&[w5k], &[q8k_all(q)]),
                            "{} Q5_K tile",
                            isa.name()
                        );
                    }
                }
                let wnl = BlockIQ4NL { d: f16::ONE, qs: [qs; 16] };
                for q in [127, -127] {
                    tile_iq4_nl_with(isa, &[wnl], &[q8_0_all(q)], 1, &mut out);
                    assert_eq!(
                        out[0],
                        scalar::dot_iq4nl_q8_0(&[wnl], &[q8_0_all(q)]),
                        "{} IQ4_NL tile",
                        isa.name()
                    );
                }
            }
        });
    }
}
