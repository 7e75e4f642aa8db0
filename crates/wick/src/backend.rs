//! The seam between `Tensor` and a device: one trait a backend implements, one enum that
//! dispatches to it.
//!
//! Kernels receive storages and [`Layout`]s, never tensors; shape and dtype checking happens
//! in `Tensor` before any backend call.

use crate::cpu::{
    CpuStorage, MatmulDims, ParamsConv1D, ParamsConv2D, ParamsConvTranspose1D, ParamsConvTranspose2D,
};
use crate::op::{BinaryOpT, CmpOp, ReduceOp, UnaryOpT};
use crate::{DType, Device, Layout, Result};

/// The op families a device backend provides. A CUDA backend implements this trait and adds
/// one arm to [`Storage`]; `Tensor` does not change.
pub trait BackendStorage: Sized + Send + Sync {
    /// The element type.
    fn dtype(&self) -> DType;
    /// The device holding the data.
    fn device(&self) -> Device;
    /// Copies the data to host memory.
    fn to_cpu_storage(&self) -> Result<CpuStorage>;
    /// Converts to another dtype (row-major output).
    fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self>;
    /// `x * mul + add`.
    fn affine(&self, l: &Layout, mul: f64, add: f64) -> Result<Self>;
    /// `x ^ e` for floats.
    fn powf(&self, l: &Layout, e: f64) -> Result<Self>;
    /// An elementwise float function.
    fn unary_impl<U: UnaryOpT>(&self, l: &Layout) -> Result<Self>;
    /// An elementwise function of two same-shape (already broadcast) operands.
    fn binary_impl<B: BinaryOpT>(&self, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self>;
    /// A comparison giving a U8 mask.
    fn cmp(&self, op: CmpOp, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self>;
    /// `self != 0 ? t : f`.
    fn where_cond(&self, l: &Layout, t: &Self, tl: &Layout, f: &Self, fl: &Layout) -> Result<Self>;
    /// A reduction over `dims` (kept as size 1 in the row-major output).
    fn reduce_op(&self, op: ReduceOp, l: &Layout, dims: &[usize]) -> Result<Self>;
    /// Cumulative sum along `dim`.
    fn cumsum(&self, l: &Layout, dim: usize) -> Result<Self>;
    /// Batched matrix product of layouts already broadcast to the same batch dims.
    fn matmul(&self, rhs: &Self, d: MatmulDims, l: &Layout, rl: &Layout) -> Result<Self>;
    /// Copies the elements of `src_l` (row-major) into `dst` from `dst_offset` on.
    fn copy_strided_src(&self, dst: &mut Self, dst_offset: usize, src_l: &Layout) -> Result<()>;
    /// Copies a `rows × width` block from `self` (rows `src_stride` apart, from `src_offset`)
    /// into `dst` (rows `dst_stride` apart, from `dst_offset`).
    #[allow(clippy::too_many_arguments)]
    fn copy2d(
        &self,
        dst: &mut Self,
        rows: usize,
        width: usize,
        src_stride: usize,
        dst_stride: usize,
        src_offset: usize,
        dst_offset: usize,
    ) -> Result<()>;
    /// Rows of `dim` picked by the rank-1 `ids`.
    fn index_select(&self, ids: &Self, l: &Layout, ids_l: &Layout, dim: usize) -> Result<Self>;
    /// `out[.., i, ..] = self[.., ids[.., i, ..], ..]` along `dim`.
    fn gather(&self, l: &Layout, ids: &Self, ids_l: &Layout, dim: usize) -> Result<Self>;
    /// A copy of self with `src` added at the positions `ids` names along `dim`.
    #[allow(clippy::too_many_arguments)]
    fn scatter_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self>;
    /// A copy of self with slice `j` of `src` added to slice `ids[j]` along `dim`.
    #[allow(clippy::too_many_arguments)]
    fn index_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self>;
    /// 1d convolution.
    fn conv1d(&self, l: &Layout, kernel: &Self, kl: &Layout, p: &ParamsConv1D) -> Result<Self>;
    /// 2d convolution.
    fn conv2d(&self, l: &Layout, kernel: &Self, kl: &Layout, p: &ParamsConv2D) -> Result<Self>;
    /// Transposed 1d convolution.
    fn conv_transpose1d(
        &self,
        l: &Layout,
        kernel: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose1D,
    ) -> Result<Self>;
    /// Transposed 2d convolution.
    fn conv_transpose2d(
        &self,
        l: &Layout,
        kernel: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose2D,
    ) -> Result<Self>;
    /// 2d max pooling, no padding.
    fn max_pool2d(&self, l: &Layout, kernel: (usize, usize), stride: (usize, usize)) -> Result<Self>;
    /// 2d average pooling, no padding.
    fn avg_pool2d(&self, l: &Layout, kernel: (usize, usize), stride: (usize, usize)) -> Result<Self>;
    /// Nearest-neighbour upsampling to `(h, w)`.
    fn upsample_nearest2d(&self, l: &Layout, h: usize, w: usize) -> Result<Self>;
    /// Stable argsort of each row of the last dim (U32 output).
    fn arg_sort_last_dim(&self, l: &Layout, ascending: bool) -> Result<Self>;

    // Fused ops: a backend may implement these with one kernel; `Ok(None)` (the default)
    // tells the caller to compose the op from the primitives above instead.

    /// Softmax, or with `log` log-softmax, over the last dim (row-major output).
    fn softmax_last_dim(&self, _l: &Layout, _log: bool) -> Result<Option<Self>> {
        Ok(None)
    }
    /// Layer norm over the last dim: `(x − mean) / sqrt(var + eps) · w + b`, with `w` and the
    /// optional `b` rank-1 of the last dim's size and of `self`'s dtype.
    fn layer_norm(
        &self,
        _l: &Layout,
        _w: (&Self, &Layout),
        _b: Option<(&Self, &Layout)>,
        _eps: f64,
    ) -> Result<Option<Self>> {
        Ok(None)
    }
    /// RMS norm over the last dim: `x / sqrt(mean(x²) + eps) · w`.
    fn rms_norm(&self, _l: &Layout, _w: (&Self, &Layout), _eps: f64) -> Result<Option<Self>> {
        Ok(None)
    }
    /// Rotary embedding of a `[b, h, t, d]` input with `[t, d/2]` `cos`/`sin` tables, pairs
    /// `(i, i + d/2)` or, with `interleaved`, `(2i, 2i + 1)`.
    fn rope(
        &self,
        _l: &Layout,
        _cos: (&Self, &Layout),
        _sin: (&Self, &Layout),
        _interleaved: bool,
    ) -> Result<Option<Self>> {
        Ok(None)
    }
}

impl BackendStorage for CpuStorage {
    fn dtype(&self) -> DType {
        CpuStorage::dtype(self)
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn to_cpu_storage(&self) -> Result<CpuStorage> {
        Ok(self.clone())
    }
    fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self> {
        crate::cpu::to_dtype(self, l, dtype)
    }
    fn affine(&self, l: &Layout, mul: f64, add: f64) -> Result<Self> {
        crate::cpu::affine(self, l, mul, add)
    }
    fn powf(&self, l: &Layout, e: f64) -> Result<Self> {
        crate::cpu::powf(self, l, e)
    }
    fn unary_impl<U: UnaryOpT>(&self, l: &Layout) -> Result<Self> {
        crate::cpu::unary_map::<U>(self, l)
    }
    fn binary_impl<B: BinaryOpT>(&self, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self> {
        crate::cpu::binary_map::<B>(self, l, rhs, rl)
    }
    fn cmp(&self, op: CmpOp, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self> {
        crate::cpu::cmp_map(op, self, l, rhs, rl)
    }
    fn where_cond(&self, l: &Layout, t: &Self, tl: &Layout, f: &Self, fl: &Layout) -> Result<Self> {
        crate::cpu::where_cond(self, l, t, tl, f, fl)
    }
    fn reduce_op(&self, op: ReduceOp, l: &Layout, dims: &[usize]) -> Result<Self> {
        crate::cpu::reduce_op(self, l, op, dims)
    }
    fn cumsum(&self, l: &Layout, dim: usize) -> Result<Self> {
        crate::cpu::cumsum(self, l, dim)
    }
    fn matmul(&self, rhs: &Self, d: MatmulDims, l: &Layout, rl: &Layout) -> Result<Self> {
        crate::cpu::matmul(self, l, rhs, rl, d)
    }
    fn copy_strided_src(&self, dst: &mut Self, dst_offset: usize, src_l: &Layout) -> Result<()> {
        crate::cpu::copy_strided_src(self, dst, dst_offset, src_l)
    }
    fn copy2d(
        &self,
        dst: &mut Self,
        rows: usize,
        width: usize,
        src_stride: usize,
        dst_stride: usize,
        src_offset: usize,
        dst_offset: usize,
    ) -> Result<()> {
        crate::cpu::copy2d(self, dst, rows, width, src_stride, dst_stride, src_offset, dst_offset)
    }
    fn index_select(&self, ids: &Self, l: &Layout, ids_l: &Layout, dim: usize) -> Result<Self> {
        crate::cpu::index_select(self, l, ids, ids_l, dim)
    }
    fn gather(&self, l: &Layout, ids: &Self, ids_l: &Layout, dim: usize) -> Result<Self> {
        crate::cpu::gather(self, l, ids, ids_l, dim)
    }
    fn scatter_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self> {
        crate::cpu::scatter_add(self, l, ids, ids_l, src, src_l, dim)
    }
    fn index_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self> {
        crate::cpu::index_add(self, l, ids, ids_l, src, src_l, dim)
    }
    fn conv1d(&self, l: &Layout, kernel: &Self, kl: &Layout, p: &ParamsConv1D) -> Result<Self> {
        crate::cpu::conv1d(self, l, kernel, kl, p)
    }
    fn conv2d(&self, l: &Layout, kernel: &Self, kl: &Layout, p: &ParamsConv2D) -> Result<Self> {
        crate::cpu::conv2d(self, l, kernel, kl, p)
    }
    fn conv_transpose1d(
        &self,
        l: &Layout,
        kernel: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose1D,
    ) -> Result<Self> {
        crate::cpu::conv_transpose1d(self, l, kernel, kl, p)
    }
    fn conv_transpose2d(
        &self,
        l: &Layout,
        kernel: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose2D,
    ) -> Result<Self> {
        crate::cpu::conv_transpose2d(self, l, kernel, kl, p)
    }
    fn max_pool2d(&self, l: &Layout, kernel: (usize, usize), stride: (usize, usize)) -> Result<Self> {
        crate::cpu::max_pool2d(self, l, kernel, stride)
    }
    fn avg_pool2d(&self, l: &Layout, kernel: (usize, usize), stride: (usize, usize)) -> Result<Self> {
        crate::cpu::avg_pool2d(self, l, kernel, stride)
    }
    fn upsample_nearest2d(&self, l: &Layout, h: usize, w: usize) -> Result<Self> {
        crate::cpu::upsample_nearest2d(self, l, h, w)
    }
    fn arg_sort_last_dim(&self, l: &Layout, ascending: bool) -> Result<Self> {
        crate::cpu::arg_sort_last_dim(self, l, ascending)
    }
    fn softmax_last_dim(&self, l: &Layout, log: bool) -> Result<Option<Self>> {
        crate::cpu::softmax_last_dim(self, l, log)
    }
    fn layer_norm(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        eps: f64,
    ) -> Result<Option<Self>> {
        crate::cpu::layer_norm(self, l, w, b, eps)
    }
    fn rms_norm(&self, l: &Layout, w: (&Self, &Layout), eps: f64) -> Result<Option<Self>> {
        crate::cpu::rms_norm(self, l, w, eps)
    }
    fn rope(
        &self,
        l: &Layout,
        cos: (&Self, &Layout),
        sin: (&Self, &Layout),
        interleaved: bool,
    ) -> Result<Option<Self>> {
        crate::cpu::rope(self, l, cos, sin, interleaved)
    }
}

/// Tensor data on some device: the single dispatch point between `Tensor` and the backends.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Host memory.
    Cpu(CpuStorage),
}

impl Storage {
    /// The device holding the data.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
        }
    }
    /// The host copy (a clone on the CPU).
    pub fn to_cpu_storage(&self) -> Result<CpuStorage> {
        match self {
            Storage::Cpu(s) => Ok(s.clone()),
        }
    }
    /// Number of elements held.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
        }
    }
    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Dispatches a backend method on one storage.
macro_rules! dispatch1 {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Storage::Cpu($s) => Ok(Storage::Cpu($e?)),
        }
    };
}

/// Dispatches on two storages, which must be on the same device.
macro_rules! dispatch2 {
    ($a:expr, $b:expr, $op:expr, ($x:ident, $y:ident) => $e:expr) => {
        match ($a, $b) {
            (Storage::Cpu($x), Storage::Cpu($y)) => Ok(Storage::Cpu($e?)),
        }
    };
}

impl Storage {
    pub(crate) fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self> {
        dispatch1!(self, s => s.to_dtype(l, dtype))
    }
    pub(crate) fn affine(&self, l: &Layout, mul: f64, add: f64) -> Result<Self> {
        dispatch1!(self, s => s.affine(l, mul, add))
    }
    pub(crate) fn powf(&self, l: &Layout, e: f64) -> Result<Self> {
        dispatch1!(self, s => s.powf(l, e))
    }
    pub(crate) fn unary_impl<U: UnaryOpT>(&self, l: &Layout) -> Result<Self> {
        dispatch1!(self, s => s.unary_impl::<U>(l))
    }
    pub(crate) fn binary_impl<B: BinaryOpT>(&self, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self> {
        dispatch2!(self, rhs, B::NAME, (a, b) => a.binary_impl::<B>(b, l, rl))
    }
    pub(crate) fn cmp(&self, op: CmpOp, rhs: &Self, l: &Layout, rl: &Layout) -> Result<Self> {
        dispatch2!(self, rhs, op.name(), (a, b) => a.cmp(op, b, l, rl))
    }
    pub(crate) fn where_cond(
        &self,
        l: &Layout,
        t: &Self,
        tl: &Layout,
        f: &Self,
        fl: &Layout,
    ) -> Result<Self> {
        match (self, t, f) {
            (Storage::Cpu(c), Storage::Cpu(t), Storage::Cpu(f)) => {
                Ok(Storage::Cpu(c.where_cond(l, t, tl, f, fl)?))
            }
        }
    }
    pub(crate) fn reduce_op(&self, op: ReduceOp, l: &Layout, dims: &[usize]) -> Result<Self> {
        dispatch1!(self, s => s.reduce_op(op, l, dims))
    }
    pub(crate) fn cumsum(&self, l: &Layout, dim: usize) -> Result<Self> {
        dispatch1!(self, s => s.cumsum(l, dim))
    }
    pub(crate) fn matmul(&self, rhs: &Self, d: MatmulDims, l: &Layout, rl: &Layout) -> Result<Self> {
        dispatch2!(self, rhs, "matmul", (a, b) => a.matmul(b, d, l, rl))
    }
    /// See [`crate::cpu::cat_columns`]: `parts` are `(storage, offset, width)`.
    pub(crate) fn cat_columns(parts: &[(&Self, usize, usize)], outer: usize) -> Result<Self> {
        let cpu: Vec<(&crate::cpu::CpuStorage, usize, usize)> = parts
            .iter()
            .map(|&(s, offset, width)| match s {
                Storage::Cpu(c) => (c, offset, width),
            })
            .collect();
        Ok(Storage::Cpu(crate::cpu::cat_columns(&cpu, outer)?))
    }
    pub(crate) fn copy_strided_src(&self, dst: &mut Self, dst_offset: usize, src_l: &Layout) -> Result<()> {
        match (self, dst) {
            (Storage::Cpu(s), Storage::Cpu(d)) => s.copy_strided_src(d, dst_offset, src_l),
        }
    }
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy2d(
        &self,
        dst: &mut Self,
        rows: usize,
        width: usize,
        src_stride: usize,
        dst_stride: usize,
        src_offset: usize,
        dst_offset: usize,
    ) -> Result<()> {
        match (self, dst) {
            (Storage::Cpu(s), Storage::Cpu(d)) => {
                s.copy2d(d, rows, width, src_stride, dst_stride, src_offset, dst_offset)
            }
        }
    }
    pub(crate) fn index_select(&self, ids: &Self, l: &Layout, ids_l: &Layout, dim: usize) -> Result<Self> {
        dispatch2!(self, ids, "index_select", (a, b) => a.index_select(b, l, ids_l, dim))
    }
    pub(crate) fn gather(&self, l: &Layout, ids: &Self, ids_l: &Layout, dim: usize) -> Result<Self> {
        dispatch2!(self, ids, "gather", (a, b) => a.gather(l, b, ids_l, dim))
    }
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scatter_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self> {
        match (self, ids, src) {
            (Storage::Cpu(d), Storage::Cpu(i), Storage::Cpu(s)) => {
                Ok(Storage::Cpu(d.scatter_add(l, i, ids_l, s, src_l, dim)?))
            }
        }
    }
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn index_add(
        &self,
        l: &Layout,
        ids: &Self,
        ids_l: &Layout,
        src: &Self,
        src_l: &Layout,
        dim: usize,
    ) -> Result<Self> {
        match (self, ids, src) {
            (Storage::Cpu(d), Storage::Cpu(i), Storage::Cpu(s)) => {
                Ok(Storage::Cpu(d.index_add(l, i, ids_l, s, src_l, dim)?))
            }
        }
    }
    pub(crate) fn conv1d(&self, l: &Layout, k: &Self, kl: &Layout, p: &ParamsConv1D) -> Result<Self> {
        dispatch2!(self, k, "conv1d", (a, b) => a.conv1d(l, b, kl, p))
    }
    pub(crate) fn conv2d(&self, l: &Layout, k: &Self, kl: &Layout, p: &ParamsConv2D) -> Result<Self> {
        dispatch2!(self, k, "conv2d", (a, b) => a.conv2d(l, b, kl, p))
    }
    pub(crate) fn conv_transpose1d(
        &self,
        l: &Layout,
        k: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose1D,
    ) -> Result<Self> {
        dispatch2!(self, k, "conv_transpose1d", (a, b) => a.conv_transpose1d(l, b, kl, p))
    }
    pub(crate) fn conv_transpose2d(
        &self,
        l: &Layout,
        k: &Self,
        kl: &Layout,
        p: &ParamsConvTranspose2D,
    ) -> Result<Self> {
        dispatch2!(self, k, "conv_transpose2d", (a, b) => a.conv_transpose2d(l, b, kl, p))
    }
    pub(crate) fn max_pool2d(&self, l: &Layout, k: (usize, usize), s: (usize, usize)) -> Result<Self> {
        dispatch1!(self, x => x.max_pool2d(l, k, s))
    }
    pub(crate) fn avg_pool2d(&self, l: &Layout, k: (usize, usize), s: (usize, usize)) -> Result<Self> {
        dispatch1!(self, x => x.avg_pool2d(l, k, s))
    }
    pub(crate) fn upsample_nearest2d(&self, l: &Layout, h: usize, w: usize) -> Result<Self> {
        dispatch1!(self, x => x.upsample_nearest2d(l, h, w))
    }
    pub(crate) fn arg_sort_last_dim(&self, l: &Layout, ascending: bool) -> Result<Self> {
        dispatch1!(self, x => x.arg_sort_last_dim(l, ascending))
    }
    pub(crate) fn softmax_last_dim(&self, l: &Layout, log: bool) -> Result<Option<Self>> {
        match self {
            Storage::Cpu(s) => Ok(s.softmax_last_dim(l, log)?.map(Storage::Cpu)),
        }
    }
    pub(crate) fn layer_norm(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        eps: f64,
    ) -> Result<Option<Self>> {
        match (self, w.0, b) {
            (Storage::Cpu(x), Storage::Cpu(w0), None) => {
                Ok(x.layer_norm(l, (w0, w.1), None, eps)?.map(Storage::Cpu))
            }
            (Storage::Cpu(x), Storage::Cpu(w0), Some((Storage::Cpu(b0), bl))) => {
                Ok(x.layer_norm(l, (w0, w.1), Some((b0, bl)), eps)?.map(Storage::Cpu))
            }
        }
    }
    pub(crate) fn rms_norm(&self, l: &Layout, w: (&Self, &Layout), eps: f64) -> Result<Option<Self>> {
        match (self, w.0) {
            (Storage::Cpu(x), Storage::Cpu(w0)) => Ok(x.rms_norm(l, (w0, w.1), eps)?.map(Storage::Cpu)),
        }
    }
    pub(crate) fn rope(
        &self,
        l: &Layout,
        cos: (&Self, &Layout),
        sin: (&Self, &Layout),
        interleaved: bool,
    ) -> Result<Option<Self>> {
        match (self, cos.0, sin.0) {
            (Storage::Cpu(x), Storage::Cpu(c), Storage::Cpu(s)) => {
                Ok(x.rope(l, (c, cos.1), (s, sin.1), interleaved)?.map(Storage::Cpu))
            }
        }
    }
}
