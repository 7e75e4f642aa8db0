//! Strided copies and the simple elementwise maps built on them.

use super::kernels::{collect_pieces, fill_default};
use super::{with_pair, CpuElement, CpuStorage, Map1, Map1Float, PARALLEL_THRESHOLD};
use crate::dtype::FloatDType;
use crate::layout::{coalesce_dims, StridedBlocks};
use crate::{Error, Layout, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Appends the elements of `l` in row-major order.
pub(crate) fn extend_strided<T: Copy>(v: &[T], l: &Layout, out: &mut Vec<T>) {
    match l.strided_blocks() {
        StridedBlocks::Single { start, len } => out.extend_from_slice(&v[start..start + len]),
        StridedBlocks::Multiple { block_len: 1, index } => out.extend(index.map(|i| v[i])),
        StridedBlocks::Multiple { block_len, index } => {
            for start in index {
                out.extend_from_slice(&v[start..start + block_len]);
            }
        }
    }
}

/// Applies `f` to every element of `l`, writing a row-major output.
pub(crate) fn map_strided<T: Copy + Send + Sync, U: Copy + Send + Sync + Default>(
    v: &[T],
    l: &Layout,
    f: impl Fn(T) -> U + Sync + Send,
) -> Vec<U> {
    let n = l.shape().elem_count();
    if let Some((a, b)) = l.contiguous_offsets() {
        let src = &v[a..b];
        if n >= PARALLEL_THRESHOLD {
            let mut out = vec![U::default(); n];
            crate::device::install(|| {
                out.par_chunks_mut(PARALLEL_THRESHOLD / 4)
                    .zip(src.par_chunks(PARALLEL_THRESHOLD / 4))
                    .for_each(|(o, s)| o.iter_mut().zip(s).for_each(|(o, &s)| *o = f(s)))
            });
            return out;
        }
        return src.iter().map(|&x| f(x)).collect();
    }
    let mut out = Vec::with_capacity(n);
    match l.strided_blocks() {
        StridedBlocks::Single { start, len } => out.extend(v[start..start + len].iter().map(|&x| f(x))),
        StridedBlocks::Multiple { block_len, index } => {
            for start in index {
                out.extend(v[start..start + block_len].iter().map(|&x| f(x)));
            }
        }
    }
    out
}

/// Runs a slice kernel over the elements of `l` into a new row-major vector (a strided layout
/// is gathered first), in parallel chunks on wick's pool once the input is large.
pub(crate) fn map_slices<T: Copy + Send + Sync, U: Copy + Send + Sync + Default>(
    v: &[T],
    l: &Layout,
    kernel: impl Fn(&[T], &mut [U]) + Sync + Send,
) -> Vec<U> {
    // SAFETY: `fill_default` initializes every element before the kernel sees it.
    unsafe { map_slices_uninit(v, l, |s, d| kernel(s, fill_default(d))) }
}

/// [`map_slices`] with a kernel that writes into uninitialized memory.
///
/// # Safety
/// `kernel(s, d)` must write every element of `d` (which is as long as `s`).
pub(crate) unsafe fn map_slices_uninit<T: Copy + Send + Sync, U: Copy + Send + Sync>(
    v: &[T],
    l: &Layout,
    kernel: impl Fn(&[T], &mut [MaybeUninit<U>]) + Sync + Send,
) -> Vec<U> {
    let src = super::contiguous_cow(v, l);
    let parallel = src.len() >= PARALLEL_THRESHOLD;
    // SAFETY: the caller's kernel writes every element of its output.
    unsafe { collect_pieces(&src, 2048, PARALLEL_THRESHOLD / 4, parallel, kernel) }
}

/// Copies the elements of `src_l` into `dst` (row-major) starting at `dst_offset`.
pub(crate) fn copy_strided_src(
    src: &CpuStorage,
    dst: &mut CpuStorage,
    dst_offset: usize,
    src_l: &Layout,
) -> Result<()> {
    fn copy<T: CpuElement>(src: &[T], dst: &mut [T], dst_offset: usize, l: &Layout) -> Result<()> {
        let n = l.shape().elem_count();
        let end = dst_offset
            .checked_add(n)
            .filter(|&e| e <= dst.len())
            .ok_or_else(|| Error::invalid("copy", "destination too small"))?;
        let dst = &mut dst[dst_offset..end];
        if n == 0 {
            return Ok(());
        }
        match l.strided_blocks() {
            StridedBlocks::Single { start, len } => parallel_memcpy(dst, &src[start..start + len]),
            StridedBlocks::Multiple { block_len: 1, .. } => copy_2d_blocked(src, dst, l),
            StridedBlocks::Multiple { block_len, index } if n < PARALLEL_COPY => {
                for (chunk, start) in dst.chunks_exact_mut(block_len).zip(index) {
                    chunk.copy_from_slice(&src[start..start + block_len]);
                }
            }
            StridedBlocks::Multiple { block_len, index } => {
                let starts: Vec<usize> = index.collect();
                crate::device::install(|| {
                    dst.par_chunks_exact_mut(block_len)
                        .zip(starts.par_iter())
                        .with_min_len((PARALLEL_COPY / 4 / block_len).max(1))
                        .for_each(|(chunk, &start)| chunk.copy_from_slice(&src[start..start + block_len]))
                });
            }
        }
        Ok(())
    }
    with_pair!("copy", src, dst, (s, d) => copy(s, d.to_mut(), dst_offset, src_l))
}

/// Elements from which a plain copy is split across threads: below this, one core's memory
/// bandwidth and the cost of waking the pool make threads a loss.
pub(crate) const PARALLEL_COPY: usize = 1 << 18;

/// `dst.copy_from_slice(src)`, split across wick's threads for large copies.
pub(crate) fn parallel_memcpy<T: Copy + Send + Sync>(dst: &mut [T], src: &[T]) {
    if dst.len() < PARALLEL_COPY {
        dst.copy_from_slice(src);
        return;
    }
    crate::device::install(|| {
        dst.par_chunks_mut(PARALLEL_COPY / 4)
            .zip(src.par_chunks(PARALLEL_COPY / 4))
            .for_each(|(d, s)| d.copy_from_slice(s))
    });
}

/// Copy of a layout whose innermost dim is strided (e.g. a transpose): walks the two innermost
/// coalesced dims in tiles so that reads and writes both stay in cache.
fn copy_2d_blocked<T: bytemuck::Pod + Send + Sync>(src: &[T], dst: &mut [T], l: &Layout) {
    let (dims, strides) = coalesce_dims(l.dims(), &[l.stride()]);
    let s = &strides[0];
    let r = dims.len();
    if r < 2 {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = src[l.start_offset() + i * s[0]];
        }
        return;
    }
    let (rows, cols) = (dims[r - 2], dims[r - 1]);
    let (rs, cs) = (s[r - 2], s[r - 1]);
    let outer = Layout::new(dims[..r - 2].to_vec().into(), s[..r - 2].to_vec(), l.start_offset());
    const TILE: usize = 32;
    // One band = TILE output rows; bands are independent, so large planes split across threads.
    let band = |base: usize, i0: usize, out: &mut [T]| {
        let i1 = (i0 + TILE).min(rows);
        // A plain transpose (the output's rows run along the source's contiguous dim) of
        // 4-byte elements: the register-tile kernel. It refuses (returns false) other sizes.
        if rs == 1 && super::kernels::transpose::transpose32(&src[base + i0..], cs, out, cols, i1 - i0, cols)
        {
            return;
        }
        for j0 in (0..cols).step_by(TILE) {
            for j in j0..(j0 + TILE).min(cols) {
                for i in i0..i1 {
                    out[(i - i0) * cols + j] = src[base + i * rs + j * cs];
                }
            }
        }
    };
    for (plane, base) in dst.chunks_exact_mut(rows * cols).zip(outer.strided_index()) {
        if rows * cols >= PARALLEL_THRESHOLD && rows > TILE {
            crate::device::install(|| {
                plane.par_chunks_mut(TILE * cols).enumerate().for_each(|(b, out)| band(base, b * TILE, out))
            });
        } else {
            for (b, out) in plane.chunks_mut(TILE * cols).enumerate() {
                band(base, b * TILE, out);
            }
        }
    }
}

/// `x * mul + add`, for every dtype.
pub(crate) struct Affine(pub f64, pub f64);
impl Map1 for Affine {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let (m, a) = (T::from_f64(self.0), T::from_f64(self.1));
        if T::DTYPE.is_float() && T::DTYPE != crate::DType::F64 {
            // Compute in f32 for the half types (one rounding), in f32 for f32.
            let (m32, a32) = (self.0 as f32, self.1 as f32);
            return Ok(map_strided(v, l, |x| T::from_f64((x.to_f64() as f32 * m32 + a32) as f64)));
        }
        Ok(map_strided(v, l, |x| x.mul(m).add(a)))
    }
}

pub(crate) fn affine(s: &CpuStorage, l: &Layout, mul: f64, add: f64) -> Result<CpuStorage> {
    if let CpuStorage::F32(v) = s {
        let (m, a) = (mul as f32, add as f32);
        return Ok(CpuStorage::F32(map_strided(v, l, |x| x * m + a).into()));
    }
    Affine(mul, add).map(s, l)
}

struct Powf(f64);
impl Map1Float for Powf {
    const OP: &'static str = "powf";
    fn f<T: CpuElement + FloatDType>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let (e32, e64) = (self.0 as f32, self.0);
        Ok(map_strided(v, l, |x| x.map_f(|x| x.powf(e32), |x| x.powf(e64))))
    }
}

pub(crate) fn powf(s: &CpuStorage, l: &Layout, e: f64) -> Result<CpuStorage> {
    Powf(e).map(s, l)
}

/// Copies a `rows × width` block between two row-strided buffers, with bounds checked first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy2d(
    src: &CpuStorage,
    dst: &mut CpuStorage,
    rows: usize,
    width: usize,
    src_stride: usize,
    dst_stride: usize,
    src_offset: usize,
    dst_offset: usize,
) -> Result<()> {
    fn go<T: Copy + Send + Sync>(
        s: &[T],
        d: &mut [T],
        rows: usize,
        w: usize,
        ss: usize,
        ds: usize,
        so: usize,
        dof: usize,
    ) -> Result<()> {
        if rows == 0 || w == 0 {
            return Ok(());
        }
        let last = |off: usize, stride: usize| {
            (rows - 1).checked_mul(stride).and_then(|x| x.checked_add(off)).and_then(|x| x.checked_add(w))
        };
        match (last(so, ss), last(dof, ds)) {
            (Some(a), Some(b)) if a <= s.len() && b <= d.len() => {}
            _ => return Err(Error::invalid("copy2d", "block exceeds its buffer")),
        }
        if rows * w < PARALLEL_COPY || rows < 2 {
            for r in 0..rows {
                d[dof + r * ds..dof + r * ds + w].copy_from_slice(&s[so + r * ss..so + r * ss + w]);
            }
            return Ok(());
        }
        // Row r of the destination starts chunk r of `d[dof..]` cut every `ds` elements (the
        // bounds check above guarantees each of the first `rows` chunks holds `w` elements).
        crate::device::install(|| {
            d[dof..]
                .par_chunks_mut(ds.max(w))
                .take(rows)
                .enumerate()
                .with_min_len(rows_per_task(rows, w))
                .for_each(|(r, row)| row[..w].copy_from_slice(&s[so + r * ss..so + r * ss + w]))
        });
        Ok(())
    }
    with_pair!("copy2d", src, dst, (s, d) => {
        go(s, d.to_mut(), rows, width, src_stride, dst_stride, src_offset, dst_offset)
    })
}

/// Parts side by side: an `outer × Σ width` row-major matrix whose row `r` is, for each part
/// `(data, offset, width)` in order, the `width` elements of `data` from `offset + r · width`
/// (`cat` of contiguous tensors along a dim with `outer` rows before it). The output is
/// written once, straight into fresh memory: a zero-filled one would cost a pass of its own
/// (`calloc` clears recycled heap memory).
pub(crate) fn cat_columns(parts: &[(&CpuStorage, usize, usize)], outer: usize) -> Result<CpuStorage> {
    fn go<T: Copy + Send + Sync>(parts: &[(&[T], usize, usize)], outer: usize) -> Result<Vec<T>> {
        let mut total = 0usize;
        for &(data, offset, width) in parts {
            let end = outer.checked_mul(width).and_then(|n| n.checked_add(offset));
            if end.is_none_or(|e| e > data.len()) {
                return Err(Error::invalid("cat", "a part's rows exceed its buffer"));
            }
            total = total.checked_add(width).ok_or_else(|| Error::overflow("cat", "total width"))?;
        }
        let n = outer.checked_mul(total).ok_or_else(|| Error::overflow("cat", "output size"))?;
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return Ok(out);
        }
        let spare = &mut out.spare_capacity_mut()[..n];
        super::huge_pages::advise(spare);
        let fill_row = |(r, row): (usize, &mut [MaybeUninit<T>])| {
            let mut col = 0;
            for &(data, offset, width) in parts {
                row[col..col + width].write_copy_of_slice(&data[offset + r * width..][..width]);
                col += width;
            }
        };
        if n < PARALLEL_COPY || outer < 2 {
            spare.chunks_mut(total).enumerate().for_each(fill_row);
        } else {
            crate::device::install(|| {
                spare
                    .par_chunks_mut(total)
                    .enumerate()
                    .with_min_len(rows_per_task(outer, total))
                    .for_each(fill_row)
            });
        }
        // SAFETY: `spare` is `outer` rows of `total` elements, and each row was written in
        // full: its parts' widths add up to `total` (a panic would unwind past this line).
        unsafe { out.set_len(n) };
        Ok(out)
    }
    macro_rules! each_dtype {
        ($($v:ident),*) => {
            match parts.first().map(|p| p.0) {
                $(Some(CpuStorage::$v(_)) => {
                    let mut typed = Vec::with_capacity(parts.len());
                    for &(s, offset, width) in parts {
                        match s {
                            CpuStorage::$v(x) => typed.push((&x[..], offset, width)),
                            other => {
                                return Err(Error::DTypeMismatch {
                                    op: "cat",
                                    lhs: parts[0].0.dtype(),
                                    rhs: other.dtype(),
                                })
                            }
                        }
                    }
                    Ok(CpuStorage::$v(go(&typed, outer)?.into()))
                })*
                None => Err(Error::invalid("cat", "needs at least one tensor")),
            }
        };
    }
    each_dtype!(U8, U32, I64, BF16, F16, F32, F64)
}

/// Rows per parallel task so that each task copies at least a quarter of [`PARALLEL_COPY`].
fn rows_per_task(rows: usize, width: usize) -> usize {
    (PARALLEL_COPY / 4 / width.max(1)).clamp(1, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    fn ramp(n: usize) -> CpuStorage {
        CpuStorage::F32((0..n).map(|i| i as f32).collect::<Vec<_>>().into())
    }

    fn f32s(s: &CpuStorage) -> Vec<f32> {
        s.as_slice::<f32>().map(|v| v.to_vec()).unwrap_or_default()
    }

    /// The threaded paths (sizes past PARALLEL_COPY) against plain index arithmetic.
    #[test]
    fn large_copies_match_the_index_formula() {
        let (rows, cols) = (700, 1000); // 700k elements: above the threshold
        let src = ramp(rows * cols);
        // Contiguous (one block), from an offset.
        let l = Layout::contiguous_with_offset(Shape::from((rows - 1, cols)), cols);
        let mut dst = CpuStorage::zeros((rows - 1) * cols, crate::DType::F32);
        copy_strided_src(&src, &mut dst, 0, &l).unwrap();
        assert!(f32s(&dst).iter().enumerate().all(|(i, &x)| x == (i + cols) as f32));
        // Blocks of 500 (every row's second half).
        let l = Layout::new(Shape::from((rows, 500)), vec![cols, 1], 500);
        let mut dst = CpuStorage::zeros(rows * 500, crate::DType::F32);
        copy_strided_src(&src, &mut dst, 0, &l).unwrap();
        let d = f32s(&dst);
        for r in 0..rows {
            for c in 0..500 {
                assert_eq!(d[r * 500 + c], (r * cols + 500 + c) as f32);
            }
        }
        // copy2d into the right half of a wider destination.
        let mut dst = CpuStorage::zeros(rows * 2 * cols, crate::DType::F32);
        copy2d(&src, &mut dst, rows, cols, cols, 2 * cols, 0, cols).unwrap();
        let d = f32s(&dst);
        for r in 0..rows {
            assert!(d[r * 2 * cols..r * 2 * cols + cols].iter().all(|&x| x == 0.0));
            for c in 0..cols {
                assert_eq!(d[r * 2 * cols + cols + c], (r * cols + c) as f32);
            }
        }
        assert!(copy2d(&src, &mut dst, rows, cols, cols, 2 * cols, 0, cols + 1).is_err());
    }

    #[test]
    fn cat_columns_matches_the_index_formula() {
        // Small (one thread) and past PARALLEL_COPY (rows split over the pool); the widths
        // differ and the parts start at offsets.
        for (outer, widths) in [(3usize, [2usize, 0, 5]), (700, [300, 1, 500])] {
            let offsets = [7usize, 0, 3];
            let parts: Vec<CpuStorage> =
                widths.iter().zip(offsets).map(|(&w, o)| ramp(o + outer * w + 4)).collect();
            let windows: Vec<(&CpuStorage, usize, usize)> =
                parts.iter().zip(offsets).zip(widths).map(|((p, o), w)| (p, o, w)).collect();
            let got = f32s(&cat_columns(&windows, outer).unwrap());
            let total: usize = widths.iter().sum();
            assert_eq!(got.len(), outer * total);
            for r in 0..outer {
                let mut col = 0;
                for (p, (&w, o)) in widths.iter().zip(offsets).enumerate() {
                    for c in 0..w {
                        let want = (o + r * w + c) as f32;
                        assert_eq!(got[r * total + col + c], want, "row {r}, part {p}, column {c}");
                    }
                    col += w;
                }
            }
        }
        let short = ramp(10);
        assert!(cat_columns(&[(&short, 1, 5)], 2).is_err(), "a part's rows past its buffer");
        let other = CpuStorage::F64(vec![0f64; 10].into());
        assert!(matches!(
            cat_columns(&[(&short, 0, 1), (&other, 0, 1)], 2),
            Err(Error::DTypeMismatch { op: "cat", .. })
        ));
    }
}
