//! Portable twin of the register tile: the fallback on other CPUs and the reference the AVX2
//! tile is tested against. Each sum runs over `t` in order with one rounding per
//! multiply-add, as the vector lanes do.

use super::{BRow, MR, NR};

/// `c[i·ldc + j] (+)= Σ_t a[t·MR + i] · b[t][j]` over `t < b.len()`, for `i < rows ≤ MR` and
/// `j < cols ≤ NR`; adds to `c` when `accumulate`, else overwrites it (without reading it).
///
/// # Safety
/// `c` must be valid for writes (and, with `accumulate`, reads of initialized values) of
/// `rows` rows of `cols` f32 at stride `ldc`, with no other thread accessing them.
pub(crate) unsafe fn tile(
    a: &[f32],
    b: &[BRow],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    assert!(rows <= MR && cols <= NR, "tile: {rows}×{cols} exceeds the register tile");
    assert!(a.len() >= b.len() * MR, "gemm_f32 tile: a panel shorter than the b panel");
    for i in 0..rows {
        // SAFETY: row `i` of the tile is `cols` f32 the caller lets this call write.
        let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), cols) };
        for (j, o) in out.iter_mut().enumerate() {
            let mut s = 0f32;
            for (t, bt) in b.iter().enumerate() {
                s = a[t * MR + i].mul_add(bt.0[j], s);
            }
            *o = if accumulate { *o + s } else { s };
        }
    }
}
