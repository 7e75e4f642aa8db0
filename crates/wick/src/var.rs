//! `Var`: a trainable tensor, the leaf that [`Tensor::backward`] computes gradients for.

use crate::backend::Storage;
use crate::cpu::CpuStorage;
use crate::{DType, Device, Error, NdArray, Result, Shape, Tensor};
use std::ops::Deref;

/// A tensor whose gradient is wanted: a parameter to train or an input to differentiate by.
/// It owns its storage, which [`Var::set`] overwrites in place (an optimizer step), so every
/// clone of the var sees the update. Derefs to [`Tensor`] for all tensor ops.
///
/// ```
/// use wick::{Device, Tensor, Var};
/// let dev = Device::Cpu;
/// let w = Var::new(&[[1f32, 2.], [3., 4.]], &dev)?;
/// let x = Tensor::new(&[[1f32], [1.]], &dev)?;
/// let loss = w.matmul(&x)?.sum_all()?;
/// let grads = loss.backward()?;
/// let gw = grads.get(&w).unwrap();
/// assert_eq!(gw.to_vec2::<f32>()?, vec![vec![1., 1.], vec![1., 1.]]);
/// w.set(&w.sub(&gw.affine(0.5, 0.0)?)?)?;
/// assert_eq!(w.to_vec2::<f32>()?, vec![vec![0.5, 1.5], vec![2.5, 3.5]]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Clone)]
pub struct Var(Tensor);

impl Var {
    /// A variable holding a copy of `t`'s values (float dtypes only).
    pub fn from_tensor(t: &Tensor) -> Result<Var> {
        if !t.dtype().is_float() {
            return Err(Error::unsupported_dtype("Var", t.dtype(), "a variable needs a float dtype"));
        }
        let mut dst = match t.device() {
            Device::Cpu => Storage::Cpu(CpuStorage::zeros(t.elem_count(), t.dtype())),
        };
        t.storage().copy_strided_src(&mut dst, 0, t.layout())?;
        Ok(Var(Tensor::new_variable(dst, t.shape().clone())))
    }

    /// A variable from nested arrays (see [`Tensor::new`]).
    pub fn new<A: NdArray>(array: A, device: &Device) -> Result<Var> {
        Var::from_tensor(&Tensor::new(array, device)?)
    }

    /// Zeros of `shape` and `dtype`.
    pub fn zeros<S: Into<Shape>>(shape: S, dtype: DType, device: &Device) -> Result<Var> {
        Var::from_tensor(&Tensor::zeros(shape, dtype, device)?)
    }

    /// Ones of `shape` and `dtype`.
    pub fn ones<S: Into<Shape>>(shape: S, dtype: DType, device: &Device) -> Result<Var> {
        Var::from_tensor(&Tensor::ones(shape, dtype, device)?)
    }

    /// Normal samples of `shape` with `mean` and `std`, of `dtype`.
    pub fn randn<S: Into<Shape>>(
        mean: f64,
        std: f64,
        shape: S,
        dtype: DType,
        device: &Device,
    ) -> Result<Var> {
        Var::from_tensor(&Tensor::randn(mean, std, shape, device)?.to_dtype(dtype)?)
    }

    /// Uniform samples in `[lo, hi)` of `shape`, of `dtype`.
    pub fn rand<S: Into<Shape>>(lo: f64, hi: f64, shape: S, dtype: DType, device: &Device) -> Result<Var> {
        Var::from_tensor(&Tensor::rand(lo, hi, shape, device)?.to_dtype(dtype)?)
    }

    /// The variable as a tensor (tracking gradients).
    pub fn as_tensor(&self) -> &Tensor {
        &self.0
    }

    /// The tensor, consuming the var (it keeps tracking gradients).
    pub fn into_inner(self) -> Tensor {
        self.0
    }

    /// The current values as a tensor that records no ops (shares the storage, so it sees
    /// later [`Var::set`] calls).
    pub fn as_detached_tensor(&self) -> Tensor {
        self.0.detach()
    }

    /// Overwrites the values in place with `src` (same shape and dtype), e.g. an optimizer
    /// step. Graphs built earlier from this var see the new values.
    pub fn set(&self, src: &Tensor) -> Result<()> {
        if src.shape() != self.0.shape() {
            return Err(Error::shape_mismatch(
                "Var::set",
                self.0.shape(),
                src.shape(),
                "shapes must be equal",
            ));
        }
        if src.dtype() != self.0.dtype() {
            return Err(Error::DTypeMismatch { op: "Var::set", lhs: self.0.dtype(), rhs: src.dtype() });
        }
        self.0.device().same_as(src.device(), "Var::set")?;
        // Reading `src` while holding the write lock would deadlock if it shares the storage.
        let src = if src.same_storage(&self.0) { src.detach().copy()? } else { src.detach() };
        let src_storage = src.storage();
        let layout = src.layout();
        self.0.with_storage_mut(|dst| src_storage.copy_strided_src(dst, 0, layout))
    }
}

impl Deref for Var {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        &self.0
    }
}

impl AsRef<Tensor> for Var {
    fn as_ref(&self) -> &Tensor {
        &self.0
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({:?})", self.0)
    }
}
