//! Elementwise ops of two (or three) operands that already share one broadcast shape.

use super::kernels::arith::{self, Arith};
use super::kernels::as_uninit;
use super::{with_pair, with_vec, CpuElement, CpuStorage, Map2, PARALLEL_THRESHOLD};
use crate::dtype::WithDType;
use crate::layout::coalesce_dims;
use crate::op::{BinaryKind, BinaryOpT, CmpOp};
use crate::{Error, Layout, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

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

/// Where a layout finds element `i` (row-major) when it repeats one contiguous block: at
/// `start + i % block`. Covers contiguous layouts (`block` = all elements), a row or plane
/// broadcast along leading dims (`(D,)` or `(N, D)` seen as `(B, N, D)`) and a broadcast scalar
/// (`block` = 1).
fn repeated_block(l: &Layout) -> Option<(usize, usize)> {
    let (dims, strides) = (l.dims(), l.stride());
    let mut block = 1;
    let mut p = dims.len();
    // The longest row-major tail (dims of size 1 have any stride)...
    while p > 0 && (dims[p - 1] == 1 || strides[p - 1] == block) {
        block *= dims[p - 1];
        p -= 1;
    }
    // ...repeated by every dim before it.
    dims[..p].iter().zip(&strides[..p]).all(|(&d, &s)| d == 1 || s == 0).then_some((l.start_offset(), block))
}

/// `out[i] = f(a[i], b[i])` over two same-shape layouts.
pub(crate) fn zip_map<T, U>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    f: impl Fn(T, T) -> U + Copy + Sync + Send,
) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
{
    let seg = move |x: &[T], y: &[T], o: &mut [MaybeUninit<U>]| {
        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
            o.write(f(x, y));
        }
    };
    let seg_scalar = move |x: &[T], y: T, rhs: bool, o: &mut [MaybeUninit<U>]| {
        for (o, &x) in o.iter_mut().zip(x) {
            o.write(if rhs { f(x, y) } else { f(y, x) });
        }
    };
    zip_map_with(a, al, b, bl, seg, seg_scalar, f)
}

/// [`zip_map`] with slice kernels for the runs where both operands are contiguous (`seg`) and
/// where one is a single value (`seg_scalar(x, y, rhs, out)`: `f(x[i], y)` when `rhs`, else
/// `f(y, x[i])`); all three must compute the same function. The slice kernels write every
/// element of `out` up to the length of `x` (their outputs may be uninitialized memory).
pub(crate) fn zip_map_with<T, U>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    seg: impl Fn(&[T], &[T], &mut [MaybeUninit<U>]) + Sync + Send,
    seg_scalar: impl Fn(&[T], T, bool, &mut [MaybeUninit<U>]) + Sync + Send,
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
{
    let n = al.shape().elem_count();
    if n == 0 {
        return Vec::new();
    }
    // Fast path: one operand contiguous, the other contiguous too or one block (of at least a
    // vector's worth) repeated along the leading dims — `x + bias` with a row bias. The output
    // is written piece by piece over the contiguous operand straight into uninitialized memory
    // (see `collect_pieces`), each piece cut where the other operand's block wraps around.
    const MIN_BLOCK: usize = 16;
    if let (Some((a0, ab)), Some((b0, bb))) = (repeated_block(al), repeated_block(bl)) {
        if (ab == n && bb >= MIN_BLOCK) || (bb == n && ab >= MIN_BLOCK) {
            let a_drives = ab == n;
            let (main, other) =
                if a_drives { (&a[a0..a0 + n], &b[b0..b0 + bb]) } else { (&b[b0..b0 + n], &a[a0..a0 + ab]) };
            let block = other.len();
            let base = main.as_ptr() as usize;
            let size = std::mem::size_of::<T>().max(1);
            // SAFETY: the pieces of `d` are cut exactly like those of `s`, and `seg` writes every
            // element of its output as long as its first operand.
            return unsafe {
                super::kernels::collect_pieces(
                    main,
                    2048,
                    PARALLEL_THRESHOLD / 4,
                    n >= PARALLEL_THRESHOLD,
                    |s, d| {
                        let off = (s.as_ptr() as usize - base) / size;
                        let mut i = 0;
                        while i < s.len() {
                            let j = (off + i) % block;
                            let len = (block - j).min(s.len() - i);
                            let (x, y, o) = (&s[i..i + len], &other[j..j + len], &mut d[i..i + len]);
                            if a_drives {
                                seg(x, y, o)
                            } else {
                                seg(y, x, o)
                            }
                            i += len;
                        }
                    },
                )
            };
        }
    }
    let mut out = vec![U::default(); n];
    let Rows { inner, strides, starts } = rows(&[al, bl]);
    let (sa, sb) = (strides[0], strides[1]);
    let row = |o: &mut [U], ra: usize, rb: usize| {
        // SAFETY: the slice kernels and the loop below write only `U` values.
        let o = unsafe { as_uninit(o) };
        match (sa, sb) {
            (1, 1) => seg(&a[ra..ra + inner], &b[rb..rb + inner], o),
            (1, 0) => seg_scalar(&a[ra..ra + inner], b[rb], true, o),
            (0, 1) => seg_scalar(&b[rb..rb + inner], a[ra], false, o),
            _ => {
                for (i, o) in o.iter_mut().enumerate() {
                    o.write(f(a[ra + i * sa], b[rb + i * sb]));
                }
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

/// The vector kernel computing `kind` on f32, if there is one.
fn arith_of(kind: BinaryKind) -> Option<Arith> {
    match kind {
        BinaryKind::Add => Some(Arith::Add),
        BinaryKind::Sub => Some(Arith::Sub),
        BinaryKind::Mul => Some(Arith::Mul),
        BinaryKind::Div => Some(Arith::Div),
        BinaryKind::Maximum | BinaryKind::Minimum | BinaryKind::Pow => None,
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
    if let (CpuStorage::F32(x), CpuStorage::F32(y), Some(op)) = (a, b, arith_of(B::KIND)) {
        let out = zip_map_with(
            x,
            al,
            y,
            bl,
            |p, q, o| arith::zip(op, p, q, o),
            |p, q, rhs, o| arith::zip_scalar(op, p, q, rhs, o),
            |p, q| op.f(p, q),
        );
        return Ok(CpuStorage::F32(out.into()));
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
