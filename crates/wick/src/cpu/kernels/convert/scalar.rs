//! The portable twins: the `half` crate, one element at a time.

use half::{bf16, f16};

pub(crate) fn f32_to_bf16(x: &[f32], out: &mut [u16]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = bf16::from_f32(v).to_bits();
    }
}

pub(crate) fn bf16_to_f32(x: &[u16], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = bf16::from_bits(v).to_f32();
    }
}

pub(crate) fn f32_to_f16(x: &[f32], out: &mut [u16]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f16::from_f32(v).to_bits();
    }
}

pub(crate) fn f16_to_f32(x: &[u16], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f16::from_bits(v).to_f32();
    }
}
