//! The derivative of every recorded op: from the gradient flowing into an op's output, the
//! gradients of its inputs. Formulas use detached tensors, so computing gradients records
//! nothing.

use super::{ConvArgs, Op};
use crate::op::{BinaryKind, UnaryKind};
use crate::{Error, Result, Shape, Tensor};

/// `(input, gradient of the input)` for every input of `op` that tracks gradients.
pub(super) fn input_grads(op: &Op, out: &Tensor, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    let y = out.detach();
    let mut res = Vec::new();
    let mut push = |t: &Tensor, f: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<()> {
        if t.track_op() {
            res.push((t.clone(), f(&t.detach())?));
        }
        Ok(())
    };
    match op {
        Op::Unary(a, kind) => push(a, &|x| unary(*kind, x, &y, g))?,
        Op::Binary(a, b, kind) => {
            let (ad, bd) = (a.detach(), b.detach());
            push(a, &|x| sum_to_shape(&binary(*kind, &ad, &bd, &y, g, true)?, x.shape()))?;
            push(b, &|x| sum_to_shape(&binary(*kind, &ad, &bd, &y, g, false)?, x.shape()))?;
        }
        Op::Affine(a, mul) => push(a, &|_| g.affine(*mul, 0.0))?,
        Op::Powf(a, e) => push(a, &|x| g.mul(&x.powf(e - 1.0)?.affine(*e, 0.0)?))?,
        Op::Sum(a) => push(a, &|x| g.broadcast_as(x.shape()))?,
        Op::MaxMin(a, dims) => push(a, &|x| {
            // Ties share the gradient equally, like PyTorch's amax/amin.
            let mask = x.eq(&y.broadcast_as(x.shape())?)?.to_dtype(x.dtype())?;
            let count = mask.sum_keepdim(dims.as_slice())?;
            g.broadcast_as(x.shape())?.mul(&mask)?.div(&count)
        })?,
        Op::Cumsum(a, d) => push(a, &|_| g.sum_keepdim(*d)?.sub(&g.cumsum(*d)?)?.add(g))?,
        Op::Softmax(a, d) => push(a, &|_| y.mul(&g.sub(&g.mul(&y)?.sum_keepdim(*d)?)?))?,
        Op::LogSoftmax(a, d) => push(a, &|_| g.sub(&y.exp()?.mul(&g.sum_keepdim(*d)?)?))?,
        Op::Matmul(a, b) => {
            let (ad, bd) = (a.detach(), b.detach());
            push(a, &|x| sum_to_shape(&g.matmul(&bd.t()?)?, x.shape()))?;
            push(b, &|x| sum_to_shape(&ad.t()?.matmul(g)?, x.shape()))?;
        }
        Op::Reshape(a) => push(a, &|x| g.reshape(x.shape()))?,
        Op::Permute(a, perm) => push(a, &|_| {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            g.permute(inverse)
        })?,
        Op::Narrow(a, d, start, len) => {
            push(a, &|x| g.pad_with_zeros(*d, *start, x.dims()[*d] - start - len))?
        }
        Op::Broadcast(a) => push(a, &|x| sum_to_shape(g, x.shape()))?,
        Op::Copy(a) => push(a, &|_| Ok(g.clone()))?,
        Op::ToDType(a) => {
            if y.dtype().is_float() {
                push(a, &|x| g.to_dtype(x.dtype()))?
            }
        }
        Op::Cat(parts, d) => {
            let mut offset = 0;
            for p in parts {
                let n = p.dims()[*d];
                push(p, &|_| g.narrow(*d, offset, n))?;
                offset += n;
            }
        }
        Op::IndexSelect(a, ids, d) => push(a, &|x| x.zeros_like()?.index_add(ids, g, *d))?,
        Op::Gather(a, ids, d) => push(a, &|x| x.zeros_like()?.scatter_add(ids, g, *d))?,
        Op::ScatterAdd(base, ids, src, d) => {
            push(base, &|_| Ok(g.clone()))?;
            push(src, &|s| {
                // Entries of `src` beyond the indices' extent were never added: zero gradient.
                let mut r = g.gather(ids, *d)?;
                for (i, (&n, &want)) in ids.dims().iter().zip(s.dims()).enumerate() {
                    r = r.pad_with_zeros(i, 0, want - n)?;
                }
                Ok(r)
            })?;
        }
        Op::IndexAdd(base, ids, src, d) => {
            push(base, &|_| Ok(g.clone()))?;
            push(src, &|_| g.index_select(ids, *d))?;
        }
        Op::WhereCond(cond, t, f) => {
            let zeros = g.zeros_like()?;
            push(t, &|x| sum_to_shape(&cond.where_cond(g, &zeros)?, x.shape()))?;
            push(f, &|x| sum_to_shape(&cond.where_cond(&zeros, g)?, x.shape()))?;
        }
        Op::Conv1d(x, w, c) => {
            let (xd, wd) = (x.detach(), w.detach());
            push(x, &|x| conv_input_grad(g, &wd, x.shape(), c))?;
            push(w, &|w| conv_weight_grad(&xd, g, w.shape(), c))?;
        }
        Op::Conv2d(x, w, c) => {
            let (xd, wd) = (x.detach(), w.detach());
            push(x, &|x| conv_input_grad(g, &wd, x.shape(), c))?;
            push(w, &|w| conv_weight_grad(&xd, g, w.shape(), c))?;
        }
        Op::ConvTranspose1d(x, w, c) | Op::ConvTranspose2d(x, w, c) => {
            // A transposed convolution is the adjoint of the convolution with the same
            // kernel: its input gradient is that convolution of `g`, and its kernel gradient
            // is the convolution's kernel gradient with the roles of input and output swapped.
            let (xd, wd) = (x.detach(), w.detach());
            push(x, &|x| {
                let r = conv_nd(g, &wd, c.padding, c.stride, c.dilation, c.groups)?;
                crop_or_pad_spatial(&r, x.shape(), 0)
            })?;
            push(w, &|w| conv_weight_grad(g, &xd, w.shape(), c))?;
        }
        Op::MaxPool2d(a, kernel, stride) => push(a, &|x| max_pool2d_grad(x, g, *kernel, *stride))?,
        Op::AvgPool2d(a, kernel, stride) => push(a, &|x| avg_pool2d_grad(x, g, *kernel, *stride))?,
        Op::UpsampleNearest2d(a) => push(a, &|x| upsample_nearest2d_grad(x, g))?,
    }
    Ok(res)
}

/// `d out / d x` times `g` for a unary function, with `y` its output.
fn unary(kind: UnaryKind, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    use std::f64::consts::PI;
    use UnaryKind::*;
    let dt = x.dtype();
    let d = match kind {
        Neg => return g.neg(),
        Log => return g.div(x),
        Sqrt => return g.div(&y.affine(2.0, 0.0)?),
        Floor | Ceil | Round | Sign => return g.zeros_like(),
        Abs => x.sign()?,
        Exp => y.clone(),
        Sqr => x.affine(2.0, 0.0)?,
        Recip => y.sqr()?.neg()?,
        Sin => x.cos()?,
        Cos => x.sin()?.neg()?,
        Tanh => y.sqr()?.affine(-1.0, 1.0)?,
        Erf => x.sqr()?.neg()?.exp()?.affine(2.0 / PI.sqrt(), 0.0)?,
        Relu => x.gt(0.0)?.to_dtype(dt)?,
        Gelu => {
            // y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x³)
            let c = (2.0 / PI).sqrt();
            let x2 = x.sqr()?;
            let t = x.mul(&x2.affine(0.044_715, 1.0)?)?.affine(c, 0.0)?.tanh()?;
            let du = x2.affine(3.0 * 0.044_715 * c, c)?;
            let left = t.affine(0.5, 0.5)?;
            left.add(&x.mul(&t.sqr()?.affine(-1.0, 1.0)?)?.mul(&du)?.affine(0.5, 0.0)?)?
        }
        GeluErf => {
            // Φ(x) + x φ(x)
            let cdf = x.affine(std::f64::consts::FRAC_1_SQRT_2, 0.0)?.erf()?.affine(0.5, 0.5)?;
            let pdf = x.sqr()?.affine(-0.5, 0.0)?.exp()?.affine(1.0 / (2.0 * PI).sqrt(), 0.0)?;
            cdf.add(&x.mul(&pdf)?)?
        }
        Silu => {
            let s = x.sigmoid()?;
            s.mul(&x.mul(&s.affine(-1.0, 1.0)?)?.affine(1.0, 1.0)?)?
        }
        Sigmoid => y.mul(&y.affine(-1.0, 1.0)?)?,
    };
    g.mul(&d)
}

/// The gradient of the left (`left == true`) or right operand, at the broadcast shape.
fn binary(kind: BinaryKind, a: &Tensor, b: &Tensor, y: &Tensor, g: &Tensor, left: bool) -> Result<Tensor> {
    use BinaryKind::*;
    match (kind, left) {
        (Add, _) => Ok(g.clone()),
        (Sub, true) => Ok(g.clone()),
        (Sub, false) => g.neg(),
        (Mul, true) => g.mul(b),
        (Mul, false) => g.mul(a),
        (Div, true) => g.div(b),
        (Div, false) => g.mul(y)?.div(b)?.neg(),
        (Maximum | Minimum, _) => {
            // The larger (smaller) operand takes the gradient; ties split it, like PyTorch.
            let wins = if kind == Maximum { a.gt(b)? } else { a.lt(b)? };
            let share = wins.to_dtype(a.dtype())?.add(&a.eq(b)?.to_dtype(a.dtype())?.affine(0.5, 0.0)?)?;
            let share = if left { share } else { share.affine(-1.0, 1.0)? };
            g.mul(&share)
        }
        (Pow, true) => g.mul(b)?.mul(&a.pow(&b.affine(1.0, -1.0)?)?),
        (Pow, false) => g.mul(y)?.mul(&a.log()?),
    }
}

/// Sums a broadcast gradient back down to `shape` (leading dims added by broadcasting, and
/// dims of size 1 that were stretched).
pub(crate) fn sum_to_shape(g: &Tensor, shape: &Shape) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let extra = g.rank().checked_sub(shape.rank()).ok_or_else(|| {
        Error::shape_mismatch("backward", g.shape(), shape, "a gradient has lower rank than its input")
    })?;
    let mut dims: Vec<usize> = (0..extra).collect();
    for (i, &s) in shape.dims().iter().enumerate() {
        if s == 1 && g.dims()[extra + i] != 1 {
            dims.push(extra + i);
        }
    }
    let summed = if dims.is_empty() { g.clone() } else { g.sum_keepdim(dims)? };
    summed.reshape(shape.clone())
}

fn conv_nd(
    x: &Tensor,
    w: &Tensor,
    padding: usize,
    stride: usize,
    dilation: usize,
    groups: usize,
) -> Result<Tensor> {
    match x.rank() {
        3 => x.conv1d(w, padding, stride, dilation, groups),
        _ => x.conv2d(w, padding, stride, dilation, groups),
    }
}

/// Takes `[0, want)` of each spatial dim (from `offset`), padding with zeros past the end.
fn crop_or_pad_spatial(t: &Tensor, want: &Shape, offset: usize) -> Result<Tensor> {
    let mut r = t.clone();
    for d in 2..t.rank() {
        let (have, need) = (r.dims()[d], want.dims()[d]);
        let avail = have.saturating_sub(offset).min(need);
        r = r.narrow(d, offset.min(have), avail)?;
        if avail < need {
            r = r.pad_with_zeros(d, 0, need - avail)?;
        }
    }
    Ok(r)
}

/// The input gradient of a convolution: the transposed convolution of `g` with the same
/// kernel, computed uncropped and then cut to the input (rows the last window did not reach
/// get zero).
fn conv_input_grad(g: &Tensor, w: &Tensor, x_shape: &Shape, c: &ConvArgs) -> Result<Tensor> {
    let full = match g.rank() {
        3 => g.conv_transpose1d(w, 0, 0, c.stride, c.dilation, c.groups)?,
        _ => g.conv_transpose2d(w, 0, 0, c.stride, c.dilation, c.groups)?,
    };
    crop_or_pad_spatial(&full, x_shape, c.padding)
}

/// The kernel gradient of the convolution `x ⋆ w -> out` given `g = d loss / d out`: per
/// group, a convolution of `x` (batch and channels swapped) with `g` (likewise) as kernel,
/// where stride and dilation trade places.
fn conv_weight_grad(x: &Tensor, g: &Tensor, w_shape: &Shape, c: &ConvArgs) -> Result<Tensor> {
    let cig = x.dims()[1] / c.groups;
    let cog = g.dims()[1] / c.groups;
    let mut parts = Vec::with_capacity(c.groups);
    for gi in 0..c.groups {
        let xg = x.narrow(1, gi * cig, cig)?.transpose(0, 1)?.contiguous()?;
        let gg = g.narrow(1, gi * cog, cog)?.transpose(0, 1)?.contiguous()?;
        let r = conv_nd(&xg, &gg, c.padding, c.dilation, c.stride, 1)?;
        // r: [cig, cog, k'..] with k' >= k; the kernel taps are its first k entries.
        let mut want = vec![cig, cog];
        want.extend_from_slice(&w_shape.dims()[2..]);
        let r = crop_or_pad_spatial(&r, &Shape::from(want), 0)?;
        parts.push(r.transpose(0, 1)?);
    }
    let w = Tensor::cat(&parts, 0)?;
    if w.shape() != w_shape {
        return Err(Error::shape_mismatch("conv backward", w.shape(), w_shape, "kernel gradient shape"));
    }
    Ok(w)
}

/// For each output position of a pooling window and each tap of the window, the flat index
/// `y * w + x` of the input element it reads: `[oh * ow * kh * kw]` as U32.
fn pool_window_ids(
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    dev: &crate::Device,
) -> Result<Tensor> {
    if h.checked_mul(w).is_none_or(|n| n > u32::MAX as usize) {
        return Err(Error::invalid("pool backward", format!("a {h}x{w} plane has too many elements")));
    }
    let mut ids = Vec::with_capacity(oh * ow * kh * kw);
    for oy in 0..oh {
        for ox in 0..ow {
            for i in 0..kh {
                for j in 0..kw {
                    ids.push(((oy * sh + i) * w + ox * sw + j) as u32);
                }
            }
        }
    }
    Tensor::from_vec(ids, oh * ow * kh * kw, dev)
}

fn max_pool2d_grad(x: &Tensor, g: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (_, _, oh, ow) = g.dims4()?;
    let (n, taps) = (oh * ow, kernel.0 * kernel.1);
    let ids = pool_window_ids((h, w), (oh, ow), kernel, stride, x.device())?;
    let windows = x.reshape((b, c, h * w))?.index_select(&ids, 2)?.reshape((b, c, n, taps))?;
    // The first largest element of each window takes the window's gradient.
    let best = windows.argmax_keepdim(3)?;
    let table = ids.reshape((n, taps))?.broadcast_as((b, c, n, taps))?;
    let src_ids = table.gather(&best, 3)?.reshape((b, c, n))?;
    let zeros = Tensor::zeros((b, c, h * w), x.dtype(), x.device())?;
    zeros.scatter_add(&src_ids, &g.reshape((b, c, n))?, 2)?.reshape((b, c, h, w))
}

fn avg_pool2d_grad(x: &Tensor, g: &Tensor, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (_, _, oh, ow) = g.dims4()?;
    let (n, taps) = (oh * ow, kernel.0 * kernel.1);
    let ids = pool_window_ids((h, w), (oh, ow), kernel, stride, x.device())?;
    let spread = g
        .reshape((b, c, n, 1))?
        .broadcast_as((b, c, n, taps))?
        .reshape((b, c, n * taps))?
        .affine(1.0 / taps as f64, 0.0)?;
    let zeros = Tensor::zeros((b, c, h * w), x.dtype(), x.device())?;
    zeros.index_add(&ids, &spread, 2)?.reshape((b, c, h, w))
}

fn upsample_nearest2d_grad(x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (_, _, oh, ow) = g.dims4()?;
    // The forward kernel's source index: floor(dst * in / out), clamped.
    let source = |out: usize, inp: usize| -> Result<Tensor> {
        let ids: Vec<u32> =
            (0..out).map(|o| ((o as f64 * inp as f64 / out as f64) as usize).min(inp - 1) as u32).collect();
        Tensor::from_vec(ids, out, x.device())
    };
    if h == 0 || w == 0 {
        return x.zeros_like();
    }
    let cols = Tensor::zeros((b, c, oh, w), x.dtype(), x.device())?.index_add(&source(ow, w)?, g, 3)?;
    Tensor::zeros((b, c, h, w), x.dtype(), x.device())?.index_add(&source(oh, h)?, &cols, 2)
}
