//! The portable twin.

use crate::cpu::kernels::{assume_written, reduce, scalar_math as sm, Isa};
use std::mem::MaybeUninit;

pub(crate) fn softmax(x: &[f32], out: &mut [MaybeUninit<f32>], dim: usize, log: bool) {
    for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let m = reduce::max_with(Isa::Scalar, xr);
        for (o, &v) in or.iter_mut().zip(xr) {
            o.write(sm::exp(v - m));
        }
        // SAFETY: the loop above wrote every element of the row.
        let or = unsafe { assume_written(or) };
        // Eight partial sums: one running sum over a 32k-element row would lose ~1e-5.
        let s = reduce::sum_with(Isa::Scalar, or);
        if log {
            let ls = s.ln();
            for (o, &v) in or.iter_mut().zip(xr) {
                *o = (v - m) - ls;
            }
        } else {
            let inv = 1.0 / s;
            for o in or.iter_mut() {
                *o *= inv;
            }
        }
    }
}
