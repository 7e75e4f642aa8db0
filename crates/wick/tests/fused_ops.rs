//! The fused CPU kernels, seen through the public API: each fused op against its composition
//! from primitive ops, the vector unary/cast/reduce paths against f64 or `half` references,
//! and the shape, dtype and layout edge cases. Every comparison states its tolerance.
//!
//! Run once per instruction set with `WICK_ISA=scalar|avx2|avx512` to cover every kernel
//! variant through the tensor layer (the kernels' own twin tests cover each variant directly).

use half::{bf16, f16};
use wick::{ops, DType, Device, Error, Result, Tensor, D};

const DEV: Device = Device::Cpu;

fn vals(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_to_vec::<f32>().unwrap()
}

/// `|a − b| ≤ rtol · max(|b|, floor)` elementwise, NaN matching NaN.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, rtol: f32, floor: f32) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    for (i, (x, y)) in vals(a).into_iter().zip(vals(b)).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= rtol * y.abs().max(floor);
        assert!(ok, "{what}[{i}]: {x:e} vs {y:e}");
    }
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    DEV.set_seed(seed).unwrap();
    Tensor::randn(0f32, 3.0, shape, &DEV).unwrap()
}

// ---- softmax ------------------------------------------------------------------------------

/// The composite definition: `e = exp(x − max)`, `e / Σ e` (or `(x − max) − log Σ e`).
fn softmax_composite(x: &Tensor, d: usize, log: bool) -> Result<Tensor> {
    let shifted = x.sub(&x.max_keepdim(d)?)?;
    let e = shifted.exp()?;
    if log {
        shifted.sub(&e.sum_keepdim(d)?.log()?)
    } else {
        e.div(&e.sum_keepdim(d)?)
    }
}

#[test]
fn softmax_matches_composite() -> Result<()> {
    // Rows of many lengths, a large (multi-threaded) case and a single long row. Tolerance:
    // 1e-5 relative, values below 1e-30 compared absolutely (the exponentials differ by a
    // few ulp; the fused kernel multiplies by 1/Σ where the composite divides).
    for shape in [vec![3, 1], vec![2, 3, 7], vec![5, 33], vec![4, 768], vec![1, 32000], vec![32 * 128, 768]] {
        let x = randn(&shape, 1);
        let d = shape.len() - 1;
        assert_close("softmax", &x.softmax(D::Minus1)?, &softmax_composite(&x, d, false)?, 1e-5, 1e-30);
        // Log-softmax values are O(10): 1e-5 relative to max(|v|, 1).
        assert_close("log_softmax", &x.log_softmax(D::Minus1)?, &softmax_composite(&x, d, true)?, 1e-5, 1.0);
    }
    Ok(())
}

#[test]
fn softmax_special_rows() -> Result<()> {
    let inf = f32::INFINITY;
    let x = Tensor::new(
        &[
            [1f32, 2., 3., 4.],
            [-inf, 0., -inf, 1.],
            [-inf, -inf, -inf, -inf],
            [1., f32::NAN, 2., 3.],
            [1., inf, 2., 3.],
            [1e30, -1e30, 0., 88.8],
        ],
        &DEV,
    )?;
    for log in [false, true] {
        let fused = if log { x.log_softmax(1)? } else { x.softmax(1)? };
        assert_close("special rows", &fused, &softmax_composite(&x, 1, log)?, 1e-5, 1.0);
    }
    let s = x.softmax(1)?.to_vec2::<f32>()?;
    assert_eq!(s[1][0], 0.0);
    assert!(s[2].iter().chain(&s[3]).chain(&s[4]).all(|v| v.is_nan()));
    assert_eq!(s[5], vec![1.0, 0.0, 0.0, 0.0]);
    Ok(())
}

#[test]
fn softmax_other_dims_layouts_and_dtypes() -> Result<()> {
    let x = randn(&[6, 5, 40], 2);
    // Not the last dim: the composite path, which must agree with the fused one on the
    // transposed data (1e-5 relative).
    let a = x.softmax(1)?;
    let b = x.transpose(1, 2)?.softmax(D::Minus1)?.transpose(1, 2)?;
    assert_close("softmax dim 1", &a, &b, 1e-5, 1e-30);
    // A strided input over the last dim gives what its contiguous copy gives, exactly.
    let t = x.transpose(0, 2)?;
    assert_close("strided", &t.softmax(D::Minus1)?, &t.contiguous()?.softmax(D::Minus1)?, 0.0, 0.0);
    // f64 is composed; it matches f32 to f32 precision.
    let x64 = x.to_dtype(DType::F64)?;
    assert_eq!(x64.softmax(D::Minus1)?.dtype(), DType::F64);
    assert_close("f64", &x64.softmax(D::Minus1)?, &x.softmax(D::Minus1)?, 1e-5, 1e-30);
    // Half types: computed in f32, rounded once, so within half an ulp of the f32 result
    // rounded (2^-9 relative for f16, 2^-8 for bf16).
    for (dtype, rtol) in [(DType::F16, 1.0 / 512.0), (DType::BF16, 1.0 / 256.0)] {
        let h = x.to_dtype(dtype)?;
        let want = h.to_dtype(DType::F32)?.softmax(D::Minus1)?;
        let got = h.softmax(D::Minus1)?;
        assert_eq!(got.dtype(), dtype);
        assert_close("half softmax", &got, &want, rtol, 1e-4);
        assert_close(
            "half log_softmax",
            &h.log_softmax(D::Minus1)?,
            &h.to_dtype(DType::F32)?.log_softmax(D::Minus1)?,
            rtol,
            1.0,
        );
    }
    // Empty last dim: nothing to do.
    let e = Tensor::zeros((3, 0), DType::F32, &DEV)?;
    assert_eq!(e.softmax(1)?.dims(), &[3, 0]);
    Ok(())
}

// ---- norms --------------------------------------------------------------------------------

/// Layer norm composed from primitive ops: mean_keepdim, sub, sqr, sqrt, div, mul, add.
fn layer_norm_composite(x: &Tensor, w: &Tensor, b: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let d = x.rank() - 1;
    let centered = x.sub(&x.mean_keepdim(d)?)?;
    let var = centered.sqr()?.mean_keepdim(d)?;
    let y = centered.div(&var.add(eps)?.sqrt()?)?.mul(w)?;
    match b {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// RMS norm composed from primitive ops.
fn rms_norm_composite(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let d = x.rank() - 1;
    x.div(&x.sqr()?.mean_keepdim(d)?.add(eps)?.sqrt()?)?.mul(w)
}

#[test]
fn norms_match_composite() -> Result<()> {
    // f32, 1e-5 relative to max(|v|, 1): the normalized values are O(1), and the statistics
    // are summed in a different order (≲ 1e-6 relative at these lengths).
    for shape in [vec![7], vec![3, 1], vec![2, 3, 17], vec![4, 768], vec![32 * 128, 768], vec![2, 4099]] {
        let x = randn(&shape, 3).affine(1.0, 2.5)?;
        let n = *shape.last().unwrap_or(&1);
        let w = randn(&[n], 4);
        let b = randn(&[n], 5);
        assert_close(
            "layer_norm",
            &ops::layer_norm(&x, &w, Some(&b), 1e-5)?,
            &layer_norm_composite(&x, &w, Some(&b), 1e-5)?,
            1e-5,
            1.0,
        );
        assert_close(
            "layer_norm without bias",
            &ops::layer_norm(&x, &w, None, 1e-5)?,
            &layer_norm_composite(&x, &w, None, 1e-5)?,
            1e-5,
            1.0,
        );
        assert_close(
            "rms_norm",
            &ops::rms_norm(&x, &w, 1e-6)?,
            &rms_norm_composite(&x, &w, 1e-6)?,
            1e-5,
            1.0,
        );
    }
    Ok(())
}

#[test]
fn norms_layouts_and_dtypes() -> Result<()> {
    let x = randn(&[16, 24], 6);
    let w = randn(&[16], 7);
    let b = randn(&[16], 8);
    // A transposed (strided) input equals its contiguous copy exactly.
    let t = x.t()?;
    assert_close(
        "strided layer_norm",
        &ops::layer_norm(&t, &w, Some(&b), 1e-5)?,
        &ops::layer_norm(&t.contiguous()?, &w, Some(&b), 1e-5)?,
        0.0,
        0.0,
    );
    // f64 is composed from primitives.
    let (t64, w64, b64) = (t.to_dtype(DType::F64)?, w.to_dtype(DType::F64)?, b.to_dtype(DType::F64)?);
    let y64 = ops::layer_norm(&t64, &w64, Some(&b64), 1e-5)?;
    assert_eq!(y64.dtype(), DType::F64);
    assert_close("f64 layer_norm", &y64, &ops::layer_norm(&t, &w, Some(&b), 1e-5)?, 1e-5, 1.0);
    assert_close("f64 rms_norm", &ops::rms_norm(&t64, &w64, 1e-6)?, &ops::rms_norm(&t, &w, 1e-6)?, 1e-5, 1.0);
    // Half types: computed in f32 and rounded once (half an ulp, plus the rounding of inputs
    // being identical on both sides).
    for (dtype, rtol) in [(DType::F16, 1.0 / 512.0), (DType::BF16, 1.0 / 256.0)] {
        let (th, wh, bh) = (t.to_dtype(dtype)?, w.to_dtype(dtype)?, b.to_dtype(dtype)?);
        let f = |v: &Tensor| v.to_dtype(DType::F32).unwrap();
        let got = ops::layer_norm(&th, &wh, Some(&bh), 1e-5)?;
        assert_eq!(got.dtype(), dtype);
        assert_close(
            "half layer_norm",
            &got,
            &ops::layer_norm(&f(&th), &f(&wh), Some(&f(&bh)), 1e-5)?,
            rtol,
            1.0,
        );
        assert_close(
            "half rms_norm",
            &ops::rms_norm(&th, &wh, 1e-6)?,
            &ops::rms_norm(&f(&th), &f(&wh), 1e-6)?,
            rtol,
            1.0,
        );
    }
    Ok(())
}

#[test]
fn norm_errors_name_the_op_and_shapes() -> Result<()> {
    let x = randn(&[2, 8], 9);
    let msg = |r: Result<Tensor>| match r {
        Ok(t) => panic!("expected an error, got shape {:?}", t.dims()),
        Err(e) => e.to_string(),
    };
    let m = msg(ops::layer_norm(&x, &randn(&[7], 1), None, 1e-5));
    assert!(m.contains("layer_norm") && m.contains("[2, 8]") && m.contains("[7]"), "{m}");
    let m = msg(ops::layer_norm(&x, &randn(&[8], 1), Some(&randn(&[2, 8], 1)), 1e-5));
    assert!(m.contains("layer_norm") && m.contains("bias") && m.contains("[2, 8]"), "{m}");
    let m = msg(ops::rms_norm(&x, &randn(&[1, 8], 1), 1e-5));
    assert!(m.contains("rms_norm") && m.contains("[1, 8]"), "{m}");
    let e = ops::rms_norm(&x, &randn(&[8], 1).to_dtype(DType::F64)?, 1e-5).unwrap_err();
    assert!(matches!(e, Error::DTypeMismatch { op: "rms_norm", .. }), "{e}");
    let ints = Tensor::new(&[[1u32, 2]], &DEV)?;
    assert!(msg(ops::rms_norm(&ints, &Tensor::new(&[1u32, 1], &DEV)?, 1e-5)).contains("u32"));
    let scalar = Tensor::new(1f32, &DEV)?;
    assert!(msg(ops::layer_norm(&scalar, &randn(&[1], 1), None, 1e-5)).contains("layer_norm"));
    // Empty rows are fine.
    let empty = Tensor::zeros((0, 8), DType::F32, &DEV)?;
    assert_eq!(ops::layer_norm(&empty, &randn(&[8], 1), None, 1e-5)?.dims(), &[0, 8]);
    Ok(())
}

// ---- unary, cast, reduce through the tensor layer -------------------------------------

#[test]
fn unary_kernels_match_f64() -> Result<()> {
    // 2^17 elements (several parallel chunks) plus specials; each op against the same op in
    // f64 rounded to f32: 1e-5 relative, 1e-6 absolute (the parity tolerance for elementwise
    // math), NaN for NaN.
    let mut v: Vec<f32> = vals(&randn(&[1 << 17], 10));
    v.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 88.8, -100.0, 1e30, -1e30, 1e-40]);
    let x = Tensor::from_vec(v, (1 << 17) + 10, &DEV)?;
    let x64 = x.to_dtype(DType::F64)?;
    type Op = fn(&Tensor) -> Result<Tensor>;
    let ops: [(&str, Op); 7] = [
        ("exp", Tensor::exp),
        ("sigmoid", Tensor::sigmoid),
        ("silu", Tensor::silu),
        ("gelu", Tensor::gelu),
        ("gelu_erf", Tensor::gelu_erf),
        ("tanh", Tensor::tanh),
        ("erf", Tensor::erf),
    ];
    for (name, f) in ops {
        let got = vals(&f(&x)?);
        let want = vals(&f(&x64)?);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-5 * w.abs() + 1e-6;
            assert!(ok, "{name}({}) = {g:e}, f64 gives {w:e}", vals(&x)[i]);
        }
        // Strided input: exactly what the contiguous copy gives.
        let m = x.narrow(0, 0, 1 << 17)?.reshape((256, 512))?.t()?;
        assert_eq!(vals(&f(&m)?), vals(&f(&m.contiguous()?)?), "{name} strided");
        // bf16 and f16 go through f32 and round once.
        for dtype in [DType::BF16, DType::F16] {
            let h = m.to_dtype(dtype)?;
            let want = f(&h.to_dtype(DType::F32)?)?.to_dtype(dtype)?;
            assert_eq!(vals(&f(&h)?), vals(&want), "{name} {dtype}");
        }
    }
    Ok(())
}

#[test]
fn casts_match_half_bit_for_bit() -> Result<()> {
    // 2^20 + 3 f32 bit patterns spread over the whole range, NaNs included, contiguous
    // (parallel chunks) and strided.
    let bits: Vec<f32> = (0..(1u32 << 20) + 3).map(|i| f32::from_bits(i.wrapping_mul(4093))).collect();
    let x = Tensor::from_vec(bits.clone(), bits.len(), &DEV)?;
    let b = x.to_dtype(DType::BF16)?.flatten_to_vec::<bf16>()?;
    let h = x.to_dtype(DType::F16)?.flatten_to_vec::<f16>()?;
    for (i, &v) in bits.iter().enumerate() {
        assert_eq!(b[i].to_bits(), bf16::from_f32(v).to_bits(), "bf16 of {v:e}");
        let w = f16::from_f32(v);
        assert!(h[i].to_bits() == w.to_bits() || (h[i].is_nan() && w.is_nan()), "f16 of {v:e}");
    }
    let back = Tensor::from_vec(b.clone(), b.len(), &DEV)?.to_dtype(DType::F32)?.flatten_to_vec::<f32>()?;
    assert!(back.iter().zip(&b).all(|(f, b)| f.to_bits() == b.to_f32().to_bits()));
    let back = Tensor::from_vec(h.clone(), h.len(), &DEV)?.to_dtype(DType::F32)?.flatten_to_vec::<f32>()?;
    assert!(back.iter().zip(&h).all(|(f, h)| f.to_bits() == h.to_f32().to_bits() || f.is_nan()));
    let m = x.narrow(0, 0, 1 << 20)?.reshape((1024, 1024))?.t()?;
    let strided = m.to_dtype(DType::BF16)?.flatten_to_vec::<bf16>()?;
    let want = m.contiguous()?.to_dtype(DType::BF16)?.flatten_to_vec::<bf16>()?;
    assert!(strided.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    Ok(())
}

#[test]
fn reductions_match_f64() -> Result<()> {
    // Sum: 1e-5 relative to Σ|x| (f32 partial sums vs f64). Max/min: exact.
    for shape in [vec![1, 1], vec![3, 1000], vec![64, 4099], vec![1, 1 << 20]] {
        let x = randn(&shape, 11);
        let v = vals(&x);
        let n = shape[1];
        let s = x.sum(1)?.flatten_to_vec::<f32>()?;
        let mx = x.max(1)?.flatten_to_vec::<f32>()?;
        let mn = x.min(1)?.flatten_to_vec::<f32>()?;
        for (r, row) in v.chunks(n).enumerate() {
            let want: f64 = row.iter().map(|&v| v as f64).sum();
            let scale: f64 = row.iter().map(|&v| v.abs() as f64).sum();
            assert!((s[r] as f64 - want).abs() <= 1e-5 * scale, "sum {} vs {want}", s[r]);
            assert_eq!(mx[r], row.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            assert_eq!(mn[r], row.iter().copied().fold(f32::INFINITY, f32::min));
        }
    }
    let x = Tensor::new(&[[1f32, f32::NAN, 3.], [1., 2., 3.]], &DEV)?;
    let m = x.max(1)?.to_vec1::<f32>()?;
    assert!(m[0].is_nan() && m[1] == 3.0);
    let m = x.min(1)?.to_vec1::<f32>()?;
    assert!(m[0].is_nan() && m[1] == 1.0);
    // Non-last dims still reduce correctly.
    let y = randn(&[5, 6, 7], 12);
    let a = y.sum(1)?;
    let b = y.transpose(1, 2)?.contiguous()?.sum(2)?;
    assert_close("sum dim 1", &a, &b, 1e-5, 1.0);
    assert_eq!(vals(&y.max(0)?), vals(&y.permute((1, 2, 0))?.contiguous()?.max(2)?));
    Ok(())
}
