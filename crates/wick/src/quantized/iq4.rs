//! IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of 16 levels
//! ([`IQ4_VALUES`]), denser near zero where weights cluster.

// The loops index several parallel per-sub-block arrays (scales, minimums, levels) by the
// same sub-block number, as the format spec does; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use super::k_search::{best_index, iq4_block_scale, IQ4_VALUES};
use super::{nearest_int, BlockQ8K, BlockQ8_0, GgmlBlock, QK_K};
use crate::cpu::kernels::quant as k;
use crate::gguf::GgmlDType;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// IQ4_NL: 32 elements, `x = d · IQ4_VALUES[q]`, indices packed as Q4_0's nibbles.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockIQ4NL {
    /// Scale.
    pub d: f16,
    /// Packed 4-bit indices.
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4NL>() == 18);

/// IQ4_XS: 8 sub-blocks of 32, `x = d · (ls − 32) · IQ4_VALUES[q]`, ls 6 bits (low nibble
/// in `scales_l`, high 2 bits in `scales_h`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlockIQ4XS {
    /// Super-block scale.
    pub d: f16,
    /// High 2 bits of the 8 sub-block scales.
    pub scales_h: u16,
    /// Low 4 bits of the 8 sub-block scales.
    pub scales_l: [u8; QK_K / 64],
    /// Packed 4-bit indices, 16 bytes per sub-block.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4XS>() == 136);

/// The 32 level indices of 16 packed bytes (low nibbles first).
pub(crate) fn unpack_indices(qs: &[u8]) -> [u8; 32] {
    std::array::from_fn(|j| if j < 16 { qs[j] & 0xF } else { qs[j - 16] >> 4 })
}

fn pack_indices(l: &[u8]) -> [u8; 16] {
    std::array::from_fn(|j| l[j] | (l[j + 16] << 4))
}

impl BlockIQ4XS {
    /// The 8 sub-block scales, −32..=31.
    pub(crate) fn sub_scales(&self) -> [i8; 8] {
        std::array::from_fn(|ib| {
            let low = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            let high = ((self.scales_h >> (2 * ib)) & 3) as u8;
            (low | (high << 4)) as i8 - 32
        })
    }
}

impl GgmlBlock for BlockIQ4NL {
    const DTYPE: GgmlDType = GgmlDType::IQ4_NL;
    const BLOCK_SIZE: usize = 32;
    type VecDotType = BlockQ8_0;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        // ggml's reference (`quantize_row_iq4_nl_ref`) runs the search with ntry = −1: the
        // first candidate's indices and its least-squares scale.
        for (x, b) in x.chunks_exact(32).zip(out) {
            let mut levels = [0u8; 32];
            let d = iq4_block_scale(x, &mut levels, -1);
            *b = BlockIQ4NL { d: f16::from_f32(d), qs: pack_indices(&levels) };
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
            let d = b.d.to_f32();
            for (y, q) in y.iter_mut().zip(unpack_indices(&b.qs)) {
                *y = d * f32::from(IQ4_VALUES[q as usize]);
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::dot_iq4nl_q8_0(a, b)
    }

    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        k::tile_iq4_nl_with(crate::cpu::kernels::Isa::selected(), w, x, kb, out)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8_0]) -> f32 {
        k::scalar::dot_iq4nl_q8_0(a, b)
    }
}

impl GgmlBlock for BlockIQ4XS {
    const DTYPE: GgmlDType = GgmlDType::IQ4_XS;
    const BLOCK_SIZE: usize = QK_K;
    type VecDotType = BlockQ8K;

    fn quantize_blocks(x: &[f32], out: &mut [Self]) {
        // ggml's `quantize_iq4_xs` without importance weights: a 15-candidate search per
        // sub-block, then 6-bit sub-scales against the largest and re-chosen indices.
        for (x, b) in x.chunks_exact(QK_K).zip(out) {
            let mut levels = [0u8; QK_K];
            let mut scales = [0f32; 8];
            let (mut amax, mut max_scale) = (0f32, 0f32);
            for ib in 0..8 {
                scales[ib] =
                    iq4_block_scale(&x[32 * ib..32 * ib + 32], &mut levels[32 * ib..32 * ib + 32], 7);
                if scales[ib].abs() > amax {
                    amax = scales[ib].abs();
                    max_scale = scales[ib];
                }
            }
            let d = -max_scale / 32.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut block = BlockIQ4XS { d: f16::from_f32(d), scales_h: 0, scales_l: [0; 4], qs: [0; 128] };
            for ib in 0..8 {
                let l = nearest_int(id * scales[ib]).clamp(-32, 31);
                let dl = d * l as f32;
                let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
                for i in 32 * ib..32 * ib + 32 {
                    levels[i] = best_index(&IQ4_VALUES, idl * x[i]);
                }
                let l = (l + 32) as u8;
                block.scales_l[ib / 2] |= (l & 0xF) << (4 * (ib % 2));
                block.scales_h |= u16::from(l >> 4) << (2 * ib);
            }
            for ib in 0..8 {
                block.qs[16 * ib..16 * ib + 16].copy_from_slice(&pack_indices(&levels[32 * ib..]));
            }
            *b = block;
        }
    }

    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]) {
        for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
            let d = b.d.to_f32();
            let scales = b.sub_scales();
            for (ib, y) in y.chunks_exact_mut(32).enumerate() {
                let dl = d * f32::from(scales[ib]);
                for (y, q) in y.iter_mut().zip(unpack_indices(&b.qs[16 * ib..])) {
                    *y = dl * f32::from(IQ4_VALUES[q as usize]);
                }
            }
        }
    }

    fn dot_blocks(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::dot_iq4xs_q8k(a, b)
    }

    fn dot_blocks_reference(a: &[Self], b: &[BlockQ8K]) -> f32 {
        k::scalar::dot_iq4xs_q8k(a, b)
    }
}
