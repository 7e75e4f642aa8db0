//! The portable twins: one element at a time through `scalar_math`.

use super::Activation;
use crate::cpu::kernels::scalar_math as sm;
use std::mem::MaybeUninit;

#[inline(always)]
fn map(x: &[f32], out: &mut [MaybeUninit<f32>], f: impl Fn(f32) -> f32) {
    for (o, &x) in out.iter_mut().zip(x) {
        o.write(f(x));
    }
}

pub(crate) fn apply(act: Activation, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    match act {
        Activation::Exp => map(x, out, sm::exp),
        Activation::Sigmoid => map(x, out, sm::sigmoid),
        Activation::Silu => map(x, out, sm::silu),
        Activation::Gelu => map(x, out, sm::gelu),
        Activation::GeluErf => map(x, out, sm::gelu_erf),
        Activation::Tanh => map(x, out, sm::tanh),
        Activation::Erf => map(x, out, sm::erf),
    }
}
