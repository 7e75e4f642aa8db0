//! [`Linear`]: `y = x Wᵀ + b`, with the weight stored `(out, in)` as in PyTorch.

use crate::init::{gain_leaky_relu, FanMode};
use crate::{Init, Module, VarBuilder};
use wick::{Error, Result, Tensor};

/// A fully connected layer. The weight is `(out_features, in_features)`, the optional bias
/// `(out_features,)`; the input is `(.., in_features)`.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{Linear, Module};
/// let dev = Device::Cpu;
/// let w = Tensor::new(&[[1f32, 0., 1.], [0., 2., 0.]], &dev)?; // 3 -> 2
/// let b = Tensor::new(&[0.5f32, -1.], &dev)?;
/// let lin = Linear::new(w, Some(b))?;
/// let y = lin.forward(&Tensor::new(&[[1f32, 2., 3.]], &dev)?)?;
/// assert_eq!(y.to_vec2::<f32>()?, vec![vec![4.5, 3.]]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer over a `(out, in)` weight and an optional `(out,)` bias.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (out, _) = weight.dims2().map_err(|_| Error::RankMismatch {
            op: "Linear::new",
            expected: 2,
            shape: weight.shape().clone(),
        })?;
        if let Some(b) = &bias {
            if b.dims() != [out] {
                return Err(Error::shape_mismatch(
                    "Linear::new",
                    weight.shape(),
                    b.shape(),
                    format!("the bias must have shape [{out}]"),
                ));
            }
        }
        Ok(Linear { weight, bias })
    }

    /// The `(out, in)` weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (out, inp) = (self.out_features(), self.in_features());
        let last = xs.dims().last().copied();
        if last != Some(inp) {
            return Err(Error::shape_mismatch(
                "Linear",
                xs.shape(),
                self.weight.shape(),
                format!("the input's last dim must be in_features = {inp}"),
            ));
        }
        let wt = self.weight.t()?;
        let y = if xs.rank() > 2 {
            // One (rows, in) x (in, out) product instead of a batched one per leading index.
            let rows = xs.elem_count() / inp.max(1);
            let mut dims = xs.dims().to_vec();
            let n = dims.len();
            dims[n - 1] = out;
            xs.reshape((rows, inp))?.matmul(&wt)?.reshape(dims)?
        } else {
            xs.matmul(&wt)?
        };
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

/// PyTorch's default init for `nn.Linear` weights: `kaiming_uniform_(a = sqrt(5))`, i.e.
/// uniform in `±1/sqrt(in)`.
pub(crate) fn default_weight_init() -> Init {
    Init::KaimingUniform { gain: gain_leaky_relu(5f64.sqrt()), fan: FanMode::FanIn }
}

/// PyTorch's default bias init: uniform in `±1/sqrt(fan_in)`.
pub(crate) fn default_bias_init(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -bound, hi: bound }
}

/// A [`Linear`] with a bias, reading `weight` `(out, in)` and `bias` `(out,)` from `vb`.
pub fn linear(in_features: usize, out_features: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_init((out_features, in_features), "weight", default_weight_init())?;
    let b = vb.get_with_init(out_features, "bias", default_bias_init(in_features))?;
    Linear::new(w, Some(b))
}

/// A [`Linear`] without bias, reading `weight` `(out, in)` from `vb`.
pub fn linear_no_bias(in_features: usize, out_features: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_init((out_features, in_features), "weight", default_weight_init())?;
    Linear::new(w, None)
}

/// [`linear`] or [`linear_no_bias`].
pub fn linear_b(in_features: usize, out_features: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    if bias {
        linear(in_features, out_features, vb)
    } else {
        linear_no_bias(in_features, out_features, vb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::{DType, Device};

    /// y[.., o] = Σ_i x[.., i] w[o, i] + b[o], as a scalar loop.
    fn reference(x: &[f64], w: &[f64], b: &[f64], inp: usize, out: usize) -> Vec<f64> {
        x.chunks(inp)
            .flat_map(|row| {
                (0..out).map(move |o| b[o] + (0..inp).map(|i| row[i] * w[o * inp + i]).sum::<f64>())
            })
            .collect()
    }

    #[test]
    fn matches_scalar_loop_for_rank_1_to_4() -> Result<()> {
        let dev = Device::Cpu;
        let (inp, out) = (5, 3);
        let w = Tensor::randn(0f64, 1.0, (out, inp), &dev)?;
        let b = Tensor::randn(0f64, 1.0, out, &dev)?;
        let lin = Linear::new(w.clone(), Some(b.clone()))?;
        let (wv, bv) = (w.flatten_all()?.to_vec1::<f64>()?, b.to_vec1::<f64>()?);
        for dims in [vec![inp], vec![4, inp], vec![2, 3, inp], vec![2, 2, 3, inp]] {
            let x = Tensor::randn(0f64, 1.0, dims.clone(), &dev)?;
            let y = lin.forward(&x)?;
            let mut want_dims = dims.clone();
            *want_dims.last_mut().unwrap() = out;
            assert_eq!(y.dims(), want_dims.as_slice());
            let want = reference(&x.flatten_all()?.to_vec1::<f64>()?, &wv, &bv, inp, out);
            for (g, w) in y.flatten_all()?.to_vec1::<f64>()?.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12 * (1.0 + w.abs()));
            }
        }
        // A strided rank-3 input gives the same result as its contiguous copy.
        let x = Tensor::randn(0f64, 1.0, (3, 2, inp), &dev)?.transpose(0, 1)?;
        let a = lin.forward(&x)?.flatten_all()?.to_vec1::<f64>()?;
        let c = lin.forward(&x.contiguous()?)?.flatten_all()?.to_vec1::<f64>()?;
        assert_eq!(a, c);
        Ok(())
    }

    #[test]
    fn no_bias_and_errors() -> Result<()> {
        let dev = Device::Cpu;
        let lin = Linear::new(Tensor::ones((2, 3), DType::F32, &dev)?, None)?;
        let y = lin.forward(&Tensor::ones((1, 3), DType::F32, &dev)?)?;
        assert_eq!(y.to_vec2::<f32>()?, vec![vec![3., 3.]]);
        let e = lin.forward(&Tensor::ones((1, 4), DType::F32, &dev)?).unwrap_err().to_string();
        assert!(e.contains("Linear") && e.contains("[1, 4]") && e.contains("[2, 3]"), "{e}");
        assert!(Linear::new(Tensor::ones(3, DType::F32, &dev)?, None).is_err());
        assert!(Linear::new(
            Tensor::ones((2, 3), DType::F32, &dev)?,
            Some(Tensor::ones(3, DType::F32, &dev)?)
        )
        .is_err());
        Ok(())
    }
}
