//! Portable twin of the register-tile kernel, for the tests: the same packed panels, each
//! product widened to f32 and summed in pair order.

use super::{APair, BPair, MR, NR};
use half::bf16;

fn widen(x: u16) -> f32 {
    bf16::from_bits(x).to_f32()
}

/// `c[i·ldc + j] (+)= Σ_p a_p[i] · b_p[j]` over the k-pairs `p` of the panels, for `i < rows`,
/// `j < cols`; adds to `c` when `accumulate`, else overwrites it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn tile(
    ap: &[APair],
    bp: &[BPair],
    c: &mut [f32],
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    assert!(rows <= MR && cols <= NR, "tile: {rows}×{cols} exceeds the register tile");
    for i in 0..rows {
        for j in 0..cols {
            let mut s = 0f32;
            for (a, b) in ap.iter().zip(bp) {
                s += widen(a[i] as u16) * widen(b[2 * j]) + widen((a[i] >> 16) as u16) * widen(b[2 * j + 1]);
            }
            let o = &mut c[i * ldc + j];
            *o = if accumulate { *o + s } else { s };
        }
    }
}
