//! Elementwise unary float functions.

use super::copy::map_strided;
use super::{CpuElement, CpuStorage, Map1Float};
use crate::dtype::FloatDType;
use crate::op::UnaryOpT;
use crate::{Layout, Result};

struct Unary<U: UnaryOpT>(std::marker::PhantomData<U>);

impl<U: UnaryOpT> Map1Float for Unary<U> {
    const OP: &'static str = U::NAME;
    fn f<T: CpuElement + FloatDType>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        Ok(map_strided(v, l, U::f::<T>))
    }
}

pub(crate) fn unary_map<U: UnaryOpT>(s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
    Unary::<U>(std::marker::PhantomData).map(s, l)
}
