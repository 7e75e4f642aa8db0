//! Quantized products over interleaved weights (`quantized::interleaved`): AVX-512 VNNI
//! kernels and their scalar twins.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;

use super::{level, Level};
use crate::cpu::kernels::Isa;
use crate::quantized::interleaved::{Q4Kx16, Q4_0x16, Q8_0x16};
use crate::quantized::{BlockQ8K, BlockQ8_0};

/// Whether this CPU runs the interleaved kernels in SIMD (weights are interleaved only then;
/// elsewhere ggml's layout and its kernels are faster than the scalar twins here).
pub(crate) fn available() -> bool {
    simd(Isa::selected())
}

fn simd(isa: Isa) -> bool {
    match level(isa) {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => true,
        _ => false,
    }
}

/// Whether a product of `m` activation rows goes to the AMX-INT8 kernels: many rows, the
/// selected instruction set is AVX-512 with VNNI (so `WICK_ISA` caps it too), and the CPU has
/// AMX-INT8.
#[cfg(target_arch = "x86_64")]
fn amx_takes(m: usize) -> bool {
    m >= amx::MIN_ROWS && simd(Isa::selected()) && amx::usable()
}

/// Stamps out `$name` (the selected kernel) and `$with` (a given instruction set) for the
/// kernel `$name` of `avx512` and `scalar`; with `amx($kb, $x)`, the selected kernel is the
/// `amx` one when `$x` holds enough activation rows of `$kb` blocks.
macro_rules! interleaved_fn {
    ($name:ident, $with:ident, amx($kb:ident, $x:ident), ($($arg:ident: $ty:ty),*)) => {
        interleaved_fn!(@with $name, $with, ($($arg: $ty),*));

        /// [`$with`] with the selected instruction set, or the AMX kernel.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if $kb > 0 && amx_takes($x.len() / $kb) {
                // SAFETY: `amx_takes` checked AMX-INT8 (and the grant of the tile state) and
                // AVX-512 F/BW/VL with F16C (the Avx512Vnni level).
                return unsafe { amx::$name($($arg),*) };
            }
            $with(Isa::selected(), $($arg),*)
        }
    };
    ($name:ident, $with:ident, ($($arg:ident: $ty:ty),*)) => {
        interleaved_fn!(@with $name, $with, ($($arg: $ty),*));

        /// [`$with`] with the selected instruction set.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name($($arg: $ty),*) {
            $with(Isa::selected(), $($arg),*)
        }
    };
    (@with $name:ident, $with:ident, ($($arg:ident: $ty:ty),*)) => {
        /// The interleaved product (see the `avx512` and `scalar` variants) with an
        /// instruction set: `out[i·ldo + 16g + r]` = weight row `16g + r` · activation row `i`.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $with(isa: Isa, $($arg: $ty),*) {
            match level(isa) {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512Vnni => {
                    // SAFETY: `level` yields Avx512Vnni only when the CPU has AVX-512
                    // F/BW/VL, VNNI and F16C, the features the kernels are compiled with.
                    unsafe { avx512::$name($($arg),*) }
                }
                _ => scalar::$name($($arg),*),
            }
        }
    };
}

interleaved_fn!(gemm_q4_0x16, gemm_q4_0x16_with, amx(kb, x), (w: &[Q4_0x16], kb: usize, x: &[BlockQ8_0], xd: &[f32], xs: &[i32], out: &mut [f32], ldo: usize));
interleaved_fn!(gemm_q8_0x16, gemm_q8_0x16_with, amx(kb, x), (w: &[Q8_0x16], kb: usize, x: &[BlockQ8_0], xd: &[f32], xs: &[i32], out: &mut [f32], ldo: usize));
interleaved_fn!(gemm_q4kx16, gemm_q4kx16_with, amx(kb, x), (w: &[Q4Kx16], kb: usize, x: &[BlockQ8K], pairs: &[[i32; 4]], out: &mut [f32], ldo: usize));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::quant::scalar as rowwise;
    use crate::cpu::kernels::quant::test_data::{dequant, quant, values};
    use crate::cpu::kernels::testing::each_isa;
    use crate::quantized::interleaved::{interleave_rows, q8_scales_sums, q8k_sum_pairs, Interleave, ROWS};
    use crate::quantized::{BlockQ4K, BlockQ4_0};

    /// (weight rows, activation rows, blocks a row): tails of the 4-row activation tile, odd
    /// block counts, several groups.
    const SHAPES: [(usize, usize, usize); 6] =
        [(16, 1, 1), (32, 1, 7), (16, 4, 3), (48, 5, 2), (32, 9, 4), (16, 3, 9)];

    /// Runs the interleaved product of `B` for every instruction set and shape, and checks it
    /// (a) bit for bit against the scalar twin and (b) against the row-by-row scalar dot of
    /// ggml's layout within 1e-5 of Σ(|w| + 2·max|w|)·|x| (the f32 rounding of either order).
    fn check<B: Interleave>(
        name: &str,
        shapes: &[(usize, usize, usize)],
        run: impl Fn(Isa, &[B::Unit], usize, &[B::VecDotType], &mut [f32], usize),
        dot: impl Fn(&[B], &[B::VecDotType]) -> f32,
    ) {
        each_isa(name, |isa| {
            for (t, &(n, m, kb)) in shapes.iter().enumerate() {
                let scale = [1e-3f32, 1.0, 300.0][t % 3];
                let bs = B::BLOCK_SIZE;
                let w = quant::<B>(&values(n * kb * bs, 7 + t as u64, scale));
                let x = quant::<B::VecDotType>(&values(m * kb * bs, 70 + t as u64, 1.0));
                let units = interleave_rows(&w, kb);
                assert_eq!(units.len(), n / ROWS * kb);
                let ldo = n + 3;
                let mut got = vec![f32::NAN; m * ldo];
                run(isa, &units, kb, &x, &mut got, ldo);
                let mut twin = vec![f32::NAN; m * ldo];
                run(Isa::Scalar, &units, kb, &x, &mut twin, ldo);
                for i in 0..m {
                    for r in 0..n {
                        let (g, tw) = (got[i * ldo + r], twin[i * ldo + r]);
                        assert_eq!(
                            g.to_bits(),
                            tw.to_bits(),
                            "{name} {} {n}x{m}x{kb} [{i},{r}]: {g} vs twin {tw}",
                            isa.name()
                        );
                        let (wr, xr) = (&w[r * kb..(r + 1) * kb], &x[i * kb..(i + 1) * kb]);
                        let want = dot(wr, xr);
                        let (wd, xd) = (dequant(wr), dequant(xr));
                        let wmax = wd.iter().fold(0f32, |a, v| a.max(v.abs()));
                        let mag: f32 =
                            wd.iter().zip(&xd).map(|(p, q)| (p.abs() + 2.0 * wmax) * q.abs()).sum();
                        assert!(
                            (g - want).abs() <= 1e-5 * mag + 1e-30,
                            "{name} {n}x{m}x{kb} [{i},{r}]: {g} vs rowwise {want}"
                        );
                    }
                }
            }
        });
    }

    #[test]
    fn q4_0_interleaved_matches_twin_and_rowwise() {
        check::<BlockQ4_0>(
            "q4_0_interleaved",
            &SHAPES,
            |isa, w, kb, x, out, ldo| {
                let (d, s) = q8_scales_sums(x);
                gemm_q4_0x16_with(isa, w, kb, x, &d, &s, out, ldo)
            },
            rowwise::dot_q4_0_q8_0,
        );
    }

    #[test]
    fn q8_0_interleaved_matches_twin_and_rowwise() {
        check::<BlockQ8_0>(
            "q8_0_interleaved",
            &SHAPES,
            |isa, w, kb, x, out, ldo| {
                let (d, s) = q8_scales_sums(x);
                gemm_q8_0x16_with(isa, w, kb, x, &d, &s, out, ldo)
            },
            rowwise::dot_q8_0_q8_0,
        );
    }

    #[test]
    fn q4k_interleaved_matches_twin_and_rowwise() {
        check::<BlockQ4K>(
            "q4k_interleaved",
            &SHAPES,
            |isa, w, kb, x, out, ldo| {
                let pairs: Vec<[i32; 4]> = x.iter().map(q8k_sum_pairs).collect();
                gemm_q4kx16_with(isa, w, kb, x, &pairs, out, ldo)
            },
            rowwise::dot_q4k_q8k,
        );
    }

    /// (weight rows, activation rows, blocks a row) for the AMX kernels: whole and partial
    /// 16-row activation tiles, one and several groups and blocks.
    #[cfg(target_arch = "x86_64")]
    const AMX_SHAPES: [(usize, usize, usize); 5] =
        [(16, 16, 1), (32, 8, 3), (48, 17, 2), (16, 35, 5), (32, 64, 4)];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn amx_kernels_match_twin_and_rowwise() {
        if !(amx::usable() && simd(Isa::Avx512)) {
            eprintln!("skipped: no usable AMX-INT8 on this CPU");
            return;
        }
        // The AMX kernel for every instruction set above scalar, whose run is the twin.
        check::<BlockQ4_0>(
            "q4_0_amx",
            &AMX_SHAPES,
            |isa, w, kb, x, out, ldo| {
                let (d, s) = q8_scales_sums(x);
                if isa == Isa::Scalar {
                    scalar::gemm_q4_0x16(w, kb, x, &d, &s, out, ldo)
                } else {
                    // SAFETY: AMX-INT8 and the Avx512Vnni level were checked above.
                    unsafe { amx::gemm_q4_0x16(w, kb, x, &d, &s, out, ldo) }
                }
            },
            rowwise::dot_q4_0_q8_0,
        );
        check::<BlockQ8_0>(
            "q8_0_amx",
            &AMX_SHAPES,
            |isa, w, kb, x, out, ldo| {
                let (d, s) = q8_scales_sums(x);
                if isa == Isa::Scalar {
                    scalar::gemm_q8_0x16(w, kb, x, &d, &s, out, ldo)
                } else {
                    // SAFETY: AMX-INT8 and the Avx512Vnni level were checked above.
                    unsafe { amx::gemm_q8_0x16(w, kb, x, &d, &s, out, ldo) }
                }
            },
            rowwise::dot_q8_0_q8_0,
        );
        check::<BlockQ4K>(
            "q4k_amx",
            &AMX_SHAPES,
            |isa, w, kb, x, out, ldo| {
                let pairs: Vec<[i32; 4]> = x.iter().map(q8k_sum_pairs).collect();
                if isa == Isa::Scalar {
                    scalar::gemm_q4kx16(w, kb, x, &pairs, out, ldo)
                } else {
                    // SAFETY: AMX-INT8 and the Avx512Vnni level were checked above.
                    unsafe { amx::gemm_q4kx16(w, kb, x, &pairs, out, ldo) }
                }
            },
            rowwise::dot_q4k_q8k,
        );
        // Extreme levels, as in `extreme_levels_match_rowwise`, over a whole activation tile.
        let m = 16;
        let w = vec![BlockQ8_0 { d: half::f16::ONE, qs: [-128; 32] }; ROWS];
        let x = vec![BlockQ8_0 { d: half::f16::ONE, qs: [127; 32] }; m];
        let (d, s) = q8_scales_sums(&x);
        let mut out = vec![0f32; m * ROWS];
        // SAFETY: AMX-INT8 and the Avx512Vnni level were checked above.
        unsafe { amx::gemm_q8_0x16(&interleave_rows(&w, 1), 1, &x, &d, &s, &mut out, ROWS) };
        assert!(out.iter().all(|&v| v == -128.0 * 127.0 * 32.0), "q8_0 amx extremes: {out:?}");
        let w4 = vec![BlockQ4_0 { d: half::f16::ONE, qs: [0; 16] }; ROWS];
        let x4 = vec![BlockQ8_0 { d: half::f16::ONE, qs: [-127; 32] }; m];
        let (d, s) = q8_scales_sums(&x4);
        // SAFETY: as above.
        unsafe { amx::gemm_q4_0x16(&interleave_rows(&w4, 1), 1, &x4, &d, &s, &mut out, ROWS) };
        assert!(out.iter().all(|&v| v == 8.0 * 127.0 * 32.0), "q4_0 amx extremes: {out:?}");
    }

    /// Extreme levels: every weight at its most negative level against activations of ±127,
    /// where an intermediate that saturated or a wrong offset would show.
    #[test]
    fn extreme_levels_match_rowwise() {
        each_isa("interleaved_extreme_levels", |isa| {
            let w = vec![BlockQ8_0 { d: half::f16::ONE, qs: [-128; 32] }; ROWS];
            let x = [BlockQ8_0 { d: half::f16::ONE, qs: [127; 32] }];
            let units = interleave_rows(&w, 1);
            let (d, s) = q8_scales_sums(&x);
            let mut out = [0f32; ROWS];
            gemm_q8_0x16_with(isa, &units, 1, &x, &d, &s, &mut out, ROWS);
            assert_eq!(out, [-128.0 * 127.0 * 32.0; ROWS], "{}", isa.name());
            let w4 = vec![BlockQ4_0 { d: half::f16::ONE, qs: [0; 16] }; ROWS];
            let x4 = [BlockQ8_0 { d: half::f16::ONE, qs: [-127; 32] }];
            let (d, s) = q8_scales_sums(&x4);
            gemm_q4_0x16_with(isa, &interleave_rows(&w4, 1), 1, &x4, &d, &s, &mut out, ROWS);
            assert_eq!(out, [8.0 * 127.0 * 32.0; ROWS], "{}", isa.name());
        });
    }

    #[test]
    fn interleave_keeps_every_byte() {
        let w = quant::<BlockQ4K>(&values(ROWS * 2 * 256, 3, 1.0));
        let units = interleave_rows(&w, 2);
        let u = &units[1];
        let b = &w[5 * 2 + 1];
        let (sc, mn) = crate::quantized::scale_min_k4(&b.scales);
        for s in 0..8 {
            assert_eq!(u.scales[16 * s + 5], sc[s]);
            assert_eq!(u.mins[32 * (s / 2) + 10 + s % 2], mn[s]);
        }
        assert_eq!(u.qs[64 * (8 * 3 + 2) + 4 * 5 + 1], b.qs[32 * 3 + 4 * 2 + 1]);
        assert_eq!(u.d[5], b.d);
    }
}
