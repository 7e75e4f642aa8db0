//! The quantized matrix product `x @ Wᵀ` for a quantized `W` of shape (n, k).
//!
//! Activations are quantized once per row into the weight format's dot type (Q8_0, Q8_1 or
//! Q8_K). Work is split over wick's pool by output column, that is by weight row, so each
//! thread streams its own slice of the weights; a weight row is dotted with every activation
//! row while it is in L1 (prefill), and small products stay on the calling thread.

use super::interleaved::{Interleaved, ROWS};
use super::{with_block, GgmlBlock, QTensor};
use crate::{DType, Device, Error, Result, Tensor};
use bytemuck::Zeroable;
use rayon::prelude::*;

/// Products with fewer multiply-adds than this run on the calling thread.
const SMALL: usize = 1 << 17;

impl QTensor {
    /// `x @ selfᵀ` for this (n, k) weight and `x` of shape (…, k): shape (…, n), F32.
    ///
    /// Block formats use the quantized dot products; F32/F16/BF16 weights go through the
    /// dense matmul.
    pub fn matmul_t(&self, x: &Tensor) -> Result<Tensor> {
        let op = "QTensor::matmul_t";
        let (n, k) = match self.shape() {
            &[n, k] => (n, k),
            s => return Err(Error::invalid(op, format!("the weight must be 2-D (n, k), got {s:?}"))),
        };
        let xd = x.dims();
        if xd.last() != Some(&k) {
            return Err(Error::invalid(op, format!("input {xd:?} does not end in k = {k} (weight {n}x{k})")));
        }
        let mut out_shape = xd.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = n;
        }
        let m = x.elem_count() / k.max(1);
        let xv = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let out = with_block!(self.dtype(), B => match self.interleaved() {
            Some(iw) => matmul_interleaved::<B>(iw, self.blocks::<B>()?, &xv, m, n, k)?,
            None => matmul_blocks::<B>(self.blocks::<B>()?, &xv, m, n, k)?,
        },
        _dense => {
            let w = self.dequantize()?;
            return x.to_dtype(DType::F32)?.reshape((m, k))?.matmul(&w.t()?)?.reshape(out_shape);
        });
        Tensor::from_vec(out, out_shape, &Device::Cpu)
    }
}

impl QTensor {
    /// `x @ wᵀ` for each of `weights` (each (nᵢ, k)) against the same `x` of shape (…, k):
    /// shapes (…, nᵢ), F32. Where every weight is interleaved in one format (see
    /// [`QTensor::matmul_t`]), `x` is quantized once and, for a single activation row (decode),
    /// all products share one parallel pass; otherwise the products run one by one.
    ///
    /// ```
    /// use wick::quantized::QTensor;
    /// use wick::gguf::GgmlDType;
    /// use wick::{Device, Tensor};
    /// let q = QTensor::quantize(&Tensor::randn(0f32, 1.0, (64, 256), &Device::Cpu)?, GgmlDType::Q4_0)?;
    /// let k = QTensor::quantize(&Tensor::randn(0f32, 1.0, (32, 256), &Device::Cpu)?, GgmlDType::Q4_0)?;
    /// let x = Tensor::randn(0f32, 1.0, (1, 256), &Device::Cpu)?;
    /// let ys = QTensor::matmul_t_many(&[&q, &k], &x)?;
    /// assert_eq!((ys[0].dims(), ys[1].dims()), (&[1usize, 64][..], &[1usize, 32][..]));
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn matmul_t_many(weights: &[&QTensor], x: &Tensor) -> Result<Vec<Tensor>> {
        let op = "QTensor::matmul_t_many";
        let fused = || -> Option<(Vec<&Interleaved>, Vec<usize>, usize)> {
            let k = *weights.first()?.shape().get(1)?;
            let dtype = weights.first()?.dtype();
            let mut parts = Vec::with_capacity(weights.len());
            let mut ns = Vec::with_capacity(weights.len());
            for w in weights {
                match w.shape() {
                    &[n, kk] if kk == k && w.dtype() == dtype && n % ROWS == 0 => {
                        parts.push(w.interleaved()?);
                        ns.push(n);
                    }
                    _ => return None,
                }
            }
            Some((parts, ns, k))
        };
        let Some((parts, ns, k)) = fused() else {
            return weights.iter().map(|w| w.matmul_t(x)).collect();
        };
        let xd = x.dims();
        if xd.last() != Some(&k) {
            return Err(Error::invalid(op, format!("input {xd:?} does not end in k = {k}")));
        }
        let m = x.elem_count() / k.max(1);
        let xv = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let mut bufs = ns
            .iter()
            .map(|&n| {
                let len = m.checked_mul(n).ok_or_else(|| Error::overflow(op, format!("{m}x{n} output")))?;
                Ok(vec![0f32; len])
            })
            .collect::<Result<Vec<_>>>()?;
        let mut outs: Vec<(&mut [f32], usize)> =
            bufs.iter_mut().zip(&ns).map(|(b, &n)| (b.as_mut_slice(), n)).collect();
        Interleaved::matmul_many(&parts, &xv, m, k, &mut outs)?;
        bufs.into_iter()
            .zip(&ns)
            .map(|(b, &n)| {
                let mut shape = xd.to_vec();
                if let Some(last) = shape.last_mut() {
                    *last = n;
                }
                Tensor::from_vec(b, shape, &Device::Cpu)
            })
            .collect()
    }
}

/// `x (m, k) @ wᵀ` by the interleaved kernels for the first `16 · (n / 16)` rows of `w` and
/// [`matmul_blocks`] for the rest.
fn matmul_interleaved<B: GgmlBlock>(
    iw: &Interleaved,
    w: &[B],
    x: &[f32],
    m: usize,
    n: usize,
    k: usize,
) -> Result<Vec<f32>> {
    let out_len =
        m.checked_mul(n).ok_or_else(|| Error::overflow("QTensor::matmul_t", format!("{m}x{n} output")))?;
    let mut out = vec![0f32; out_len];
    iw.matmul_into(x, m, k, &mut out, n)?;
    let done = n / ROWS * ROWS;
    if done < n {
        let kb = k / B::BLOCK_SIZE;
        let tail = matmul_blocks::<B>(&w[done * kb..], x, m, n - done, k)?;
        for (dst, src) in out.chunks_exact_mut(n).zip(tail.chunks_exact(n - done)) {
            dst[done..].copy_from_slice(src);
        }
    }
    Ok(out)
}

/// `x (m, k) @ wᵀ` for `w` the blocks of an (n, k) matrix: (m, n) row-major.
fn matmul_blocks<B: GgmlBlock>(w: &[B], x: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>> {
    let kb = k / B::BLOCK_SIZE;
    let out_len =
        m.checked_mul(n).ok_or_else(|| Error::overflow("QTensor::matmul_t", format!("{m}x{n} output")))?;
    if w.len() != n * kb || x.len() != m * k {
        return Err(Error::invalid("QTensor::matmul_t", "operand sizes do not match their shapes"));
    }
    if out_len == 0 || kb == 0 {
        return Ok(vec![0.0; out_len]);
    }
    let parallel = (m as u128) * (n as u128) * (k as u128) >= SMALL as u128;
    let mut xq = vec![B::VecDotType::zeroed(); m * kb];
    let quantize = |(q, r): (&mut [B::VecDotType], &[f32])| B::VecDotType::quantize_blocks(r, q);
    if parallel && m > 1 {
        crate::device::install(|| xq.par_chunks_mut(kb).zip(x.par_chunks(k)).for_each(quantize));
    } else {
        xq.chunks_mut(kb).zip(x.chunks(k)).for_each(quantize);
    }
    // Column-major result (n rows of m): each task owns a run of weight rows.
    let mut out_t = vec![0f32; out_len];
    let rows_body = |(task, dst): (usize, &mut [f32]), rows_per_task: usize| {
        let first = task * rows_per_task;
        let rows = dst.len() / m;
        B::dot_tile(&w[first * kb..(first + rows) * kb], &xq, kb, dst);
    };
    if parallel {
        // A few tasks per thread, each a contiguous run of whole 4-row tiles.
        let threads = crate::num_threads().max(1);
        let rows_per_task = n.div_ceil(threads * 4).next_multiple_of(4);
        crate::device::install(|| {
            out_t.par_chunks_mut(rows_per_task * m).enumerate().for_each(|t| rows_body(t, rows_per_task))
        });
    } else {
        rows_body((0, &mut out_t), n);
    }
    if m == 1 {
        return Ok(out_t);
    }
    let mut out = vec![0f32; out_len];
    for (r, col) in out_t.chunks(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * n + r] = v;
        }
    }
    Ok(out)
}
