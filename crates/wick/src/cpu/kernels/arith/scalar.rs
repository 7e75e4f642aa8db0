//! The portable twins.

use super::Arith;
use std::mem::MaybeUninit;

pub(crate) fn zip(op: Arith, a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(op.f(x, y));
    }
}

pub(crate) fn zip_scalar(op: Arith, a: &[f32], b: f32, scalar_rhs: bool, out: &mut [MaybeUninit<f32>]) {
    for (o, &x) in out.iter_mut().zip(a) {
        o.write(if scalar_rhs { op.f(x, b) } else { op.f(b, x) });
    }
}
