//! Neural-network ops built from the tensor primitives, each with a fused kernel where the
//! backend has one: [`layer_norm`] and [`rms_norm`] over the last dim.
//!
//! The fused CPU kernels cover f32, f16 and bf16 (the half types computed in f32 and rounded
//! once); f64 is composed from `mean_keepdim`, `sub`, `sqr`, `sqrt`, `div`, `mul` and `add`,
//! the definition the fused kernels are tested against.

use crate::{Error, Result, Tensor};

/// Checks `param` (a weight or bias) against `x`: same dtype and device, shape `[last dim]`.
fn check_param(op: &'static str, x: &Tensor, param: &Tensor, what: &str) -> Result<()> {
    if param.dtype() != x.dtype() {
        return Err(Error::DTypeMismatch { op, lhs: x.dtype(), rhs: param.dtype() });
    }
    x.device().same_as(param.device(), op)?;
    let last = x.dims().last().copied().unwrap_or(0);
    if param.dims() != [last] {
        return Err(Error::shape_mismatch(
            op,
            x.shape(),
            param.shape(),
            format!("the {what} must have shape [{last}], the input's last dim"),
        ));
    }
    Ok(())
}

/// Checks the input: a float tensor of rank ≥ 1.
fn check_input(op: &'static str, x: &Tensor, weight: &Tensor) -> Result<()> {
    if !x.dtype().is_float() {
        return Err(Error::unsupported_dtype(op, x.dtype(), "needs a float dtype (bf16, f16, f32, f64)"));
    }
    if x.rank() == 0 {
        return Err(Error::shape_mismatch(
            op,
            x.shape(),
            weight.shape(),
            "the input needs at least one dim to normalize over",
        ));
    }
    Ok(())
}

/// Layer normalization over the last dim (Ba, Kiros & Hinton, 2016):
/// `(x − mean) / sqrt(var + eps) · weight + bias`, with the population variance.
///
/// `weight` and `bias` have shape `[x.dims().last()]` and `x`'s dtype.
///
/// ```
/// use wick::{ops, Device, Tensor};
/// let dev = Device::Cpu;
/// let x = Tensor::new(&[[1f32, 2., 3., 4.], [2., 2., 2., 2.]], &dev)?;
/// let w = Tensor::new(&[1f32, 1., 1., 1.], &dev)?;
/// let b = Tensor::new(&[0f32, 0., 0., 1.], &dev)?;
/// let y = ops::layer_norm(&x, &w, Some(&b), 1e-5)?.to_vec2::<f32>()?;
/// assert!((y[0][0] + 1.3416).abs() < 1e-3 && (y[0][3] - 2.3416).abs() < 1e-3);
/// assert_eq!(y[1], vec![0., 0., 0., 1.]);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    check_input(OP, x, weight)?;
    check_param(OP, x, weight, "weight")?;
    if let Some(b) = bias {
        check_param(OP, x, b, "bias")?;
    }
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    // The fused kernel records no op; with gradients wanted the composition carries them.
    if x.track_op() || weight.track_op() || bias.is_some_and(|b| b.track_op()) {
        return layer_norm_composite(x, weight, bias, eps);
    }
    let fused = {
        let (ws, bs) = (weight.storage(), bias.map(|b| b.storage()));
        let b = bs.as_deref().zip(bias.map(|b| b.layout()));
        x.storage().layer_norm(x.layout(), (&*ws, weight.layout()), b, eps)?
    };
    if let Some(s) = fused {
        return Ok(Tensor::from_storage_contiguous(s, x.shape()));
    }
    layer_norm_composite(x, weight, bias, eps)
}

/// Root-mean-square normalization over the last dim (Zhang & Sennrich, 2019):
/// `x / sqrt(mean(x²) + eps) · weight`.
///
/// ```
/// use wick::{ops, Device, Tensor};
/// let dev = Device::Cpu;
/// let x = Tensor::new(&[[3f32, 4.]], &dev)?;
/// let w = Tensor::new(&[1f32, 2.], &dev)?;
/// let y = ops::rms_norm(&x, &w, 0.0)?.to_vec2::<f32>()?;
/// // rms = sqrt((9 + 16) / 2)
/// assert!((y[0][0] - 0.8485).abs() < 1e-4 && (y[0][1] - 2.2627).abs() < 1e-4);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    const OP: &str = "rms_norm";
    check_input(OP, x, weight)?;
    check_param(OP, x, weight, "weight")?;
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    if x.track_op() || weight.track_op() {
        return rms_norm_composite(x, weight, eps);
    }
    let fused = x.storage().rms_norm(x.layout(), (&*weight.storage(), weight.layout()), eps)?;
    if let Some(s) = fused {
        return Ok(Tensor::from_storage_contiguous(s, x.shape()));
    }
    rms_norm_composite(x, weight, eps)
}

/// [`layer_norm`] composed from primitives.
fn layer_norm_composite(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let d = x.rank() - 1;
    let centered = x.sub(&x.mean_keepdim(d)?)?;
    let var = centered.sqr()?.mean_keepdim(d)?;
    let y = centered.div(&var.add(eps)?.sqrt()?)?.mul(weight)?;
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// [`rms_norm`] composed from primitives.
fn rms_norm_composite(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let d = x.rank() - 1;
    x.div(&x.sqr()?.mean_keepdim(d)?.add(eps)?.sqrt()?)?.mul(weight)
}

/// Checks the inputs of [`rope`] / [`rope_interleaved`]: `x` `[b, h, t, d]` float with `d`
/// even, `cos` and `sin` `[t, d/2]` of `x`'s dtype and device.
fn check_rope(op: &'static str, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<(usize, usize)> {
    if !x.dtype().is_float() {
        return Err(Error::unsupported_dtype(op, x.dtype(), "needs a float dtype (bf16, f16, f32, f64)"));
    }
    let (_, _, t, d) =
        x.dims4().map_err(|_| Error::RankMismatch { op, expected: 4, shape: x.shape().clone() })?;
    if !d.is_multiple_of(2) {
        return Err(Error::invalid(op, format!("the last dim of {:?} must be even", x.shape())));
    }
    for table in [cos, sin] {
        if table.dtype() != x.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: x.dtype(), rhs: table.dtype() });
        }
        x.device().same_as(table.device(), op)?;
        if table.dims() != [t, d / 2] {
            return Err(Error::shape_mismatch(
                op,
                x.shape(),
                table.shape(),
                format!("cos/sin must have shape [{t}, {}] for an input [b, h, {t}, {d}]", d / 2),
            ));
        }
    }
    Ok((t, d))
}

fn rope_impl(op: &'static str, x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let (t, d) = check_rope(op, x, cos, sin)?;
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    // The fused kernel records no op for autograd: inputs that need gradients take the
    // composed path, whose primitives do.
    let tracked = x.track_op() || cos.track_op() || sin.track_op();
    if x.is_contiguous() && !tracked {
        let fused = x.storage().rope(
            x.layout(),
            (&*cos.storage(), cos.layout()),
            (&*sin.storage(), sin.layout()),
            interleaved,
        )?;
        if let Some(s) = fused {
            return Ok(Tensor::from_storage_contiguous(s, x.shape()));
        }
    }
    if interleaved {
        rope_interleaved_composite(x, cos, sin, t, d)
    } else {
        rope_composite(x, cos, sin, d)
    }
}

/// Rotary position embedding (Su et al., 2021) in the *half-split* layout of Hugging Face
/// Llama (`rotate_half`): element `i < d/2` is paired with `i + d/2`, so
/// `out = x · [cos, cos] + [-x₂, x₁] · [sin, sin]`.
///
/// `x` is `[b, heads, t, d]`; `cos` and `sin` are `[t, d/2]` (the rows for the positions of
/// `x`'s sequence, e.g. narrowed at a KV-cache offset), of `x`'s dtype. Contiguous inputs take
/// a fused kernel; others are composed from `narrow`, `neg`, `cat`, `mul` and `add`.
///
/// ```
/// use wick::{ops, Device, Tensor};
/// let dev = Device::Cpu;
/// let x = Tensor::new(&[1f32, 2., 3., 4.], &dev)?.reshape((1, 1, 1, 4))?;
/// let cos = Tensor::new(&[[0f32, 1.]], &dev)?;
/// let sin = Tensor::new(&[[1f32, 0.]], &dev)?;
/// // pair (1, 3) turns by 90°, pair (2, 4) stays.
/// let y = ops::rope(&x, &cos, &sin)?.flatten_all()?.to_vec1::<f32>()?;
/// assert_eq!(y, vec![-3., 2., 1., 4.]);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    rope_impl("rope", x, cos, sin, false)
}

/// Rotary position embedding in the *interleaved* layout of GPT-J and Meta's original Llama:
/// elements `(2i, 2i + 1)` form a pair rotated by the angle of row `i` of `cos`/`sin`.
/// Shapes as in [`rope`].
///
/// ```
/// use wick::{ops, Device, Tensor};
/// let dev = Device::Cpu;
/// let x = Tensor::new(&[1f32, 2., 3., 4.], &dev)?.reshape((1, 1, 1, 4))?;
/// let cos = Tensor::new(&[[0f32, 1.]], &dev)?;
/// let sin = Tensor::new(&[[1f32, 0.]], &dev)?;
/// let y = ops::rope_interleaved(&x, &cos, &sin)?.flatten_all()?.to_vec1::<f32>()?;
/// assert_eq!(y, vec![-2., 1., 3., 4.]);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    rope_impl("rope_interleaved", x, cos, sin, true)
}

/// [`rope`] composed from primitives (the reference for the fused kernel).
fn rope_composite(x: &Tensor, cos: &Tensor, sin: &Tensor, d: usize) -> Result<Tensor> {
    let h = d / 2;
    let (x1, x2) = (x.narrow(3, 0, h)?, x.narrow(3, h, h)?);
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], 3)?;
    let cos = Tensor::cat(&[cos, cos], 1)?;
    let sin = Tensor::cat(&[sin, sin], 1)?;
    x.mul(&cos)?.add(&rotated.mul(&sin)?)
}

/// [`rope_interleaved`] composed from primitives.
fn rope_interleaved_composite(x: &Tensor, cos: &Tensor, sin: &Tensor, t: usize, d: usize) -> Result<Tensor> {
    let (b, h) = (x.dims()[0], x.dims()[1]);
    let pairs = x.reshape((b, h, t, d / 2, 2))?;
    let (a, bb) = (pairs.narrow(4, 0, 1)?, pairs.narrow(4, 1, 1)?);
    let (cos, sin) = (cos.unsqueeze(2)?, sin.unsqueeze(2)?);
    let even = a.mul(&cos)?.sub(&bb.mul(&sin)?)?;
    let odd = a.mul(&sin)?.add(&bb.mul(&cos)?)?;
    Tensor::cat(&[&even, &odd], 4)?.reshape((b, h, t, d))
}

#[cfg(test)]
mod rope_tests {
    use super::*;
    use crate::{DType, Device};

    /// `rope` or `rope_interleaved`.
    type RopeFn = fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>;

    /// The fused kernel against the composition, for contiguous inputs of every float dtype.
    #[test]
    fn fused_rope_matches_composition() -> Result<()> {
        let dev = Device::Cpu;
        for &(b, h, t, d) in &[(1usize, 1usize, 1usize, 2usize), (2, 3, 5, 8), (1, 16, 32, 64)] {
            let x = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev)?;
            let ang = Tensor::randn(0f32, 2.0, (t, d / 2), &dev)?;
            let (cos, sin) = (ang.cos()?, ang.sin()?);
            for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
                let (x, cos, sin) = (x.to_dtype(dtype)?, cos.to_dtype(dtype)?, sin.to_dtype(dtype)?);
                // Half types: the fused path rounds once, the composition after every op.
                let tol = match dtype {
                    DType::F16 => 4e-3,
                    DType::BF16 => 3e-2,
                    _ => 1e-6,
                };
                for interleaved in [false, true] {
                    let fused = rope_impl("rope", &x, &cos, &sin, interleaved)?;
                    let comp = if interleaved {
                        rope_interleaved_composite(&x, &cos, &sin, t, d)?
                    } else {
                        rope_composite(&x, &cos, &sin, d)?
                    };
                    let f = fused.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
                    let c = comp.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
                    for (u, v) in f.iter().zip(&c) {
                        assert!(
                            (u - v).abs() <= tol * (1.0 + v.abs()),
                            "{dtype:?} {interleaved}: {u} vs {v}"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// A transposed (non-contiguous) input takes the composed path and agrees with the fused one.
    #[test]
    fn strided_input_falls_back() -> Result<()> {
        let dev = Device::Cpu;
        let base = Tensor::randn(0f32, 1.0, (2, 5, 3, 8), &dev)?; // [b, t, h, d]
        let x = base.transpose(1, 2)?; // [b, h, t, d], strided
        assert!(!x.is_contiguous());
        let ang = Tensor::randn(0f32, 1.0, (5, 4), &dev)?;
        let (cos, sin) = (ang.cos()?, ang.sin()?);
        let ops: [RopeFn; 2] = [rope, rope_interleaved];
        for f in ops {
            let a = f(&x, &cos, &sin)?.flatten_all()?.to_vec1::<f32>()?;
            let b = f(&x.contiguous()?, &cos, &sin)?.flatten_all()?.to_vec1::<f32>()?;
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-6 * (1.0 + v.abs()));
            }
        }
        Ok(())
    }

    /// With a variable input the composed path runs and its gradient is the inverse
    /// rotation: d/dx Σ rope(x)·r = rope(r) with the angle negated.
    #[test]
    fn rope_gradients_are_the_inverse_rotation() -> Result<()> {
        let dev = Device::Cpu;
        let x = crate::Var::from_tensor(&Tensor::randn(0f64, 1.0, (1, 2, 3, 4), &dev)?)?;
        let r = Tensor::randn(0f64, 1.0, (1, 2, 3, 4), &dev)?;
        let ang = Tensor::randn(0f64, 1.0, (3, 2), &dev)?;
        let (cos, sin) = (ang.cos()?, ang.sin()?);
        let ops: [RopeFn; 2] = [rope, rope_interleaved];
        for f in ops {
            let grads = f(&x, &cos, &sin)?.mul(&r)?.sum_all()?.backward()?;
            let g = grads.get(&x).expect("gradient of x").flatten_all()?.to_vec1::<f64>()?;
            let want = f(&r, &cos, &sin.neg()?)?.flatten_all()?.to_vec1::<f64>()?;
            for (a, b) in g.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn rope_errors_name_shapes() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 2, 3, 4), DType::F32, &dev).unwrap();
        let c = Tensor::zeros((3, 3), DType::F32, &dev).unwrap();
        let e = rope(&x, &c, &c).unwrap_err().to_string();
        assert!(e.contains("rope") && e.contains("[1, 2, 3, 4]") && e.contains("[3, 3]"), "{e}");
        let odd = Tensor::zeros((1, 2, 3, 5), DType::F32, &dev).unwrap();
        assert!(rope(&odd, &c, &c).is_err());
        let r3 = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
        assert!(rope_interleaved(&r3, &c, &c).is_err());
        let c64 = Tensor::zeros((3, 2), DType::F64, &dev).unwrap();
        assert!(rope(&x, &c64, &c64).is_err());
    }
}
