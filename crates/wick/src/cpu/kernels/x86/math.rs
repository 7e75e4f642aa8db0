//! Lane-wise math, written once over the primitives and expanded in `avx2.rs` and
//! `avx512.rs`. The formulas and constants are those of `scalar_math.rs`; see there for the
//! methods and their accuracy.

/// Expands the vector math and the elementwise `map` for one instruction set.
macro_rules! vector_math {
    ($feat:literal) => {
        use $crate::cpu::kernels::scalar_math as sm;

        /// Horner's rule, coefficients highest degree first.
        #[inline]
        #[target_feature(enable = $feat)]
        fn poly(c: &[f32], x: F) -> F {
            let mut acc = splat(c[0]);
            for &k in &c[1..] {
                acc = fmadd(acc, x, splat(k));
            }
            acc
        }

        /// `e^x` per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn exp(x: F) -> F {
            // Clamp to [EXP_LO, 89] keeping NaN (`max(lo, x)` and `min(hi, ·)` return their
            // second operand when it is NaN): below EXP_LO the result rounds to 0 by itself,
            // above EXP_HI the final select makes it +inf.
            let xc = min(splat(89.0), max(splat(sm::EXP_LO), x));
            let n = round(mul(xc, splat(sm::LOG2E)));
            let r = fnmadd(n, splat(sm::LN2_HI), xc);
            let r = fnmadd(n, splat(sm::LN2_LO), r);
            let y = add(fmadd(poly(&sm::EXP_P, r), mul(r, r), r), splat(1.0));
            select(gt(x, splat(sm::EXP_HI)), splat(f32::INFINITY), ldexp(y, n))
        }

        /// `1 / (1 + e^-x)` per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn sigmoid(x: F) -> F {
            let e = exp(sub(splat(0.0), abs(x)));
            let r = div(splat(1.0), add(splat(1.0), e));
            select(lt(x, splat(0.0)), mul(e, r), r)
        }

        /// `x · sigmoid(x)` per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn silu(x: F) -> F {
            mul(x, sigmoid(x))
        }

        /// Tanh-approximated GELU per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn gelu(x: F) -> F {
            let v = mul(x, fmadd(splat(sm::GELU_K3), mul(x, x), splat(sm::GELU_K)));
            mul(x, sigmoid(v))
        }

        /// `tanh(x)` per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn tanh(x: F) -> F {
            let a = abs(x);
            let z = mul(x, x);
            let small = fmadd(mul(poly(&sm::TANH_P, z), z), x, x);
            let e = exp(add(a, a));
            let large = copysign(sub(splat(1.0), div(splat(2.0), add(e, splat(1.0)))), x);
            select(lt(a, splat(sm::TANH_SMALL)), small, large)
        }

        /// erfc(z) for z ≥ 0.
        #[inline]
        #[target_feature(enable = $feat)]
        fn erfc_large(z: F) -> F {
            let t = div(splat(1.0), fmadd(splat(0.5), z, splat(1.0)));
            mul(t, exp(fnmadd(z, z, poly(&sm::ERFC_C, t))))
        }

        /// `erf(x)` per lane.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn erf(x: F) -> F {
            let a = abs(x);
            let small = mul(poly(&sm::ERF_T, mul(x, x)), x);
            let large = copysign(sub(splat(1.0), erfc_large(a)), x);
            select(lt(a, splat(1.0)), small, large)
        }

        /// GELU with the exact erf, per lane: `x − x·erfc(z)/2` for x > 0, `x·erfc(z)/2`
        /// otherwise, z = |x|/√2 (no cancellation on either side).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn gelu_erf(x: F) -> F {
            let c = erfc_large(mul(abs(x), splat(std::f32::consts::FRAC_1_SQRT_2)));
            let half_c = mul(splat(0.5), c);
            select(gt(x, splat(0.0)), mul(x, sub(splat(1.0), half_c)), mul(x, half_c))
        }

        /// Sum of a slice, four vector accumulators (latency hiding, and a shorter rounding
        /// chain than one running sum).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn row_sum(x: &[f32]) -> f32 {
            let (blocks, rest) = x.as_chunks::<{ 4 * LANES }>();
            let mut acc = [splat(0.0); 4];
            for b in blocks {
                let (v, _) = b.as_chunks::<LANES>();
                for k in 0..4 {
                    acc[k] = add(acc[k], load(&v[k]));
                }
            }
            let (vs, t) = rest.as_chunks::<LANES>();
            for (k, v) in vs.iter().enumerate() {
                acc[k] = add(acc[k], load(v));
            }
            if !t.is_empty() {
                acc[3] = add(acc[3], load_tail(t, 0.0));
            }
            hsum(add(add(acc[0], acc[1]), add(acc[2], acc[3])))
        }

        /// `max(acc, x)` lane-wise, NaN-propagating: a NaN in either stays.
        #[inline]
        #[target_feature(enable = $feat)]
        fn max_nan(acc: F, x: F) -> F {
            // `max(x, acc)` returns `acc` when either is NaN, so a NaN `acc` sticks.
            select(is_nan(x), x, max(x, acc))
        }

        /// `min(acc, x)` lane-wise, NaN-propagating.
        #[inline]
        #[target_feature(enable = $feat)]
        fn min_nan(acc: F, x: F) -> F {
            select(is_nan(x), x, min(x, acc))
        }

        /// Largest element (NaN if any is NaN, −inf for an empty slice).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn row_max(x: &[f32]) -> f32 {
            row_fold(x, f32::NEG_INFINITY, |a, v| max_nan(a, v), |a| hmax(a))
        }

        /// Smallest element (NaN if any is NaN, +inf for an empty slice).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn row_min(x: &[f32]) -> f32 {
            row_fold(x, f32::INFINITY, |a, v| min_nan(a, v), |a| hmin(a))
        }

        /// A NaN-propagating fold with four accumulators; `id` is the identity of `f`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn row_fold(x: &[f32], id: f32, f: impl Fn(F, F) -> F, horizontal: impl Fn(F) -> f32) -> f32 {
            let (blocks, rest) = x.as_chunks::<{ 4 * LANES }>();
            let mut acc = [splat(id); 4];
            for b in blocks {
                let (v, _) = b.as_chunks::<LANES>();
                for k in 0..4 {
                    acc[k] = f(acc[k], load(&v[k]));
                }
            }
            let (vs, t) = rest.as_chunks::<LANES>();
            for (k, v) in vs.iter().enumerate() {
                acc[k] = f(acc[k], load(v));
            }
            if !t.is_empty() {
                acc[3] = f(acc[3], load_tail(t, id));
            }
            let a = f(f(acc[0], acc[1]), f(acc[2], acc[3]));
            if any(is_nan(a)) {
                f32::NAN
            } else {
                horizontal(a)
            }
        }

        /// `out[i] = f(x[i])`, a vector at a time, over `min(x.len(), out.len())` elements.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn map(x: &[f32], out: &mut [std::mem::MaybeUninit<f32>], f: impl Fn(F) -> F) {
            let n = x.len().min(out.len());
            let (xs, xt) = x[..n].as_chunks::<LANES>();
            let (os, ot) = out[..n].as_chunks_mut::<LANES>();
            for (o, x) in os.iter_mut().zip(xs) {
                store_uninit(o, f(load(x)));
            }
            if !xt.is_empty() {
                store_tail_uninit(ot, f(load_tail(xt, 0.0)));
            }
        }
    };
}
