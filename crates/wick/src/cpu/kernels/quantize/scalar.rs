//! Portable activation quantizers: the reference the SIMD variants must equal bit for bit
//! (they are also what `gguf`'s Python quantizer computes for these formats).

use crate::quantized::{BlockQ8K, BlockQ8_0};
use half::f16;

/// Q8_0 of one block of 32: `d = amax / 127`, `q = round_half_away(x / d)` (NaN → 0).
pub(crate) fn q8_0_block(x: &[f32; 32]) -> BlockQ8_0 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    BlockQ8_0 { d: f16::from_f32(d), qs: std::array::from_fn(|j| (x[j] * id).round() as i8) }
}

/// Q8_K of one block of 256: the scale comes from the first value of largest magnitude,
/// `q = round_ties_even(−127 / max · x)` at most 127, and the sums of each 16 quants.
pub(crate) fn q8k_block(x: &[f32; 256]) -> BlockQ8K {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        return BlockQ8K { d: 0.0, qs: [0; 256], bsums: [0; 16] };
    }
    // ggml uses −127 (not −128) so every quant fits `sign`-style SIMD tricks.
    let iscale = -127.0 / max;
    let qs: [i8; 256] = std::array::from_fn(|j| ((iscale * x[j]).round_ties_even() as i32).min(127) as i8);
    let bsums = std::array::from_fn(|g| qs[16 * g..16 * g + 16].iter().map(|&q| i16::from(q)).sum());
    BlockQ8K { d: 1.0 / iscale, qs, bsums }
}

/// Quantizes `x` (32 values per block) into `out`.
pub(crate) fn q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    for (x, b) in x.chunks_exact(32).zip(out) {
        if let Ok(x) = x.try_into() {
            *b = q8_0_block(x);
        }
    }
}

/// Quantizes `x` (256 values per block) into `out`.
pub(crate) fn q8k(x: &[f32], out: &mut [BlockQ8K]) {
    for (x, b) in x.chunks_exact(256).zip(out) {
        if let Ok(x) = x.try_into() {
            *b = q8k_block(x);
        }
    }
}
