//! AVX2 and AVX-512 variants: four vectors per step, masked loads and stores for the tail.

macro_rules! arith {
    ($feat:literal) => {
        use std::mem::MaybeUninit;
        use $crate::cpu::kernels::arith::Arith;

        /// `out = g(a, b)` over `min` of the three lengths.
        #[inline]
        #[target_feature(enable = $feat)]
        fn zip2(a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>], g: impl Fn(F, F) -> F) {
            let n = a.len().min(b.len()).min(out.len());
            let (a4, at) = a[..n].as_chunks::<{ 4 * LANES }>();
            let (b4, bt) = b[..n].as_chunks::<{ 4 * LANES }>();
            let (o4, ot) = out[..n].as_chunks_mut::<{ 4 * LANES }>();
            for ((o, a), b) in o4.iter_mut().zip(a4).zip(b4) {
                let (a, _) = a.as_chunks::<LANES>();
                let (b, _) = b.as_chunks::<LANES>();
                let (o, _) = o.as_chunks_mut::<LANES>();
                for k in 0..4 {
                    store_uninit(&mut o[k], g(load(&a[k]), load(&b[k])));
                }
            }
            for ((o, a), b) in ot.chunks_mut(LANES).zip(at.chunks(LANES)).zip(bt.chunks(LANES)) {
                store_tail_uninit(o, g(load_tail(a, 0.0), load_tail(b, 0.0)));
            }
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn zip(op: Arith, a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
            match op {
                Arith::Add => zip2(a, b, out, |x, y| add(x, y)),
                Arith::Sub => zip2(a, b, out, |x, y| sub(x, y)),
                Arith::Mul => zip2(a, b, out, |x, y| mul(x, y)),
                Arith::Div => zip2(a, b, out, |x, y| div(x, y)),
            }
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn zip_scalar(
            op: Arith,
            a: &[f32],
            b: f32,
            scalar_rhs: bool,
            out: &mut [MaybeUninit<f32>],
        ) {
            let s = splat(b);
            match (op, scalar_rhs) {
                (Arith::Add, _) => map(a, out, |x| add(x, s)),
                (Arith::Mul, _) => map(a, out, |x| mul(x, s)),
                (Arith::Sub, true) => map(a, out, |x| sub(x, s)),
                (Arith::Sub, false) => map(a, out, |x| sub(s, x)),
                (Arith::Div, true) => map(a, out, |x| div(x, s)),
                (Arith::Div, false) => map(a, out, |x| div(s, x)),
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(arith);
