//! The 256-element K-quant super-blocks: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and the Q8_K
//! activation format.
//!
//! A super-block holds 16 (Q2/Q3/Q6) or 8 (Q4/Q5) sub-blocks, each with a small integer
//! scale (and for Q2/Q4/Q5 a minimum) that the f16 super-block scale multiplies.
//! Quantizing runs ggml's reference searches (`quantize_row_q*_K_ref`, see `k_search`).

// The loops index several parallel per-sub-block arrays (scales, minimums, levels) by the
// same sub-block number, as the format spec does; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::k_search::{make_q3_quants, make_qkx2_quants, make_qx_quants, Qkx2, GROUP_MAX_EPS};
use super::{nearest_int, GgmlBlock, QK_K};
use crate::cpu::kernels::quant as k;
use crate::gguf::GgmlDType;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Q2_K: 16 sub-blocks of 16; `x = d·(sc & 15)·q − dmin·(sc >> 4)`, q 2 bits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ2K {
    /// Per sub-block: scale in the low nibble, minimum in the high.
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants, four per byte.
    pub qs: [u8; QK_K / 4],
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the minimums.
    pub dmin: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

/// Q3_K: 16 sub-blocks of 16; `x = d·(sc − 32)·q`, q in −4..=3 (2 low bits + `hmask`), sc
/// 6 bits packed in 12 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ3K {
    /// High bits: set means no −4 offset.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits, four per byte.
    pub qs: [u8; QK_K / 4],
    /// 16 6-bit scales.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

/// Q4_K: 8 sub-blocks of 32; `x = d·sc·q − dmin·m`, q 4 bits, sc and m 6 bits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the minimums.
    pub dmin: f16,
    /// 8 scales and 8 minimums, 6 bits each.
    pub scales: [u8; 12],
    /// 4-bit quants.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

/// Q5_K: Q4_K with a fifth bit per element in `qh`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the minimums.
    pub dmin: f16,
    /// 8 scales and 8 minimums, 6 bits each.
    pub scales: [u8; 12],
    /// Fifth bits.
    pub qh: [u8; QK_K / 8],
    /// Low 4 bits.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

/// Q6_K: 16 sub-blocks of 16; `x = d·sc·q`, q in −32..=31 (4 low + 2 high bits), sc i8.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ6K {
    /// Low 4 bits.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits.
    pub qh: [u8; QK_K / 4],
    /// Sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale.
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

/// Q8_K: the activation format of the K-quant dot products: f32 scale, 256 i8 quants and the
/// sums of each 16 quants.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockQ8K {
    /// Scale.
    pub d: f32,
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sums of each group of 16 quants.
    pub bsums: [i16; QK_K / 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

/// Element `e` of the 2-bit planes shared by Q2_K and Q3_K: byte `128·(e/128)/4 + e%32`,
/// bits `2·((e%128)/32)`.
fn two_bit(qs: &[u8; QK_K / 4], e: usize) -> u8 {
    (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3
}

fn pack_two_bit(levels: &[u8; QK_K]) -> [u8; QK_K / 4] {
    std::array::from_fn(|i| {
        let base = (i / 32) * 128 + i % 32;
        (0..4).fold(0u8, |acc, s| acc | ((levels[base + 32 * s] & 3) << (2 * s)))
    })
}

impl BlockQ2K {
    /// The 256 2-bit levels.
    pub(crate) fn levels(&self) -> [u8; QK_K] {
        std::array::from_fn(|e| two_bit(&self.qs, e))
    }
}

impl BlockQ3K {
    /// The 16 sub-block scales, −32..=31.
    pub(crate) fn sub_scales(&self) -> [i8; 16] {
        let s = &self.scales;
        std::array::from_fn(|j| {
            let low = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
            let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            (low | (high << 4)) as i8 - 32
        })
    }

    /// The 256 levels, −4..=3.
    pub(crate) fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let high = (self.hmask[e % 32] >> (e / 32)) & 1;
            two_bit(&self.qs, e) as i8 - if high == 1 { 0 } else { 4 }
        })
    }
}

/// ggml's `get_scale_min_k4` for all 8 sub-blocks: (scales, minimums).
pub(crate) fn scale_min_k4(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let sc =
        std::array::from_fn(|j| if j < 4 { q[j] & 63 } else { (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4) });
    let m = std::array::from_fn(|j| if j < 4 { q[j + 4] & 63 } else { (q[j + 4] >> 4) | ((q[j] >> 6) << 4) });
    (sc, m)
}

fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
    s
}

impl BlockQ4K {
    /// The 8 sub-block (scales, minimums), 6 bits each.
    pub(crate) fn scales_mins(&self) -> ([u8; 8], [u8; 8]) {
        scale_min_k4(&self.scales)
    }

    /// The 256 4-bit levels.
    pub(crate) fn levels(&self) -> [u8; QK_K] {
        std::array::from_fn(|e| {
            let b = self.qs[(e / 64) * 32 + e % 32];
            if (e / 32) % 2 == 0 {
                b & 0xF
            } else {
                b >> 4
            }
        })
    }
}

impl BlockQ5K {
    /// The 8 sub-block (scales, minimums), 6 bits each.
    pub(crate) fn scales_mins(&self) -> ([u8; 8], [u8; 8]) {
        scale_min_k4(&self.scales)
    }

    /// The 256 5-bit levels.
    pub(crate) fn levels(&self) -> [u8; QK_K] {
        std::array::from_fn(|e| {
            let b = self.qs[(e / 64) * 32 + e % 32];
            let low = if (e / 32) % 2 == 0 { b & 0xF } else { b >> 4 };
            low | (((self.qh[e % 32] >> (e / 32)) & 1) << 4)
        })
    }
}

impl BlockQ6K {
    /// The 256 levels, −32..=31.
    pub(crate) fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let (n, s, l) = (e / 128, (e % 128) / 32, e % 32);
            let b = self.ql[n * 64 + l + 32 * (s % 2)];
            let low = if s < 2 { b & 0xF } else { b >> 4 };
            let high = (self.qh[n * 32 + l] >> (2 * s)) & 3;
            (low | (high << 4)) as i8 - 32
        })
    }
}

/// Mins-and-scales super-block: 6-bit sub-scales of `scales`/`mins` against their maxima.
fn quantize_sub_scales(values: &[f32; 8], max: f32) -> [u8; 8] {
    let inv = if max > 0.0 { 63.0 / max } else { 0.0 };
    std::array::from_fn(|j| (nearest_int(inv * values[j]) as u8).min(63))
}

/// Q4_K and Q5_K quantization with `nmax` levels; returns (d, dmin, packed scales, levels).
fn quantize_q45(x: &[f32], p: &Qkx2) -> (f16, f16, [u8; 12], [u8; QK_K]) {
    let mut levels = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let mut weights = [0f32; 32];
    for j in 0..8 {
        let xb = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xb.iter().fold(0.0, |s, v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xb) {
            *w = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(p, xb, &weights, &mut levels[32 * j..32 * j + 32]);
    }
    let max_scale = scales.iter().fold(0f32, |m, &s| if s > m { s } else { m });
    let max_min = mins.iter().fold(0f32, |m, &s| if s > m { s } else { m });
    let (ls, lm) = (quantize_sub_scales(&scales, max_scale), quantize_sub_scales(&mins, max_min));
    let packed = pack_scale_min_k4(&ls, &lm);
    let (d, dmin) = (f16::from_f32(max_scale / 63.0), f16::from_f32(max_min / 63.0));
    for j in 0..8 {
        let dj = d.to_f32() * f32::from(ls[j]);
        if dj == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * f32::from(lm[j]);
        for i in 32 * j..32 * j + 32 {
            levels[i] = nearest_int((x[i] + dm) / dj).clamp(0, p.nmax) as u8;
        }
    }
    (d, dmin, packed, levels)
}

impl GgmlBlock for BlockQ2K {
    const DTYPE: GgmlDType = GgmlDType::Q2_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        let p = Qkx2 { nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let mut levels = [0u8; QK_K];
            let (mut scales, mut mins) = ([0f32; 16], [0f32; 16]);
            for j in 0..16 {
                let xb = &x[16 * j..16 * j + 16];
                let w: [f32; 16] = std::array::from_fn(|i| xb[i].abs());
                (scales[j], mins[j]) = make_qkx2_quants(&p, xb, &w, &mut levels[16 * j..16 * j + 16]);
            }
            let max_scale = scales.iter().fold(0f32, |m, &s| if s > m { s } else { m });
            let max_min = mins.iter().fold(0f32, |m, &s| if s > m { s } else { m });
            let mut sc = [0u8; 16];
            let mut d = f16::ZERO;
            let mut dmin = f16::ZERO;
            if max_scale > 0.0 {
                let iscale = 15.0 / max_scale;
                for j in 0..16 {
                    sc[j] = nearest_int(iscale * scales[j]) as u8;
                }
                d = f16::from_f32(max_scale / 15.0);
            }
            if max_min > 0.0 {
                let iscale = 15.0 / max_min;
                for j in 0..16 {
                    sc[j] |= (nearest_int(iscale * mins[j]) as u8) << 4;
                }
                dmin = f16::from_f32(max_min / 15.0);
            }
            for j in 0..16 {
                let dj = d.to_f32() * f32::from(sc[j] & 0xF);
                if dj == 0.0 {
                    continue;
                }
                let dm = dmin.to_f32() * f32::from(sc[j] >> 4);
                for i in 16 * j..16 * j + 16 {
                    levels[i] = nearest_int((x[i] + dm) / dj).clamp(0, 3) as u8;
                }
            }
            *b = BlockQ2K { scales: sc, qs: pack_two_bit(&levels), d, dmin };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            let (d, min) = (b.d.to_f32(), b.dmin.to_f32());
            let levels = b.levels();
            for (g, y) in y.chunks_exact_mut(16).enumerate() {
                let dl = d * f32::from(b.scales[g] & 0xF);
                let ml = min * f32::from(b.scales[g] >> 4);
                for (y, &q) in y.iter_mut().zip(&levels[16 * g..]) {
                    *y = dl * f32::from(q) - ml;
                }
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q2k_q8k(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q2k_q8k(a, b)
    }
}

impl GgmlBlock for BlockQ3K {
    const DTYPE: GgmlDType = GgmlDType::Q3_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let mut levels = [0i8; QK_K];
            let mut scales = [0f32; 16];
            let (mut amax, mut max_scale) = (0f32, 0f32);
            for j in 0..16 {
                scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut levels[16 * j..16 * j + 16]);
                if scales[j].abs() > amax {
                    amax = scales[j].abs();
                    max_scale = scales[j];
                }
            }
            let mut packed = [0u8; 12];
            let mut d = f16::ZERO;
            if max_scale != 0.0 {
                let iscale = -32.0 / max_scale;
                for (j, &s) in scales.iter().enumerate() {
                    let l = (nearest_int(iscale * s).clamp(-32, 31) + 32) as u8;
                    if j < 8 {
                        packed[j] = l & 0xF;
                    } else {
                        packed[j - 8] |= (l & 0xF) << 4;
                    }
                    packed[8 + j % 4] |= (l >> 4) << (2 * (j / 4));
                }
                d = f16::from_f32(1.0 / iscale);
            }
            let mut block = BlockQ3K { hmask: [0; 32], qs: [0; 64], scales: packed, d };
            for (j, &sc) in block.sub_scales().iter().enumerate() {
                let dj = d.to_f32() * f32::from(sc);
                if dj == 0.0 {
                    continue;
                }
                for i in 16 * j..16 * j + 16 {
                    levels[i] = (nearest_int(x[i] / dj).clamp(-4, 3) + 4) as i8;
                }
            }
            let mut low = [0u8; QK_K];
            for (e, &l) in levels.iter().enumerate() {
                let mut l = l as u8;
                if l > 3 {
                    block.hmask[e % 32] |= 1 << (e / 32);
                    l -= 4;
                }
                low[e] = l;
            }
            block.qs = pack_two_bit(&low);
            *b = block;
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            let d = b.d.to_f32();
            let (scales, levels) = (b.sub_scales(), b.levels());
            for (g, y) in y.chunks_exact_mut(16).enumerate() {
                let dl = d * f32::from(scales[g]);
                for (y, &q) in y.iter_mut().zip(&levels[16 * g..]) {
                    *y = dl * f32::from(q);
                }
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q3k_q8k(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q3k_q8k(a, b)
    }
}

/// Dequantizes a Q4_K/Q5_K super-block: `(d·sc)·q − dmin·m` per 32-element sub-block.
fn dequantize_q45(d: f16, dmin: f16, (sc, m): ([u8; 8], [u8; 8]), levels: &[u8; QK_K], y: &mut [f32]) {
    let (d, min) = (d.to_f32(), dmin.to_f32());
    for (j, y) in y.chunks_exact_mut(32).enumerate() {
        let (d1, m1) = (d * f32::from(sc[j]), min * f32::from(m[j]));
        for (y, &q) in y.iter_mut().zip(&levels[32 * j..]) {
            *y = d1 * f32::from(q) - m1;
        }
    }
}

impl GgmlBlock for BlockQ4K {
    const DTYPE: GgmlDType = GgmlDType::Q4_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        let p = Qkx2 { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let (d, dmin, scales, levels) = quantize_q45(x, &p);
            let qs = std::array::from_fn(|i| {
                let base = (i / 32) * 64 + i % 32;
                levels[base] | (levels[base + 32] << 4)
            });
            *b = BlockQ4K { d, dmin, scales, qs };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            dequantize_q45(b.d, b.dmin, b.scales_mins(), &b.levels(), y);
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q4k_q8k(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q4k_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q4k_q8k(a, b)
    }
}

impl GgmlBlock for BlockQ5K {
    const DTYPE: GgmlDType = GgmlDType::Q5_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        let p = Qkx2 { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let (d, dmin, scales, levels) = quantize_q45(x, &p);
            let mut qh = [0u8; 32];
            let qs = std::array::from_fn(|i| {
                let (c, j) = (i / 32, i % 32);
                let (l1, l2) = (levels[c * 64 + j], levels[c * 64 + j + 32]);
                qh[j] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
                (l1 & 0xF) | ((l2 & 0xF) << 4)
            });
            *b = BlockQ5K { d, dmin, scales, qh, qs };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            dequantize_q45(b.d, b.dmin, b.scales_mins(), &b.levels(), y);
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q5k_q8k(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q5k_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q5k_q8k(a, b)
    }
}

impl GgmlBlock for BlockQ6K {
    const DTYPE: GgmlDType = GgmlDType::Q6_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let mut levels = [0i8; QK_K];
            let mut scales = [0f32; 16];
            let (mut amax, mut max_scale) = (0f32, 0f32);
            for j in 0..16 {
                scales[j] = make_qx_quants(32, &x[16 * j..16 * j + 16], &mut levels[16 * j..16 * j + 16]);
                if scales[j].abs() > amax {
                    amax = scales[j].abs();
                    max_scale = scales[j];
                }
            }
            if amax < GROUP_MAX_EPS {
                *b = BlockQ6K::zeroed();
                continue;
            }
            let iscale = -128.0 / max_scale;
            let d = f16::from_f32(1.0 / iscale);
            let sc: [i8; 16] = std::array::from_fn(|j| nearest_int(iscale * scales[j]).min(127) as i8);
            for j in 0..16 {
                let dj = d.to_f32() * f32::from(sc[j]);
                if dj == 0.0 {
                    continue;
                }
                for i in 16 * j..16 * j + 16 {
                    levels[i] = (nearest_int(x[i] / dj).clamp(-32, 31) + 32) as i8;
                }
            }
            let l = |e: usize| levels[e] as u8;
            let ql = std::array::from_fn(|i| {
                let (n, h, j) = (i / 64, (i % 64) / 32, i % 32);
                let base = n * 128 + 32 * h + j;
                (l(base) & 0xF) | ((l(base + 64) & 0xF) << 4)
            });
            let qh = std::array::from_fn(|i| {
                let base = (i / 32) * 128 + i % 32;
                (0..4).fold(0u8, |acc, s| acc | ((l(base + 32 * s) >> 4) << (2 * s)))
            });
            *b = BlockQ6K { ql, qh, scales: sc, d };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            let d = b.d.to_f32();
            let levels = b.levels();
            for (g, y) in y.chunks_exact_mut(16).enumerate() {
                let dl = d * f32::from(b.scales[g]);
                for (y, &q) in y.iter_mut().zip(&levels[16 * g..]) {
                    *y = dl * f32::from(q);
                }
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q6k_q8k(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_q6k_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q6k_q8k(a, b)
    }
}

impl GgmlBlock for BlockQ8K {
    const DTYPE: GgmlDType = GgmlDType::Q8_K;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        crate::cpu::kernels::quantize::q8k(x, out)
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            for (y, &q) in y.iter_mut().zip(&b.qs) {
                *y = b.d * f32::from(q);
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_q8k_q8k(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_q8k_q8k(a, b)
    }
}
