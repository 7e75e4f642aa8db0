//! [`BatchNorm`] (Ioffe & Szegedy, 2015) over the channel dim of `(n, c, ..)` inputs, as
//! `torch.nn.BatchNorm1d/2d/3d`: in training, normalize with the batch's statistics and move
//! the running statistics towards them; in inference, normalize with the running statistics.

use crate::norm::channel_shape;
use crate::{Init, ModuleT, VarBuilder};
use std::sync::Mutex;
use wick::{Error, Result, Tensor, Var};

/// Options of a [`BatchNorm`] (PyTorch's defaults via `Default`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f64,
    /// Weight of the batch statistics in the running-statistics update. Default `0.1`.
    pub momentum: f64,
    /// Whether there is a per-channel weight and bias. Default `true`.
    pub affine: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { eps: 1e-5, momentum: 0.1, affine: true }
    }
}

/// Batch normalization; a [`ModuleT`] whose `train` flag picks batch or running statistics.
///
/// The running statistics are buffers, not parameters: no gradient flows to them. Built by
/// [`batch_norm`] from a `VarMap`-backed builder, training writes them back into the map's
/// variables in place, so `VarMap::save` stores the current statistics.
#[derive(Debug)]
pub struct BatchNorm {
    running_mean: Mutex<Tensor>,
    running_var: Mutex<Tensor>,
    weight_bias: Option<(Tensor, Tensor)>,
    cfg: BatchNormConfig,
    channels: usize,
    /// The `VarMap` variables the running statistics came from, updated in place in training
    /// so that `VarMap::save` writes the current statistics.
    stat_vars: Option<(Var, Var)>,
}

fn lock(m: &Mutex<Tensor>) -> std::sync::MutexGuard<'_, Tensor> {
    // A poisoned lock only means a panic elsewhere while held; the tensor is still whole.
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl BatchNorm {
    /// A batch norm from running statistics `(c,)`, an optional `(weight, bias)` `(c,)` pair,
    /// and `eps`/`momentum` from `cfg` (its `affine` must agree with `weight_bias`).
    pub fn new(
        running_mean: Tensor,
        running_var: Tensor,
        weight_bias: Option<(Tensor, Tensor)>,
        cfg: BatchNormConfig,
    ) -> Result<Self> {
        const OP: &str = "BatchNorm::new";
        let c = running_mean.dims1().map_err(|_| Error::RankMismatch {
            op: OP,
            expected: 1,
            shape: running_mean.shape().clone(),
        })?;
        let mut others = vec![&running_var];
        if let Some((w, b)) = &weight_bias {
            others.extend([w, b]);
        }
        for t in others {
            if t.dims() != [c] {
                return Err(Error::shape_mismatch(
                    OP,
                    running_mean.shape(),
                    t.shape(),
                    "per-channel tensors differ",
                ));
            }
        }
        if cfg.affine != weight_bias.is_some() {
            return Err(Error::invalid(OP, "cfg.affine must match whether weight and bias are given"));
        }
        if !(0.0..=1.0).contains(&cfg.momentum) || cfg.eps.is_nan() || cfg.eps < 0.0 {
            return Err(Error::invalid(
                OP,
                format!("momentum {} must be in [0, 1], eps {} >= 0", cfg.momentum, cfg.eps),
            ));
        }
        Ok(BatchNorm {
            running_mean: Mutex::new(running_mean),
            running_var: Mutex::new(running_var),
            weight_bias,
            cfg,
            channels: c,
            stat_vars: None,
        })
    }

    /// The running mean `(c,)`.
    pub fn running_mean(&self) -> Tensor {
        lock(&self.running_mean).clone()
    }

    /// The running (unbiased) variance `(c,)`.
    pub fn running_var(&self) -> Tensor {
        lock(&self.running_var).clone()
    }

    fn normalize(&self, xs: &Tensor, mean: &Tensor, var: &Tensor) -> Result<Tensor> {
        let shape = channel_shape(xs.rank(), self.channels);
        let mean = mean.reshape(shape.clone())?;
        let inv_std = var.add(self.cfg.eps)?.sqrt()?.recip()?.reshape(shape.clone())?;
        let y = xs.sub(&mean)?.mul(&inv_std)?;
        match &self.weight_bias {
            Some((w, b)) => y.mul(&w.reshape(shape.clone())?)?.add(&b.reshape(shape)?),
            None => Ok(y),
        }
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let c = self.channels;
        if xs.rank() < 2 || xs.dims()[1] != c {
            return Err(Error::shape_mismatch(
                "BatchNorm",
                xs.shape(),
                &wick::Shape::from(c),
                format!("the input must be (n, {c}, ..)"),
            ));
        }
        if !train {
            // Running statistics are buffers, not parameters: no gradient flows to them.
            let (m, v) = (self.running_mean().detach(), self.running_var().detach());
            return self.normalize(xs, &m, &v);
        }
        let count = xs.elem_count() / c.max(1);
        if count < 2 {
            return Err(Error::invalid(
                "BatchNorm",
                format!("training needs more than one value per channel, got shape {:?}", xs.shape()),
            ));
        }
        let dims: Vec<usize> = (0..xs.rank()).filter(|&d| d != 1).collect();
        let mean = xs.mean_keepdim(dims.clone())?;
        let var = xs.sub(&mean)?.sqr()?.mean_keepdim(dims)?.flatten_all()?;
        let mean = mean.flatten_all()?;
        let y = self.normalize(xs, &mean, &var)?;
        // PyTorch updates the running variance with the unbiased estimate.
        let m = self.cfg.momentum;
        let unbiased = var.affine(count as f64 / (count - 1) as f64, 0.0)?.detach();
        let mean = mean.detach();
        let mut rm = lock(&self.running_mean);
        let new_mean = rm.affine(1.0 - m, 0.0)?.add(&mean.affine(m, 0.0)?.to_dtype(rm.dtype())?)?;
        let mut rv = lock(&self.running_var);
        let new_var = rv.affine(1.0 - m, 0.0)?.add(&unbiased.affine(m, 0.0)?.to_dtype(rv.dtype())?)?;
        if let Some((vm, vv)) = &self.stat_vars {
            vm.set(&new_mean)?;
            vv.set(&new_var)?;
        }
        *rm = new_mean;
        *rv = new_var;
        Ok(y)
    }
}

/// A [`BatchNorm`] over `channels` reading `running_mean`, `running_var` and (with
/// `cfg.affine`) `weight` and `bias` from `vb`, the checkpoint names of PyTorch.
pub fn batch_norm(channels: usize, cfg: BatchNormConfig, vb: VarBuilder) -> Result<BatchNorm> {
    let rm = vb.get_with_init(channels, "running_mean", Init::Const(0.0))?.detach();
    let rv = vb.get_with_init(channels, "running_var", Init::Const(1.0))?.detach();
    let wb = if cfg.affine {
        Some((
            vb.get_with_init(channels, "weight", Init::Const(1.0))?,
            vb.get_with_init(channels, "bias", Init::Const(0.0))?,
        ))
    } else {
        None
    };
    let mut bn = BatchNorm::new(rm, rv, wb, cfg)?;
    bn.stat_vars = vb.var("running_mean").zip(vb.var("running_var"));
    Ok(bn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::norm::channel_stats;
    use wick::{DType, Device};

    fn vec(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn train_then_eval_follow_pytorch_semantics() -> Result<()> {
        let dev = Device::Cpu;
        let c = 3;
        let x = Tensor::randn(2f64, 3.0, (4, c, 5), &dev)?;
        let w = Tensor::new(&[1f64, 2., 0.5], &dev)?;
        let b = Tensor::new(&[0f64, -1., 1.], &dev)?;
        let bn = BatchNorm::new(
            Tensor::zeros(c, DType::F64, &dev)?,
            Tensor::ones(c, DType::F64, &dev)?,
            Some((w.clone(), b.clone())),
            BatchNormConfig::default(),
        )?;
        let y = vec(&bn.forward_t(&x, true)?);
        let (mean, var) = channel_stats(&x)?;
        let (xv, wv, bv) = (vec(&x), vec(&w), vec(&b));
        for (i, (&yv, &xv)) in y.iter().zip(&xv).enumerate() {
            let ch = (i / 5) % c;
            let want = (xv - mean[ch]) / (var[ch] + 1e-5).sqrt() * wv[ch] + bv[ch];
            assert!((yv - want).abs() < 1e-10);
        }
        let n = 20.0;
        let (rm, rv) = (vec(&bn.running_mean()), vec(&bn.running_var()));
        for ch in 0..c {
            assert!((rm[ch] - 0.1 * mean[ch]).abs() < 1e-12);
            assert!((rv[ch] - (0.9 + 0.1 * var[ch] * n / (n - 1.0))).abs() < 1e-12);
        }
        // Eval uses the running statistics.
        let y = vec(&bn.forward_t(&x, false)?);
        for (i, (&yv, &xv)) in y.iter().zip(&xv).enumerate() {
            let ch = (i / 5) % c;
            let want = (xv - rm[ch]) / (rv[ch] + 1e-5).sqrt() * wv[ch] + bv[ch];
            assert!((yv - want).abs() < 1e-10);
        }
        assert!(bn.forward_t(&Tensor::zeros((2, 4), DType::F64, &dev)?, false).is_err());
        assert!(bn.forward_t(&Tensor::zeros((1, 3), DType::F64, &dev)?, true).is_err());
        let bad = BatchNormConfig { affine: false, ..Default::default() };
        assert!(BatchNorm::new(w.clone(), w.clone(), Some((w.clone(), b)), bad).is_err());
        Ok(())
    }

    /// Built from a `VarMap`, training updates the map's running statistics in place, and
    /// eval-mode gradients reach the affine parameters but never the statistics.
    #[test]
    fn varmap_statistics_follow_training() -> Result<()> {
        let dev = Device::Cpu;
        let vm = crate::VarMap::new();
        let bn = batch_norm(2, BatchNormConfig::default(), vm.var_builder(DType::F64, &dev).pp("bn"))?;
        let x = Tensor::randn(1f64, 2.0, (5, 2, 3), &dev)?;
        bn.forward_t(&x, true)?;
        let (mean, _) = channel_stats(&x)?;
        let saved = vec(vm.get_var("bn.running_mean").unwrap().as_tensor());
        assert_eq!(saved, vec(&bn.running_mean()));
        assert!((saved[0] - 0.1 * mean[0]).abs() < 1e-12);
        let grads = bn.forward_t(&x, false)?.sum_all()?.backward()?;
        assert!(grads.get(vm.get_var("bn.weight").unwrap().as_tensor()).is_some());
        assert!(grads.get(vm.get_var("bn.running_mean").unwrap().as_tensor()).is_none());
        assert!(grads.get(vm.get_var("bn.running_var").unwrap().as_tensor()).is_none());
        Ok(())
    }
}
