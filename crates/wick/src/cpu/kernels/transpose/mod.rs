//! Out-of-place transpose of 32-bit elements (f32, u32, ...) between two row-strided buffers:
//! `dst[i·dst_stride + j] = src[j·src_stride + i]`. The SIMD variants move 8×8 tiles through
//! registers (eight row loads, three shuffle stages, eight row stores), sixteen destination
//! rows at a time so that every source cache line they read is used whole.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};

/// Writes the `rows × cols` matrix `dst` (row stride `dst_stride`) as the transpose of the
/// `cols × rows` matrix `src` (row stride `src_stride`), for any plain 4-byte element type.
/// Returns false, writing nothing, when a buffer is too short for its matrix or `T` is not
/// 4 bytes wide and 4-byte aligned.
pub(crate) fn transpose32<T: bytemuck::Pod>(
    src: &[T],
    src_stride: usize,
    dst: &mut [T],
    dst_stride: usize,
    rows: usize,
    cols: usize,
) -> bool {
    transpose32_with(Isa::selected(), src, src_stride, dst, dst_stride, rows, cols)
}

/// [`transpose32`] with a given instruction set.
pub(crate) fn transpose32_with<T: bytemuck::Pod>(
    isa: Isa,
    src: &[T],
    src_stride: usize,
    dst: &mut [T],
    dst_stride: usize,
    rows: usize,
    cols: usize,
) -> bool {
    // `try_cast_slice` also accepts wider types (one f64 as two u32s): check the width first.
    if std::mem::size_of::<T>() != 4 {
        return false;
    }
    let (Ok(src), Ok(dst)) =
        (bytemuck::try_cast_slice::<T, u32>(src), bytemuck::try_cast_slice_mut::<T, u32>(dst))
    else {
        return false;
    };
    if rows == 0 || cols == 0 {
        return true;
    }
    // The last element each matrix touches must lie inside its buffer.
    let end = |n: usize, stride: usize, w: usize| n.checked_sub(1)?.checked_mul(stride)?.checked_add(w);
    match (end(cols, src_stride, rows), end(rows, dst_stride, cols)) {
        (Some(s), Some(d)) if s <= src.len() && d <= dst.len() => {}
        _ => return false,
    }
    dispatch!(isa, transpose32(src, src_stride, dst, dst_stride, rows, cols));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::each_isa;

    /// Every ISA against the index formula, on shapes around the 8×8 tile and the 16-row
    /// band (edges in both directions), with padded strides and an untouched margin.
    #[test]
    fn transpose32_matches_index_formula() {
        let sizes = [1usize, 2, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64, 100];
        each_isa("transpose32_matches_index_formula", |isa| {
            for &rows in &sizes {
                for &cols in &sizes {
                    for pad in [0usize, 3] {
                        let (ss, ds) = (rows + pad, cols + 2 * pad);
                        let src: Vec<u32> = (0..cols * ss).map(|k| k as u32).collect();
                        let mut dst = vec![u32::MAX; rows * ds];
                        assert!(transpose32_with(isa, &src, ss, &mut dst, ds, rows, cols));
                        for i in 0..rows {
                            for j in 0..ds {
                                let want = if j < cols { (j * ss + i) as u32 } else { u32::MAX };
                                assert_eq!(
                                    dst[i * ds + j],
                                    want,
                                    "{} {rows}x{cols} pad {pad} at ({i}, {j})",
                                    isa.name()
                                );
                            }
                        }
                    }
                }
            }
        });
    }

    #[test]
    fn f32_bits_and_short_buffers() {
        // f32 payloads (NaN included) move bit for bit.
        let src: Vec<f32> =
            (0..9 * 9).map(|k| if k == 5 { f32::from_bits(0x7FC0_1234) } else { k as f32 * 0.5 }).collect();
        each_isa("f32_bits_and_short_buffers", |isa| {
            let mut dst = vec![0f32; 81];
            assert!(transpose32_with(isa, &src, 9, &mut dst, 9, 9, 9));
            assert!((0..9).all(|i| (0..9).all(|j| dst[i * 9 + j].to_bits() == src[j * 9 + i].to_bits())));
            // One element short on either side: refused, nothing written.
            let mut short = vec![0f32; 80];
            assert!(!transpose32_with(isa, &src, 9, &mut short, 9, 9, 9));
            assert!(short.iter().all(|&x| x == 0.0));
            assert!(!transpose32_with(isa, &src[..80], 9, &mut dst, 9, 9, 9));
        });
        // Not 4 bytes wide: refused, even where the bytes would fit (8 u16s, 2 f64s).
        let mut d16 = vec![0u16; 8];
        assert!(!transpose32(&[1u16, 2, 3, 4, 5, 6, 7, 8], 2, &mut d16, 2, 2, 2));
        let mut d64 = vec![0f64; 4];
        assert!(!transpose32(&[1f64, 2., 3., 4.], 2, &mut d64, 2, 2, 2));
        assert_eq!(d64, [0.0; 4]);
    }
}
