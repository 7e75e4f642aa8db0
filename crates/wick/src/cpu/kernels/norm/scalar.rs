//! The portable twins.

use crate::cpu::kernels::{reduce, Isa};
use std::mem::MaybeUninit;

/// `Σ f(x_i)` with eight partial sums, like `reduce::scalar::sum`.
fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (chunks, tail) = x.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for c in chunks {
        for k in 0..8 {
            acc[k] += f(c[k]);
        }
    }
    let s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    tail.iter().fold(s, |s, &t| s + f(t))
}

pub(crate) fn layer_norm(x: &[f32], w: &[f32], b: Option<&[f32]>, out: &mut [MaybeUninit<f32>], eps: f32) {
    let dim = w.len();
    for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let mean = reduce::sum_with(Isa::Scalar, xr) / dim as f32;
        let var = sum_by(xr, |v| (v - mean) * (v - mean)) / dim as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        match b {
            Some(b) => {
                for (((o, &v), &w), &b) in or.iter_mut().zip(xr).zip(w).zip(b) {
                    o.write((v - mean) * rstd * w + b);
                }
            }
            None => {
                for ((o, &v), &w) in or.iter_mut().zip(xr).zip(w) {
                    o.write((v - mean) * rstd * w);
                }
            }
        }
    }
}

pub(crate) fn rms_norm(x: &[f32], w: &[f32], out: &mut [MaybeUninit<f32>], eps: f32) {
    let dim = w.len();
    for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let ms = sum_by(xr, |v| v * v) / dim as f32;
        let rstd = 1.0 / (ms + eps).sqrt();
        for ((o, &v), &w) in or.iter_mut().zip(xr).zip(w) {
            o.write(v * rstd * w);
        }
    }
}
