//! The portable twin: the same 16-row bands, one element at a time.

pub(crate) fn transpose32(src: &[u32], ss: usize, dst: &mut [u32], ds: usize, rows: usize, cols: usize) {
    for i0 in (0..rows).step_by(16) {
        for j in 0..cols {
            for i in i0..(i0 + 16).min(rows) {
                dst[i * ds + j] = src[j * ss + i];
            }
        }
    }
}
