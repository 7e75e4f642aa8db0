//! The portable twins: the `half` crate, one element at a time.

use half::{bf16, f16};
use std::mem::MaybeUninit;

pub(crate) fn f32_to_bf16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(bf16::from_f32(v).to_bits());
    }
}

pub(crate) fn bf16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(bf16::from_bits(v).to_f32());
    }
}

pub(crate) fn f32_to_f16(x: &[f32], out: &mut [MaybeUninit<u16>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f16::from_f32(v).to_bits());
    }
}

pub(crate) fn f16_to_f32(x: &[u16], out: &mut [MaybeUninit<f32>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f16::from_bits(v).to_f32());
    }
}
