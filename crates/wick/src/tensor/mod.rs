//! `Tensor`: a cheap handle to shared storage plus a layout.

mod bytes;
mod display;
mod elementwise;
mod indexing;
mod linalg;
mod ndarray;
mod reduce;
mod views;

pub use indexing::{IndexOp, TensorIndexer};
pub use ndarray::NdArray;

use crate::backend::Storage;
use crate::backprop::{BackpropOp, Op};
use crate::cpu::{CpuElement, CpuStorage};
use crate::{DType, Device, Error, Layout, Result, Shape};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// A unique id per tensor (views get new ids), used to key gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        TensorId(COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

pub(crate) struct TensorInner {
    id: TensorId,
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
    device: Device,
    /// How this tensor was computed, when an input needs gradients.
    op: BackpropOp,
    /// True for a [`crate::Var`]: a leaf that gradients are collected for.
    is_variable: bool,
}

/// An n-dimensional array on a device. Cloning is cheap (an `Arc`); views share storage.
///
/// ```
/// use wick::{Device, Tensor, D};
/// let dev = Device::Cpu;
/// let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
/// let b = Tensor::from_vec(vec![1f32, 0., 0., 1., 1., 1.], (2, 3), &dev)?;
/// let c = a.matmul(&b)?;
/// assert_eq!(c.to_vec2::<f32>()?, vec![vec![3., 2., 2.], vec![7., 4., 4.]]);
/// let s = c.softmax(D::Minus1)?.sum_keepdim(1)?;
/// assert_eq!(s.dims(), &[2, 1]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(Arc<TensorInner>);

impl Tensor {
    /// Wraps a storage with a layout (the layout must fit the storage).
    pub(crate) fn from_storage(storage: Storage, layout: Layout) -> Self {
        Self::from_storage_op(storage, layout, BackpropOp::none(), false)
    }

    fn from_storage_op(storage: Storage, layout: Layout, op: BackpropOp, is_variable: bool) -> Self {
        let dtype = storage.dtype();
        let device = storage.device();
        Tensor(Arc::new(TensorInner {
            id: TensorId::new(),
            storage: Arc::new(RwLock::new(storage)),
            layout,
            dtype,
            device,
            op,
            is_variable,
        }))
    }

    /// A new tensor over the same storage with another layout (a view), recording `op`.
    pub(crate) fn view_op(&self, layout: Layout, op: BackpropOp) -> Tensor {
        Tensor(Arc::new(TensorInner {
            id: TensorId::new(),
            storage: self.0.storage.clone(),
            layout,
            dtype: self.0.dtype,
            device: self.0.device,
            op,
            is_variable: false,
        }))
    }

    /// Row-major tensor over fresh storage of `shape`.
    pub(crate) fn from_storage_contiguous<S: Into<Shape>>(storage: Storage, shape: S) -> Self {
        Self::from_storage(storage, Layout::contiguous(shape))
    }

    /// Row-major tensor over fresh storage of `shape`, computed by `op`.
    pub(crate) fn from_storage_contiguous_op<S: Into<Shape>>(
        storage: Storage,
        shape: S,
        op: BackpropOp,
    ) -> Self {
        Self::from_storage_op(storage, Layout::contiguous(shape), op, false)
    }

    /// A trainable leaf over fresh, owned storage (what [`crate::Var`] wraps).
    pub(crate) fn new_variable(storage: Storage, shape: Shape) -> Self {
        Self::from_storage_op(storage, Layout::contiguous(shape), BackpropOp::none(), true)
    }

    /// The recorded op, if this tensor was computed from tensors that need gradients.
    pub(crate) fn op(&self) -> &BackpropOp {
        &self.0.op
    }

    /// True when gradients flow to or through this tensor: it is a [`crate::Var`] or was
    /// computed from one.
    pub fn track_op(&self) -> bool {
        self.0.is_variable || self.0.op.is_some()
    }

    /// True for the tensor of a [`crate::Var`].
    pub fn is_variable(&self) -> bool {
        self.0.is_variable
    }

    /// Runs `f` on the storage under its write lock (used by [`crate::Var::set`]).
    pub(crate) fn with_storage_mut<R>(&self, f: impl FnOnce(&mut Storage) -> R) -> R {
        let mut guard = match self.0.storage.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut guard)
    }

    pub(crate) fn storage(&self) -> RwLockReadGuard<'_, Storage> {
        // A poisoned lock means a panic happened while a writer held it; the data is still a
        // valid storage, so keep going rather than propagate the panic.
        match self.0.storage.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// This tensor's unique id.
    pub fn id(&self) -> TensorId {
        self.0.id
    }
    /// The shape.
    pub fn shape(&self) -> &Shape {
        self.0.layout.shape()
    }
    /// The sizes of the dims.
    pub fn dims(&self) -> &[usize] {
        self.0.layout.dims()
    }
    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.dims().len()
    }
    /// Number of elements.
    pub fn elem_count(&self) -> usize {
        self.shape().elem_count()
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// Device holding the data.
    pub fn device(&self) -> &Device {
        &self.0.device
    }
    /// Shape, strides and offset.
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    /// Strides in elements.
    pub fn stride(&self) -> &[usize] {
        self.0.layout.stride()
    }
    /// True when the elements are row-major with no gaps.
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// True when two tensors share one storage.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    /// The size of one dim.
    pub fn dim<D: crate::Dim>(&self, dim: D) -> Result<usize> {
        let d = dim.to_index(self.shape(), "dim")?;
        Ok(self.dims()[d])
    }
}

macro_rules! dims_n {
    ($name:ident, $n:literal, ($($v:ident),+)) => {
        /// The dims of a tensor of exactly this rank, as a tuple.
        pub fn $name(&self) -> Result<($(dims_n!(@usize $v)),+)> {
            match self.dims() {
                &[$($v),+] => Ok(($($v),+)),
                _ => Err(Error::RankMismatch { op: stringify!($name), expected: $n, shape: self.shape().clone() }),
            }
        }
    };
    (@usize $v:ident) => { usize };
}

impl Tensor {
    /// The only dim of a rank-1 tensor.
    pub fn dims1(&self) -> Result<usize> {
        match self.dims() {
            &[a] => Ok(a),
            _ => Err(Error::RankMismatch { op: "dims1", expected: 1, shape: self.shape().clone() }),
        }
    }
    dims_n!(dims2, 2, (a, b));
    dims_n!(dims3, 3, (a, b, c));
    dims_n!(dims4, 4, (a, b, c, d));
    dims_n!(dims5, 5, (a, b, c, d, e));
}

fn check_alloc(shape: &Shape, dtype: DType, op: &'static str) -> Result<usize> {
    let n = shape.checked_elem_count(op)?;
    n.checked_mul(dtype.size_in_bytes())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| Error::overflow(op, format!("{shape:?} of {dtype} is too large to allocate")))?;
    Ok(n)
}

/// Constructors.
impl Tensor {
    /// A tensor from nested arrays, slices, vectors or a scalar.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::new(&[[1u32, 2, 3], [4, 5, 6]], &Device::Cpu)?;
    /// assert_eq!(t.dims(), &[2, 3]);
    /// let s = Tensor::new(3.5f64, &Device::Cpu)?;
    /// assert_eq!(s.rank(), 0);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn new<A: NdArray>(array: A, device: &Device) -> Result<Self> {
        let shape = array.shape()?;
        let storage = array.to_cpu_storage();
        Self::from_cpu(storage, shape, device)
    }

    fn from_cpu(storage: CpuStorage, shape: Shape, device: &Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Self::from_storage_contiguous(Storage::Cpu(storage), shape)),
        }
    }

    /// A tensor of `shape` taking ownership of `data` (row-major).
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (2, 3), &Device::Cpu)?;
    /// assert_eq!(t.to_vec2::<f32>()?[1], vec![4., 5., 6.]);
    /// assert!(Tensor::from_vec(vec![1f32; 5], (2, 3), &Device::Cpu).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn from_vec<T: CpuElement, S: Into<Shape>>(data: Vec<T>, shape: S, device: &Device) -> Result<Self> {
        let shape = shape.into();
        let n = shape.checked_elem_count("from_vec")?;
        if n != data.len() {
            return Err(Error::ElementCount { op: "from_vec", shape, expected: n, got: data.len() });
        }
        Self::from_cpu(T::into_storage(data), shape, device)
    }

    /// A tensor of `shape` copying `data` (row-major).
    pub fn from_slice<T: CpuElement, S: Into<Shape>>(data: &[T], shape: S, device: &Device) -> Result<Self> {
        let shape = shape.into();
        let n = shape.checked_elem_count("from_slice")?;
        if n != data.len() {
            return Err(Error::ElementCount { op: "from_slice", shape, expected: n, got: data.len() });
        }
        Self::from_cpu(T::into_storage(data.to_vec()), shape, device)
    }

    /// A tensor of `shape` filled with `value` (converted to `dtype`).
    pub fn full_dtype<S: Into<Shape>>(value: f64, shape: S, dtype: DType, device: &Device) -> Result<Self> {
        let shape = shape.into();
        let n = check_alloc(&shape, dtype, "full")?;
        Self::from_cpu(CpuStorage::filled(n, dtype, value), shape, device)
    }

    /// A tensor of `shape` filled with `value`, of `value`'s dtype.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::full(7u32, (2, 2), &Device::Cpu)?;
    /// assert_eq!(t.to_vec2::<u32>()?, vec![vec![7, 7], vec![7, 7]]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn full<T: CpuElement, S: Into<Shape>>(value: T, shape: S, device: &Device) -> Result<Self> {
        let shape = shape.into();
        let n = check_alloc(&shape, T::DTYPE, "full")?;
        Self::from_cpu(T::into_storage(vec![value; n]), shape, device)
    }

    /// Zeros of `shape` and `dtype`.
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let z = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
    /// assert_eq!(z.sum_all()?.to_scalar::<f32>()?, 0.0);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn zeros<S: Into<Shape>>(shape: S, dtype: DType, device: &Device) -> Result<Self> {
        Self::full_dtype(0.0, shape, dtype, device)
    }
    /// Ones of `shape` and `dtype`.
    pub fn ones<S: Into<Shape>>(shape: S, dtype: DType, device: &Device) -> Result<Self> {
        Self::full_dtype(1.0, shape, dtype, device)
    }
    /// Zeros with this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros(self.shape(), self.dtype(), self.device())
    }
    /// Ones with this tensor's shape, dtype and device.
    pub fn ones_like(&self) -> Result<Self> {
        Self::ones(self.shape(), self.dtype(), self.device())
    }
    /// `value` with this tensor's shape, dtype and device.
    pub fn full_like(&self, value: f64) -> Result<Self> {
        Self::full_dtype(value, self.shape(), self.dtype(), self.device())
    }

    /// `start, start + 1, ..` up to (excluding) `end`.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::arange(0i64, 4, &Device::Cpu)?;
    /// assert_eq!(t.to_vec1::<i64>()?, vec![0, 1, 2, 3]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn arange<T: CpuElement>(start: T, end: T, device: &Device) -> Result<Self> {
        Self::arange_step(start, end, T::ONE, device)
    }

    /// `start, start + step, ..` while below `end` (above it for a negative step).
    pub fn arange_step<T: CpuElement>(start: T, end: T, step: T, device: &Device) -> Result<Self> {
        let (s, e, st) = (start.to_f64(), end.to_f64(), step.to_f64());
        if st == 0.0 || !st.is_finite() || !s.is_finite() || !e.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("start {start}, end {end}, step {step}: step must be finite and non-zero"),
            ));
        }
        let count = ((e - s) / st).ceil().max(0.0);
        if count > (isize::MAX as usize / T::DTYPE.size_in_bytes()) as f64 {
            return Err(Error::overflow("arange", format!("{count} elements")));
        }
        let n = count as usize;
        let data: Vec<T> = if T::DTYPE.is_int() {
            // Exact integer stepping.
            let mut v = Vec::with_capacity(n);
            let mut x = start;
            for _ in 0..n {
                v.push(x);
                x = x.add(step);
            }
            v
        } else {
            (0..n).map(|i| T::from_f64(s + st * i as f64)).collect()
        };
        Self::from_vec(data, n, device)
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize, dtype: DType, device: &Device) -> Result<Self> {
        let shape = Shape::from((n, n));
        check_alloc(&shape, dtype, "eye")?;
        let mut v = vec![0f64; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_vec(v, shape, device)?.to_dtype(dtype)
    }

    /// Uniform samples in `[lo, hi)`, of `lo`'s (float) dtype.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::rand(-1f32, 1.0, (3, 4), &Device::Cpu)?;
    /// assert!(t.to_vec2::<f32>()?.iter().flatten().all(|&x| (-1.0..1.0).contains(&x)));
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn rand<T: crate::dtype::FloatDType + CpuElement, S: Into<Shape>>(
        lo: T,
        hi: T,
        shape: S,
        device: &Device,
    ) -> Result<Self> {
        let shape = shape.into();
        let n = check_alloc(&shape, T::DTYPE, "rand")?;
        let (lo, hi) = (lo.to_f64(), hi.to_f64());
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(Error::invalid("rand", format!("bounds [{lo}, {hi}) must be finite with lo <= hi")));
        }
        let data = crate::device::with_cpu_rng(|r| {
            (0..n)
                .map(|_| {
                    let x = T::from_f64(lo + (hi - lo) * r.next_f64());
                    // Rounding to a narrow type can land on `hi`; keep the interval half-open.
                    if x.to_f64() >= hi && hi > lo {
                        T::from_f64(lo)
                    } else {
                        x
                    }
                })
                .collect::<Vec<T>>()
        })?;
        Self::from_vec(data, shape, device)
    }

    /// Normal samples with `mean` and `std`, of `mean`'s (float) dtype.
    pub fn randn<T: crate::dtype::FloatDType + CpuElement, S: Into<Shape>>(
        mean: T,
        std: T,
        shape: S,
        device: &Device,
    ) -> Result<Self> {
        let shape = shape.into();
        let n = check_alloc(&shape, T::DTYPE, "randn")?;
        let (m, s) = (mean.to_f64(), std.to_f64());
        if !(m.is_finite() && s.is_finite() && s >= 0.0) {
            return Err(Error::invalid("randn", format!("mean {m} and std {s} must be finite, std >= 0")));
        }
        let mut z = vec![0f64; n];
        crate::device::with_cpu_rng(|r| r.fill_normal(&mut z))?;
        Self::from_vec(z.into_iter().map(|x| T::from_f64(m + s * x)).collect(), shape, device)
    }

    /// Uniform samples like this tensor.
    pub fn rand_like(&self, lo: f64, hi: f64) -> Result<Self> {
        Tensor::rand(lo, hi, self.shape(), self.device())?.to_dtype(self.dtype())
    }
    /// Normal samples like this tensor.
    pub fn randn_like(&self, mean: f64, std: f64) -> Result<Self> {
        Tensor::randn(mean, std, self.shape(), self.device())?.to_dtype(self.dtype())
    }
}

/// Conversions.
impl Tensor {
    /// Converts to `dtype` (a cheap clone when it already is).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let s = self.storage().to_dtype(self.layout(), dtype)?;
        let op = BackpropOp::new1(self, Op::ToDType);
        Ok(Self::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// Moves to `device` (a cheap clone when already there).
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        if device == self.device() {
            return Ok(self.clone());
        }
        match device {
            Device::Cpu => {
                let s = self.storage().to_cpu_storage()?;
                let op = BackpropOp::new1(self, Op::Copy);
                Ok(Self::from_storage_op(Storage::Cpu(s), self.layout().clone(), op, false))
            }
        }
    }

    /// A row-major copy, or `self` if already contiguous.
    pub fn contiguous(&self) -> Result<Self> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.copy()
    }

    /// A row-major copy into fresh storage, always.
    pub fn copy(&self) -> Result<Self> {
        let n = self.elem_count();
        let mut dst = match self.device() {
            Device::Cpu => Storage::Cpu(CpuStorage::zeros(n, self.dtype())),
        };
        self.storage().copy_strided_src(&mut dst, 0, self.layout())?;
        Ok(Self::from_storage_contiguous_op(dst, self.shape(), BackpropOp::new1(self, Op::Copy)))
    }

    /// A tensor that shares data but not identity and records no op: no gradient flows
    /// through it. A tensor that already tracks nothing is returned as is.
    pub fn detach(&self) -> Tensor {
        if !self.track_op() {
            return self.clone();
        }
        self.view_op(self.layout().clone(), BackpropOp::none())
    }

    fn host_vec<T: CpuElement>(&self, op: &'static str) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: T::DTYPE });
        }
        let guard = self.storage();
        match &*guard {
            Storage::Cpu(s) => {
                let v = s.as_slice::<T>()?;
                Ok(crate::cpu::contiguous_vec(v, self.layout()))
            }
        }
    }

    /// The single value of a rank-0 tensor.
    pub fn to_scalar<T: CpuElement>(&self) -> Result<T> {
        if self.rank() != 0 {
            return Err(Error::RankMismatch { op: "to_scalar", expected: 0, shape: self.shape().clone() });
        }
        Ok(self.host_vec::<T>("to_scalar")?[0])
    }

    /// The values of a rank-1 tensor.
    pub fn to_vec1<T: CpuElement>(&self) -> Result<Vec<T>> {
        if self.rank() != 1 {
            return Err(Error::RankMismatch { op: "to_vec1", expected: 1, shape: self.shape().clone() });
        }
        self.host_vec("to_vec1")
    }

    /// The values of a rank-2 tensor, row by row.
    pub fn to_vec2<T: CpuElement>(&self) -> Result<Vec<Vec<T>>> {
        let (_, n) = self.dims2().map_err(|_| Error::RankMismatch {
            op: "to_vec2",
            expected: 2,
            shape: self.shape().clone(),
        })?;
        let v = self.host_vec::<T>("to_vec2")?;
        if n == 0 {
            return Ok(vec![Vec::new(); self.dims()[0]]);
        }
        Ok(v.chunks(n).map(|c| c.to_vec()).collect())
    }

    /// The values of a rank-3 tensor.
    pub fn to_vec3<T: CpuElement>(&self) -> Result<Vec<Vec<Vec<T>>>> {
        let (a, b, c) = self.dims3().map_err(|_| Error::RankMismatch {
            op: "to_vec3",
            expected: 3,
            shape: self.shape().clone(),
        })?;
        let v = self.host_vec::<T>("to_vec3")?;
        Ok((0..a)
            .map(|i| (0..b).map(|j| v[(i * b + j) * c..(i * b + j + 1) * c].to_vec()).collect())
            .collect())
    }

    /// All values in row-major order, any rank.
    pub fn flatten_to_vec<T: CpuElement>(&self) -> Result<Vec<T>> {
        self.host_vec("flatten_to_vec")
    }
}
