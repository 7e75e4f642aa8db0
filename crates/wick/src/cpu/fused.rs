//! Fused ops over the last dim (softmax, log-softmax, layer norm, RMS norm): the f32 row
//! kernels of `kernels/`, rows split across wick's pool. f16 and bf16 rows are widened to
//! f32, computed, and rounded back once; other dtypes answer `None` and the caller composes
//! the op from primitives.

use super::kernels::{as_uninit, collect_pieces, convert, norm, softmax};
use super::{contiguous_cow, CpuStorage, PARALLEL_THRESHOLD};
use crate::{Layout, Result};
use half::{bf16, f16};
use std::mem::MaybeUninit;

/// `kernel(rows_in, rows_out)` over whole `dim`-long rows of `l`, in parallel blocks of rows
/// once the input is large, straight into uninitialized memory.
///
/// # Safety
/// `kernel(x, out)` must write every element of `out` (as long as `x`).
unsafe fn map_rows<T: Copy + Send + Sync>(
    v: &[T],
    l: &Layout,
    dim: usize,
    kernel: impl Fn(&[T], &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let src = contiguous_cow(v, l);
    let parallel = src.len() >= PARALLEL_THRESHOLD && src.len() > dim;
    let piece = (2048 / dim).max(1) * dim;
    // SAFETY: the caller's kernel writes every element of its output.
    unsafe { collect_pieces(&src, piece, PARALLEL_THRESHOLD / 4, parallel, kernel) }
}

/// Half-precision conversions, so one body serves f16 and bf16.
trait Half: Copy + Send + Sync + Default {
    fn widen(x: &[Self], out: &mut [f32]);
    fn narrow(x: &[f32], out: &mut [MaybeUninit<Self>]);
}
impl Half for bf16 {
    fn widen(x: &[Self], out: &mut [f32]) {
        convert::bf16_to_f32(x, out)
    }
    fn narrow(x: &[f32], out: &mut [MaybeUninit<Self>]) {
        convert::f32_to_bf16_uninit(x, out)
    }
}
impl Half for f16 {
    fn widen(x: &[Self], out: &mut [f32]) {
        convert::f16_to_f32(x, out)
    }
    fn narrow(x: &[f32], out: &mut [MaybeUninit<Self>]) {
        convert::f32_to_f16_uninit(x, out)
    }
}

/// Runs an f32 kernel on half-precision data: widen, compute, round back once; writes every
/// element of `out` that `x` has.
fn via_f32<H: Half>(x: &[H], out: &mut [MaybeUninit<H>], kernel: impl Fn(&[f32], &mut [MaybeUninit<f32>])) {
    let mut xf = vec![0f32; x.len()];
    let mut of = vec![0f32; x.len()];
    H::widen(x, &mut xf);
    // SAFETY: the row kernels write only f32 values.
    kernel(&xf, unsafe { as_uninit(&mut of) });
    H::narrow(&of, out);
}

fn widen_vec<H: Half>(v: &[H], l: &Layout) -> Vec<f32> {
    let src = contiguous_cow(v, l);
    let mut out = vec![0f32; src.len()];
    H::widen(&src, &mut out);
    out
}

/// The elements of a float storage as f32 (`None` for other dtypes).
fn f32_vec(s: &CpuStorage, l: &Layout) -> Option<Vec<f32>> {
    match s {
        CpuStorage::F32(v) => Some(contiguous_cow(v, l).into_owned()),
        CpuStorage::BF16(v) => Some(widen_vec(v, l)),
        CpuStorage::F16(v) => Some(widen_vec(v, l)),
        _ => None,
    }
}

/// Applies a row kernel `k(x, out)` (over rows of `dim`) to f32, bf16 or f16 storage.
///
/// # Safety
/// `k(x, out)` must write every element of `out` (as long as `x`).
unsafe fn on_rows(
    s: &CpuStorage,
    l: &Layout,
    dim: usize,
    k: impl Fn(&[f32], &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Option<CpuStorage> {
    if dim == 0 {
        return None;
    }
    Some(match s {
        // SAFETY (each of the three): `k` writes every element of its output, and so does
        // `via_f32` over the rows it is given.
        CpuStorage::F32(v) => CpuStorage::F32(unsafe { map_rows(v, l, dim, &k) }.into()),
        // SAFETY: as above.
        CpuStorage::BF16(v) => {
            CpuStorage::BF16(unsafe { map_rows(v, l, dim, |x, o| via_f32(x, o, &k)) }.into())
        }
        // SAFETY: as above.
        CpuStorage::F16(v) => {
            CpuStorage::F16(unsafe { map_rows(v, l, dim, |x, o| via_f32(x, o, &k)) }.into())
        }
        _ => return None,
    })
}

fn last_dim(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(1)
}

pub(crate) fn softmax_last_dim(s: &CpuStorage, l: &Layout, log: bool) -> Result<Option<CpuStorage>> {
    let dim = last_dim(l);
    // SAFETY: the softmax kernel writes every element of its output.
    Ok(unsafe { on_rows(s, l, dim, |x, o| softmax::softmax(x, o, dim, log)) })
}

pub(crate) fn layer_norm(
    s: &CpuStorage,
    l: &Layout,
    w: (&CpuStorage, &Layout),
    b: Option<(&CpuStorage, &Layout)>,
    eps: f64,
) -> Result<Option<CpuStorage>> {
    let dim = last_dim(l);
    let Some(w) = f32_vec(w.0, w.1) else { return Ok(None) };
    let b = match b {
        Some((b, bl)) => match f32_vec(b, bl) {
            Some(b) => Some(b),
            None => return Ok(None),
        },
        None => None,
    };
    if w.len() != dim || b.as_ref().is_some_and(|b| b.len() != dim) {
        return Ok(None);
    }
    // SAFETY: the norm kernels write every element of their output.
    Ok(unsafe { on_rows(s, l, dim, |x, o| norm::layer_norm(x, &w, b.as_deref(), o, eps as f32)) })
}

pub(crate) fn rms_norm(
    s: &CpuStorage,
    l: &Layout,
    w: (&CpuStorage, &Layout),
    eps: f64,
) -> Result<Option<CpuStorage>> {
    let dim = last_dim(l);
    let Some(w) = f32_vec(w.0, w.1) else { return Ok(None) };
    if w.len() != dim {
        return Ok(None);
    }
    // SAFETY: the norm kernels write every element of their output.
    Ok(unsafe { on_rows(s, l, dim, |x, o| norm::rms_norm(x, &w, o, eps as f32)) })
}
