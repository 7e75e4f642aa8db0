//! Indexing ops: index_select, gather, scatter_add, index_add.

use super::{
    contiguous_cow, contiguous_vec, with_index, with_pair, with_vec, CpuElement, CpuStorage, IndexElement,
};
use crate::{Error, Layout, Result, Shape};

fn check_index<I: IndexElement>(i: I, dim: usize, shape: &Shape, op: &'static str) -> Result<usize> {
    let size = shape[dim];
    match i.as_index() {
        Some(v) if v < size => Ok(v),
        _ => Err(Error::IndexOutOfBounds { op, index: i.as_i64(), dim, size, shape: shape.clone() }),
    }
}

/// Visits every multi-index of `dims` in row-major order.
fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize]) -> Result<()>) -> Result<()> {
    if dims.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; dims.len()];
    loop {
        f(&idx)?;
        let mut d = dims.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

fn offset(idx: &[usize], stride: &[usize]) -> usize {
    idx.iter().zip(stride).map(|(i, s)| i * s).sum()
}

pub(crate) fn index_select(
    src: &CpuStorage,
    l: &Layout,
    ids: &CpuStorage,
    ids_l: &Layout,
    dim: usize,
) -> Result<CpuStorage> {
    fn go<T: CpuElement, I: IndexElement>(v: &[T], l: &Layout, ids: &[I], dim: usize) -> Result<Vec<T>> {
        let shape = l.shape();
        let data = contiguous_cow(v, l);
        let outer: usize = shape[..dim].iter().product();
        let n = shape[dim];
        let inner: usize = shape[dim + 1..].iter().product();
        let rows =
            ids.iter().map(|&i| check_index(i, dim, shape, "index_select")).collect::<Result<Vec<_>>>()?;
        let total = (outer * inner)
            .checked_mul(rows.len())
            .ok_or_else(|| Error::overflow("index_select", format!("{} ids into {shape:?}", rows.len())))?;
        // Each output row is one input row.
        let per_outer = rows.len();
        let out = super::kernels::gather_rows(
            outer * per_outer,
            inner,
            super::copy::PARALLEL_COPY / 4,
            total >= super::copy::PARALLEL_COPY,
            |k| {
                let start = ((k / per_outer) * n + rows[k % per_outer]) * inner;
                &data[start..start + inner]
            },
        )?;
        Ok(out)
    }
    with_index!("index_select", ids, i => {
        let i = contiguous_vec(i, ids_l);
        Ok(with_vec!(src, v => CpuElement::into_storage(go(v, l, &i, dim)?)))
    })
}

pub(crate) fn gather(
    src: &CpuStorage,
    l: &Layout,
    ids: &CpuStorage,
    ids_l: &Layout,
    dim: usize,
) -> Result<CpuStorage> {
    fn go<T: CpuElement, I: IndexElement>(
        v: &[T],
        l: &Layout,
        ids: &[I],
        ids_shape: &Shape,
        dim: usize,
    ) -> Result<Vec<T>> {
        let data = contiguous_cow(v, l);
        let stride = l.shape().stride_contiguous();
        let mut out = Vec::with_capacity(ids.len());
        let mut k = 0;
        for_each_index(ids_shape.dims(), |idx| {
            let i = check_index(ids[k], dim, l.shape(), "gather")?;
            k += 1;
            out.push(data[offset(idx, &stride) - idx[dim] * stride[dim] + i * stride[dim]]);
            Ok(())
        })?;
        Ok(out)
    }
    with_index!("gather", ids, i => {
        let i = contiguous_vec(i, ids_l);
        Ok(with_vec!(src, v => CpuElement::into_storage(go(v, l, &i, ids_l.shape(), dim)?)))
    })
}

/// Shared body of scatter_add (`ids` same rank as `src`) and index_add (`ids` rank 1).
fn add_into<T: CpuElement>(
    dst: &mut [T],
    dst_shape: &Shape,
    src: &[T],
    src_shape: &Shape,
    dim: usize,
    mut target: impl FnMut(&[usize], usize) -> Result<usize>,
) -> Result<()> {
    let dst_stride = dst_shape.stride_contiguous();
    let mut k = 0;
    for_each_index(src_shape.dims(), |idx| {
        let t = target(idx, k)?;
        let off = offset(idx, &dst_stride) - idx[dim] * dst_stride[dim] + t * dst_stride[dim];
        dst[off] = dst[off].add(src[k]);
        k += 1;
        Ok(())
    })
}

pub(crate) fn scatter_add(
    dst: &CpuStorage,
    l: &Layout,
    ids: &CpuStorage,
    ids_l: &Layout,
    src: &CpuStorage,
    src_l: &Layout,
    dim: usize,
) -> Result<CpuStorage> {
    fn go<T: CpuElement, I: IndexElement>(
        d: &[T],
        l: &Layout,
        ids: &[I],
        ids_shape: &Shape,
        s: &[T],
        sl: &Layout,
        dim: usize,
    ) -> Result<Vec<T>> {
        let mut out = contiguous_vec(d, l);
        // Only the part of src covered by ids is scattered (PyTorch semantics).
        let s = contiguous_vec(s, sl);
        let s_stride = sl.shape().stride_contiguous();
        let mut covered = Vec::with_capacity(ids.len());
        for_each_index(ids_shape.dims(), |idx| {
            covered.push(s[offset(idx, &s_stride)]);
            Ok(())
        })?;
        add_into(&mut out, l.shape(), &covered, ids_shape, dim, |_, k| {
            check_index(ids[k], dim, l.shape(), "scatter_add")
        })?;
        Ok(out)
    }
    with_index!("scatter_add", ids, i => {
        let i = contiguous_vec(i, ids_l);
        with_pair!("scatter_add", dst, src, (d, s) => {
            Ok(CpuElement::into_storage(go(d, l, &i, ids_l.shape(), s, src_l, dim)?))
        })
    })
}

pub(crate) fn index_add(
    dst: &CpuStorage,
    l: &Layout,
    ids: &CpuStorage,
    ids_l: &Layout,
    src: &CpuStorage,
    src_l: &Layout,
    dim: usize,
) -> Result<CpuStorage> {
    fn go<T: CpuElement, I: IndexElement>(
        d: &[T],
        l: &Layout,
        ids: &[I],
        s: &[T],
        sl: &Layout,
        dim: usize,
    ) -> Result<Vec<T>> {
        let mut out = contiguous_vec(d, l);
        let s = contiguous_vec(s, sl);
        let rows =
            ids.iter().map(|&i| check_index(i, dim, l.shape(), "index_add")).collect::<Result<Vec<_>>>()?;
        add_into(&mut out, l.shape(), &s, sl.shape(), dim, |idx, _| Ok(rows[idx[dim]]))?;
        Ok(out)
    }
    with_index!("index_add", ids, i => {
        let i = contiguous_vec(i, ids_l);
        with_pair!("index_add", dst, src, (d, s) => Ok(CpuElement::into_storage(go(d, l, &i, s, src_l, dim)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threaded path (outputs past PARALLEL_COPY elements) against the index formula.
    #[test]
    fn large_index_select_matches_the_formula() {
        let (outer, n, inner) = (3, 50, 300);
        let table = CpuStorage::F32((0..outer * n * inner).map(|i| i as f32).collect::<Vec<_>>().into());
        let l = Layout::contiguous(Shape::from((outer, n, inner)));
        let ids: Vec<u32> = (0..400).map(|i| (i * 37 % n) as u32).collect();
        let ids_s = CpuStorage::U32(ids.clone().into());
        let out = index_select(&table, &l, &ids_s, &Layout::contiguous(Shape::from(ids.len())), 1).unwrap();
        let out = out.as_slice::<f32>().unwrap();
        assert_eq!(out.len(), outer * ids.len() * inner);
        for o in 0..outer {
            for (j, &r) in ids.iter().enumerate() {
                for c in 0..inner {
                    let want = ((o * n + r as usize) * inner + c) as f32;
                    assert_eq!(out[(o * ids.len() + j) * inner + c], want);
                }
            }
        }
    }
}
