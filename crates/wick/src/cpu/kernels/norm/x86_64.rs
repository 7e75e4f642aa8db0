//! AVX2 and AVX-512 variants.

macro_rules! norm {
    ($feat:literal) => {
        use std::mem::MaybeUninit;

        /// `Σ f(x_i)` with four vector accumulators; the tail is padded with `pad`, for which
        /// `f` must give 0.
        #[inline]
        #[target_feature(enable = $feat)]
        fn sum_of(x: &[f32], pad: f32, f: impl Fn(F) -> F) -> f32 {
            let (blocks, rest) = x.as_chunks::<{ 4 * LANES }>();
            let mut acc = [splat(0.0); 4];
            for b in blocks {
                let (v, _) = b.as_chunks::<LANES>();
                for k in 0..4 {
                    acc[k] = add(acc[k], f(load(&v[k])));
                }
            }
            let (vs, t) = rest.as_chunks::<LANES>();
            for (k, v) in vs.iter().enumerate() {
                acc[k] = add(acc[k], f(load(v)));
            }
            if !t.is_empty() {
                acc[3] = add(acc[3], f(load_tail(t, pad)));
            }
            hsum(add(add(acc[0], acc[1]), add(acc[2], acc[3])))
        }

        /// `out = g(x, w, b)` over one row, a vector at a time.
        #[inline]
        #[target_feature(enable = $feat)]
        fn zip3(x: &[f32], w: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>], g: impl Fn(F, F, F) -> F) {
            let (xs, xt) = x.as_chunks::<LANES>();
            let (ws, wt) = w.as_chunks::<LANES>();
            let (bs, bt) = b.as_chunks::<LANES>();
            let (os, ot) = out.as_chunks_mut::<LANES>();
            for (((o, x), w), b) in os.iter_mut().zip(xs).zip(ws).zip(bs) {
                store_uninit(o, g(load(x), load(w), load(b)));
            }
            if !xt.is_empty() {
                store_tail_uninit(ot, g(load_tail(xt, 0.0), load_tail(wt, 0.0), load_tail(bt, 0.0)));
            }
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn layer_norm(
            x: &[f32],
            w: &[f32],
            b: Option<&[f32]>,
            out: &mut [MaybeUninit<f32>],
            eps: f32,
        ) {
            let dim = w.len();
            for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
                let mean = row_sum(xr) / dim as f32;
                let mv = splat(mean);
                let var = sum_of(xr, mean, |v| {
                    let d = sub(v, mv);
                    mul(d, d)
                }) / dim as f32;
                let rv = splat(1.0 / (var + eps).sqrt());
                match b {
                    Some(b) => zip3(xr, w, b, or, |v, w, b| fmadd(mul(sub(v, mv), rv), w, b)),
                    // `w` stands in for the absent bias; `g` ignores it.
                    None => zip3(xr, w, w, or, |v, w, _| mul(mul(sub(v, mv), rv), w)),
                }
            }
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn rms_norm(x: &[f32], w: &[f32], out: &mut [MaybeUninit<f32>], eps: f32) {
            let dim = w.len();
            for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
                let ms = sum_of(xr, 0.0, |v| mul(v, v)) / dim as f32;
                let rv = splat(1.0 / (ms + eps).sqrt());
                zip3(xr, w, w, or, |v, w, _| mul(mul(v, rv), w));
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(norm);
