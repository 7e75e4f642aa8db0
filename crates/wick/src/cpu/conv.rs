//! Convolutions (1d, 2d and their transposes) as im2col/col2im around one GEMM per group.

use super::matmul::gemm_contiguous;
use super::{contiguous_vec, CpuStorage};
use crate::{Error, Layout, Result};
use half::{bf16, f16};

/// Parameters of a 1d convolution over `[batch, c_in, l_in]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamsConv1D {
    /// Batch size.
    pub b: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input length.
    pub l_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel length.
    pub k: usize,
    /// Zero padding on both sides.
    pub padding: usize,
    /// Step between windows.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ParamsConv1D {
    /// Output length, or `None` if the kernel does not fit.
    pub fn l_out(&self) -> Option<usize> {
        conv_out(self.l_in, self.k, self.padding, self.stride, self.dilation)
    }
}

/// Parameters of a 2d convolution over `[batch, c_in, h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamsConv2D {
    /// Batch size.
    pub b: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Zero padding on all sides.
    pub padding: usize,
    /// Step between windows.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ParamsConv2D {
    /// Output height and width, or `None` if the kernel does not fit.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        Some((
            conv_out(self.h, self.kh, self.padding, self.stride, self.dilation)?,
            conv_out(self.w, self.kw, self.padding, self.stride, self.dilation)?,
        ))
    }
}

/// Parameters of a transposed 1d convolution; the kernel is `[c_in, c_out / groups, k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamsConvTranspose1D {
    /// Batch size.
    pub b: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input length.
    pub l_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel length.
    pub k: usize,
    /// Padding removed from both sides of the output.
    pub padding: usize,
    /// Extra size added on one side of the output.
    pub output_padding: usize,
    /// Upsampling step.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ParamsConvTranspose1D {
    /// Output length, or `None` if padding removes everything.
    pub fn l_out(&self) -> Option<usize> {
        conv_transpose_out(self.l_in, self.k, self.padding, self.output_padding, self.stride, self.dilation)
    }
}

/// Parameters of a transposed 2d convolution; the kernel is `[c_in, c_out / groups, kh, kw]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamsConvTranspose2D {
    /// Batch size.
    pub b: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Padding removed from all sides of the output.
    pub padding: usize,
    /// Extra size added on one side of each output dim.
    pub output_padding: usize,
    /// Upsampling step.
    pub stride: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups.
    pub groups: usize,
}

impl ParamsConvTranspose2D {
    /// Output height and width, or `None` if padding removes everything.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        Some((
            conv_transpose_out(
                self.h,
                self.kh,
                self.padding,
                self.output_padding,
                self.stride,
                self.dilation,
            )?,
            conv_transpose_out(
                self.w,
                self.kw,
                self.padding,
                self.output_padding,
                self.stride,
                self.dilation,
            )?,
        ))
    }
}

fn conv_out(n: usize, k: usize, pad: usize, stride: usize, dil: usize) -> Option<usize> {
    let span = dil.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = n.checked_add(pad.checked_mul(2)?)?;
    Some(padded.checked_sub(span)? / stride + 1)
}

fn conv_transpose_out(
    n: usize,
    k: usize,
    pad: usize,
    out_pad: usize,
    stride: usize,
    dil: usize,
) -> Option<usize> {
    let base = n.checked_sub(1)?.checked_mul(stride)?;
    let span = dil.checked_mul(k.checked_sub(1)?)?;
    base.checked_add(span)?.checked_add(out_pad)?.checked_add(1)?.checked_sub(pad.checked_mul(2)?)
}

/// One geometry for all four ops: 2d with per-axis padding (1d is height 1).
#[derive(Clone, Copy)]
struct Geometry {
    b: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    pad_h: usize,
    pad_w: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
    oh: usize,
    ow: usize,
}

/// Element types the conv kernels compute in (halves go through f32).
trait ConvElement:
    super::matmul::GemmElement + super::scratch::Scratch + std::ops::Add<Output = Self> + Send + Sync
{
}
impl ConvElement for f32 {}
impl ConvElement for f64 {}

fn conv_forward<T: ConvElement>(x: &[T], k: &[T], g: Geometry) -> Result<Vec<T>> {
    let Geometry { b, c_in, h, w, c_out, kh, kw, pad_h, pad_w, stride, dilation: _, groups, oh, ow } = g;
    let (cig, cog) = (c_in / groups, c_out / groups);
    let kdim = cig * kh * kw;
    let ncol = oh * ow;
    let mut out = vec![T::default(); b * c_out * ncol];
    // A 1×1 kernel at stride 1 without padding sees each input plane as it is: the channels
    // of a group are already the `kdim × ncol` matrix im2col would copy out.
    if kh == 1 && kw == 1 && stride == 1 && pad_h == 0 && pad_w == 0 {
        for bi in 0..b {
            for gi in 0..groups {
                let xg = &x[(bi * c_in + gi * cig) * h * w..][..cig * h * w];
                let wk = &k[gi * cog * kdim..(gi + 1) * cog * kdim];
                let dst = &mut out[(bi * c_out + gi * cog) * ncol..][..cog * ncol];
                gemm_contiguous(cog, ncol, kdim, wk, xg, dst);
            }
        }
        return Ok(out);
    }
    // The buffer outlives the call, so a convnet's layers reuse pages already faulted in: a
    // fresh 7 MB buffer per call (64 channels of 56×56, 3×3) cost ~1800 page faults and
    // zeroing, about a fifth of that convolution's time.
    super::scratch::with(kdim * ncol, |col: &mut [T]| {
        for bi in 0..b {
            for gi in 0..groups {
                im2col(x, g, bi, gi, col);
                let wk = &k[gi * cog * kdim..(gi + 1) * cog * kdim];
                let dst = &mut out[(bi * c_out + gi * cog) * ncol..][..cog * ncol];
                gemm_contiguous(cog, ncol, kdim, wk, col, dst);
            }
        }
    });
    Ok(out)
}

/// Writes every element of `col` (`cig · kh · kw` rows of `oh · ow`) for batch `bi`, group
/// `gi`: row (c, i, j) holds the input pixels tap (i, j) of channel c sees, zeros where it
/// sees padding. Channels fill disjoint rows, so large inputs split them across threads.
fn im2col<T: ConvElement>(x: &[T], g: Geometry, bi: usize, gi: usize, col: &mut [T]) {
    let Geometry { c_in, h, w, kh, kw, pad_h, pad_w, stride, dilation, groups, oh, ow, .. } = g;
    let cig = c_in / groups;
    let ncol = oh * ow;
    let fill_channel = |c: usize, rows: &mut [T]| {
        let plane = &x[((bi * c_in) + gi * cig + c) * h * w..][..h * w];
        for i in 0..kh {
            for j in 0..kw {
                let row = &mut rows[(i * kw + j) * ncol..][..ncol];
                for oy in 0..oh {
                    let y = (oy * stride + i * dilation) as isize - pad_h as isize;
                    let dst = &mut row[oy * ow..(oy + 1) * ow];
                    if y < 0 || y >= h as isize {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let src = &plane[y as usize * w..(y as usize + 1) * w];
                    // Output columns `lo..hi` see input columns `ox·stride + off` inside the
                    // row; the ones before and after see padding.
                    let off = (j * dilation) as isize - pad_w as isize;
                    let lo = if off >= 0 { 0 } else { ((-off) as usize).div_ceil(stride).min(ow) };
                    let hi = if (w as isize) <= off {
                        lo
                    } else {
                        ((w as isize - off) as usize).div_ceil(stride).clamp(lo, ow)
                    };
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    let first = (lo * stride) as isize + off;
                    if stride == 1 {
                        dst[lo..hi].copy_from_slice(&src[first as usize..][..hi - lo]);
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src[first as usize..].iter().step_by(stride))
                        {
                            *d = *s;
                        }
                    }
                }
            }
        }
    };
    let per_channel = kh * kw * ncol;
    let col = &mut col[..cig * per_channel];
    if col.len() >= super::PARALLEL_THRESHOLD && cig > 1 {
        use rayon::prelude::*;
        crate::device::install(|| {
            col.par_chunks_mut(per_channel).enumerate().for_each(|(c, rows)| fill_channel(c, rows))
        });
    } else {
        for (c, rows) in col.chunks_mut(per_channel).enumerate() {
            fill_channel(c, rows);
        }
    }
}

fn conv_transpose_forward<T: ConvElement>(x: &[T], k: &[T], g: Geometry) -> Result<Vec<T>> {
    let Geometry { b, c_in, h, w, c_out, kh, kw, pad_h, pad_w, stride, dilation, groups, oh, ow } = g;
    let (cig, cog) = (c_in / groups, c_out / groups);
    let rows = cog * kh * kw;
    let mut out = vec![T::default(); b * c_out * oh * ow];
    let mut cols = vec![T::default(); rows * h * w];
    for gi in 0..groups {
        // Kernel of this group as [cig, cog*kh*kw], transposed to [cog*kh*kw, cig].
        let kg = &k[gi * cig * rows..(gi + 1) * cig * rows];
        let mut kt = vec![T::default(); rows * cig];
        for c in 0..cig {
            for r in 0..rows {
                kt[r * cig + c] = kg[c * rows + r];
            }
        }
        for bi in 0..b {
            let xg = &x[(bi * c_in + gi * cig) * h * w..][..cig * h * w];
            gemm_contiguous(rows, h * w, cig, &kt, xg, &mut cols);
            // col2im: scatter each tap's contribution to the output pixel it lands on.
            for co in 0..cog {
                let dst = &mut out[(bi * c_out + gi * cog + co) * oh * ow..][..oh * ow];
                for i in 0..kh {
                    for j in 0..kw {
                        let row = &cols[((co * kh + i) * kw + j) * h * w..][..h * w];
                        for y in 0..h {
                            let oy = (y * stride + i * dilation) as isize - pad_h as isize;
                            if oy < 0 || oy >= oh as isize {
                                continue;
                            }
                            for xx in 0..w {
                                let ox = (xx * stride + j * dilation) as isize - pad_w as isize;
                                if ox < 0 || ox >= ow as isize {
                                    continue;
                                }
                                let d = &mut dst[oy as usize * ow + ox as usize];
                                *d = *d + row[y * w + xx];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Runs a float kernel on any float storage pair (halves computed in f32).
fn run_float(
    op: &'static str,
    x: &CpuStorage,
    xl: &Layout,
    k: &CpuStorage,
    kl: &Layout,
    f32_fn: impl Fn(&[f32], &[f32]) -> Result<Vec<f32>>,
    f64_fn: impl Fn(&[f64], &[f64]) -> Result<Vec<f64>>,
) -> Result<CpuStorage> {
    Ok(match (x, k) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => {
            CpuStorage::F32(f32_fn(&contiguous_vec(a, xl), &contiguous_vec(b, kl))?.into())
        }
        (CpuStorage::F64(a), CpuStorage::F64(b)) => {
            CpuStorage::F64(f64_fn(&contiguous_vec(a, xl), &contiguous_vec(b, kl))?.into())
        }
        (CpuStorage::F16(a), CpuStorage::F16(b)) => {
            let a = super::copy::map_strided(a, xl, f16::to_f32);
            let b = super::copy::map_strided(b, kl, f16::to_f32);
            CpuStorage::F16(f32_fn(&a, &b)?.into_iter().map(f16::from_f32).collect())
        }
        (CpuStorage::BF16(a), CpuStorage::BF16(b)) => {
            let a = super::copy::map_strided(a, xl, bf16::to_f32);
            let b = super::copy::map_strided(b, kl, bf16::to_f32);
            CpuStorage::BF16(f32_fn(&a, &b)?.into_iter().map(bf16::from_f32).collect())
        }
        (a, b) if a.dtype() != b.dtype() => {
            return Err(Error::DTypeMismatch { op, lhs: a.dtype(), rhs: b.dtype() })
        }
        (a, _) => return Err(Error::unsupported_dtype(op, a.dtype(), "needs a float dtype")),
    })
}

pub(crate) fn conv1d(
    x: &CpuStorage,
    xl: &Layout,
    k: &CpuStorage,
    kl: &Layout,
    p: &ParamsConv1D,
) -> Result<CpuStorage> {
    let l_out = p.l_out().ok_or_else(|| Error::invalid("conv1d", "kernel larger than padded input"))?;
    let g = Geometry {
        b: p.b,
        c_in: p.c_in,
        h: 1,
        w: p.l_in,
        c_out: p.c_out,
        kh: 1,
        kw: p.k,
        pad_h: 0,
        pad_w: p.padding,
        stride: p.stride,
        dilation: p.dilation,
        groups: p.groups,
        oh: 1,
        ow: l_out,
    };
    run_float("conv1d", x, xl, k, kl, |a, b| conv_forward(a, b, g), |a, b| conv_forward(a, b, g))
}

pub(crate) fn conv2d(
    x: &CpuStorage,
    xl: &Layout,
    k: &CpuStorage,
    kl: &Layout,
    p: &ParamsConv2D,
) -> Result<CpuStorage> {
    let (oh, ow) = p.out_hw().ok_or_else(|| Error::invalid("conv2d", "kernel larger than padded input"))?;
    let g = Geometry {
        b: p.b,
        c_in: p.c_in,
        h: p.h,
        w: p.w,
        c_out: p.c_out,
        kh: p.kh,
        kw: p.kw,
        pad_h: p.padding,
        pad_w: p.padding,
        stride: p.stride,
        dilation: p.dilation,
        groups: p.groups,
        oh,
        ow,
    };
    run_float("conv2d", x, xl, k, kl, |a, b| conv_forward(a, b, g), |a, b| conv_forward(a, b, g))
}

pub(crate) fn conv_transpose1d(
    x: &CpuStorage,
    xl: &Layout,
    k: &CpuStorage,
    kl: &Layout,
    p: &ParamsConvTranspose1D,
) -> Result<CpuStorage> {
    let l_out =
        p.l_out().ok_or_else(|| Error::invalid("conv_transpose1d", "padding removes the whole output"))?;
    let g = Geometry {
        b: p.b,
        c_in: p.c_in,
        h: 1,
        w: p.l_in,
        c_out: p.c_out,
        kh: 1,
        kw: p.k,
        pad_h: 0,
        pad_w: p.padding,
        stride: p.stride,
        dilation: p.dilation,
        groups: p.groups,
        oh: 1,
        ow: l_out,
    };
    run_float(
        "conv_transpose1d",
        x,
        xl,
        k,
        kl,
        |a, b| conv_transpose_forward(a, b, g),
        |a, b| conv_transpose_forward(a, b, g),
    )
}

pub(crate) fn conv_transpose2d(
    x: &CpuStorage,
    xl: &Layout,
    k: &CpuStorage,
    kl: &Layout,
    p: &ParamsConvTranspose2D,
) -> Result<CpuStorage> {
    let (oh, ow) =
        p.out_hw().ok_or_else(|| Error::invalid("conv_transpose2d", "padding removes the whole output"))?;
    let g = Geometry {
        b: p.b,
        c_in: p.c_in,
        h: p.h,
        w: p.w,
        c_out: p.c_out,
        kh: p.kh,
        kw: p.kw,
        pad_h: p.padding,
        pad_w: p.padding,
        stride: p.stride,
        dilation: p.dilation,
        groups: p.groups,
        oh,
        ow,
    };
    run_float(
        "conv_transpose2d",
        x,
        xl,
        k,
        kl,
        |a, b| conv_transpose_forward(a, b, g),
        |a, b| conv_transpose_forward(a, b, g),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct loop over every output pixel, tap and channel.
    fn direct(x: &[f64], k: &[f64], g: Geometry) -> Vec<f64> {
        let Geometry { b, c_in, h, w, c_out, kh, kw, pad_h, pad_w, stride, dilation, groups, oh, ow } = g;
        let (cig, cog) = (c_in / groups, c_out / groups);
        let mut out = vec![0f64; b * c_out * oh * ow];
        for bi in 0..b {
            for co in 0..c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0f64;
                        for ci in 0..cig {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let y = (oy * stride + i * dilation) as isize - pad_h as isize;
                                    let xx = (ox * stride + j * dilation) as isize - pad_w as isize;
                                    if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                        continue;
                                    }
                                    let c = co / cog * cig + ci;
                                    s += x[((bi * c_in + c) * h + y as usize) * w + xx as usize]
                                        * k[((co * cig + ci) * kh + i) * kw + j];
                                }
                            }
                        }
                        out[((bi * c_out + co) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn reused_im2col_buffer_and_pointwise_path_match_a_direct_loop() {
        // Large (parallel im2col, buffer grown), then small and 1×1 (buffer reused with stale
        // contents, or skipped), then large again, on one thread's scratch.
        let cases = [
            (2, 8, 40, 40, 6, 3, 1, 1, 1, 1),
            (1, 3, 5, 7, 4, 2, 0, 2, 1, 1),
            (2, 6, 9, 11, 4, 1, 0, 1, 1, 2),
            (1, 4, 6, 6, 2, 1, 1, 1, 1, 1),
            (1, 8, 40, 40, 8, 3, 2, 1, 2, 2),
        ];
        for (b, c_in, h, w, c_out, kk, pad, stride, dilation, groups) in cases {
            let span = dilation * (kk - 1) + 1;
            let (oh, ow) = ((h + 2 * pad - span) / stride + 1, (w + 2 * pad - span) / stride + 1);
            let g = Geometry {
                b,
                c_in,
                h,
                w,
                c_out,
                kh: kk,
                kw: kk,
                pad_h: pad,
                pad_w: pad,
                stride,
                dilation,
                groups,
                oh,
                ow,
            };
            let x: Vec<f64> = (0..b * c_in * h * w).map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0).collect();
            let k: Vec<f64> =
                (0..c_out * c_in / groups * kk * kk).map(|i| ((i * 53) % 61) as f64 / 30.0 - 1.0).collect();
            let got = conv_forward(&x, &k, g).unwrap();
            let want = direct(&x, &k, g);
            assert_eq!(got.len(), want.len());
            for (e, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{c_in}→{c_out} k{kk} at {e}: {a} vs {b}");
            }
        }
    }
}
