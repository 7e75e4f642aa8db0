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
