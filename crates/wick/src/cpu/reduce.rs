//! Reductions (sum, max, min, argmax, argmin) and cumulative sums.

use super::{contiguous_cow, contiguous_vec, kernels, CpuElement, CpuStorage, Map1Any, PARALLEL_THRESHOLD};
use crate::dtype::WithDType;
use crate::op::ReduceOp;
use crate::{DType, Layout, Result};
use half::{bf16, f16};
use rayon::prelude::*;

/// The data arranged as `[outer, red, inner]`, reduced over `red`.
struct Problem<'a, T: Clone> {
    data: std::borrow::Cow<'a, [T]>,
    outer: usize,
    red: usize,
    inner: usize,
}

fn arrange<'a, T: Copy>(v: &'a [T], l: &Layout, dims: &[usize]) -> Problem<'a, T> {
    let shape = l.dims();
    let consecutive = dims.windows(2).all(|w| w[1] == w[0] + 1);
    if consecutive && !dims.is_empty() {
        let (d0, d1) = (dims[0], dims[dims.len() - 1]);
        return Problem {
            data: contiguous_cow(v, l),
            outer: shape[..d0].iter().product(),
            red: shape[d0..=d1].iter().product(),
            inner: shape[d1 + 1..].iter().product(),
        };
    }
    // Move the reduced dims last, then gather.
    let mut perm: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let pl = l.permute(&perm);
    let red: usize = dims.iter().map(|&d| shape[d]).product();
    Problem {
        data: std::borrow::Cow::Owned(contiguous_vec(v, &pl)),
        outer: (0..shape.len()).filter(|d| !dims.contains(d)).map(|d| shape[d]).product(),
        red,
        inner: 1,
    }
}

/// Sums `[outer, red, inner]` with an accumulator type `A`.
fn sum_with<
    T: Copy + Send + Sync,
    A: Copy + Send + Sync + std::ops::Add<Output = A>,
    U: Copy + Default + Send + Sync,
>(
    p: &Problem<T>,
    zero: A,
    widen: impl Fn(T) -> A + Sync,
    narrow: impl Fn(A) -> U + Sync,
) -> Vec<U> {
    let Problem { data, outer, red, inner } = p;
    let (red, inner) = (*red, *inner);
    let mut out = vec![U::default(); outer * inner];
    let body = |(o, x): (&mut [U], &[T])| {
        if inner == 1 {
            // Eight independent partial sums: vectorizable, and more accurate than one chain.
            let mut acc = [zero; 8];
            let chunks = x.chunks_exact(8);
            let tail = chunks.remainder();
            for c in chunks {
                for k in 0..8 {
                    acc[k] = acc[k] + widen(c[k]);
                }
            }
            let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for &t in tail {
                s = s + widen(t);
            }
            o[0] = narrow(s);
        } else {
            let mut acc = vec![zero; inner];
            for r in 0..red {
                for (a, &t) in acc.iter_mut().zip(&x[r * inner..(r + 1) * inner]) {
                    *a = *a + widen(t);
                }
            }
            for (o, a) in o.iter_mut().zip(acc) {
                *o = narrow(a);
            }
        }
    };
    if red * inner == 0 {
        return out.iter().map(|_| narrow(zero)).collect();
    }
    let tasks = out.chunks_mut(inner).zip(data.chunks(red * inner));
    if outer * red * inner >= PARALLEL_THRESHOLD && *outer > 1 {
        let items: Vec<_> = tasks.collect();
        crate::device::install(|| items.into_par_iter().for_each(body));
    } else {
        tasks.for_each(body);
    }
    out
}

fn fold_with<T: Copy + Send + Sync>(p: &Problem<T>, init: T, f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    let Problem { data, outer, red, inner } = p;
    let (red, inner) = (*red, *inner);
    let mut out = vec![init; outer * inner];
    if red * inner == 0 {
        return out;
    }
    let body = |(o, x): (&mut [T], &[T])| {
        for r in 0..red {
            for (a, &t) in o.iter_mut().zip(&x[r * inner..(r + 1) * inner]) {
                *a = f(*a, t);
            }
        }
    };
    let tasks = out.chunks_mut(inner).zip(data.chunks(red * inner));
    if outer * red * inner >= PARALLEL_THRESHOLD && *outer > 1 {
        let items: Vec<_> = tasks.collect();
        crate::device::install(|| items.into_par_iter().for_each(body));
    } else {
        tasks.for_each(body);
    }
    out
}

fn arg_with<T: WithDType>(p: &Problem<T>, better: impl Fn(T, T) -> bool) -> Vec<u32> {
    let Problem { data, outer, red, inner } = p;
    let (red, inner) = (*red, *inner);
    let mut out = vec![0u32; outer * inner];
    for o in 0..*outer {
        let x = &data[o * red * inner..(o + 1) * red * inner];
        for i in 0..inner {
            let mut best = x[i];
            let mut best_r = 0usize;
            if !best.is_nan_() {
                for r in 1..red {
                    let v = x[r * inner + i];
                    // A NaN wins over everything, as in NumPy and PyTorch.
                    if v.is_nan_() {
                        best_r = r;
                        break;
                    }
                    if better(v, best) {
                        best = v;
                        best_r = r;
                    }
                }
            }
            out[o * inner + i] = best_r as u32;
        }
    }
    out
}

struct Reduce<'a> {
    op: ReduceOp,
    dims: &'a [usize],
}

impl Map1Any for Reduce<'_> {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<CpuStorage> {
        let p = arrange(v, l, self.dims);
        Ok(match self.op {
            ReduceOp::Sum => T::into_storage(sum_generic(&p)),
            ReduceOp::Max => T::into_storage(fold_with(&p, T::MIN_VALUE, |a, b| a.max_(b))),
            ReduceOp::Min => T::into_storage(fold_with(&p, T::MAX_VALUE, |a, b| a.min_(b))),
            ReduceOp::ArgMax => CpuStorage::U32(arg_with(&p, |a, b| a > b).into()),
            ReduceOp::ArgMin => CpuStorage::U32(arg_with(&p, |a, b| a < b).into()),
        })
    }
}

fn sum_generic<T: CpuElement>(p: &Problem<T>) -> Vec<T> {
    match T::DTYPE {
        // f16/bf16 accumulate in f32; f32 in f32 with 8 partial sums.
        DType::F16 | DType::BF16 | DType::F32 => {
            sum_with(p, 0f32, |x: T| x.to_f64() as f32, |a: f32| T::from_f64(a as f64))
        }
        _ => sum_with(p, Wrap(T::ZERO), Wrap, |a: Wrap<T>| a.0),
    }
}

/// Adds with the element type's own (wrapping for integers) arithmetic.
#[derive(Clone, Copy)]
struct Wrap<T>(T);
impl<T: WithDType> std::ops::Add for Wrap<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Wrap(self.0.add(o.0))
    }
}

/// Reduces each contiguous row of `p` (`inner == 1`) with a vector kernel, rows in parallel
/// once the problem is large.
fn rows_with(p: &Problem<f32>, kernel: fn(&[f32]) -> f32) -> Vec<f32> {
    let mut out = vec![kernel(&[]); p.outer];
    if p.red == 0 {
        return out;
    }
    if p.outer == 1 && p.red >= 4 * PARALLEL_THRESHOLD {
        // One long row: reduce pieces on every thread, then reduce the partial results (sum,
        // max and min are all associative, and NaN still propagates).
        let piece = p.red.div_ceil(4 * crate::device::num_threads()).max(PARALLEL_THRESHOLD);
        let partials: Vec<f32> = crate::device::install(|| p.data.par_chunks(piece).map(kernel).collect());
        out[0] = kernel(&partials);
        return out;
    }
    let rows = p.data.chunks(p.red);
    if p.outer * p.red >= PARALLEL_THRESHOLD && p.outer > 1 {
        crate::device::install(|| {
            out.par_iter_mut().zip(p.data.par_chunks(p.red)).for_each(|(o, r)| *o = kernel(r))
        });
    } else {
        out.iter_mut().zip(rows).for_each(|(o, r)| *o = kernel(r));
    }
    out
}

/// f32 sum, max and min: SIMD over contiguous rows, the generic loops otherwise.
fn reduce_f32(v: &[f32], l: &Layout, op: ReduceOp, dims: &[usize]) -> Option<Vec<f32>> {
    let kernel: fn(&[f32]) -> f32 = match op {
        ReduceOp::Sum => kernels::reduce::sum,
        ReduceOp::Max => kernels::reduce::max,
        ReduceOp::Min => kernels::reduce::min,
        ReduceOp::ArgMax | ReduceOp::ArgMin => return None,
    };
    let p = arrange(v, l, dims);
    Some(match (p.inner, op) {
        (1, _) => rows_with(&p, kernel),
        (_, ReduceOp::Sum) => sum_with(&p, 0f32, |x| x, |a| a),
        (_, ReduceOp::Max) => fold_with(&p, f32::MIN_VALUE, |a, b| a.max_(b)),
        _ => fold_with(&p, f32::MAX_VALUE, |a, b| a.min_(b)),
    })
}

pub(crate) fn reduce_op(s: &CpuStorage, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<CpuStorage> {
    if let CpuStorage::F32(v) = s {
        if let Some(out) = reduce_f32(v, l, op, dims) {
            return Ok(CpuStorage::F32(out.into()));
        }
    }
    // Fast typed paths for the common float sums (avoid the f64 round trip).
    if op == ReduceOp::Sum {
        match s {
            CpuStorage::BF16(v) => {
                return Ok(CpuStorage::BF16(
                    sum_with(&arrange(v, l, dims), 0f32, bf16::to_f32, bf16::from_f32).into(),
                ))
            }
            CpuStorage::F16(v) => {
                return Ok(CpuStorage::F16(
                    sum_with(&arrange(v, l, dims), 0f32, f16::to_f32, f16::from_f32).into(),
                ))
            }
            _ => {}
        }
    }
    Reduce { op, dims }.map(s, l)
}

struct Cumsum(usize);
impl Map1Any for Cumsum {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<CpuStorage> {
        let p = arrange(v, l, &[self.0]);
        let (red, inner) = (p.red, p.inner);
        let mut out = Vec::with_capacity(p.data.len());
        if red * inner == 0 {
            return Ok(T::into_storage(out));
        }
        for block in p.data.chunks(red * inner) {
            if T::DTYPE.is_float() {
                let mut acc = vec![0f64; inner];
                for r in 0..red {
                    for (a, &x) in acc.iter_mut().zip(&block[r * inner..(r + 1) * inner]) {
                        *a += x.to_f64();
                        out.push(T::from_f64(*a));
                    }
                }
            } else {
                let mut acc = vec![T::ZERO; inner];
                for r in 0..red {
                    for (a, &x) in acc.iter_mut().zip(&block[r * inner..(r + 1) * inner]) {
                        *a = a.add(x);
                        out.push(*a);
                    }
                }
            }
        }
        Ok(T::into_storage(out))
    }
}

pub(crate) fn cumsum(s: &CpuStorage, l: &Layout, dim: usize) -> Result<CpuStorage> {
    Cumsum(dim).map(s, l)
}
