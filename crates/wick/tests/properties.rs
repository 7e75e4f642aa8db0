//! Property tests: shape algebra round trips, broadcasting, and strided inputs against plain
//! scalar-loop references.

use proptest::prelude::*;
use wick::{DType, Device, Tensor};

fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0f32, n as f32, &Device::Cpu).unwrap().reshape(shape).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_to_vec::<f32>().unwrap()
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 1..5)
}

/// Row-major multi-index of flat position `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (i, d)| acc * d + i)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn permute_then_inverse_is_identity(shape in shape_strategy(), seed in any::<u64>()) {
        let t = arange(&shape);
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        // Fisher–Yates with a tiny LCG so the permutation follows the seed.
        let mut s = seed;
        for i in (1..perm.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut inv = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() { inv[p] = i; }
        let p = t.permute(perm.clone()).unwrap();
        // Element check against index arithmetic.
        let pv = values(&p.contiguous().unwrap());
        for (i, &v) in pv.iter().enumerate() {
            let idx = unravel(i, p.dims());
            let mut src = vec![0; shape.len()];
            for (k, &pk) in perm.iter().enumerate() { src[pk] = idx[k]; }
            prop_assert_eq!(v, ravel(&src, &shape) as f32);
        }
        let back = p.permute(inv).unwrap();
        prop_assert_eq!(back.dims(), t.dims());
        prop_assert_eq!(values(&back), values(&t));
    }

    /// `slice_set` of a (possibly transposed) source into a narrowed-looking window of a
    /// buffer: every element equals the index rule (inside the window: the source; outside:
    /// unchanged).
    #[test]
    fn slice_set_matches_index_rule(shape in shape_strategy(), d in 0usize..4, extra in 0usize..3, start in 0usize..3, transposed: bool) {
        let d = d % shape.len();
        let mut buf_dims = shape.clone();
        buf_dims[d] += extra;
        let start = start.min(extra);
        let buf = arange(&buf_dims).affine(-1.0, 0.0).unwrap();
        let before = values(&buf);
        // The source laid out transposed in memory when asked, same logical values.
        let src = if transposed && shape.len() >= 2 {
            let mut rev = shape.clone();
            rev.reverse();
            arange(&rev).affine(1.0, 1000.0).unwrap().permute((0..shape.len()).rev().collect::<Vec<_>>()).unwrap()
        } else {
            arange(&shape).affine(1.0, 1000.0).unwrap()
        };
        buf.slice_set(&src, d, start).unwrap();
        let got = values(&buf);
        let sv = values(&src.contiguous().unwrap());
        for (i, &g) in got.iter().enumerate() {
            let mut idx = unravel(i, &buf_dims);
            let want = if idx[d] >= start && idx[d] < start + shape[d] {
                idx[d] -= start;
                sv[ravel(&idx, &shape)]
            } else {
                before[i]
            };
            prop_assert_eq!(g, want);
        }
    }

    #[test]
    fn transpose_twice_and_reshape_round_trip(shape in shape_strategy(), a in 0usize..4, b in 0usize..4) {
        let t = arange(&shape);
        let (a, b) = (a % shape.len(), b % shape.len());
        let tt = t.transpose(a, b).unwrap().transpose(a, b).unwrap();
        prop_assert_eq!(values(&tt), values(&t));
        let flat = t.transpose(a, b).unwrap().flatten_all().unwrap();
        let back = flat.reshape(t.transpose(a, b).unwrap().dims()).unwrap();
        prop_assert_eq!(values(&back), values(&t.transpose(a, b).unwrap().contiguous().unwrap()));
    }

    #[test]
    fn broadcasting_matches_index_rule(shape in shape_strategy(), mask in any::<u8>(), drop in 0usize..3) {
        // rhs: some dims squashed to 1, some leading dims dropped.
        let rank = shape.len();
        let mut rhs_shape: Vec<usize> = shape.iter().enumerate()
            .map(|(i, &d)| if mask >> i & 1 == 1 { 1 } else { d }).collect();
        let drop = drop.min(rank - 1);
        rhs_shape.drain(..drop);
        let lhs = arange(&shape);
        let rhs = arange(&rhs_shape).affine(10.0, 0.5).unwrap();
        let out = lhs.add(&rhs).unwrap();
        prop_assert_eq!(out.dims(), &shape[..]);
        let (lv, rv, ov) = (values(&lhs), values(&rhs), values(&out));
        for (i, &o) in ov.iter().enumerate() {
            let idx = unravel(i, &shape);
            let ridx: Vec<usize> = idx[drop..].iter().zip(&rhs_shape).map(|(&x, &d)| if d == 1 { 0 } else { x }).collect();
            prop_assert_eq!(o, lv[i] + rv[ravel(&ridx, &rhs_shape)]);
        }
        // Broadcasting is symmetric.
        prop_assert_eq!(values(&rhs.add(&lhs).unwrap()), ov);
    }

    #[test]
    fn cat_then_narrow_gives_back_parts(shape in shape_strategy(), extra in 1usize..4, dim in 0usize..4) {
        let dim = dim % shape.len();
        let a = arange(&shape);
        let mut bshape = shape.clone();
        bshape[dim] = extra;
        let b = arange(&bshape).affine(-1.0, 0.0).unwrap();
        let c = Tensor::cat(&[&a, &b], dim).unwrap();
        prop_assert_eq!(c.dims()[dim], shape[dim] + extra);
        prop_assert_eq!(values(&c.narrow(dim, 0, shape[dim]).unwrap().contiguous().unwrap()), values(&a));
        prop_assert_eq!(values(&c.narrow(dim, shape[dim], extra).unwrap().contiguous().unwrap()), values(&b));
        // The same with a non-contiguous first part.
        if shape.len() >= 2 {
            let at = a.transpose(0, shape.len() - 1).unwrap();
            let mut bt_shape = at.dims().to_vec();
            bt_shape[dim] = extra;
            let bt = arange(&bt_shape);
            let ct = Tensor::cat(&[&at, &bt], dim).unwrap();
            let at_len = at.dims()[dim];
            prop_assert_eq!(values(&ct.narrow(dim, 0, at_len).unwrap().contiguous().unwrap()), values(&at.contiguous().unwrap()));
        }
    }

    #[test]
    fn strided_equals_contiguous(shape in prop::collection::vec(2usize..6, 2..4), start in 0usize..2) {
        let t = arange(&shape).affine(0.01, -0.3).unwrap();
        let last = shape.len() - 1;
        let views = vec![
            t.transpose(0, last).unwrap(),
            t.narrow(last, start, shape[last] - start).unwrap(),
            t.narrow(0, start, shape[0] - start).unwrap().transpose(0, last).unwrap(),
        ];
        for v in views {
            let c = v.contiguous().unwrap();
            prop_assert!(c.is_contiguous());
            prop_assert_eq!(values(&v.exp().unwrap()), values(&c.exp().unwrap()));
            prop_assert_eq!(values(&v.mul(&v).unwrap()), values(&c.mul(&c).unwrap()));
            prop_assert_eq!(values(&v.sum_keepdim(0).unwrap()), values(&c.sum_keepdim(0).unwrap()));
            prop_assert_eq!(values(&v.max_keepdim(last).unwrap()), values(&c.max_keepdim(last).unwrap()));
            prop_assert_eq!(values(&v.cumsum(0).unwrap()), values(&c.cumsum(0).unwrap()));
            prop_assert_eq!(values(&v.softmax(last).unwrap()), values(&c.softmax(last).unwrap()));
            prop_assert_eq!(values(&v.to_dtype(wick::DType::F64).unwrap().to_dtype(wick::DType::F32).unwrap()), values(&c));
        }
    }

    #[test]
    fn matmul_matches_triple_loop(b in 1usize..3, m in 1usize..9, k in 1usize..9, n in 1usize..9, ta in any::<bool>(), tb in any::<bool>()) {
        let dev = Device::Cpu;
        let a = if ta {
            Tensor::randn(0f32, 1., (b, k, m), &dev).unwrap().transpose(1, 2).unwrap()
        } else {
            Tensor::randn(0f32, 1., (b, m, k), &dev).unwrap()
        };
        let w = if tb {
            Tensor::randn(0f32, 1., (n, k), &dev).unwrap().t().unwrap()
        } else {
            Tensor::randn(0f32, 1., (k, n), &dev).unwrap()
        };
        let out = values(&a.matmul(&w).unwrap());
        let (av, wv) = (values(&a.contiguous().unwrap()), values(&w.contiguous().unwrap()));
        for bi in 0..b { for i in 0..m { for j in 0..n {
            let mut s = 0f64;
            for p in 0..k { s += av[(bi * m + i) * k + p] as f64 * wv[p * n + j] as f64; }
            let got = out[(bi * m + i) * n + j] as f64;
            prop_assert!((got - s).abs() <= 1e-4 * (1.0 + s.abs()), "({bi},{i},{j}): {got} vs {s}");
        }}}
    }

    #[test]
    fn conv2d_matches_direct_loop(
        c_in in 1usize..4, c_out_g in 1usize..3, groups in 1usize..3, h in 3usize..8, w in 3usize..8,
        kh in 1usize..4, kw in 1usize..4, pad in 0usize..2, stride in 1usize..3, dil in 1usize..3,
    ) {
        let dev = Device::Cpu;
        let (c_in, c_out) = (c_in * groups, c_out_g * groups);
        let x = Tensor::randn(0f64, 1., (2, c_in, h, w), &dev).unwrap();
        let k = Tensor::randn(0f64, 1., (c_out, c_in / groups, kh, kw), &dev).unwrap();
        let r = x.conv2d(&k, pad, stride, dil, groups);
        let span_h = dil * (kh - 1) + 1;
        let span_w = dil * (kw - 1) + 1;
        if h + 2 * pad < span_h || w + 2 * pad < span_w {
            prop_assert!(r.is_err());
            return Ok(());
        }
        let y = r.unwrap();
        let (oh, ow) = ((h + 2 * pad - span_h) / stride + 1, (w + 2 * pad - span_w) / stride + 1);
        prop_assert_eq!(y.dims(), &[2, c_out, oh, ow]);
        let (xv, kv, yv) = (x.flatten_to_vec::<f64>().unwrap(), k.flatten_to_vec::<f64>().unwrap(), y.flatten_to_vec::<f64>().unwrap());
        let cig = c_in / groups;
        for bi in 0..2 { for co in 0..c_out { for oy in 0..oh { for ox in 0..ow {
            let g = co / c_out_g;
            let mut s = 0f64;
            for ci in 0..cig { for i in 0..kh { for j in 0..kw {
                let iy = (oy * stride + i * dil) as isize - pad as isize;
                let ix = (ox * stride + j * dil) as isize - pad as isize;
                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize { continue; }
                let xi = ((bi * c_in + g * cig + ci) * h + iy as usize) * w + ix as usize;
                s += xv[xi] * kv[((co * cig + ci) * kh + i) * kw + j];
            }}}
            let got = yv[((bi * c_out + co) * oh + oy) * ow + ox];
            prop_assert!((got - s).abs() < 1e-10 * (1.0 + s.abs()));
        }}}}
    }
}

/// A row long enough to be reduced in parallel pieces gives the scalar-loop answer.
#[test]
fn long_row_reductions_match_scalar_loop() {
    let n = 1_000_003;
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
    let t = Tensor::from_vec(v.clone(), n, &Device::Cpu).unwrap();
    let want: f64 = v.iter().map(|&x| x as f64).sum();
    let got = t.sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0) + 1e-2, "{got} vs {want}");
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    assert_eq!(t.max(0).unwrap().to_scalar::<f32>().unwrap(), max);
    let mut with_nan = v;
    with_nan[n - 2] = f32::NAN;
    let t = Tensor::from_vec(with_nan, n, &Device::Cpu).unwrap();
    assert!(t.max(0).unwrap().to_scalar::<f32>().unwrap().is_nan());
    assert!(t.sum_all().unwrap().to_scalar::<f32>().unwrap().is_nan());
}

/// `x @ W.t()` in f32, f16 and bf16 — the shapes the dot-product kernel takes (long `k`, or
/// any `k` with few rows), batched `x` against one broadcast `W` — against an f64 loop over
/// the same (rounded) inputs. Tolerance: f32 accumulation over `k` products
/// (k·ε_f32·Σ|p|) plus one rounding of the result to the dtype.
#[test]
fn matmul_with_transposed_weights_matches_f64_loop_in_every_float_dtype() {
    let dev = Device::Cpu;
    for (dtype, unit) in
        [(DType::F32, f32::EPSILON as f64 / 2.0), (DType::F16, 2f64.powi(-11)), (DType::BF16, 2f64.powi(-8))]
    {
        for &(b, m, k, n) in &[
            (1, 1, 3, 5),
            (1, 2, 700, 33),
            (2, 3, 256, 70),
            (1, 7, 300, 9),
            (2, 20, 1030, 65),
            (1, 1, 2048, 130),
            // Smaller bf16 products after a larger one: their f32 sums land in a per-thread
            // scratch buffer still holding the earlier product's, which must all be overwritten.
            (3, 17, 40, 9),
            (1, 16, 64, 20),
        ] {
            let x = Tensor::randn(0f32, 1., (b, m, k), &dev).unwrap().to_dtype(dtype).unwrap();
            let w = Tensor::randn(0f32, 1., (n, k), &dev).unwrap().to_dtype(dtype).unwrap();
            let out = x.matmul(&w.t().unwrap()).unwrap();
            assert_eq!(out.dims(), &[b, m, n]);
            assert_eq!(out.dtype(), dtype);
            let f32s = |t: &Tensor| values(&t.to_dtype(DType::F32).unwrap());
            let (xv, wv, ov) = (f32s(&x), f32s(&w), f32s(&out));
            for bi in 0..b {
                for i in 0..m {
                    for j in 0..n {
                        let (mut s, mut mag) = (0f64, 0f64);
                        for p in 0..k {
                            let prod = xv[(bi * m + i) * k + p] as f64 * wv[j * k + p] as f64;
                            s += prod;
                            mag += prod.abs();
                        }
                        let got = ov[(bi * m + i) * n + j] as f64;
                        let tol = (k as f64 + 2.0) * f32::EPSILON as f64 * mag + unit * s.abs() + 1e-30;
                        assert!(
                            (got - s).abs() <= tol,
                            "{dtype:?} b={b} m={m} k={k} n={n} ({bi},{i},{j}): {got} vs {s} (tol {tol})"
                        );
                    }
                }
            }
        }
    }
}
