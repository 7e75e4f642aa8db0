//! AVX2 and AVX-512 variants.

macro_rules! softmax {
    ($feat:literal) => {
        use std::mem::MaybeUninit;

        /// `Σ e^(x_i − m)`, storing each term in `out` (as long as `x`).
        #[inline]
        #[target_feature(enable = $feat)]
        fn exp_sum(x: &[f32], out: &mut [MaybeUninit<f32>], m: f32) -> f32 {
            let mv = splat(m);
            let (xs, xt) = x.as_chunks::<LANES>();
            let (os, ot) = out.as_chunks_mut::<LANES>();
            let mut acc = [splat(0.0); 2];
            for (i, (o, xv)) in os.iter_mut().zip(xs).enumerate() {
                let e = exp(sub(load(xv), mv));
                store_uninit(o, e);
                acc[i & 1] = add(acc[i & 1], e);
            }
            if !xt.is_empty() {
                // Padding with −inf makes the extra lanes e^−inf = 0 (or NaN when m is −inf
                // or NaN, and then every term is NaN anyway).
                let e = exp(sub(load_tail(xt, f32::NEG_INFINITY), mv));
                store_tail_uninit(ot, e);
                acc[0] = add(acc[0], e);
            }
            hsum(add(acc[0], acc[1]))
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn softmax(x: &[f32], out: &mut [MaybeUninit<f32>], dim: usize, log: bool) {
            for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
                let m = row_max(xr);
                if log {
                    let ls = splat(exp_sum(xr, or, m).ln());
                    let mv = splat(m);
                    map(xr, or, |v| sub(sub(v, mv), ls));
                } else {
                    let inv = splat(1.0 / exp_sum(xr, or, m));
                    // SAFETY: `exp_sum` wrote every element of the row.
                    let or = unsafe { $crate::cpu::kernels::assume_written(or) };
                    let (os, ot) = or.as_chunks_mut::<LANES>();
                    for o in os {
                        store(o, mul(load(o), inv));
                    }
                    if !ot.is_empty() {
                        store_tail(ot, mul(load_tail(ot, 0.0), inv));
                    }
                }
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(softmax);
