//! Gradient checks: every differentiable op's backward pass against central finite
//! differences in f64, plus the autograd mechanics (what records, what accumulates).

use wick::{DType, Device, Result, Tensor, Var, D};

const DEV: Device = Device::Cpu;

/// Deterministic values in `[lo, hi)` (a small LCG, so every run checks the same points).
fn values(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

fn input<S: Into<wick::Shape>>(shape: S, lo: f64, hi: f64, seed: u64) -> Tensor {
    let shape = shape.into();
    Tensor::from_vec(values(shape.elem_count(), lo, hi, seed), shape, &DEV).unwrap()
}

/// Checks the gradients of `sum(f(inputs) * r)` (r fixed random weights, so each output
/// element matters differently) against central differences, element by element.
fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let var_tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&var_tensors).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    assert!(out.track_op(), "{name}: the output does not track gradients");
    let weights = input(out.shape().clone(), 0.5, 1.5, 99);
    let loss_of = |ts: &[Tensor]| -> f64 {
        let o = f(ts).unwrap().to_dtype(DType::F64).unwrap();
        o.mul(&weights).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
    };
    let loss = out.to_dtype(DType::F64).unwrap().mul(&weights).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    let h = 1e-6;
    for (k, t) in inputs.iter().enumerate() {
        let analytic = match grads.get(&vars[k]) {
            Some(g) => g.flatten_to_vec::<f64>().unwrap(),
            None => vec![0.0; t.elem_count()],
        };
        assert_eq!(analytic.len(), t.elem_count(), "{name}: gradient {k} has the wrong size");
        let base = t.flatten_to_vec::<f64>().unwrap();
        for i in 0..base.len() {
            let probe = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let mut ts = inputs.to_vec();
                ts[k] = Tensor::from_vec(v, t.shape().clone(), &DEV).unwrap();
                loss_of(&ts)
            };
            let numeric = (probe(h) - probe(-h)) / (2.0 * h);
            let err = (numeric - analytic[i]).abs();
            assert!(
                err <= 1e-6 * (1.0 + numeric.abs()),
                "{name}: d/d input{k}[{i}]: backward {} vs finite difference {numeric}",
                analytic[i]
            );
        }
    }
}

#[test]
fn unary_ops() {
    let x = || input((3, 4), -2.0, 2.0, 1);
    let pos = || input((3, 4), 0.3, 3.0, 2);
    // Away from 0, where abs/relu have a kink and ties never occur.
    let nonzero = || input((3, 4), 0.2, 2.0, 3).mul(&input((3, 4), -1.0, 1.0, 4).sign().unwrap()).unwrap();
    check("neg", &[x()], |t| t[0].neg());
    check("abs", &[nonzero()], |t| t[0].abs());
    check("exp", &[x()], |t| t[0].exp());
    check("log", &[pos()], |t| t[0].log());
    check("sqrt", &[pos()], |t| t[0].sqrt());
    check("sqr", &[x()], |t| t[0].sqr());
    check("recip", &[pos()], |t| t[0].recip());
    check("sin", &[x()], |t| t[0].sin());
    check("cos", &[x()], |t| t[0].cos());
    check("tanh", &[x()], |t| t[0].tanh());
    check("erf", &[x()], |t| t[0].erf());
    check("relu", &[nonzero()], |t| t[0].relu());
    check("gelu", &[x()], |t| t[0].gelu());
    check("gelu_erf", &[x()], |t| t[0].gelu_erf());
    check("silu", &[x()], |t| t[0].silu());
    check("sigmoid", &[x()], |t| t[0].sigmoid());
    check("affine", &[x()], |t| t[0].affine(-1.5, 0.25));
    check("powf", &[pos()], |t| t[0].powf(2.5));
    check("clamp", &[input((3, 4), -2.0, 2.0, 5)], |t| t[0].clamp(-0.9, 1.1));
    // Piecewise-constant functions have zero gradient (off their jumps).
    check("floor", &[input((3, 4), 0.1, 0.9, 6)], |t| t[0].floor()?.add(&t[0]));
    check("round+ceil+sign", &[input((3, 4), 0.1, 0.4, 6)], |t| {
        t[0].round()?.add(&t[0].ceil()?)?.add(&t[0].sign()?)?.add(&t[0].sqr()?)
    });
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = || input((2, 3, 4), -2.0, 2.0, 10);
    let row = || input(4, 0.5, 2.0, 11);
    let col = || input((3, 1), 0.5, 2.0, 12);
    check("add", &[a(), row()], |t| t[0].add(&t[1]));
    check("sub", &[col(), a()], |t| t[0].sub(&t[1]));
    check("mul", &[a(), col()], |t| t[0].mul(&t[1]));
    check("div", &[a(), row()], |t| t[0].div(&t[1]));
    check("div rhs", &[row(), a().abs().unwrap().affine(1.0, 0.5).unwrap()], |t| t[0].div(&t[1]));
    check("maximum", &[a(), input((2, 3, 4), -2.0, 2.0, 13)], |t| t[0].maximum(&t[1]));
    check("minimum", &[a(), row()], |t| t[0].minimum(&t[1]));
    check("pow", &[input((2, 3, 4), 0.5, 2.0, 14), input(4, -1.5, 1.5, 15)], |t| t[0].pow(&t[1]));
    check("scalar operand", &[a()], |t| t[0].mul(3.0)?.sub(1.0)?.div(2.0));
    check("same var twice", &[a()], |t| t[0].mul(&t[0])?.add(&t[0]));
}

#[test]
fn reductions_and_softmax() {
    let x = || input((3, 4, 5), -2.0, 2.0, 20);
    check("sum", &[x()], |t| t[0].sum(1));
    check("sum_keepdim two dims", &[x()], |t| t[0].sum_keepdim((0, 2)));
    check("sum_all", &[x()], |t| t[0].sum_all());
    check("mean", &[x()], |t| t[0].mean(D::Minus1));
    check("mean_all", &[x()], |t| t[0].mean_all());
    check("var_keepdim", &[x()], |t| t[0].var_keepdim(1));
    check("max", &[x()], |t| t[0].max(2));
    check("min_keepdim", &[x()], |t| t[0].min_keepdim(0));
    check("max_all", &[x()], |t| t[0].max_all());
    check("cumsum", &[x()], |t| t[0].cumsum(1));
    check("softmax last (fused)", &[x()], |t| t[0].softmax(D::Minus1));
    check("softmax dim 1", &[x()], |t| t[0].softmax(1));
    check("log_softmax last (fused)", &[x()], |t| t[0].log_softmax(D::Minus1));
    check("log_softmax dim 0", &[x()], |t| t[0].log_softmax(0));
    check("layer_norm", &[x(), input(5, 0.5, 1.5, 21), input(5, -1.0, 1.0, 22)], |t| {
        wick::ops::layer_norm(&t[0], &t[1], Some(&t[2]), 1e-5)
    });
    check("rms_norm", &[x(), input(5, 0.5, 1.5, 23)], |t| wick::ops::rms_norm(&t[0], &t[1], 1e-6));
}

#[test]
fn max_with_ties_splits_the_gradient() {
    let x = Var::new(&[1f64, 3., 3., 2.], &DEV).unwrap();
    let g = x.max(0).unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec1::<f64>().unwrap(), vec![0., 0.5, 0.5, 0.]);
}

#[test]
fn matmul_shapes() {
    check("matmul 2d", &[input((3, 4), -1.0, 1.0, 30), input((4, 5), -1.0, 1.0, 31)], |t| t[0].matmul(&t[1]));
    check("matmul batched", &[input((2, 3, 4), -1.0, 1.0, 32), input((2, 4, 5), -1.0, 1.0, 33)], |t| {
        t[0].matmul(&t[1])
    });
    check("matmul broadcast rhs", &[input((2, 3, 4), -1.0, 1.0, 34), input((4, 2), -1.0, 1.0, 35)], |t| {
        t[0].matmul(&t[1])
    });
    check(
        "matmul broadcast batch",
        &[input((2, 1, 3, 4), -1.0, 1.0, 36), input((3, 4, 2), -1.0, 1.0, 37)],
        |t| t[0].matmul(&t[1]),
    );
    check("matmul transposed view", &[input((4, 3), -1.0, 1.0, 38), input((5, 4), -1.0, 1.0, 39)], |t| {
        t[0].t()?.matmul(&t[1].t()?)
    });
    check("vector @ matrix", &[input(4, -1.0, 1.0, 40), input((4, 3), -1.0, 1.0, 41)], |t| {
        t[0].matmul(&t[1])
    });
    check("matrix @ vector", &[input((3, 4), -1.0, 1.0, 42), input(4, -1.0, 1.0, 43)], |t| {
        t[0].matmul(&t[1])
    });
    check("dot", &[input(4, -1.0, 1.0, 44), input(4, -1.0, 1.0, 45)], |t| t[0].matmul(&t[1]));
}

#[test]
fn views_and_moves() {
    let x = || input((2, 3, 4), -1.0, 1.0, 50);
    check("reshape", &[x()], |t| t[0].reshape((4, 6))?.exp());
    check("transpose + contiguous", &[x()], |t| t[0].transpose(0, 2)?.contiguous()?.sin());
    check("reshape of a transposed view", &[x()], |t| t[0].transpose(1, 2)?.reshape((2, 12)));
    check("permute", &[x()], |t| t[0].permute((2, 0, 1))?.sqr());
    check("narrow", &[x()], |t| t[0].narrow(2, 1, 2)?.exp());
    check("chunk", &[x()], |t| {
        let c = t[0].chunk(2, 1)?;
        c[0].sum_keepdim(1)?.mul(&c[1].sum_keepdim(1)?)
    });
    check("squeeze/unsqueeze", &[input((2, 1, 4), -1.0, 1.0, 51)], |t| t[0].squeeze(1)?.unsqueeze(0)?.exp());
    check("broadcast_as", &[input((3, 1), -1.0, 1.0, 52)], |t| t[0].broadcast_as((2, 3, 4))?.sin());
    check("flatten", &[x()], |t| t[0].flatten(1, 2)?.cos());
    check("cat", &[x(), input((2, 2, 4), -1.0, 1.0, 53)], |t| Tensor::cat(&[&t[0], &t[1], &t[0]], 1)?.sqr());
    check("stack", &[x(), x().neg().unwrap()], |t| Tensor::stack(&[&t[0], &t[1]], 2)?.sin());
    check("pad_with_zeros", &[x()], |t| t[0].pad_with_zeros(2, 1, 2)?.exp());
    check("repeat", &[input((2, 3), -1.0, 1.0, 54)], |t| t[0].repeat((2, 1, 3))?.sin());
    check("to_dtype round trip", &[x()], |t| t[0].to_dtype(DType::F64)?.sin());
    check("index i()", &[x()], |t| {
        use wick::IndexOp;
        t[0].i((.., 1..3, 2))?.exp()
    });
    check("tril", &[input((4, 4), -1.0, 1.0, 55)], |t| t[0].tril(0)?.exp());
}

#[test]
fn to_dtype_gradient_converts_back() {
    let x = Var::new(&[1f64, 2.], &DEV).unwrap();
    let loss = x.to_dtype(DType::F32).unwrap().sqr().unwrap().sum_all().unwrap();
    let g = loss.backward().unwrap();
    let gx = g.get(&x).unwrap();
    assert_eq!(gx.dtype(), DType::F64);
    assert_eq!(gx.to_vec1::<f64>().unwrap(), vec![2., 4.]);
}

#[test]
fn indexing_ops() {
    let x = || input((5, 3), -1.0, 1.0, 60);
    let ids = Tensor::new(&[4u32, 0, 4, 2], &DEV).unwrap();
    check("index_select dim 0 (repeated ids)", &[x()], |t| t[0].index_select(&ids, 0)?.sqr());
    let ids1 = Tensor::new(&[2i64, 2, 1], &DEV).unwrap();
    check("index_select dim 1", &[x()], |t| t[0].index_select(&ids1, 1)?.sin());
    let tok = Tensor::new(&[[1u32, 3], [3, 0]], &DEV).unwrap();
    check("embedding", &[x()], |t| t[0].embedding(&tok));
    let gids = Tensor::new(&[[0u32, 2], [1, 1], [2, 0], [0, 0], [1, 2]], &DEV).unwrap();
    check("gather", &[x()], |t| t[0].gather(&gids, 1)?.exp());
    let sids = Tensor::new(&[[0u32, 1, 2], [4, 4, 0]], &DEV).unwrap();
    check("scatter_add", &[x(), input((2, 3), -1.0, 1.0, 61)], |t| t[0].scatter_add(&sids, &t[1], 0)?.sqr());
    let small = Tensor::new(&[[3u32], [1]], &DEV).unwrap();
    check("scatter_add with src larger than ids", &[x(), input((2, 3), -1.0, 1.0, 62)], |t| {
        t[0].scatter_add(&small, &t[1], 0)?.sqr()
    });
    check("index_add", &[x(), input((4, 3), -1.0, 1.0, 63)], |t| t[0].index_add(&ids, &t[1], 0)?.sin());
    let mask = Tensor::new(&[[1u8, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0]], &DEV).unwrap();
    check("where_cond", &[x(), input(3, -1.0, 1.0, 64)], |t| mask.where_cond(&t[0], &t[1])?.exp());
    check("sort values", &[x()], |t| t[0].sort(1, true)?.0.mul(&Tensor::new(&[1f64, 2., 3.], &DEV)?));
    check("topk values", &[x()], |t| t[0].topk(2, 0)?.0.sqr());
}

#[test]
fn convolutions() {
    for (pad, stride, dil, groups) in [(0, 1, 1, 1), (1, 2, 1, 1), (2, 1, 2, 1), (1, 3, 1, 2), (0, 2, 2, 2)] {
        let name = format!("conv1d p{pad} s{stride} d{dil} g{groups}");
        let (x, k) = (input((2, 4, 9), -1.0, 1.0, 70), input((6, 4 / groups, 3), -1.0, 1.0, 71));
        check(&name, &[x, k], |t| t[0].conv1d(&t[1], pad, stride, dil, groups));
        let name = format!("conv2d p{pad} s{stride} d{dil} g{groups}");
        let (x, k) = (input((2, 4, 7, 6), -1.0, 1.0, 72), input((2, 4 / groups, 3, 2), -1.0, 1.0, 73));
        check(&name, &[x, k], |t| t[0].conv2d(&t[1], pad, stride, dil, groups));
    }
    for (pad, out_pad, stride, dil, groups) in
        [(0, 0, 1, 1, 1), (1, 1, 2, 1, 1), (1, 0, 1, 2, 2), (2, 2, 3, 1, 2)]
    {
        let name = format!("conv_transpose1d p{pad} op{out_pad} s{stride} d{dil} g{groups}");
        let (x, k) = (input((2, 4, 5), -1.0, 1.0, 74), input((4, 6 / groups, 3), -1.0, 1.0, 75));
        check(&name, &[x, k], |t| t[0].conv_transpose1d(&t[1], pad, out_pad, stride, dil, groups));
        let name = format!("conv_transpose2d p{pad} op{out_pad} s{stride} d{dil} g{groups}");
        let (x, k) = (input((1, 4, 4, 3), -1.0, 1.0, 76), input((4, 4 / groups, 2, 3), -1.0, 1.0, 77));
        check(&name, &[x, k], |t| t[0].conv_transpose2d(&t[1], pad, out_pad, stride, dil, groups));
    }
}

#[test]
fn pooling_and_upsampling() {
    let x = || input((2, 3, 6, 7), -1.0, 1.0, 80);
    check("max_pool2d 2", &[x()], |t| t[0].max_pool2d(2));
    check("max_pool2d overlapping", &[x()], |t| t[0].max_pool2d_with_stride((3, 2), (2, 1)));
    check("avg_pool2d 2", &[x()], |t| t[0].avg_pool2d(2));
    check("avg_pool2d overlapping", &[x()], |t| t[0].avg_pool2d_with_stride((3, 3), (1, 2)));
    check("upsample x2", &[input((1, 2, 3, 4), -1.0, 1.0, 81)], |t| t[0].upsample_nearest2d(6, 8));
    check("upsample non-integer", &[input((1, 2, 3, 4), -1.0, 1.0, 82)], |t| t[0].upsample_nearest2d(5, 7));
    check("downsample nearest", &[input((1, 2, 6, 5), -1.0, 1.0, 83)], |t| t[0].upsample_nearest2d(4, 3));
}

#[test]
fn a_small_network() {
    // Two-layer MLP with a softmax cross-entropy, all parameters at once.
    let x = input((4, 5), -1.0, 1.0, 90);
    let targets = Tensor::new(&[[0u32], [2], [1], [2]], &DEV).unwrap();
    check(
        "mlp",
        &[x, input((5, 6), -0.5, 0.5, 91), input(6, -0.1, 0.1, 92), input((6, 3), -0.5, 0.5, 93)],
        |t| {
            let h = t[0].matmul(&t[1])?.add(&t[2])?.gelu_erf()?;
            let logp = h.matmul(&t[3])?.log_softmax(D::Minus1)?;
            logp.gather(&targets, 1)?.neg()?.mean_all()
        },
    );
}

#[test]
fn nothing_is_recorded_without_vars() {
    let a = Tensor::new(&[1f32, 2.], &DEV).unwrap();
    let b = a.exp().unwrap().matmul(&a).unwrap();
    assert!(!b.track_op());
    assert!(b.backward().unwrap().is_empty());
    let v = Var::new(&[1f32, 2.], &DEV).unwrap();
    assert!(v.track_op() && v.is_variable());
    let c = a.mul(&v).unwrap();
    assert!(c.track_op() && !c.is_variable());
    assert!(!c.detach().track_op());
}

#[test]
fn detach_stops_the_gradient_and_uses_accumulate() {
    let x = Var::new(&[2f64, -1.], &DEV).unwrap();
    // y = x * stop(x) + x: dy/dx = stop(x) + 1
    let y = x.mul(&x.detach()).unwrap().add(x.as_tensor()).unwrap().sum_all().unwrap();
    let g = y.backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec1::<f64>().unwrap(), vec![3., 0.]);
    assert_eq!(g.len(), 1, "only the variable's gradient is kept");
}

#[test]
fn backward_refuses_integer_results() {
    let x = Var::new(&[2f32, -1.], &DEV).unwrap();
    let err = x.argmax(0).unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("backward") && err.contains("u32"), "{err}");
}

#[test]
fn deep_graphs_do_not_overflow_the_stack() {
    let x = Var::new(&[1f32], &DEV).unwrap();
    let mut y = x.as_tensor().clone();
    for _ in 0..20_000 {
        y = y.affine(1.0, 0.0).unwrap();
    }
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec1::<f32>().unwrap(), vec![1.0]);
}

#[test]
fn var_set_updates_in_place_and_checks_shapes() {
    let v = Var::new(&[[1f32, 2.], [3., 4.]], &DEV).unwrap();
    let alias = v.clone();
    v.set(&v.affine(2.0, 0.0).unwrap()).unwrap();
    assert_eq!(alias.to_vec2::<f32>().unwrap(), vec![vec![2., 4.], vec![6., 8.]]);
    // From a transposed view of itself (same storage).
    v.set(&v.t().unwrap()).unwrap();
    assert_eq!(v.to_vec2::<f32>().unwrap(), vec![vec![2., 6.], vec![4., 8.]]);
    let err = v.set(&Tensor::zeros(3, DType::F32, &DEV).unwrap()).unwrap_err().to_string();
    assert!(err.contains("Var::set") && err.contains("[2, 2]") && err.contains("[3]"), "{err}");
    assert!(v.set(&Tensor::zeros((2, 2), DType::F64, &DEV).unwrap()).is_err());
    assert!(Var::new(&[1u32], &DEV).is_err());
}

#[test]
fn gradients_in_f32_and_bf16_follow_their_dtype() {
    for dt in [DType::F32, DType::F16, DType::BF16] {
        let x = Var::from_tensor(&Tensor::new(&[0.5f32, -1.0, 2.0], &DEV).unwrap().to_dtype(dt).unwrap())
            .unwrap();
        let g = x.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(&x).unwrap();
        assert_eq!(gx.dtype(), dt);
        assert_eq!(gx.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap(), vec![1.0, -2.0, 4.0]);
    }
}
