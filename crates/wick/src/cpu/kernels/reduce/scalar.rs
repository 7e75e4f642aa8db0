//! The portable twins.

/// Eight independent partial sums: a shorter rounding chain than one running sum, and the
/// compiler vectorizes it.
pub(crate) fn sum(x: &[f32]) -> f32 {
    let (chunks, tail) = x.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &t in tail {
        s += t;
    }
    s
}

pub(crate) fn max(x: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &v in x {
        if v.is_nan() {
            return v;
        }
        if v > m {
            m = v;
        }
    }
    m
}

pub(crate) fn min(x: &[f32]) -> f32 {
    let mut m = f32::INFINITY;
    for &v in x {
        if v.is_nan() {
            return v;
        }
        if v < m {
            m = v;
        }
    }
    m
}
