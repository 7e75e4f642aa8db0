//! Activation quantizers: f32 rows to Q8_0 and Q8_K blocks, the formats the quantized dot
//! products take their right-hand side in. Every SIMD variant equals the scalar twin bit for
//! bit (same scales, same rounding, same sums).

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};
use crate::quantized::{BlockQ8K, BlockQ8_0};

/// Quantizes `x` into `out`, 32 values per block (a shorter tail is ignored).
pub(crate) fn q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    q8_0_with(Isa::selected(), x, out)
}

/// Quantizes `x` into `out`, 256 values per block (a shorter tail is ignored).
pub(crate) fn q8k(x: &[f32], out: &mut [BlockQ8K]) {
    q8k_with(Isa::selected(), x, out)
}

/// [`q8_0`] with a given instruction set.
pub(crate) fn q8_0_with(isa: Isa, x: &[f32], out: &mut [BlockQ8_0]) {
    dispatch!(isa, q8_0(x, out))
}

/// [`q8k`] with a given instruction set.
pub(crate) fn q8k_with(isa: Isa, x: &[f32], out: &mut [BlockQ8K]) {
    dispatch!(isa, q8k(x, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::quant::test_data::values;
    use crate::cpu::kernels::testing::each_isa;
    use bytemuck::Zeroable;

    /// Rows exercising the rounding and scale edge cases beside ordinary values.
    fn rows(n: usize) -> Vec<Vec<f32>> {
        let mut rows: Vec<Vec<f32>> = [1e-30f32, 1e-3, 1.0, 300.0, 1e30]
            .iter()
            .enumerate()
            .map(|(s, &m)| values(n, s as u64, m))
            .collect();
        // Exact halves after scaling by 127 / 127: x · (1 / d) lands on k + 0.5 often.
        rows.push((0..n).map(|i| (i % 255) as f32 - 127.0 + if i % 3 == 0 { 0.5 } else { 0.0 }).collect());
        rows.push((0..n).map(|i| if i % 7 == 0 { -2.5 } else { 0.5 * (i % 5) as f32 }).collect());
        // Equal magnitudes of both signs: the first one sets Q8_K's sign.
        rows.push((0..n).map(|i| if i % 2 == 0 { -4.0 } else { 4.0 }).collect());
        rows.push(vec![0.0; n]);
        rows.push((0..n).map(|i| if i % 11 == 0 { -0.0 } else { 1e-42 * (i % 4) as f32 }).collect());
        rows.push((0..n).map(|i| if i % 9 == 4 { f32::NAN } else { (i as f32).sin() }).collect());
        rows.push((0..n).map(|i| if i == 5 { f32::INFINITY } else { (i as f32).cos() }).collect());
        rows.push((0..n).map(|i| if i % 3 == 1 { f32::NAN } else { 0.0 }).collect());
        rows
    }

    #[test]
    fn q8_0_matches_twin_bit_for_bit() {
        each_isa("q8_0_matches_twin_bit_for_bit", |isa| {
            for x in rows(32 * 9) {
                let (mut got, mut want) = (vec![BlockQ8_0::zeroed(); 9], vec![BlockQ8_0::zeroed(); 9]);
                q8_0_with(isa, &x, &mut got);
                scalar::q8_0(&x, &mut want);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.d.to_bits(), w.d.to_bits(), "{} block {i} scale", isa.name());
                    assert_eq!(g.qs, w.qs, "{} block {i} of {:?}", isa.name(), &x[32 * i..32 * i + 32]);
                }
            }
        });
    }

    #[test]
    fn q8k_matches_twin_bit_for_bit() {
        each_isa("q8k_matches_twin_bit_for_bit", |isa| {
            for x in rows(256 * 3) {
                let (mut got, mut want) = (vec![BlockQ8K::zeroed(); 3], vec![BlockQ8K::zeroed(); 3]);
                q8k_with(isa, &x, &mut got);
                scalar::q8k(&x, &mut want);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.d.to_bits(), w.d.to_bits(), "{} block {i} scale", isa.name());
                    assert_eq!(g.qs, w.qs, "{} block {i} quants", isa.name());
                    assert_eq!(g.bsums, w.bsums, "{} block {i} sums", isa.name());
                }
            }
        });
    }

    /// The twin against the defining formulas on values where they are easy to state.
    #[test]
    fn scalar_twin_follows_the_formats() {
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = f32::NAN;
        let b = scalar::q8_0_block(&x);
        assert_eq!((b.d.to_f32(), b.qs[0], b.qs[1], b.qs[2], b.qs[3]), (1.0, 127, 3, -3, 0));
        let mut y = [0f32; 256];
        y[3] = -254.0;
        y[4] = 254.0;
        y[5] = 5.0;
        y[6] = 3.0;
        let k = scalar::q8k_block(&y);
        // max = −254 (the first of largest magnitude): iscale = 0.5, d = 2.
        assert_eq!((k.d, k.qs[3], k.qs[4], k.qs[5], k.qs[6]), (2.0, -127, 127, 2, 2));
        assert_eq!(k.bsums[0], 4);
    }
}
