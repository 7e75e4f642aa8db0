//! Scalar reference dot products of quantized weight rows with quantized activation rows:
//! integer sums per (sub-)block, scaled in f32 as ggml's `ggml_vec_dot_*_generic` do. Each
//! takes the blocks zipped pairwise (the caller checks the lengths).

use crate::quantized::{
    BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0,
    BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};

use crate::quantized::iq4_values as kv;

fn isum(a: impl Iterator<Item = i32>, b: &[i8]) -> i32 {
    a.zip(b).map(|(x, &y)| x * i32::from(y)).sum()
}

fn nibbles(qs: &[u8; 16]) -> impl Iterator<Item = i32> + '_ {
    qs.iter().map(|&b| i32::from(b & 0xF)).chain(qs.iter().map(|&b| i32::from(b >> 4)))
}

fn fifth_bits(qh: [u8; 4]) -> impl Iterator<Item = i32> {
    let h = u32::from_le_bytes(qh);
    (0..32).map(move |j| (((h >> j) & 1) << 4) as i32)
}

/// Q4_0 · Q8_0.
pub(crate) fn dot_q4_0_q8_0(a: &[BlockQ4_0], b: &[BlockQ8_0]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let s = isum(nibbles(&x.qs).map(|q| q - 8), &y.qs);
        acc + s as f32 * (x.d.to_f32() * y.d.to_f32())
    })
}

/// Q4_1 · Q8_1: `d_x d_y Σ q·y + m_x s_y`.
pub(crate) fn dot_q4_1_q8_1(a: &[BlockQ4_1], b: &[BlockQ8_1]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let s = isum(nibbles(&x.qs), &y.qs);
        acc + s as f32 * (x.d.to_f32() * y.d.to_f32()) + x.m.to_f32() * y.s.to_f32()
    })
}

/// Q5_0 · Q8_0.
pub(crate) fn dot_q5_0_q8_0(a: &[BlockQ5_0], b: &[BlockQ8_0]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let q = nibbles(&x.qs).zip(fifth_bits(x.qh)).map(|(l, h)| (l | h) - 16);
        acc + isum(q, &y.qs) as f32 * (x.d.to_f32() * y.d.to_f32())
    })
}

/// Q5_1 · Q8_1.
pub(crate) fn dot_q5_1_q8_1(a: &[BlockQ5_1], b: &[BlockQ8_1]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let q = nibbles(&x.qs).zip(fifth_bits(x.qh)).map(|(l, h)| l | h);
        acc + isum(q, &y.qs) as f32 * (x.d.to_f32() * y.d.to_f32()) + x.m.to_f32() * y.s.to_f32()
    })
}

/// Q8_0 · Q8_0.
pub(crate) fn dot_q8_0_q8_0(a: &[BlockQ8_0], b: &[BlockQ8_0]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        acc + isum(x.qs.iter().map(|&q| i32::from(q)), &y.qs) as f32 * (x.d.to_f32() * y.d.to_f32())
    })
}

/// Q8_1 · Q8_1.
pub(crate) fn dot_q8_1_q8_1(a: &[BlockQ8_1], b: &[BlockQ8_1]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        acc + isum(x.qs.iter().map(|&q| i32::from(q)), &y.qs) as f32 * (x.d.to_f32() * y.d.to_f32())
    })
}

/// IQ4_NL · Q8_0.
pub(crate) fn dot_iq4nl_q8_0(a: &[BlockIQ4NL], b: &[BlockQ8_0]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let q = nibbles(&x.qs).map(|i| i32::from(kv()[i as usize]));
        acc + isum(q, &y.qs) as f32 * (x.d.to_f32() * y.d.to_f32())
    })
}

/// Σ over groups of `group` elements of `scale[g] · Σ level·q8`.
fn scaled_groups(
    levels: impl Iterator<Item = i32>,
    q8: &[i8],
    group: usize,
    scale: impl Fn(usize) -> i32,
) -> i32 {
    let mut total = 0;
    let mut part = 0;
    for (i, (l, &y)) in levels.zip(q8).enumerate() {
        part += l * i32::from(y);
        if (i + 1) % group == 0 {
            total += scale(i / group) * part;
            part = 0;
        }
    }
    total
}

/// Q2_K · Q8_K: `d_y (d Σ sc·Σq·y − dmin Σ m·bsum)`.
pub(crate) fn dot_q2k_q8k(a: &[BlockQ2K], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let levels = x.levels();
        let sumi =
            scaled_groups(levels.iter().map(|&l| i32::from(l)), &y.qs, 16, |g| i32::from(x.scales[g] & 0xF));
        let summs: i32 = (0..16).map(|g| i32::from(x.scales[g] >> 4) * i32::from(y.bsums[g])).sum();
        let (dall, dmin) = (y.d * x.d.to_f32(), y.d * x.dmin.to_f32());
        acc + dall * sumi as f32 - dmin * summs as f32
    })
}

/// Q3_K · Q8_K.
pub(crate) fn dot_q3k_q8k(a: &[BlockQ3K], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let (levels, sc) = (x.levels(), x.sub_scales());
        let sumi = scaled_groups(levels.iter().map(|&l| i32::from(l)), &y.qs, 16, |g| i32::from(sc[g]));
        acc + x.d.to_f32() * y.d * sumi as f32
    })
}

/// Q4_K and Q5_K · Q8_K: `d_y (d Σ sc·Σq·y − dmin Σ m·bsum)` over 32-element sub-blocks.
fn dot_q45(levels: &[u8; 256], (sc, m): ([u8; 8], [u8; 8]), d: f32, dmin: f32, y: &BlockQ8K) -> f32 {
    let sumi = scaled_groups(levels.iter().map(|&l| i32::from(l)), &y.qs, 32, |g| i32::from(sc[g]));
    let summs: i32 =
        (0..8).map(|j| i32::from(m[j]) * (i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1]))).sum();
    y.d * d * sumi as f32 - y.d * dmin * summs as f32
}

/// Q4_K · Q8_K.
pub(crate) fn dot_q4k_q8k(a: &[BlockQ4K], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        acc + dot_q45(&x.levels(), x.scales_mins(), x.d.to_f32(), x.dmin.to_f32(), y)
    })
}

/// Q5_K · Q8_K.
pub(crate) fn dot_q5k_q8k(a: &[BlockQ5K], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        acc + dot_q45(&x.levels(), x.scales_mins(), x.d.to_f32(), x.dmin.to_f32(), y)
    })
}

/// Q6_K · Q8_K.
pub(crate) fn dot_q6k_q8k(a: &[BlockQ6K], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let levels = x.levels();
        let sumi = scaled_groups(levels.iter().map(|&l| i32::from(l)), &y.qs, 16, |g| i32::from(x.scales[g]));
        acc + x.d.to_f32() * y.d * sumi as f32
    })
}

/// Q8_K · Q8_K.
pub(crate) fn dot_q8k_q8k(a: &[BlockQ8K], b: &[BlockQ8K]) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0, |acc, (x, y)| acc + x.d * y.d * isum(x.qs.iter().map(|&q| i32::from(q)), &y.qs) as f32)
}

/// IQ4_XS · Q8_K.
pub(crate) fn dot_iq4xs_q8k(a: &[BlockIQ4XS], b: &[BlockQ8K]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| {
        let sc = x.sub_scales();
        let levels = (0..8).flat_map(|ib| {
            crate::quantized::iq4_unpack(&x.qs[16 * ib..16 * ib + 16]).map(|i| i32::from(kv()[i as usize]))
        });
        let sumi = scaled_groups(levels, &y.qs, 32, |g| i32::from(sc[g]));
        acc + x.d.to_f32() * y.d * sumi as f32
    })
}
