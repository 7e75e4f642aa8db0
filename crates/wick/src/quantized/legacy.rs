//! The 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1.
//!
//! Quantizing follows ggml's `quantize_row_*_ref` as the `gguf` Python package computes it
//! (all in f32: the scale from the block's extreme, then `trunc(x·(1/d) + offset)` clamped,
//! or round-half-away for Q8), so the bytes are identical to `gguf.quants.quantize`.

use super::GgmlBlock;
use crate::cpu::kernels::quant as k;
use crate::gguf::GgmlDType;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Elements in a 32-element block.
const QK: usize = 32;

/// Q4_0: `x = d · (q − 8)`, q a 4-bit unsigned nibble. Element `j` is the low nibble of
/// `qs[j]` for `j < 16` and the high nibble of `qs[j − 16]` after.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

/// Q4_1: `x = d · q + m`, q a 4-bit unsigned nibble (packed as in Q4_0).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Offset (the block minimum).
    pub m: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

/// Q5_0: `x = d · (q − 16)`, q 5 bits: the nibbles of Q4_0 plus bit `j` of the
/// little-endian `u32` `qh` as the fifth bit of element `j`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits, one per element.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

/// Q5_1: `x = d · q + m`, q 5 bits packed as in Q5_0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Offset (the block minimum).
    pub m: f16,
    /// Fifth bits, one per element.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

/// Q8_0: `x = d · q`, q a signed byte.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quants.
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

/// Q8_1: Q8_0 plus `s = d · Σq`, which lets the `_1` formats fold their offset into the dot
/// product. ggml's current layout (two f16s, 36 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: f16,
    /// `d` times the sum of the quants.
    pub s: f16,
    /// Quants.
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);

/// The value of largest magnitude, the first one on ties (0 for an all-zero block).
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter().fold((f32::MAX, -f32::MAX), |(lo, hi), &v| {
        (if v < lo { v } else { lo }, if v > hi { v } else { hi })
    })
}

fn inverse(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// `trunc(v)` clamped to `0..=max` (f32 → u8 `as` saturates at 0 and maps NaN to 0).
fn trunc_clamp(v: f32, max: u8) -> u8 {
    (v.trunc() as u8).min(max)
}

/// Packs 32 values < 16 two per byte: `j` low, `j + 16` high.
fn pack_nibbles(q: &[u8; QK]) -> [u8; QK / 2] {
    std::array::from_fn(|j| (q[j] & 0x0F) | (q[j + 16] << 4))
}

/// The fifth bits of 32 values < 32 as ggml's little-endian `qh`.
fn pack_high_bits(q: &[u8; QK]) -> [u8; 4] {
    let bits = q.iter().enumerate().fold(0u32, |acc, (j, &v)| acc | (u32::from(v >> 4) << j));
    bits.to_le_bytes()
}

/// The 32 5-bit values of a Q5 block.
fn unpack5(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let h = u32::from_le_bytes(qh);
    std::array::from_fn(|j| {
        let low = if j < 16 { qs[j] & 0x0F } else { qs[j - 16] >> 4 };
        low | ((((h >> j) & 1) as u8) << 4)
    })
}

fn unpack4(qs: &[u8; QK / 2]) -> [u8; QK] {
    std::array::from_fn(|j| if j < 16 { qs[j] & 0x0F } else { qs[j - 16] >> 4 })
}

impl GgmlBlock for BlockQ4_0 {
    const DTYPE: GgmlDType = GgmlDType::Q4_0;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_0;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK).zip(out) {
            let d = signed_absmax(x) / -8.0;
            let id = inverse(d);
            let q: [u8; QK] = std::array::from_fn(|j| trunc_clamp(x[j] * id + 8.5, 15));
            *b = BlockQ4_0 { d: f16::from_f32(d), qs: pack_nibbles(&q) };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let d = b.d.to_f32();
            for (y, q) in y.iter_mut().zip(unpack4(&b.qs)) {
                *y = d * (i32::from(q) - 8) as f32;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::dot_q4_0_q8_0(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q4_0_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::scalar::dot_q4_0_q8_0(a, b)
    }
}

impl GgmlBlock for BlockQ4_1 {
    const DTYPE: GgmlDType = GgmlDType::Q4_1;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_1;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK).zip(out) {
            let (min, max) = min_max(x);
            let d = (max - min) / 15.0;
            let id = inverse(d);
            let q: [u8; QK] = std::array::from_fn(|j| trunc_clamp((x[j] - min) * id + 0.5, 15));
            *b = BlockQ4_1 { d: f16::from_f32(d), m: f16::from_f32(min), qs: pack_nibbles(&q) };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let (d, m) = (b.d.to_f32(), b.m.to_f32());
            for (y, q) in y.iter_mut().zip(unpack4(&b.qs)) {
                *y = d * f32::from(q) + m;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::dot_q4_1_q8_1(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::scalar::dot_q4_1_q8_1(a, b)
    }
}

impl GgmlBlock for BlockQ5_0 {
    const DTYPE: GgmlDType = GgmlDType::Q5_0;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_0;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK).zip(out) {
            let d = signed_absmax(x) / -16.0;
            let id = inverse(d);
            let q: [u8; QK] = std::array::from_fn(|j| trunc_clamp(x[j] * id + 16.5, 31));
            *b = BlockQ5_0 { d: f16::from_f32(d), qh: pack_high_bits(&q), qs: pack_nibbles(&q) };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let d = b.d.to_f32();
            for (y, q) in y.iter_mut().zip(unpack5(b.qh, &b.qs)) {
                *y = d * (i32::from(q) - 16) as f32;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::dot_q5_0_q8_0(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q5_0_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::scalar::dot_q5_0_q8_0(a, b)
    }
}

impl GgmlBlock for BlockQ5_1 {
    const DTYPE: GgmlDType = GgmlDType::Q5_1;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_1;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK).zip(out) {
            let (min, max) = min_max(x);
            let d = (max - min) / 31.0;
            let id = inverse(d);
            let q: [u8; QK] = std::array::from_fn(|j| trunc_clamp((x[j] - min) * id + 0.5, 31));
            *b = BlockQ5_1 {
                d: f16::from_f32(d),
                m: f16::from_f32(min),
                qh: pack_high_bits(&q),
                qs: pack_nibbles(&q),
            };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let (d, m) = (b.d.to_f32(), b.m.to_f32());
            for (y, q) in y.iter_mut().zip(unpack5(b.qh, &b.qs)) {
                *y = d * f32::from(q) + m;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::dot_q5_1_q8_1(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::scalar::dot_q5_1_q8_1(a, b)
    }
}

/// Scale and quants of a Q8 block: `d = amax / 127`, `q = round_half_away(x / d)`.
fn quantize_q8(x: &[f32]) -> (f32, [i8; QK]) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    (d, std::array::from_fn(|j| (x[j] * id).round() as i8))
}

impl GgmlBlock for BlockQ8_0 {
    const DTYPE: GgmlDType = GgmlDType::Q8_0;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_0;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        crate::cpu::kernels::quantize::q8_0(x, out)
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let d = b.d.to_f32();
            for (y, &q) in y.iter_mut().zip(&b.qs) {
                *y = f32::from(q) * d;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::dot_q8_0_q8_0(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q8_0_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::scalar::dot_q8_0_q8_0(a, b)
    }
}

impl GgmlBlock for BlockQ8_1 {
    const DTYPE: GgmlDType = GgmlDType::Q8_1;
    const BLOCK_SIZE: usize = QK;
    type VecDotType = BlockQ8_1;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK).zip(out) {
            let (d, qs) = quantize_q8(x);
            let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
            *b = BlockQ8_1 { d: f16::from_f32(d), s: f16::from_f32(sum as f32 * d), qs };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
            let d = b.d.to_f32();
            for (y, &q) in y.iter_mut().zip(&b.qs) {
                *y = f32::from(q) * d;
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::scalar::dot_q8_1_q8_1(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_1]) -> f32 {
        k::scalar::dot_q8_1_q8_1(a, b)
    }
}
