//! Optimizers with PyTorch's update rules ([`Sgd`], [`AdamW`]) and a learning-rate schedule
//! ([`CosineWithWarmup`]).

use wick::{DType, Error, GradStore, Result, Tensor, Var};

/// Updates a set of variables from their gradients.
pub trait Optimizer {
    /// One update from the gradients in `grads` (variables without a gradient are skipped,
    /// as PyTorch skips parameters whose `.grad` is `None`).
    fn step(&mut self, grads: &GradStore) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (e.g. from a schedule).
    fn set_learning_rate(&mut self, lr: f64);

    /// Backpropagates `loss` and takes one step.
    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }
}

fn check_vars(op: &'static str, vars: &[Var]) -> Result<()> {
    for v in vars {
        if !matches!(v.dtype(), DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            return Err(Error::unsupported_dtype(op, v.dtype(), "parameters must be float"));
        }
    }
    Ok(())
}

fn check_lr(op: &'static str, lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(Error::invalid(op, format!("learning rate {lr} must be finite and >= 0")));
    }
    Ok(())
}

/// The gradient of `v`, detached, in `v`'s dtype.
fn grad_of(grads: &GradStore, v: &Var) -> Result<Option<Tensor>> {
    match grads.get(v.as_tensor()) {
        None => Ok(None),
        Some(g) => {
            if g.shape() != v.shape() {
                return Err(Error::shape_mismatch("Optimizer::step", v.shape(), g.shape(), "gradient shape"));
            }
            Ok(Some(g.detach()))
        }
    }
}

/// Options of [`Sgd`] (PyTorch's `torch.optim.SGD`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsSgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the momentum's gradient term.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`g + wd · p`).
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl Default for ParamsSgd {
    fn default() -> Self {
        ParamsSgd { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

/// Stochastic gradient descent with optional momentum, Nesterov and weight decay.
///
/// ```
/// use wick::{Device, Var};
/// use wick_nn::optim::{Optimizer, ParamsSgd, Sgd};
/// let w = Var::new(&[3f32], &Device::Cpu)?;
/// let mut opt = Sgd::new(vec![w.clone()], ParamsSgd { lr: 0.1, ..Default::default() })?;
/// for _ in 0..100 {
///     opt.backward_step(&w.sqr()?.sum_all()?)?; // minimize w²
/// }
/// assert!(w.to_vec1::<f32>()?[0].abs() < 1e-6);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    buffers: Vec<Option<Tensor>>,
    params: ParamsSgd,
}

impl Sgd {
    /// An optimizer over `vars`.
    pub fn new(vars: Vec<Var>, params: ParamsSgd) -> Result<Self> {
        const OP: &str = "Sgd::new";
        check_vars(OP, &vars)?;
        check_lr(OP, params.lr)?;
        if params.momentum < 0.0 || params.weight_decay < 0.0 {
            return Err(Error::invalid(OP, format!("{params:?}: momentum and weight decay must be >= 0")));
        }
        if params.nesterov && (params.momentum <= 0.0 || params.dampening != 0.0) {
            return Err(Error::invalid(OP, "Nesterov momentum requires a momentum and zero dampening"));
        }
        let buffers = vec![None; vars.len()];
        Ok(Sgd { vars, buffers, params })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        for (v, buf) in self.vars.iter().zip(self.buffers.iter_mut()) {
            let Some(mut g) = grad_of(grads, v)? else { continue };
            let w = v.as_detached_tensor();
            if p.weight_decay != 0.0 {
                g = g.add(&w.affine(p.weight_decay, 0.0)?)?;
            }
            if p.momentum != 0.0 {
                let b = match buf.take() {
                    None => g.copy()?,
                    Some(b) => b.affine(p.momentum, 0.0)?.add(&g.affine(1.0 - p.dampening, 0.0)?)?,
                };
                g = if p.nesterov { g.add(&b.affine(p.momentum, 0.0)?)? } else { b.clone() };
                *buf = Some(b);
            }
            v.set(&w.sub(&g.affine(p.lr, 0.0)?)?)?;
        }
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.params.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

/// Options of [`AdamW`]; `Default` is PyTorch's (`lr 1e-3, betas (0.9, 0.999), eps 1e-8,
/// weight_decay 0.01`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsAdamW {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay (`p ← p · (1 − lr · wd)`).
    pub weight_decay: f64,
}

impl Default for ParamsAdamW {
    fn default() -> Self {
        ParamsAdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as `torch.optim.AdamW`.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    moments: Vec<Option<(Tensor, Tensor)>>,
    steps: Vec<u64>,
    params: ParamsAdamW,
}

impl AdamW {
    /// An optimizer over `vars`.
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        const OP: &str = "AdamW::new";
        check_vars(OP, &vars)?;
        check_lr(OP, params.lr)?;
        let beta_ok = |b: f64| (0.0..1.0).contains(&b);
        if !beta_ok(params.beta1)
            || !beta_ok(params.beta2)
            || params.eps.is_nan()
            || params.eps < 0.0
            || params.weight_decay < 0.0
        {
            return Err(Error::invalid(
                OP,
                format!("{params:?}: betas must be in [0, 1), eps and weight decay >= 0"),
            ));
        }
        let n = vars.len();
        Ok(AdamW { vars, moments: vec![None; n], steps: vec![0; n], params })
    }

    /// With PyTorch's default options and learning rate `lr`.
    pub fn new_lr(vars: Vec<Var>, lr: f64) -> Result<Self> {
        Self::new(vars, ParamsAdamW { lr, ..Default::default() })
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        for ((v, mom), t) in self.vars.iter().zip(self.moments.iter_mut()).zip(self.steps.iter_mut()) {
            let Some(g) = grad_of(grads, v)? else { continue };
            *t += 1;
            let (m, s) = match mom.take() {
                Some(ms) => ms,
                None => (g.zeros_like()?, g.zeros_like()?),
            };
            let m = m.affine(p.beta1, 0.0)?.add(&g.affine(1.0 - p.beta1, 0.0)?)?;
            let s = s.affine(p.beta2, 0.0)?.add(&g.sqr()?.affine(1.0 - p.beta2, 0.0)?)?;
            let steps = i32::try_from(*t).unwrap_or(i32::MAX);
            let bc1 = 1.0 - p.beta1.powi(steps);
            let bc2 = 1.0 - p.beta2.powi(steps);
            // PyTorch: p ← p·(1 − lr·wd) − (lr / bc1) · m / (sqrt(s) / sqrt(bc2) + eps).
            let w = v.as_detached_tensor().affine(1.0 - p.lr * p.weight_decay, 0.0)?;
            let denom = s.sqrt()?.affine(1.0 / bc2.sqrt(), p.eps)?;
            let update = m.div(&denom)?.affine(p.lr / bc1, 0.0)?;
            v.set(&w.sub(&update)?)?;
            *mom = Some((m, s));
        }
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.params.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

/// Linear warm-up from 0 to `max_lr` over `warmup_steps`, then a cosine decay to `min_lr` at
/// `total_steps` (held there after), as Hugging Face's `get_cosine_schedule_with_warmup` with
/// a floor.
///
/// ```
/// use wick_nn::optim::CosineWithWarmup;
/// let s = CosineWithWarmup::new(1e-3, 1e-5, 10, 110)?;
/// assert_eq!(s.lr_at(0), 0.0);
/// assert!((s.lr_at(5) - 5e-4).abs() < 1e-12);
/// assert!((s.lr_at(10) - 1e-3).abs() < 1e-12);
/// assert!((s.lr_at(60) - (1e-5 + (1e-3 - 1e-5) * 0.5)).abs() < 1e-12);
/// assert_eq!(s.lr_at(500), 1e-5);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineWithWarmup {
    max_lr: f64,
    min_lr: f64,
    warmup_steps: usize,
    total_steps: usize,
}

impl CosineWithWarmup {
    /// A schedule; needs `warmup_steps <= total_steps` and `0 <= min_lr <= max_lr`.
    pub fn new(max_lr: f64, min_lr: f64, warmup_steps: usize, total_steps: usize) -> Result<Self> {
        const OP: &str = "CosineWithWarmup::new";
        check_lr(OP, max_lr)?;
        check_lr(OP, min_lr)?;
        if min_lr > max_lr || warmup_steps > total_steps {
            return Err(Error::invalid(
                OP,
                format!("need min_lr {min_lr} <= max_lr {max_lr} and warmup {warmup_steps} <= total {total_steps}"),
            ));
        }
        Ok(CosineWithWarmup { max_lr, min_lr, warmup_steps, total_steps })
    }

    /// The learning rate for step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.max_lr * step as f64 / self.warmup_steps as f64;
        }
        if step >= self.total_steps {
            return self.min_lr;
        }
        let progress = (step - self.warmup_steps) as f64 / (self.total_steps - self.warmup_steps) as f64;
        self.min_lr + (self.max_lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// Sets `opt`'s learning rate for step `step`.
    pub fn apply<O: Optimizer + ?Sized>(&self, opt: &mut O, step: usize) {
        opt.set_learning_rate(self.lr_at(step));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::Device;

    /// Scalar PyTorch SGD on f64 values.
    fn sgd_ref(w: &mut [f64], g: &[f64], buf: &mut Option<Vec<f64>>, p: ParamsSgd) {
        let mut d: Vec<f64> = g.iter().zip(w.iter()).map(|(g, w)| g + p.weight_decay * w).collect();
        if p.momentum != 0.0 {
            let b: Vec<f64> = match buf.take() {
                None => d.clone(),
                Some(b) => b.iter().zip(&d).map(|(b, d)| p.momentum * b + (1.0 - p.dampening) * d).collect(),
            };
            d = if p.nesterov {
                d.iter().zip(&b).map(|(d, b)| d + p.momentum * b).collect()
            } else {
                b.clone()
            };
            *buf = Some(b);
        }
        for (w, d) in w.iter_mut().zip(&d) {
            *w -= p.lr * d;
        }
    }

    /// Loss Σ c_i w_i² has gradient 2 c_i w_i; five steps against the scalar rules.
    #[test]
    fn sgd_and_adamw_match_scalar_rules() -> Result<()> {
        let dev = Device::Cpu;
        let c = Tensor::new(&[1f64, -2., 0.5, 3.], &dev)?;
        let cv = c.to_vec1::<f64>()?;
        for nesterov in [false, true] {
            let p = ParamsSgd { lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 0.1, nesterov };
            let w = Var::new(&[0.3f64, -0.7, 1.1, 0.2], &dev)?;
            let mut opt = Sgd::new(vec![w.clone()], p)?;
            let (mut wr, mut buf) = (w.to_vec1::<f64>()?, None);
            for _ in 0..5 {
                let g: Vec<f64> = wr.iter().zip(&cv).map(|(w, c)| 2.0 * c * w).collect();
                sgd_ref(&mut wr, &g, &mut buf, p);
                opt.backward_step(&w.sqr()?.mul(&c)?.sum_all()?)?;
            }
            for (a, b) in w.to_vec1::<f64>()?.iter().zip(&wr) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
        let p = ParamsAdamW { lr: 0.1, ..Default::default() };
        let w = Var::new(&[0.3f64, -0.7, 1.1, 0.2], &dev)?;
        let mut opt = AdamW::new(vec![w.clone()], p)?;
        let mut wr = w.to_vec1::<f64>()?;
        let (mut m, mut s) = (vec![0.0; 4], vec![0.0; 4]);
        for t in 1..=5 {
            for i in 0..4 {
                let g = 2.0 * cv[i] * wr[i];
                wr[i] *= 1.0 - p.lr * p.weight_decay;
                m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g;
                s[i] = p.beta2 * s[i] + (1.0 - p.beta2) * g * g;
                let mh = m[i] / (1.0 - p.beta1.powi(t));
                let sh = s[i] / (1.0 - p.beta2.powi(t));
                wr[i] -= p.lr * mh / (sh.sqrt() + p.eps);
            }
            opt.backward_step(&w.sqr()?.mul(&c)?.sum_all()?)?;
        }
        for (a, b) in w.to_vec1::<f64>()?.iter().zip(&wr) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn bad_options_and_schedule() -> Result<()> {
        let dev = Device::Cpu;
        let w = Var::new(&[1f32], &dev)?;
        assert!(Sgd::new(vec![w.clone()], ParamsSgd { nesterov: true, ..Default::default() }).is_err());
        assert!(Sgd::new(vec![w.clone()], ParamsSgd { lr: f64::NAN, ..Default::default() }).is_err());
        assert!(AdamW::new(vec![w.clone()], ParamsAdamW { beta1: 1.0, ..Default::default() }).is_err());
        let mut opt = AdamW::new_lr(vec![w], 0.5)?;
        let s = CosineWithWarmup::new(1.0, 0.0, 2, 4)?;
        s.apply(&mut opt, 1);
        assert_eq!(opt.learning_rate(), 0.5);
        s.apply(&mut opt, 3);
        assert!((opt.learning_rate() - 0.5).abs() < 1e-12);
        assert!(CosineWithWarmup::new(1.0, 2.0, 0, 1).is_err());
        assert!(CosineWithWarmup::new(1.0, 0.0, 5, 1).is_err());
        Ok(())
    }
}
