//! Views (no copy) and moves (cat, stack, pad, repeat).

use super::Tensor;
use crate::backend::Storage;
use crate::backprop::{BackpropOp, Op};
use crate::cpu::CpuStorage;
use crate::shape::{Dim, D};
use crate::{Device, Error, Layout, Result, Shape};

impl Tensor {
    /// The same elements in a new shape. A view when the tensor is contiguous, else a copy.
    /// [`Tensor::reshape_infer`] infers one dim given as -1.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?;
    /// assert_eq!(t.dims(), &[2, 3]);
    /// assert!(t.reshape((4, 2)).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn reshape<S: Into<Shape>>(&self, shape: S) -> Result<Tensor> {
        let shape = shape.into();
        let n = shape.checked_elem_count("reshape")?;
        if n != self.elem_count() {
            return Err(Error::shape_mismatch(
                "reshape",
                self.shape(),
                &shape,
                format!("{} elements cannot become {n}", self.elem_count()),
            ));
        }
        let op = BackpropOp::new1(self, Op::Reshape);
        if self.is_contiguous() {
            Ok(self.view_op(Layout::contiguous_with_offset(shape, self.layout().start_offset()), op))
        } else {
            let c = self.detach().copy()?;
            Ok(c.view_op(Layout::contiguous(shape), op))
        }
    }

    /// Reshape where one entry of `dims` may be `-1`, inferred from the element count.
    pub fn reshape_infer(&self, dims: &[i64]) -> Result<Tensor> {
        let mut infer = None;
        let mut known = 1usize;
        for (i, &d) in dims.iter().enumerate() {
            if d == -1 {
                if infer.replace(i).is_some() {
                    return Err(Error::invalid("reshape", format!("more than one -1 in {dims:?}")));
                }
            } else if d < 0 {
                return Err(Error::invalid("reshape", format!("negative size {d} in {dims:?}")));
            } else {
                known = known
                    .checked_mul(d as usize)
                    .ok_or_else(|| Error::overflow("reshape", format!("{dims:?}")))?;
            }
        }
        let mut out: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(i) = infer {
            if known == 0 || !self.elem_count().is_multiple_of(known) {
                return Err(Error::invalid(
                    "reshape",
                    format!(
                        "cannot infer -1 in {dims:?} for {} elements (shape {:?})",
                        self.elem_count(),
                        self.shape()
                    ),
                ));
            }
            out[i] = self.elem_count() / known;
        }
        self.reshape(out)
    }

    /// Swaps two dims (a view).
    pub fn transpose<D1: Dim, D2: Dim>(&self, d1: D1, d2: D2) -> Result<Tensor> {
        let d1 = d1.to_index(self.shape(), "transpose")?;
        let d2 = d2.to_index(self.shape(), "transpose")?;
        if d1 == d2 {
            return Ok(self.clone());
        }
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(d1, d2);
        let op = BackpropOp::new1(self, |a| Op::Permute(a, perm));
        Ok(self.view_op(self.layout().transpose(d1, d2), op))
    }

    /// Swaps the last two dims (a view). Needs rank >= 2.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::RankMismatch { op: "t", expected: 2, shape: self.shape().clone() });
        }
        self.transpose(D::Minus2, D::Minus1)
    }

    /// Reorders the dims: dim `i` of the result is dim `perm[i]` of `self` (a view).
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let t = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu)?;
    /// assert_eq!(t.permute((2, 0, 1))?.dims(), &[4, 2, 3]);
    /// assert!(t.permute((0, 0, 1)).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn permute<P: PermArg>(&self, perm: P) -> Result<Tensor> {
        let p = perm.to_perm(self.shape())?;
        let layout = self.layout().permute(&p);
        Ok(self.view_op(layout, BackpropOp::new1(self, |a| Op::Permute(a, p))))
    }

    /// `len` elements of `dim` starting at `start` (a view).
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::arange(0u32, 6, &Device::Cpu)?.reshape((2, 3))?;
    /// assert_eq!(t.narrow(1, 1, 2)?.to_vec2::<u32>()?, vec![vec![1, 2], vec![4, 5]]);
    /// assert!(t.narrow(1, 2, 2).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn narrow<D1: Dim>(&self, dim: D1, start: usize, len: usize) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "narrow")?;
        let layout = self.layout().narrow(d, start, len)?;
        Ok(self.view_op(layout, BackpropOp::new1(self, |a| Op::Narrow(a, d, start, len))))
    }

    /// Splits `dim` into `chunks` pieces of nearly equal size (the last may be smaller).
    pub fn chunk<D1: Dim>(&self, chunks: usize, dim: D1) -> Result<Vec<Tensor>> {
        let d = dim.to_index(self.shape(), "chunk")?;
        if chunks == 0 {
            return Err(Error::invalid("chunk", "the number of chunks must be positive"));
        }
        let size = self.dims()[d];
        let step = size.div_ceil(chunks).max(1);
        let mut out = Vec::new();
        let mut start = 0;
        while start < size {
            let len = step.min(size - start);
            out.push(self.narrow(d, start, len)?);
            start += len;
        }
        if out.is_empty() {
            out.push(self.clone());
        }
        Ok(out)
    }

    /// Removes `dim`, which must have size 1 (a view).
    pub fn squeeze<D1: Dim>(&self, dim: D1) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "squeeze")?;
        if self.dims()[d] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("dim {d} has size {} (shape {:?}), not 1", self.dims()[d], self.shape()),
            ));
        }
        let mut dims = self.dims().to_vec();
        let mut stride = self.stride().to_vec();
        dims.remove(d);
        stride.remove(d);
        let op = BackpropOp::new1(self, Op::Reshape);
        Ok(self.view_op(Layout::new(dims.into(), stride, self.layout().start_offset()), op))
    }

    /// Inserts a dim of size 1 at `dim` (a view); `dim` may equal the rank.
    pub fn unsqueeze<D1: Dim>(&self, dim: D1) -> Result<Tensor> {
        let d = dim.to_index_plus_one(self.shape(), "unsqueeze")?;
        let mut dims = self.dims().to_vec();
        let mut stride = self.stride().to_vec();
        let s = if d < stride.len() { stride[d] * dims[d] } else { 1 };
        dims.insert(d, 1);
        stride.insert(d, s);
        let op = BackpropOp::new1(self, Op::Reshape);
        Ok(self.view_op(Layout::new(dims.into(), stride, self.layout().start_offset()), op))
    }

    /// Stretches to `shape` by NumPy broadcasting (a view, stride 0 on stretched dims).
    pub fn broadcast_as<S: Into<Shape>>(&self, shape: S) -> Result<Tensor> {
        let shape = shape.into();
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        shape.checked_elem_count("broadcast_as")?;
        let layout = self.layout().broadcast_as(shape)?;
        Ok(self.view_op(layout, BackpropOp::new1(self, Op::Broadcast)))
    }

    /// Adds leading dims: `[a, b]` with `left = (n,)` becomes `[n, a, b]` (a view).
    pub fn broadcast_left<S: Into<Shape>>(&self, left: S) -> Result<Tensor> {
        let mut dims = left.into().into_dims();
        dims.extend_from_slice(self.dims());
        self.broadcast_as(dims)
    }

    /// Merges dims `start..=end` into one.
    pub fn flatten<D1: Dim, D2: Dim>(&self, start: D1, end: D2) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(1);
        }
        let s = start.to_index(self.shape(), "flatten")?;
        let e = end.to_index(self.shape(), "flatten")?;
        if s > e {
            return Err(Error::invalid("flatten", format!("start dim {s} is after end dim {e}")));
        }
        let d = self.dims();
        let mut dims = d[..s].to_vec();
        dims.push(d[s..=e].iter().product());
        dims.extend_from_slice(&d[e + 1..]);
        self.reshape(dims)
    }

    /// Merges every dim into one (rank 1).
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(self.elem_count())
    }

    /// Merges dims `start..` into one.
    pub fn flatten_from<D1: Dim>(&self, start: D1) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(1);
        }
        self.flatten(start, self.rank() - 1)
    }

    /// Joins tensors along an existing `dim`; all other dims must agree.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let a = Tensor::new(&[[1f32, 2.]], &Device::Cpu)?;
    /// let b = Tensor::new(&[[3f32, 4.], [5., 6.]], &Device::Cpu)?;
    /// let c = Tensor::cat(&[&a, &b], 0)?;
    /// assert_eq!(c.to_vec2::<f32>()?, vec![vec![1., 2.], vec![3., 4.], vec![5., 6.]]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn cat<T: AsRef<Tensor>, D1: Dim>(tensors: &[T], dim: D1) -> Result<Tensor> {
        let first =
            tensors.first().ok_or_else(|| Error::invalid("cat", "needs at least one tensor"))?.as_ref();
        let d = dim.to_index(first.shape(), "cat")?;
        let mut total = 0usize;
        for t in tensors {
            let t = t.as_ref();
            if t.dtype() != first.dtype() {
                return Err(Error::DTypeMismatch { op: "cat", lhs: first.dtype(), rhs: t.dtype() });
            }
            t.device().same_as(first.device(), "cat")?;
            let ok = t.rank() == first.rank()
                && t.dims().iter().zip(first.dims()).enumerate().all(|(i, (a, b))| i == d || a == b);
            if !ok {
                return Err(Error::shape_mismatch(
                    "cat",
                    first.shape(),
                    t.shape(),
                    format!("all dims but dim {d} must agree"),
                ));
            }
            total = total.checked_add(t.dims()[d]).ok_or_else(|| Error::overflow("cat", "total size"))?;
        }
        let mut dims = first.dims().to_vec();
        dims[d] = total;
        let shape = Shape::from(dims);
        let n = shape.checked_elem_count("cat")?;
        // With the output viewed as [outer, total * inner], part p fills columns
        // [offset, offset + len*inner).
        let outer: usize = first.dims()[..d].iter().product();
        let inner: usize = first.dims()[d + 1..].iter().product();
        let parts: Vec<&Tensor> = tensors.iter().map(|t| t.as_ref()).collect();
        let op = BackpropOp::new_many(&parts, |a| Op::Cat(a, d));
        if outer > 1 {
            // Row by row from contiguous parts, into an output written once.
            let contiguous = parts.iter().map(|t| t.detach().contiguous()).collect::<Result<Vec<_>>>()?;
            let guards: Vec<_> = contiguous.iter().map(|t| t.storage()).collect();
            let windows: Vec<(&Storage, usize, usize)> = guards
                .iter()
                .zip(&contiguous)
                .map(|(g, t)| (&**g, t.layout().start_offset(), t.dims()[d] * inner))
                .collect();
            let dst = Storage::cat_columns(&windows, outer)?;
            return Ok(Tensor::from_storage_contiguous_op(dst, shape, op));
        }
        let mut dst = match first.device() {
            Device::Cpu => Storage::Cpu(CpuStorage::zeros(n, first.dtype())),
        };
        let mut col = 0usize;
        for t in tensors {
            let t = t.as_ref();
            let width = t.dims()[d] * inner;
            if width > 0 && outer > 0 {
                t.storage().copy_strided_src(&mut dst, col, t.layout())?;
            }
            col += width;
        }
        Ok(Tensor::from_storage_contiguous_op(dst, shape, op))
    }

    /// Overwrites positions `start..start + src.dims()[dim]` of `dim` with `src` in place. Every
    /// view of this tensor's storage sees the new values, which makes it the tool for growing
    /// buffers (a key-value cache written one position at a time). `self` must be contiguous;
    /// `src` may have any layout but must not share `self`'s storage, and neither may need
    /// gradients (an in-place write cannot be differentiated).
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let buf = Tensor::zeros((2, 4), DType::F32, &Device::Cpu)?;
    /// buf.slice_set(&Tensor::new(&[[1f32], [2.]], &Device::Cpu)?, 1, 2)?;
    /// assert_eq!(buf.to_vec2::<f32>()?, vec![vec![0., 0., 1., 0.], vec![0., 0., 2., 0.]]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn slice_set<D1: Dim>(&self, src: &Tensor, dim: D1, start: usize) -> Result<()> {
        const OP: &str = "slice_set";
        let d = dim.to_index(self.shape(), OP)?;
        if src.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch { op: OP, lhs: self.dtype(), rhs: src.dtype() });
        }
        src.device().same_as(self.device(), OP)?;
        let fits = src.rank() == self.rank()
            && src.dims().iter().zip(self.dims()).enumerate().all(|(i, (a, b))| i == d || a == b)
            && start.checked_add(src.dims()[d]).is_some_and(|end| end <= self.dims()[d]);
        if !fits {
            return Err(Error::shape_mismatch(
                OP,
                self.shape(),
                src.shape(),
                format!("positions {start}.. of dim {d}: the source must fit there, other dims equal"),
            ));
        }
        if !self.is_contiguous() {
            return Err(Error::invalid(OP, format!("the destination {:?} must be contiguous", self.shape())));
        }
        if self.track_op() || src.track_op() {
            return Err(Error::invalid(OP, "an in-place write cannot record gradients (detach first)"));
        }
        if src.same_storage(self) {
            return Err(Error::invalid(OP, "the source shares the destination's storage"));
        }
        let outer: usize = self.dims()[..d].iter().product();
        let inner: usize = self.dims()[d + 1..].iter().product();
        let (width, row) = (src.dims()[d] * inner, self.dims()[d] * inner);
        if width == 0 || outer == 0 {
            return Ok(());
        }
        let dst_offset = self.layout().start_offset() + start * inner;
        if outer == 1 {
            let guard = src.storage();
            return self.with_storage_mut(|dst| guard.copy_strided_src(dst, dst_offset, src.layout()));
        }
        let part = src.contiguous()?;
        let guard = part.storage();
        let src_offset = part.layout().start_offset();
        self.with_storage_mut(|dst| guard.copy2d(dst, outer, width, width, row, src_offset, dst_offset))
    }

    /// Joins tensors of one shape along a new `dim`.
    pub fn stack<T: AsRef<Tensor>, D1: Dim>(tensors: &[T], dim: D1) -> Result<Tensor> {
        let first =
            tensors.first().ok_or_else(|| Error::invalid("stack", "needs at least one tensor"))?.as_ref();
        let d = dim.to_index_plus_one(first.shape(), "stack")?;
        for t in tensors {
            if t.as_ref().shape() != first.shape() {
                return Err(Error::shape_mismatch(
                    "stack",
                    first.shape(),
                    t.as_ref().shape(),
                    "shapes must be equal",
                ));
            }
        }
        let parts = tensors.iter().map(|t| t.as_ref().unsqueeze(d)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, d)
    }

    /// Pads `dim` with `left` zeros before and `right` zeros after.
    pub fn pad_with_zeros<D1: Dim>(&self, dim: D1, left: usize, right: usize) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "pad_with_zeros")?;
        if left == 0 && right == 0 {
            return Ok(self.clone());
        }
        let mut parts = Vec::with_capacity(3);
        let mut dims = self.dims().to_vec();
        if left > 0 {
            dims[d] = left;
            parts.push(Tensor::zeros(dims.clone(), self.dtype(), self.device())?);
        }
        parts.push(self.clone());
        if right > 0 {
            dims[d] = right;
            parts.push(Tensor::zeros(dims, self.dtype(), self.device())?);
        }
        Tensor::cat(&parts, d)
    }

    /// Tiles the tensor: dim `i` is repeated `repeats[i]` times (like `torch.Tensor.repeat`).
    /// `repeats` may have more entries than the rank; leading dims are added.
    pub fn repeat<S: Into<Shape>>(&self, repeats: S) -> Result<Tensor> {
        let repeats = repeats.into();
        if repeats.rank() < self.rank() {
            return Err(Error::invalid(
                "repeat",
                format!(
                    "{} repeats given for a tensor of rank {} (shape {:?})",
                    repeats.rank(),
                    self.rank(),
                    self.shape()
                ),
            ));
        }
        let mut t = self.clone();
        for _ in self.rank()..repeats.rank() {
            t = t.unsqueeze(0)?;
        }
        for (i, &r) in repeats.dims().iter().enumerate() {
            if r != 1 {
                let parts = vec![t.clone(); r];
                t = if r == 0 { t.narrow(i, 0, 0)? } else { Tensor::cat(&parts, i)? };
            }
        }
        Ok(t)
    }

    /// Row `i` of dim 0, that dim removed.
    pub fn get(&self, i: usize) -> Result<Tensor> {
        if self.rank() == 0 {
            return Err(Error::RankMismatch { op: "get", expected: 1, shape: self.shape().clone() });
        }
        if i >= self.dims()[0] {
            return Err(Error::IndexOutOfBounds {
                op: "get",
                index: i as i64,
                dim: 0,
                size: self.dims()[0],
                shape: self.shape().clone(),
            });
        }
        self.narrow(0, i, 1)?.squeeze(0)
    }
}

impl AsRef<Tensor> for Tensor {
    fn as_ref(&self) -> &Tensor {
        self
    }
}

/// What `permute` accepts: a tuple of dims, a `Vec`/slice/array of `usize`.
pub trait PermArg {
    /// The permutation, checked to cover every dim exactly once.
    fn to_perm(&self, shape: &Shape) -> Result<Vec<usize>>;
}

fn check_perm(p: Vec<usize>, shape: &Shape) -> Result<Vec<usize>> {
    let mut seen = vec![false; shape.rank()];
    if p.len() != shape.rank() {
        return Err(Error::invalid("permute", format!("{p:?} does not have one entry per dim of {shape:?}")));
    }
    for &d in &p {
        if d >= shape.rank() || seen[d] {
            return Err(Error::invalid(
                "permute",
                format!("{p:?} is not a permutation of the dims of {shape:?}"),
            ));
        }
        seen[d] = true;
    }
    Ok(p)
}

impl<T: PermSource> PermArg for T {
    fn to_perm(&self, shape: &Shape) -> Result<Vec<usize>> {
        check_perm(self.raw(shape)?, shape)
    }
}

/// The raw (unsorted) dims of a permutation argument.
pub trait PermSource {
    /// The dims in the given order.
    fn raw(&self, shape: &Shape) -> Result<Vec<usize>>;
}
macro_rules! perm_tuple {
    ($($n:ident),+) => {
        impl<$($n: Dim),+> PermSource for ($($n,)+) {
            #[allow(non_snake_case)]
            fn raw(&self, shape: &Shape) -> Result<Vec<usize>> {
                let ($($n,)+) = *self;
                Ok(vec![$($n.to_index(shape, "permute")?),+])
            }
        }
    };
}
perm_tuple!(A, B);
perm_tuple!(A, B, C);
perm_tuple!(A, B, C, E);
perm_tuple!(A, B, C, E, F);
perm_tuple!(A, B, C, E, F, G);
impl<T: Dim> PermSource for Vec<T> {
    fn raw(&self, shape: &Shape) -> Result<Vec<usize>> {
        self.iter().map(|d| d.to_index(shape, "permute")).collect()
    }
}
impl<T: Dim, const N: usize> PermSource for [T; N] {
    fn raw(&self, shape: &Shape) -> Result<Vec<usize>> {
        self.iter().map(|d| d.to_index(shape, "permute")).collect()
    }
}
impl<T: Dim> PermSource for &[T] {
    fn raw(&self, shape: &Shape) -> Result<Vec<usize>> {
        self.iter().map(|d| d.to_index(shape, "permute")).collect()
    }
}
