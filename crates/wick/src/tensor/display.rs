//! Printing tensors the way PyTorch does: aligned columns, summarised when large.

use super::Tensor;
use crate::backend::Storage;
use std::fmt;

/// Above this many elements, only the first and last `EDGE` entries of each dim are shown.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;

enum Style {
    Int,
    /// Floats that are all whole numbers print as `1.`.
    Whole,
    Fixed,
    Sci,
}

struct Printer<'a> {
    storage: &'a Storage,
    t: &'a Tensor,
    summarize: bool,
    style: Style,
    width: usize,
}

impl Printer<'_> {
    fn value(&self, offset: usize) -> f64 {
        match self.storage {
            Storage::Cpu(s) => s.get_f64(offset),
        }
    }

    fn fmt_value(&self, v: f64) -> String {
        match self.style {
            Style::Int => format!("{v}"),
            Style::Whole if v.is_finite() => format!("{v:.0}."),
            Style::Fixed if v.is_finite() => format!("{v:.4}"),
            Style::Sci if v.is_finite() => format!("{v:.4e}"),
            _ => {
                if v.is_nan() {
                    "nan".into()
                } else if v > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            }
        }
    }

    /// Positions shown along a dim of `size`: `None` marks the "..." gap.
    fn positions(&self, size: usize) -> Vec<Option<usize>> {
        if self.summarize && size > 2 * EDGE {
            let mut v: Vec<Option<usize>> = (0..EDGE).map(Some).collect();
            v.push(None);
            v.extend((size - EDGE..size).map(Some));
            v
        } else {
            (0..size).map(Some).collect()
        }
    }

    fn visit(&self, dim: usize, offset: usize, f: &mut impl FnMut(usize)) {
        let dims = self.t.dims();
        if dim == dims.len() {
            f(offset);
            return;
        }
        for p in self.positions(dims[dim]).into_iter().flatten() {
            self.visit(dim + 1, offset + p * self.t.stride()[dim], f);
        }
    }

    fn write(&self, out: &mut String, dim: usize, offset: usize, indent: usize) {
        let dims = self.t.dims();
        if dim == dims.len() {
            let s = self.fmt_value(self.value(offset));
            out.push_str(&format!("{s:>w$}", w = self.width));
            return;
        }
        out.push('[');
        let last = dim + 1 == dims.len();
        let positions = self.positions(dims[dim]);
        for (k, p) in positions.iter().enumerate() {
            if k > 0 {
                if last {
                    out.push_str(", ");
                } else {
                    out.push(',');
                    out.push_str(&"\n".repeat(dims.len() - dim - 1));
                    out.push_str(&" ".repeat(indent + 1));
                }
            }
            match p {
                Some(p) => self.write(out, dim + 1, offset + p * self.t.stride()[dim], indent + 1),
                None => out.push_str("..."),
            }
        }
        out.push(']');
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.storage();
        let summarize = self.elem_count() > SUMMARIZE_ABOVE;
        let mut p = Printer { storage: &guard, t: self, summarize, style: Style::Int, width: 0 };
        // Choose one style and width for all shown values.
        let mut shown = Vec::new();
        if self.elem_count() > 0 {
            p.visit(0, self.layout().start_offset(), &mut |o| shown.push(p.value(o)));
        }
        p.style = if self.dtype().is_int() {
            Style::Int
        } else {
            let finite: Vec<f64> = shown.iter().copied().filter(|v| v.is_finite()).collect();
            let max = finite.iter().fold(0f64, |m, v| m.max(v.abs()));
            let min_nz = finite.iter().filter(|v| **v != 0.0).fold(f64::INFINITY, |m, v| m.min(v.abs()));
            if finite.iter().all(|v| v.fract() == 0.0) && max < 1e8 {
                Style::Whole
            } else if max >= 1e8 || min_nz < 1e-4 {
                Style::Sci
            } else {
                Style::Fixed
            }
        };
        p.width = shown.iter().map(|&v| p.fmt_value(v).len()).max().unwrap_or(0);
        let mut out = String::from("tensor(");
        if self.rank() == 0 {
            if let Some(&v) = shown.first() {
                out.push_str(&p.fmt_value(v));
            }
        } else if self.elem_count() == 0 {
            out.push_str("[]");
        } else {
            p.write(&mut out, 0, self.layout().start_offset(), "tensor(".len());
        }
        out.push_str(&format!(", shape={:?}, dtype={})", self.dims(), self.dtype()));
        f.write_str(&out)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor[{:?}, {}, {}]", self.dims(), self.dtype(), self.device())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Device, Tensor};

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::new(&[[1f32, 2.5], [-3., 4.]], &Device::Cpu).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], shape=[2, 2], dtype=f32)"
        );
        let w = Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap();
        assert_eq!(w.to_string(), "tensor([1., 2.], shape=[2], dtype=f32)");
        let i = Tensor::new(&[[1u32, 20]], &Device::Cpu).unwrap();
        assert_eq!(i.to_string(), "tensor([[ 1, 20]], shape=[1, 2], dtype=u32)");
    }

    #[test]
    fn summarises_large_tensors() {
        let t = Tensor::arange(0f32, 2000., &Device::Cpu).unwrap();
        let s = t.to_string();
        assert!(s.starts_with("tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.]"), "{s}");
    }
}
