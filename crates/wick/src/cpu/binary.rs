//! Elementwise ops of two (or three) operands that already share one broadcast shape.

use super::{with_pair, with_vec, CpuElement, CpuStorage, Map2, PARALLEL_THRESHOLD};
use crate::dtype::WithDType;
use crate::layout::coalesce_dims;
use crate::op::{BinaryOpT, CmpOp};
use crate::{Error, Layout, Result};
use rayon::prelude::*;

/// Storage offsets of the start of each innermost row, plus the inner loop's size and strides.
struct Rows {
    inner: usize,
    strides: Vec<usize>,
    starts: Vec<Vec<usize>>,
}

fn rows(layouts: &[&Layout]) -> Rows {
    let dims = layouts[0].dims();
    let strides: Vec<&[usize]> = layouts.iter().map(|l| l.stride()).collect();
    let (cdims, cstrides) = coalesce_dims(dims, &strides);
    let r = cdims.len();
    let inner = cdims[r - 1];
    let outer_dims = cdims[..r - 1].to_vec();
    let starts = layouts
        .iter()
        .zip(cstrides.iter())
        .map(|(l, s)| {
            let outer = Layout::new(outer_dims.clone().into(), s[..r - 1].to_vec(), l.start_offset());
            if layouts[0].shape().elem_count() == 0 {
                Vec::new()
            } else {
                outer.strided_index().collect()
            }
        })
        .collect();
    Rows { inner, strides: cstrides.iter().map(|s| s[r - 1]).collect(), starts }
}

/// `out[i] = f(a[i], b[i])` over two same-shape layouts.
pub(crate) fn zip_map<T, U>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
{
    let n = al.shape().elem_count();
    if let (Some((a0, a1)), Some((b0, b1))) = (al.contiguous_offsets(), bl.contiguous_offsets()) {
        let (a, b) = (&a[a0..a1], &b[b0..b1]);
        // The output is filled piece by piece (no zeroing pass, see `collect_pieces`); each
        // piece of `a` finds its partner in `b` from its offset inside `a`.
        let base = a.as_ptr() as usize;
        let size = std::mem::size_of::<T>().max(1);
        return super::kernels::collect_pieces(
            a,
            2048,
            PARALLEL_THRESHOLD / 4,
            n >= PARALLEL_THRESHOLD,
            |s, d| {
                let off = (s.as_ptr() as usize - base) / size;
                for ((o, &x), &y) in d.iter_mut().zip(s).zip(&b[off..off + s.len()]) {
                    *o = f(x, y);
                }
            },
        );
    }
    let mut out = vec![U::default(); n];
    if n == 0 {
        return out;
    }
    let Rows { inner, strides, starts } = rows(&[al, bl]);
    let (sa, sb) = (strides[0], strides[1]);
    let row = |o: &mut [U], ra: usize, rb: usize| match (sa, sb) {
        (1, 1) => {
            for ((o, &x), &y) in o.iter_mut().zip(&a[ra..ra + inner]).zip(&b[rb..rb + inner]) {
                *o = f(x, y);
            }
        }
        (1, 0) => {
            let y = b[rb];
            for (o, &x) in o.iter_mut().zip(&a[ra..ra + inner]) {
                *o = f(x, y);
            }
        }
        (0, 1) => {
            let x = a[ra];
            for (o, &y) in o.iter_mut().zip(&b[rb..rb + inner]) {
                *o = f(x, y);
            }
        }
        _ => {
            for (i, o) in o.iter_mut().enumerate() {
                *o = f(a[ra + i * sa], b[rb + i * sb]);
            }
        }
    };
    if n >= PARALLEL_THRESHOLD && starts[0].len() > 1 {
        let rows_per_task = (PARALLEL_THRESHOLD / 4 / inner).max(1);
        crate::device::install(|| {
            out.par_chunks_mut(inner * rows_per_task).enumerate().for_each(|(t, o)| {
                for (k, o) in o.chunks_exact_mut(inner).enumerate() {
                    let r = t * rows_per_task + k;
                    row(o, starts[0][r], starts[1][r]);
                }
            })
        });
    } else {
        for ((o, &ra), &rb) in out.chunks_exact_mut(inner).zip(&starts[0]).zip(&starts[1]) {
            row(o, ra, rb);
        }
    }
    out
}

struct Binary<B: BinaryOpT>(std::marker::PhantomData<B>);

impl<B: BinaryOpT> Map2 for Binary<B> {
    const OP: &'static str = B::NAME;
    fn f<T: CpuElement>(&self, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Result<Vec<T>> {
        Ok(zip_map(a, al, b, bl, B::f::<T>))
    }
}

pub(crate) fn binary_map<B: BinaryOpT>(
    a: &CpuStorage,
    al: &Layout,
    b: &CpuStorage,
    bl: &Layout,
) -> Result<CpuStorage> {
    if B::FLOAT_ONLY && !a.dtype().is_float() {
        return Err(Error::unsupported_dtype(B::NAME, a.dtype(), "needs a float dtype"));
    }
    if B::NONZERO_INT_RHS && a.dtype().is_int() {
        let has_zero = with_vec!(b, v => super::copy::map_strided(v, bl, |x| x.to_f64() == 0.0)
            .into_iter()
            .any(|z| z));
        if has_zero {
            return Err(Error::invalid("div", format!("integer division by zero ({} divisor)", b.dtype())));
        }
    }
    Binary::<B>(std::marker::PhantomData).map(a, al, b, bl)
}

pub(crate) fn cmp_map(
    op: CmpOp,
    a: &CpuStorage,
    al: &Layout,
    b: &CpuStorage,
    bl: &Layout,
) -> Result<CpuStorage> {
    let mask = with_pair!(op.name(), a, b, (x, y) => Ok(zip_map(x, al, y, bl, |p, q| op.apply(p, q) as u8)))?;
    Ok(CpuStorage::U8(mask.into()))
}

/// `cond != 0 ? t : f`, all three layouts of one shape.
pub(crate) fn where_cond(
    cond: &CpuStorage,
    cl: &Layout,
    t: &CpuStorage,
    tl: &Layout,
    f: &CpuStorage,
    fl: &Layout,
) -> Result<CpuStorage> {
    fn go<C: Copy + WithDType, T: CpuElement>(
        c: &[C],
        cl: &Layout,
        t: &[T],
        tl: &Layout,
        f: &[T],
        fl: &Layout,
    ) -> Vec<T> {
        let n = cl.shape().elem_count();
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let Rows { inner, strides, starts } = rows(&[cl, tl, fl]);
        for ((&rc, &rt), &rf) in starts[0].iter().zip(&starts[1]).zip(&starts[2]) {
            for i in 0..inner {
                let keep = c[rc + i * strides[0]] != C::ZERO;
                out.push(if keep { t[rt + i * strides[1]] } else { f[rf + i * strides[2]] });
            }
        }
        out
    }
    macro_rules! values {
        ($c:expr) => {
            with_pair!("where_cond", t, f, (t, f) => Ok(CpuElement::into_storage(go($c, cl, t, tl, f, fl))))
        };
    }
    match cond {
        CpuStorage::U8(c) => values!(c),
        CpuStorage::U32(c) => values!(c),
        CpuStorage::I64(c) => values!(c),
        other => {
            Err(Error::unsupported_dtype("where_cond", other.dtype(), "the condition must be u8, u32 or i64"))
        }
    }
}
