//! Loss functions, each the mean over the batch as a rank-0 tensor (PyTorch's
//! `reduction="mean"`).

use wick::{DType, Error, Result, Tensor, D};

fn check_targets(op: &'static str, scores: &Tensor, targets: &Tensor) -> Result<usize> {
    let (n, _) =
        scores.dims2().map_err(|_| Error::RankMismatch { op, expected: 2, shape: scores.shape().clone() })?;
    if !matches!(targets.dtype(), DType::U32 | DType::I64 | DType::U8) {
        return Err(Error::unsupported_dtype(op, targets.dtype(), "class targets must be u8, u32 or i64"));
    }
    if targets.dims() != [n] {
        return Err(Error::shape_mismatch(
            op,
            scores.shape(),
            targets.shape(),
            format!("targets must be [{n}]"),
        ));
    }
    if n == 0 {
        return Err(Error::invalid(op, "the mean over an empty batch is undefined"));
    }
    Ok(n)
}

/// Negative log-likelihood of `log_probs` `(n, c)` at class `targets` `(n,)`:
/// `−mean_i log_probs[i, targets[i]]`.
pub fn nll(log_probs: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_targets("nll", log_probs, targets)?;
    log_probs.gather(&targets.unsqueeze(1)?, 1)?.mean_all()?.neg()
}

/// Cross-entropy of unnormalized `logits` `(n, c)` against class `targets` `(n,)` (`u32` or
/// `i64`), computed as [`nll`] of a numerically stable `log_softmax`.
///
/// ```
/// use wick::{Device, Tensor};
/// let dev = Device::Cpu;
/// let logits = Tensor::new(&[[0f32, 0.], [10., -10.]], &dev)?;
/// let loss = wick_nn::loss::cross_entropy(&logits, &Tensor::new(&[1u32, 0], &dev)?)?;
/// // (ln 2 + ~0) / 2
/// assert!((loss.to_scalar::<f32>()? - 0.34657).abs() < 1e-4);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_targets("cross_entropy", logits, targets)?;
    nll(&logits.log_softmax(D::Minus1)?, targets)
}

fn check_same(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape_mismatch(
            op,
            a.shape(),
            b.shape(),
            "inputs and targets must have the same shape",
        ));
    }
    if a.elem_count() == 0 {
        return Err(Error::invalid(op, "the mean over no element is undefined"));
    }
    Ok(())
}

/// Mean squared error: `mean((a − b)²)` over all elements.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_same("mse", a, b)?;
    a.sub(b)?.sqr()?.mean_all()
}

/// Binary cross-entropy of `logits` against `targets` in `[0, 1]` (same shape), in the stable
/// form `max(x, 0) − x·y + log(1 + e^(−|x|))` (as `torch.nn.BCEWithLogitsLoss`).
pub fn binary_cross_entropy_with_logit(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_same("binary_cross_entropy_with_logit", logits, targets)?;
    let softplus = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    logits.relu()?.sub(&logits.mul(targets)?)?.add(&softplus)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::Device;

    #[test]
    fn cross_entropy_and_nll_match_scalar_loop() -> Result<()> {
        let dev = Device::Cpu;
        let logits = Tensor::randn(0f64, 3.0, (5, 4), &dev)?;
        let t = Tensor::new(&[0u32, 3, 1, 1, 2], &dev)?;
        let lv = logits.to_vec2::<f64>()?;
        let tv = t.to_vec1::<u32>()?;
        let mut want = 0.0;
        for (row, &c) in lv.iter().zip(&tv) {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            want += lse - row[c as usize];
        }
        want /= 5.0;
        let got = cross_entropy(&logits, &t)?;
        assert_eq!(got.rank(), 0);
        assert!((got.to_scalar::<f64>()? - want).abs() < 1e-12);
        let got = cross_entropy(&logits, &t.to_dtype(DType::I64)?)?.to_scalar::<f64>()?;
        assert!((got - want).abs() < 1e-12);
        assert!(cross_entropy(&logits, &Tensor::new(&[0u32, 4, 1, 1, 2], &dev)?).is_err());
        assert!(cross_entropy(&logits, &Tensor::new(&[0u32, 1], &dev)?).is_err());
        assert!(cross_entropy(&logits, &Tensor::new(&[0f64, 1., 1., 1., 1.], &dev)?).is_err());
        Ok(())
    }

    #[test]
    fn mse_and_bce_match_definitions() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[-50f64, -1.], [0., 2.], [30., 0.5]], &dev)?;
        let y = Tensor::new(&[[0f64, 1.], [0.5, 1.], [1., 0.]], &dev)?;
        let got = binary_cross_entropy_with_logit(&x, &y)?.to_scalar::<f64>()?;
        let (xv, yv) = (x.flatten_all()?.to_vec1::<f64>()?, y.flatten_all()?.to_vec1::<f64>()?);
        let want: f64 = xv
            .iter()
            .zip(&yv)
            .map(|(&x, &y)| {
                // log σ(x) and log(1 − σ(x)) written to stay finite at |x| = 50.
                let log_sig = -((-x).exp().ln_1p());
                let log_1m = -(x.exp().ln_1p());
                -(y * log_sig + (1.0 - y) * log_1m)
            })
            .sum::<f64>()
            / 6.0;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let m = mse(&x, &y)?.to_scalar::<f64>()?;
        let want = xv.iter().zip(&yv).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 6.0;
        assert!((m - want).abs() < 1e-9);
        assert!(mse(&x, &y.t()?).is_err());
        Ok(())
    }
}
