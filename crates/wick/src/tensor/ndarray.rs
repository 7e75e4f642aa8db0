//! Nested Rust arrays, slices and vectors as tensor data (`Tensor::new`).

use crate::cpu::{CpuElement, CpuStorage};
use crate::{Error, Result, Shape};

/// Data that `Tensor::new` accepts: a scalar, `[T; N]`, `[[T; N]; M]`, ... (up to rank 4),
/// `&[T]`, `Vec<T>`, `Vec<Vec<T>>` (rows must agree), or a reference to any of these.
pub trait NdArray {
    /// The shape, or an error for ragged data.
    fn shape(&self) -> Result<Shape>;
    /// The values, row-major.
    fn to_cpu_storage(&self) -> CpuStorage;
}

macro_rules! scalar_ndarray {
    ($($t:ty),*) => {$(
        impl NdArray for $t {
            fn shape(&self) -> Result<Shape> {
                Ok(Shape::from(()))
            }
            fn to_cpu_storage(&self) -> CpuStorage {
                <$t>::into_storage(vec![*self])
            }
        }
    )*};
}
scalar_ndarray!(u8, u32, i64, half::bf16, half::f16, f32, f64);

impl<T: CpuElement, const N: usize> NdArray for [T; N] {
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from(N))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.to_vec())
    }
}

impl<T: CpuElement, const N: usize, const M: usize> NdArray for [[T; N]; M] {
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from((M, N)))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.iter().flatten().copied().collect())
    }
}

impl<T: CpuElement, const N: usize, const M: usize, const K: usize> NdArray for [[[T; N]; M]; K] {
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from((K, M, N)))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.iter().flatten().flatten().copied().collect())
    }
}

impl<T: CpuElement, const N: usize, const M: usize, const K: usize, const L: usize> NdArray
    for [[[[T; N]; M]; K]; L]
{
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from((L, K, M, N)))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.iter().flatten().flatten().flatten().copied().collect())
    }
}

impl<T: CpuElement> NdArray for &[T] {
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from(self.len()))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.to_vec())
    }
}

impl<T: CpuElement> NdArray for Vec<T> {
    fn shape(&self) -> Result<Shape> {
        Ok(Shape::from(self.len()))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.clone())
    }
}

impl<T: CpuElement> NdArray for Vec<Vec<T>> {
    fn shape(&self) -> Result<Shape> {
        let n = self.first().map_or(0, |r| r.len());
        if let Some((i, r)) = self.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(Error::invalid(
                "Tensor::new",
                format!("ragged rows: row 0 has {n} elements, row {i} has {}", r.len()),
            ));
        }
        Ok(Shape::from((self.len(), n)))
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        T::into_storage(self.iter().flatten().copied().collect())
    }
}

impl<A: NdArray + ?Sized> NdArray for &A
where
    A: NdArrayRef,
{
    fn shape(&self) -> Result<Shape> {
        (**self).shape()
    }
    fn to_cpu_storage(&self) -> CpuStorage {
        (**self).to_cpu_storage()
    }
}

/// Marker for the array kinds that may also be passed by reference.
pub trait NdArrayRef {}
impl<T: CpuElement, const N: usize> NdArrayRef for [T; N] {}
impl<T: CpuElement, const N: usize, const M: usize> NdArrayRef for [[T; N]; M] {}
impl<T: CpuElement, const N: usize, const M: usize, const K: usize> NdArrayRef for [[[T; N]; M]; K] {}
impl<T: CpuElement, const N: usize, const M: usize, const K: usize, const L: usize> NdArrayRef
    for [[[[T; N]; M]; K]; L]
{
}
impl<T: CpuElement> NdArrayRef for Vec<T> {}
impl<T: CpuElement> NdArrayRef for Vec<Vec<T>> {}
