//! Reductions, cumulative sums and the softmax family.

use super::Tensor;
use crate::backprop::{BackpropOp, Op};
use crate::op::ReduceOp;
use crate::shape::{Dim, Dims};
use crate::{Error, Result};

impl Tensor {
    fn reduce_impl(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let mut out_dims = self.dims().to_vec();
        for &d in dims {
            if matches!(op, ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin)
                && self.dims()[d] == 0
            {
                return Err(Error::invalid(
                    op.name(),
                    format!("cannot reduce over dim {d} of size 0 (shape {:?})", self.shape()),
                ));
            }
            out_dims[d] = 1;
        }
        let s = self.storage().reduce_op(op, self.layout(), dims)?;
        let bop = match op {
            ReduceOp::Sum => BackpropOp::new1(self, Op::Sum),
            ReduceOp::Max | ReduceOp::Min => BackpropOp::new1(self, |a| Op::MaxMin(a, dims.to_vec())),
            ReduceOp::ArgMax | ReduceOp::ArgMin => BackpropOp::none(),
        };
        let t = Tensor::from_storage_contiguous_op(s, out_dims, bop);
        if keepdim {
            return Ok(t);
        }
        let kept: Vec<usize> =
            (0..self.rank()).filter(|d| !dims.contains(d)).map(|d| self.dims()[d]).collect();
        t.reshape(kept)
    }

    /// Sum over `dims`, keeping them as size 1.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?;
    /// assert_eq!(t.sum_keepdim(1)?.to_vec2::<f32>()?, vec![vec![3.], vec![7.]]);
    /// assert_eq!(t.sum(0)?.to_vec1::<f32>()?, vec![4., 6.]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn sum_keepdim<D: Dims>(&self, dims: D) -> Result<Tensor> {
        let d = dims.to_indexes(self.shape(), "sum")?;
        self.reduce_impl(ReduceOp::Sum, &d, true)
    }
    /// Sum over `dims`, removing them.
    pub fn sum<D: Dims>(&self, dims: D) -> Result<Tensor> {
        let d = dims.to_indexes(self.shape(), "sum")?;
        self.reduce_impl(ReduceOp::Sum, &d, false)
    }
    /// Sum of every element (rank 0).
    pub fn sum_all(&self) -> Result<Tensor> {
        let d: Vec<usize> = (0..self.rank()).collect();
        if d.is_empty() {
            return Ok(self.clone());
        }
        self.reduce_impl(ReduceOp::Sum, &d, false)
    }

    fn check_float(&self, op: &'static str) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::unsupported_dtype(op, self.dtype(), "needs a float dtype"));
        }
        Ok(())
    }

    fn mean_impl(&self, dims: Vec<usize>, keepdim: bool) -> Result<Tensor> {
        self.check_float("mean")?;
        let n: usize = dims.iter().map(|&d| self.dims()[d]).product();
        let s = self.reduce_impl(ReduceOp::Sum, &dims, keepdim)?;
        s.affine(1.0 / n as f64, 0.0)
    }
    /// Mean over `dims`, keeping them (float dtypes).
    pub fn mean_keepdim<D: Dims>(&self, dims: D) -> Result<Tensor> {
        self.mean_impl(dims.to_indexes(self.shape(), "mean")?, true)
    }
    /// Mean over `dims`, removing them (float dtypes).
    pub fn mean<D: Dims>(&self, dims: D) -> Result<Tensor> {
        self.mean_impl(dims.to_indexes(self.shape(), "mean")?, false)
    }
    /// Mean of every element (rank 0).
    pub fn mean_all(&self) -> Result<Tensor> {
        if self.rank() == 0 {
            self.check_float("mean")?;
            return Ok(self.clone());
        }
        self.mean_impl((0..self.rank()).collect(), false)
    }

    /// Population variance over `dim`, keeping it (float dtypes).
    pub fn var_keepdim<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "var")?;
        let mean = self.mean_keepdim(d)?;
        self.sub(&mean)?.sqr()?.mean_keepdim(d)
    }

    /// Largest value along `dim`, keeping it.
    pub fn max_keepdim<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "max")?;
        self.reduce_impl(ReduceOp::Max, &[d], true)
    }
    /// Largest value along `dim`, removing it.
    pub fn max<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "max")?;
        self.reduce_impl(ReduceOp::Max, &[d], false)
    }
    /// Smallest value along `dim`, keeping it.
    pub fn min_keepdim<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "min")?;
        self.reduce_impl(ReduceOp::Min, &[d], true)
    }
    /// Smallest value along `dim`, removing it.
    pub fn min<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "min")?;
        self.reduce_impl(ReduceOp::Min, &[d], false)
    }
    /// Largest value of all elements (rank 0).
    pub fn max_all(&self) -> Result<Tensor> {
        self.flatten_all()?.max(0)
    }
    /// Smallest value of all elements (rank 0).
    pub fn min_all(&self) -> Result<Tensor> {
        self.flatten_all()?.min(0)
    }
    /// Index (U32) of the largest value along `dim`, keeping it.
    pub fn argmax_keepdim<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "argmax")?;
        self.reduce_impl(ReduceOp::ArgMax, &[d], true)
    }
    /// Index (U32) of the largest value along `dim`, removing it.
    pub fn argmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "argmax")?;
        self.reduce_impl(ReduceOp::ArgMax, &[d], false)
    }
    /// Index (U32) of the smallest value along `dim`, keeping it.
    pub fn argmin_keepdim<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "argmin")?;
        self.reduce_impl(ReduceOp::ArgMin, &[d], true)
    }
    /// Index (U32) of the smallest value along `dim`, removing it.
    pub fn argmin<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "argmin")?;
        self.reduce_impl(ReduceOp::ArgMin, &[d], false)
    }

    /// Running sum along `dim`.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::new(&[1i64, 2, 3], &Device::Cpu)?;
    /// assert_eq!(t.cumsum(0)?.to_vec1::<i64>()?, vec![1, 3, 6]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn cumsum<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "cumsum")?;
        let s = self.storage().cumsum(self.layout(), d)?;
        let op = BackpropOp::new1(self, |a| Op::Cumsum(a, d));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// Softmax along `dim` (float dtypes), computed stably (max subtracted first).
    ///
    /// Over the last dim of f32, f16 and bf16 data this is one fused kernel (three passes per
    /// row); otherwise it is composed from `max`, `sub`, `exp`, `sum` and `div`.
    ///
    /// ```
    /// use wick::{Device, Tensor, D};
    /// let t = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu)?;
    /// let s = t.softmax(D::Minus1)?.sum_all()?.to_scalar::<f32>()?;
    /// assert!((s - 1.0).abs() < 1e-6);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_impl(dim, false, "softmax")
    }

    /// Log-softmax along `dim` (float dtypes); fused over the last dim like [`Tensor::softmax`].
    pub fn log_softmax<D: Dim>(&self, dim: D) -> Result<Tensor> {
        self.softmax_impl(dim, true, "log_softmax")
    }

    fn softmax_impl<D: Dim>(&self, dim: D, log: bool, op: &'static str) -> Result<Tensor> {
        self.check_float(op)?;
        let d = dim.to_index(self.shape(), op)?;
        if self.dims()[d] == 0 {
            return Ok(self.clone());
        }
        if d + 1 == self.rank() {
            if let Some(s) = self.storage().softmax_last_dim(self.layout(), log)? {
                let op =
                    BackpropOp::new1(self, |a| if log { Op::LogSoftmax(a, d) } else { Op::Softmax(a, d) });
                return Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op));
            }
        }
        let shifted = self.sub(&self.max_keepdim(d)?)?;
        let e = shifted.exp()?;
        if log {
            shifted.sub(&e.sum_keepdim(d)?.log()?)
        } else {
            e.div(&e.sum_keepdim(d)?)
        }
    }
}
