//! Parameter initialization, with PyTorch's conventions for fans and gains
//! (`torch.nn.init`: He et al., 2015 for Kaiming; Glorot & Bengio, 2010 for Xavier).

use wick::{DType, Device, Error, Result, Shape, Tensor};

/// Which fan a Kaiming initialization preserves the variance of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// Fan-in (`dims[1] · receptive field`): preserves the forward pass' variance.
    FanIn,
    /// Fan-out (`dims[0] · receptive field`): preserves the backward pass' variance.
    FanOut,
}

/// How to fill a new parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every element equal to this value.
    Const(f64),
    /// Normal samples.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Uniform samples in `[lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Normal with `std = gain / sqrt(fan)` (`torch.nn.init.kaiming_normal_`).
    KaimingNormal {
        /// The nonlinearity's gain, e.g. [`gain_relu`].
        gain: f64,
        /// Which fan.
        fan: FanMode,
    },
    /// Uniform in `±gain · sqrt(3 / fan)` (`torch.nn.init.kaiming_uniform_`).
    KaimingUniform {
        /// The nonlinearity's gain, e.g. [`gain_relu`].
        gain: f64,
        /// Which fan.
        fan: FanMode,
    },
    /// Normal with `std = gain · sqrt(2 / (fan_in + fan_out))` (`xavier_normal_`).
    XavierNormal {
        /// The nonlinearity's gain (1 for linear / sigmoid).
        gain: f64,
    },
    /// Uniform in `±gain · sqrt(6 / (fan_in + fan_out))` (`xavier_uniform_`).
    XavierUniform {
        /// The nonlinearity's gain (1 for linear / sigmoid).
        gain: f64,
    },
}

/// PyTorch's gain for ReLU: `sqrt(2)`.
pub fn gain_relu() -> f64 {
    std::f64::consts::SQRT_2
}

/// PyTorch's gain for leaky ReLU with `slope`: `sqrt(2 / (1 + slope²))`.
pub fn gain_leaky_relu(slope: f64) -> f64 {
    (2.0 / (1.0 + slope * slope)).sqrt()
}

/// Kaiming-normal init for ReLU networks, fan-in (`kaiming_normal_(nonlinearity="relu")`).
pub const KAIMING_NORMAL_RELU: Init =
    Init::KaimingNormal { gain: std::f64::consts::SQRT_2, fan: FanMode::FanIn };
/// Kaiming-uniform init for ReLU networks, fan-in.
pub const KAIMING_UNIFORM_RELU: Init =
    Init::KaimingUniform { gain: std::f64::consts::SQRT_2, fan: FanMode::FanIn };

/// `(fan_in, fan_out)` of a weight shape, as `torch.nn.init._calculate_fan_in_and_fan_out`:
/// `dims[1] · r` and `dims[0] · r`, `r` the product of the dims after the first two.
pub fn fans(shape: &Shape) -> Result<(usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        return Err(Error::invalid(
            "init",
            format!("fan in/out need a weight of rank >= 2, got shape {shape:?}"),
        ));
    }
    let r = d[2..]
        .iter()
        .try_fold(1usize, |a, &x| a.checked_mul(x))
        .ok_or_else(|| Error::overflow("init", format!("receptive field of {shape:?}")))?;
    let fan_in =
        d[1].checked_mul(r).ok_or_else(|| Error::overflow("init", format!("fan-in of {shape:?}")))?;
    let fan_out =
        d[0].checked_mul(r).ok_or_else(|| Error::overflow("init", format!("fan-out of {shape:?}")))?;
    Ok((fan_in, fan_out))
}

fn positive(fan: usize, shape: &Shape) -> Result<f64> {
    if fan == 0 {
        return Err(Error::invalid("init", format!("zero fan for shape {shape:?}")));
    }
    Ok(fan as f64)
}

impl Init {
    /// A new tensor of `shape` and `dtype` filled by this rule.
    ///
    /// ```
    /// use wick::{DType, Device};
    /// use wick_nn::Init;
    /// let w = Init::Uniform { lo: -0.5, hi: 0.5 }.create((3, 4), DType::F32, &Device::Cpu)?;
    /// assert!(w.flatten_all()?.to_vec1::<f32>()?.iter().all(|x| (-0.5..0.5).contains(x)));
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn create<S: Into<Shape>>(&self, shape: S, dtype: DType, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        if !dtype.is_float() && !matches!(self, Init::Const(_)) {
            return Err(Error::unsupported_dtype("init", dtype, "random init needs a float dtype"));
        }
        let t = match *self {
            Init::Const(v) => return Tensor::full_dtype(v, shape, dtype, device),
            Init::Normal { mean, std } => Tensor::randn(mean, std, shape, device)?,
            Init::Uniform { lo, hi } => Tensor::rand(lo, hi, shape, device)?,
            Init::KaimingNormal { gain, fan } | Init::KaimingUniform { gain, fan } => {
                let (fi, fo) = fans(&shape)?;
                let f = positive(if fan == FanMode::FanIn { fi } else { fo }, &shape)?;
                let std = gain / f.sqrt();
                if matches!(self, Init::KaimingNormal { .. }) {
                    Tensor::randn(0.0, std, shape, device)?
                } else {
                    let bound = 3f64.sqrt() * std;
                    Tensor::rand(-bound, bound, shape, device)?
                }
            }
            Init::XavierNormal { gain } | Init::XavierUniform { gain } => {
                let (fi, fo) = fans(&shape)?;
                let f = positive(fi.saturating_add(fo), &shape)?;
                let std = gain * (2.0 / f).sqrt();
                if matches!(self, Init::XavierNormal { .. }) {
                    Tensor::randn(0.0, std, shape, device)?
                } else {
                    let bound = 3f64.sqrt() * std;
                    Tensor::rand(-bound, bound, shape, device)?
                }
            }
        };
        t.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &Tensor) -> (f64, f64, f64) {
        let v = t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let maxabs = v.iter().fold(0f64, |m, x| m.max(x.abs()));
        (mean, var.sqrt(), maxabs)
    }

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&Shape::from((8, 3))).unwrap(), (3, 8));
        assert_eq!(fans(&Shape::from((16, 4, 3, 3))).unwrap(), (36, 144));
        assert!(fans(&Shape::from(5)).is_err());
    }

    #[test]
    fn kaiming_and_xavier_scales() {
        let dev = Device::Cpu;
        // fan_in 400: std sqrt(2/400) = 0.0707.
        let (m, s, _) = stats(&KAIMING_NORMAL_RELU.create((300, 400), DType::F32, &dev).unwrap());
        assert!(m.abs() < 3e-3 && (s - 0.070711).abs() < 2e-3, "{m} {s}");
        let (_, s, mx) = stats(&KAIMING_UNIFORM_RELU.create((300, 400), DType::F32, &dev).unwrap());
        let bound = (6.0f64 / 400.0).sqrt();
        assert!(mx <= bound && mx > 0.99 * bound && (s - 0.070711).abs() < 2e-3, "{s} {mx}");
        // fan_in + fan_out = 700: std sqrt(2/700).
        let (_, s, _) =
            stats(&Init::XavierNormal { gain: 1.0 }.create((300, 400), DType::F64, &dev).unwrap());
        assert!((s - (2.0f64 / 700.0).sqrt()).abs() < 2e-3);
        let (_, _, mx) =
            stats(&Init::XavierUniform { gain: 1.0 }.create((300, 400), DType::F64, &dev).unwrap());
        assert!(mx <= (6.0f64 / 700.0).sqrt());
        let c = Init::Const(2.5).create((2, 2), DType::F16, &dev).unwrap();
        assert_eq!(stats(&c), (2.5, 0.0, 2.5));
        assert!(Init::Normal { mean: 0.0, std: 1.0 }.create(3, DType::U32, &dev).is_err());
    }
}
