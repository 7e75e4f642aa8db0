//! Weights interleaved 16 rows at a time, for the AVX-512 VNNI quantized products.
//!
//! In ggml's layout the blocks of a weight row are contiguous: a SIMD dot product covers one
//! row, unpacks each block for that row alone and ends in a horizontal sum. Here block `j` of
//! 16 consecutive rows is stored as one unit with the rows' bytes interleaved four at a time:
//! byte `64c + 4r + b` of the unit holds byte `4c + b` of row `r`'s block. A 512-bit
//! `vpdpbusd` of 64 such bytes against four activation bytes broadcast to every lane adds four
//! products to each of the 16 rows at once (i32 lane `r` is row `r`), so every unpacking step
//! serves 16 rows, the per-block scales of the 16 rows are one vector, and the result needs no
//! horizontal sum. The unit holds the same bytes as the 16 blocks it replaces (Q4_K: its scales
//! and minimums unpacked to bytes, 2.8% more).
//!
//! A matrix whose row count is not a multiple of 16 keeps its last rows in ggml's layout.

use super::{BlockQ4K, BlockQ4_0, BlockQ8K, BlockQ8_0, GgmlBlock, QK_K};
use crate::cpu::kernels::quant::interleaved as kern;
use crate::cpu::kernels::team;
use crate::gguf::GgmlDType;
use crate::{Error, Result};
use bytemuck::{Pod, Zeroable};
use half::f16;
use rayon::prelude::*;

/// Rows per interleaved unit.
pub(crate) const ROWS: usize = 16;

/// Block `j` of 16 Q4_0 rows: the rows' scales, then 4 chunks of 64 bytes where byte
/// `64c + 4r + b` is byte `4c + b` of row `r` (low nibble: element `4c + b`, high nibble:
/// element `16 + 4c + b`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct Q4_0x16 {
    pub(crate) d: [f16; ROWS],
    pub(crate) qs: [u8; 256],
}
const _: () = assert!(std::mem::size_of::<Q4_0x16>() == ROWS * 18);

/// Block `j` of 16 Q8_0 rows: the rows' scales, then 8 chunks of 64 bytes where byte
/// `64c + 4r + b` is element `4c + b` of row `r` plus 128 (an unsigned byte for `vpdpbusd`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct Q8_0x16 {
    pub(crate) d: [f16; ROWS],
    pub(crate) qs: [u8; 512],
}
const _: () = assert!(std::mem::size_of::<Q8_0x16>() == ROWS * 34);

/// Super-block `j` of 16 Q4_K rows.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct Q4Kx16 {
    pub(crate) d: [f16; ROWS],
    pub(crate) dmin: [f16; ROWS],
    /// The 6-bit scale of sub-block `s` of row `r` at `16s + r`.
    pub(crate) scales: [u8; 128],
    /// The 6-bit minimum of sub-block `2p + t` of row `r` at `32p + 2r + t` (two per i32 lane,
    /// for `vpdpwssd` once widened to 16 bits).
    pub(crate) mins: [u8; 128],
    /// 32 chunks of 64 bytes: byte `64(8c + q) + 4r + b` is byte `32c + 4q + b` of row `r`'s
    /// quants (low nibble: element `64c + 4q + b`, high nibble: element `64c + 32 + 4q + b`).
    pub(crate) qs: [u8; 2048],
}
const _: () = assert!(std::mem::size_of::<Q4Kx16>() == 2368);

/// A block format that can be interleaved, and its unit.
pub(crate) trait Interleave: GgmlBlock {
    type Unit: Pod + Send + Sync;
    /// Block `j` of 16 rows as one unit.
    fn interleave(rows: [&Self; ROWS]) -> Self::Unit;
}

impl Interleave for BlockQ4_0 {
    type Unit = Q4_0x16;
    fn interleave(rows: [&Self; ROWS]) -> Q4_0x16 {
        let mut u = Q4_0x16::zeroed();
        for (r, b) in rows.iter().enumerate() {
            u.d[r] = b.d;
            for c in 0..4 {
                u.qs[64 * c + 4 * r..][..4].copy_from_slice(&b.qs[4 * c..][..4]);
            }
        }
        u
    }
}

impl Interleave for BlockQ8_0 {
    type Unit = Q8_0x16;
    fn interleave(rows: [&Self; ROWS]) -> Q8_0x16 {
        let mut u = Q8_0x16::zeroed();
        for (r, b) in rows.iter().enumerate() {
            u.d[r] = b.d;
            for c in 0..8 {
                for t in 0..4 {
                    u.qs[64 * c + 4 * r + t] = (b.qs[4 * c + t] as u8) ^ 0x80;
                }
            }
        }
        u
    }
}

impl Interleave for BlockQ4K {
    type Unit = Q4Kx16;
    fn interleave(rows: [&Self; ROWS]) -> Q4Kx16 {
        let mut u = Q4Kx16::zeroed();
        for (r, b) in rows.iter().enumerate() {
            u.d[r] = b.d;
            u.dmin[r] = b.dmin;
            let (sc, mn) = super::k_quants::scale_min_k4(&b.scales);
            for s in 0..8 {
                u.scales[16 * s + r] = sc[s];
                u.mins[32 * (s / 2) + 2 * r + s % 2] = mn[s];
            }
            for c in 0..4 {
                for q in 0..8 {
                    u.qs[64 * (8 * c + q) + 4 * r..][..4].copy_from_slice(&b.qs[32 * c + 4 * q..][..4]);
                }
            }
        }
        u
    }
}

/// The units of the first `16 · (n / 16)` rows of an (n, kb blocks) matrix, group after
/// group (`kb` units each), made on all of wick's threads.
pub(crate) fn interleave_rows<B: Interleave>(w: &[B], kb: usize) -> Vec<B::Unit> {
    if kb == 0 {
        return Vec::new();
    }
    let groups = w.len() / kb / ROWS;
    // Zeroed by the allocator (fresh pages), not by copying a zero unit into every slot.
    let mut units: Vec<B::Unit> = bytemuck::zeroed_vec(groups * kb);
    let fill = |(g, dst): (usize, &mut [B::Unit])| {
        for (j, u) in dst.iter_mut().enumerate() {
            *u = B::interleave(std::array::from_fn(|r| &w[(ROWS * g + r) * kb + j]));
        }
    };
    crate::device::install(|| units.par_chunks_mut(kb).enumerate().for_each(fill));
    units
}

/// A quantized (n, k) matrix with its first `16 · (n / 16)` rows interleaved.
pub(crate) enum Interleaved {
    Q4_0(Vec<Q4_0x16>),
    Q8_0(Vec<Q8_0x16>),
    Q4K(Vec<Q4Kx16>),
}

impl Interleaved {
    /// The interleaved form of `bytes`, an (n, k) matrix of `dtype`, when this CPU has the
    /// kernels for it (AVX-512 VNNI, and Q4_0, Q8_0 or Q4_K) and it has 16 rows or more.
    pub(crate) fn new(dtype: GgmlDType, bytes: &[u8], n: usize, k: usize) -> Option<Self> {
        if n < ROWS || !kern::available() {
            return None;
        }
        fn units<B: Interleave>(bytes: &[u8], k: usize) -> Option<Vec<B::Unit>> {
            let w: &[B] = bytemuck::try_cast_slice(bytes).ok()?;
            Some(interleave_rows(w, k / B::BLOCK_SIZE))
        }
        Some(match dtype {
            GgmlDType::Q4_0 => Interleaved::Q4_0(units::<BlockQ4_0>(bytes, k)?),
            GgmlDType::Q8_0 => Interleaved::Q8_0(units::<BlockQ8_0>(bytes, k)?),
            GgmlDType::Q4_K => Interleaved::Q4K(units::<BlockQ4K>(bytes, k)?),
            _ => return None,
        })
    }

    /// `x (m, k) @ wᵀ` for the interleaved rows (the first `16 · groups` of `w`), into the
    /// first columns of `out` (m rows of `ldo`).
    pub(crate) fn matmul_into(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        out: &mut [f32],
        ldo: usize,
    ) -> Result<()> {
        Self::matmul_many(&[self], x, m, k, &mut [(out, ldo)])
    }

    /// [`Interleaved::matmul_into`] for several matrices of one format and row length `k`
    /// against the same `x` (a layer's q, k and v products): `x` is quantized once and, for one
    /// activation row, all matrices' rows share one parallel pass. `outs[i]` is part `i`'s
    /// output and its row stride.
    pub(crate) fn matmul_many(
        parts: &[&Interleaved],
        x: &[f32],
        m: usize,
        k: usize,
        outs: &mut [(&mut [f32], usize)],
    ) -> Result<()> {
        let mixed = || Error::invalid("QTensor::matmul_t_many", "the weights are of different formats");
        macro_rules! units {
            ($v:ident) => {
                parts
                    .iter()
                    .map(|p| match p {
                        Interleaved::$v(u) => Ok(u.as_slice()),
                        _ => Err(mixed()),
                    })
                    .collect::<Result<Vec<_>>>()?
            };
        }
        match parts.first() {
            None => {}
            Some(Interleaved::Q4_0(_)) => {
                let (units, act, kb) = (units!(Q4_0), Q8Rows::new(x, m, k)?, k / 32);
                run_groups(&units, kb, k, m, outs, |w, o, l| {
                    kern::gemm_q4_0x16(w, kb, &act.q, &act.d, &act.s, o, l)
                })
            }
            Some(Interleaved::Q8_0(_)) => {
                let (units, act, kb) = (units!(Q8_0), Q8Rows::new(x, m, k)?, k / 32);
                run_groups(&units, kb, k, m, outs, |w, o, l| {
                    kern::gemm_q8_0x16(w, kb, &act.q, &act.d, &act.s, o, l)
                })
            }
            Some(Interleaved::Q4K(_)) => {
                let (units, act, kb) = (units!(Q4K), Q8KRows::new(x, m, k)?, k / QK_K);
                run_groups(&units, kb, k, m, outs, |w, o, l| {
                    kern::gemm_q4kx16(w, kb, &act.q, &act.pairs, o, l)
                })
            }
        }
        Ok(())
    }
}

/// Products with fewer multiply-adds than this run on the calling thread.
const SMALL: usize = 1 << 17;

/// The most 16-row groups in one chunk of a one-row product (8 groups of Q4_0 at k = 2048:
/// 147 KB, a few microseconds).
const DECODE_CHUNK_GROUPS: usize = 16;

/// Runs `gemm(units, out, ldo)` over the groups (kb units, k elements a row) of every part,
/// writing part `i` into `outs[i]`, split over wick's threads by groups. With one activation
/// row all parts' tasks go in one parallel pass and write straight into the outputs; with
/// several, each task fills its own (m, 16·groups) buffer, copied into place after.
fn run_groups<U: Sync>(
    parts: &[&[U]],
    kb: usize,
    k: usize,
    m: usize,
    outs: &mut [(&mut [f32], usize)],
    gemm: impl Fn(&[U], &mut [f32], usize) + Sync,
) {
    if kb == 0 || m == 0 {
        return;
    }
    let groups: usize = parts.iter().map(|u| u.len() / kb).sum();
    let macs = (m as u128) * (groups as u128) * (ROWS as u128) * (k as u128);
    let threads = crate::num_threads().max(1);
    if macs < SMALL as u128 || threads == 1 || groups == 1 {
        for (units, (out, ldo)) in parts.iter().zip(outs.iter_mut()) {
            gemm(units, out, *ldo);
        }
        return;
    }
    if m == 1 {
        // Small chunks pulled in order by the spinning team: every thread starts at once and
        // they finish within a chunk of each other (decode runs ~100 such passes a token).
        let per_task = groups.div_ceil(threads * 8).clamp(1, DECODE_CHUNK_GROUPS);
        let mut tasks: Vec<(&[U], &mut [f32])> = Vec::new();
        for (units, (out, _)) in parts.iter().zip(outs.iter_mut()) {
            let cols = units.len() / kb * ROWS;
            tasks.extend(units.chunks(per_task * kb).zip(out[..cols].chunks_mut(per_task * ROWS)));
        }
        team::for_each(tasks, |(w, o)| gemm(w, o, ROWS * per_task));
        return;
    }
    // A few tasks per thread so a slow thread does not hold the others up.
    let per_task = groups.div_ceil(threads * 4).max(1);
    for (units, (out, ldo)) in parts.iter().zip(outs.iter_mut()) {
        let parts: Vec<Vec<f32>> = crate::device::install(|| {
            units
                .par_chunks(per_task * kb)
                .map(|w| {
                    let cols = w.len() / kb * ROWS;
                    let mut o = vec![0f32; m * cols];
                    gemm(w, &mut o, cols);
                    o
                })
                .collect()
        });
        for (t, part) in parts.iter().enumerate() {
            let cols = part.len() / m;
            for (i, row) in part.chunks_exact(cols).enumerate() {
                out[i * *ldo + t * per_task * ROWS..][..cols].copy_from_slice(row);
            }
        }
    }
}

/// Activation rows quantized to Q8_0, with each block's scale in f32 and the sum of its quants.
struct Q8Rows {
    q: Vec<BlockQ8_0>,
    d: Vec<f32>,
    s: Vec<i32>,
}

impl Q8Rows {
    fn new(x: &[f32], m: usize, k: usize) -> Result<Self> {
        let kb = k / 32;
        let mut q = vec![BlockQ8_0::zeroed(); checked_blocks(m, kb)?];
        quantize_rows(x, k, &mut q, kb);
        let (d, s) = q8_scales_sums(&q);
        Ok(Q8Rows { q, d, s })
    }
}

/// Each Q8_0 block's scale in f32 and the sum of its quants: what the interleaved Q4_0 / Q8_0
/// kernels take beside the blocks.
pub(crate) fn q8_scales_sums(q: &[BlockQ8_0]) -> (Vec<f32>, Vec<i32>) {
    (
        q.iter().map(|b| b.d.to_f32()).collect(),
        q.iter().map(|b| b.qs.iter().map(|&v| i32::from(v)).sum()).collect(),
    )
}

/// A Q8_K block's sums of each 32 quants, paired as two i16 in an i32 (sub-blocks `2p`,
/// `2p + 1`): the operand `vpdpwssd` takes for the Q4_K minimums.
pub(crate) fn q8k_sum_pairs(b: &BlockQ8K) -> [i32; 4] {
    // |Σ of 32 quants| ≤ 32·128: fits an i16.
    let s32 = |s: usize| (i32::from(b.bsums[2 * s]) + i32::from(b.bsums[2 * s + 1])) as i16 as u16;
    std::array::from_fn(|p| (u32::from(s32(2 * p)) | (u32::from(s32(2 * p + 1)) << 16)) as i32)
}

/// Activation rows quantized to Q8_K, with the sums of each 32 quants paired as two i16 in
/// an i32 (sub-blocks `2p`, `2p + 1`), the operand `vpdpwssd` takes for the minimums.
struct Q8KRows {
    q: Vec<BlockQ8K>,
    pairs: Vec<[i32; 4]>,
}

impl Q8KRows {
    fn new(x: &[f32], m: usize, k: usize) -> Result<Self> {
        let kb = k / QK_K;
        let mut q = vec![BlockQ8K::zeroed(); checked_blocks(m, kb)?];
        quantize_rows(x, k, &mut q, kb);
        let pairs = q.iter().map(q8k_sum_pairs).collect();
        Ok(Q8KRows { q, pairs })
    }
}

fn checked_blocks(m: usize, kb: usize) -> Result<usize> {
    m.checked_mul(kb).ok_or_else(|| Error::overflow("QTensor::matmul_t", format!("{m} rows of {kb} blocks")))
}

/// Quantizes the rows of `x` (k each) into `q` (kb blocks each), rows in parallel when many.
fn quantize_rows<B: GgmlBlock>(x: &[f32], k: usize, q: &mut [B], kb: usize) {
    if kb == 0 {
        return;
    }
    let one = |(dst, row): (&mut [B], &[f32])| B::quantize_blocks(row, dst);
    if q.len() > 64 * kb {
        crate::device::install(|| q.par_chunks_mut(kb).zip(x.par_chunks(k)).for_each(one));
    } else {
        q.chunks_mut(kb).zip(x.chunks(k)).for_each(one);
    }
}
