//! Elementwise unary float functions.
//!
//! The functions with a vector kernel (exp, sigmoid, silu, gelu, gelu_erf, tanh, erf) run it on
//! f32 data, and on f16/bf16 data widened to f32 a block at a time; every other case goes
//! through the generic per-element path.

use super::copy::{map_slices, map_slices_uninit, map_strided};
use super::kernels::activation::{self, Activation};
use super::kernels::convert;
use super::{CpuElement, CpuStorage, Map1Float};
use crate::dtype::FloatDType;
use crate::op::{self, UnaryOpT};
use crate::{Layout, Result};
use half::{bf16, f16};
use std::any::TypeId;

struct Unary<U: UnaryOpT>(std::marker::PhantomData<U>);

impl<U: UnaryOpT> Map1Float for Unary<U> {
    const OP: &'static str = U::NAME;
    fn f<T: CpuElement + FloatDType>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        Ok(map_strided(v, l, U::f::<T>))
    }
}

/// The vector kernel computing `U`, if there is one.
fn activation_of<U: UnaryOpT>() -> Option<Activation> {
    let id = TypeId::of::<U>();
    [
        (TypeId::of::<op::Exp>(), Activation::Exp),
        (TypeId::of::<op::Sigmoid>(), Activation::Sigmoid),
        (TypeId::of::<op::Silu>(), Activation::Silu),
        (TypeId::of::<op::Gelu>(), Activation::Gelu),
        (TypeId::of::<op::GeluErf>(), Activation::GeluErf),
        (TypeId::of::<op::Tanh>(), Activation::Tanh),
        (TypeId::of::<op::Erf>(), Activation::Erf),
    ]
    .into_iter()
    .find(|(k, _)| *k == id)
    .map(|(_, a)| a)
}

/// Applies `act` to half-precision data through f32, in blocks that stay in L1.
fn via_f32<H: Copy>(
    x: &[H],
    out: &mut [H],
    act: Activation,
    widen: fn(&[H], &mut [f32]),
    narrow: fn(&[f32], &mut [H]),
) {
    const BLOCK: usize = 1024;
    let (mut xf, mut of) = ([0f32; BLOCK], [0f32; BLOCK]);
    for (x, o) in x.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let n = x.len();
        widen(x, &mut xf[..n]);
        activation::apply(act, &xf[..n], &mut of[..n]);
        narrow(&of[..n], o);
    }
}

pub(crate) fn unary_map<U: UnaryOpT>(s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
    if let Some(act) = activation_of::<U>() {
        match s {
            CpuStorage::F32(v) => {
                // SAFETY: the activation kernels write every element of their output.
                let out = unsafe { map_slices_uninit(v, l, |x, o| activation::apply_uninit(act, x, o)) };
                return Ok(CpuStorage::F32(out.into()));
            }
            CpuStorage::BF16(v) => {
                let k = |x: &[bf16], o: &mut [bf16]| {
                    via_f32(x, o, act, convert::bf16_to_f32, convert::f32_to_bf16)
                };
                return Ok(CpuStorage::BF16(map_slices(v, l, k).into()));
            }
            CpuStorage::F16(v) => {
                let k =
                    |x: &[f16], o: &mut [f16]| via_f32(x, o, act, convert::f16_to_f32, convert::f32_to_f16);
                return Ok(CpuStorage::F16(map_slices(v, l, k).into()));
            }
            _ => {}
        }
    }
    Unary::<U>(std::marker::PhantomData).map(s, l)
}
