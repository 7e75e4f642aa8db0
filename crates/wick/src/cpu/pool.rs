//! 2d pooling and nearest-neighbour upsampling over `[batch, channels, h, w]`.

use super::{contiguous_cow, CpuElement, CpuStorage, Map1};
use crate::{Error, Layout, Result};

struct Pool2d {
    kernel: (usize, usize),
    stride: (usize, usize),
    max: bool,
}

impl Map1 for Pool2d {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let x = contiguous_cow(v, l);
        let (b, c, h, w) = (l.dims()[0], l.dims()[1], l.dims()[2], l.dims()[3]);
        let ((kh, kw), (sh, sw)) = (self.kernel, self.stride);
        let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
        let mut out = Vec::with_capacity(b * c * oh * ow);
        let count = (kh * kw) as f64;
        for plane in x.chunks_exact(h * w).take(b * c) {
            for oy in 0..oh {
                for ox in 0..ow {
                    if self.max {
                        let mut m = T::MIN_VALUE;
                        for i in 0..kh {
                            for j in 0..kw {
                                m = m.max_(plane[(oy * sh + i) * w + ox * sw + j]);
                            }
                        }
                        out.push(m);
                    } else {
                        let mut s = 0f64;
                        for i in 0..kh {
                            for j in 0..kw {
                                s += plane[(oy * sh + i) * w + ox * sw + j].to_f64();
                            }
                        }
                        out.push(T::from_f64(s / count));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn check_pool(op: &'static str, l: &Layout, kernel: (usize, usize), stride: (usize, usize)) -> Result<()> {
    let d = l.dims();
    if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
        return Err(Error::invalid(op, format!("kernel {kernel:?} and stride {stride:?} must be positive")));
    }
    if kernel.0 > d[2] || kernel.1 > d[3] {
        return Err(Error::invalid(op, format!("kernel {kernel:?} larger than the input {:?}", l.shape())));
    }
    Ok(())
}

pub(crate) fn max_pool2d(
    s: &CpuStorage,
    l: &Layout,
    kernel: (usize, usize),
    stride: (usize, usize),
) -> Result<CpuStorage> {
    check_pool("max_pool2d", l, kernel, stride)?;
    Pool2d { kernel, stride, max: true }.map(s, l)
}

pub(crate) fn avg_pool2d(
    s: &CpuStorage,
    l: &Layout,
    kernel: (usize, usize),
    stride: (usize, usize),
) -> Result<CpuStorage> {
    check_pool("avg_pool2d", l, kernel, stride)?;
    if s.dtype().is_int() {
        return Err(Error::unsupported_dtype("avg_pool2d", s.dtype(), "needs a float dtype"));
    }
    Pool2d { kernel, stride, max: false }.map(s, l)
}

struct Upsample(usize, usize);
impl Map1 for Upsample {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let x = contiguous_cow(v, l);
        let (b, c, h, w) = (l.dims()[0], l.dims()[1], l.dims()[2], l.dims()[3]);
        let (oh, ow) = (self.0, self.1);
        // PyTorch's "nearest": source index = floor(dst * in / out).
        let ys: Vec<usize> =
            (0..oh).map(|y| ((y as f64 * h as f64 / oh as f64) as usize).min(h - 1)).collect();
        let xs: Vec<usize> =
            (0..ow).map(|x| ((x as f64 * w as f64 / ow as f64) as usize).min(w - 1)).collect();
        let mut out = Vec::with_capacity(b * c * oh * ow);
        for plane in x.chunks_exact(h * w).take(b * c) {
            for &y in &ys {
                for &xx in &xs {
                    out.push(plane[y * w + xx]);
                }
            }
        }
        Ok(out)
    }
}

pub(crate) fn upsample_nearest2d(s: &CpuStorage, l: &Layout, oh: usize, ow: usize) -> Result<CpuStorage> {
    let d = l.dims();
    if (d[2] == 0 || d[3] == 0) && oh * ow > 0 {
        return Err(Error::invalid(
            "upsample_nearest2d",
            format!("cannot upsample an empty input {:?}", l.shape()),
        ));
    }
    if oh * ow == 0 || d[0] * d[1] == 0 {
        return Ok(CpuStorage::zeros(0, s.dtype()));
    }
    Upsample(oh, ow).map(s, l)
}
