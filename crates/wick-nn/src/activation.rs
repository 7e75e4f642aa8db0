//! [`Activation`]: the pointwise nonlinearities of model configs, and [`Dropout`].

use crate::{Module, ModuleT};
use wick::{Error, Result, Tensor, D};

/// A pointwise activation, named as in Hugging Face `config.json` files when deserialized.
///
/// Careful with GELU: Hugging Face's `"gelu"` is the exact (erf) GELU, [`Activation::GeluErf`];
/// `"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"` and `"gelu_tanh"` are the tanh
/// approximation, [`Activation::GeluTanh`].
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{Activation, Module};
/// let act: Activation = "swish".parse()?;
/// assert_eq!(act, Activation::Silu);
/// let y = Activation::Relu.forward(&Tensor::new(&[-1f32, 2.], &Device::Cpu)?)?;
/// assert_eq!(y.to_vec1::<f32>()?, vec![0., 2.]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `max(x, 0)` (`"relu"`).
    Relu,
    /// `min(max(x, 0), 6)` (`"relu6"`).
    Relu6,
    /// Exact GELU, `x · Φ(x)` with the erf (`"gelu"`).
    GeluErf,
    /// GELU, tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`, `"gelu_tanh"`).
    GeluTanh,
    /// `x · σ(1.702 x)` (`"quick_gelu"`, CLIP).
    QuickGelu,
    /// `x · σ(x)` (`"silu"`, `"swish"`).
    Silu,
    /// `σ(x)` (`"sigmoid"`).
    Sigmoid,
    /// `tanh(x)` (`"tanh"`).
    Tanh,
    /// `x` if `x > 0` else `slope · x` (`"leaky_relu"`, slope 0.01).
    LeakyRelu(f64),
    /// `x` if `x > 0` else `alpha · (e^x − 1)` (`"elu"`, alpha 1).
    Elu(f64),
    /// SwiGLU on the last dim split in halves `[a, b]`: `silu(a) · b` (`"swiglu"`).
    Swiglu,
    /// `x` (`"linear"`, `"identity"`).
    Identity,
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "gelu" | "gelu_erf" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_tanh" => Activation::GeluTanh,
            "quick_gelu" => Activation::QuickGelu,
            "silu" | "swish" => Activation::Silu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "leaky_relu" => Activation::LeakyRelu(0.01),
            "elu" => Activation::Elu(1.0),
            "swiglu" => Activation::Swiglu,
            "linear" | "identity" => Activation::Identity,
            other => {
                return Err(Error::invalid(
                    "Activation",
                    format!(
                    "unknown activation {other:?} (known: relu, relu6, gelu, gelu_new, gelu_pytorch_tanh, \
                         gelu_fast, gelu_tanh, quick_gelu, silu, swish, sigmoid, tanh, leaky_relu, elu, \
                         swiglu, linear)"
                ),
                ))
            }
        })
    }
}

impl<'de> serde::Deserialize<'de> for Activation {
    fn deserialize<De: serde::Deserializer<'de>>(d: De) -> std::result::Result<Self, De::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Relu => xs.relu(),
            Activation::Relu6 => xs.clamp(0f64, 6f64),
            Activation::GeluErf => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::QuickGelu => xs.mul(&xs.affine(1.702, 0.0)?.sigmoid()?),
            Activation::Silu => xs.silu(),
            Activation::Sigmoid => xs.sigmoid(),
            Activation::Tanh => xs.tanh(),
            Activation::LeakyRelu(slope) => {
                let zero = xs.zeros_like()?;
                xs.gt(&zero)?.where_cond(xs, &xs.affine(slope, 0.0)?)
            }
            Activation::Elu(alpha) => {
                let zero = xs.zeros_like()?;
                let neg = xs.minimum(&zero)?.exp()?.affine(alpha, -alpha)?;
                xs.gt(&zero)?.where_cond(xs, &neg)
            }
            Activation::Swiglu => {
                let d = xs.dims().last().copied().unwrap_or(0);
                if !d.is_multiple_of(2) || xs.rank() == 0 {
                    return Err(Error::invalid(
                        "swiglu",
                        format!("the last dim of {:?} must be even", xs.shape()),
                    ));
                }
                let a = xs.narrow(D::Minus1, 0, d / 2)?;
                let b = xs.narrow(D::Minus1, d / 2, d / 2)?;
                a.silu()?.mul(&b)
            }
            Activation::Identity => Ok(xs.clone()),
        }
    }
}

/// Dropout (Srivastava et al., 2014): in training, zeroes each element with probability `p`
/// and scales the others by `1 / (1 − p)`; the identity in inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Dropout with drop probability `p` in `[0, 1)`.
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("Dropout::new", format!("p = {p} must be in [0, 1)")));
        }
        Ok(Dropout { p })
    }
}

impl ModuleT for Dropout {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.p == 0.0 {
            return Ok(xs.clone());
        }
        let keep = xs.rand_like(0.0, 1.0)?.ge(self.p)?.to_dtype(xs.dtype())?;
        xs.mul(&keep)?.affine(1.0 / (1.0 - self.p), 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::{DType, Device};

    fn apply(a: Activation, x: &[f64]) -> Vec<f64> {
        let t = Tensor::new(x, &Device::Cpu).unwrap();
        a.forward(&t).unwrap().to_vec1::<f64>().unwrap()
    }

    fn erf(x: f64) -> f64 {
        // Abramowitz & Stegun 7.1.26 is too coarse; integrate instead (Simpson, 2000 steps).
        let n = 2000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn activations_match_formulas() {
        let xs = [-3.0, -1.0, -0.1, 0.0, 0.5, 2.0, 7.0];
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        type Formula = Box<dyn Fn(f64) -> f64>;
        let cases: Vec<(Activation, Formula)> = vec![
            (Activation::Relu, Box::new(|x: f64| x.max(0.0))),
            (Activation::Relu6, Box::new(|x: f64| x.clamp(0.0, 6.0))),
            (Activation::GeluErf, Box::new(|x: f64| 0.5 * x * (1.0 + erf(x / 2f64.sqrt())))),
            (
                Activation::GeluTanh,
                Box::new(|x: f64| {
                    0.5 * x
                        * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
                }),
            ),
            (Activation::QuickGelu, Box::new(move |x: f64| x * sig(1.702 * x))),
            (Activation::Silu, Box::new(move |x: f64| x * sig(x))),
            (Activation::Sigmoid, Box::new(sig)),
            (Activation::Tanh, Box::new(|x: f64| x.tanh())),
            (Activation::LeakyRelu(0.2), Box::new(|x: f64| if x > 0.0 { x } else { 0.2 * x })),
            (Activation::Elu(1.5), Box::new(|x: f64| if x > 0.0 { x } else { 1.5 * (x.exp() - 1.0) })),
            (Activation::Identity, Box::new(|x: f64| x)),
        ];
        for (a, f) in cases {
            for (g, &x) in apply(a, &xs).iter().zip(&xs) {
                assert!((g - f(x)).abs() < 1e-9, "{a:?}({x}) = {g}, want {}", f(x));
            }
        }
        let y =
            Activation::Swiglu.forward(&Tensor::new(&[[1f64, -2., 3., 4.]], &Device::Cpu).unwrap()).unwrap();
        let y = y.to_vec2::<f64>().unwrap();
        assert!((y[0][0] - sig(1.0) * 3.0).abs() < 1e-12 && (y[0][1] + 2.0 * sig(-2.0) * 4.0).abs() < 1e-12);
    }

    #[test]
    fn hugging_face_names() {
        let parse = |s: &str| serde_json::from_str::<Activation>(s);
        assert_eq!(parse("\"gelu\"").unwrap(), Activation::GeluErf);
        assert_eq!(parse("\"gelu_new\"").unwrap(), Activation::GeluTanh);
        assert_eq!(parse("\"gelu_pytorch_tanh\"").unwrap(), Activation::GeluTanh);
        assert_eq!(parse("\"swish\"").unwrap(), Activation::Silu);
        assert_eq!(parse("\"silu\"").unwrap(), Activation::Silu);
        assert_eq!(parse("\"relu\"").unwrap(), Activation::Relu);
        let e = parse("\"gelu2\"").unwrap_err().to_string();
        assert!(e.contains("gelu2") && e.contains("known"), "{e}");
    }

    #[test]
    fn dropout_scales_and_drops() -> Result<()> {
        let dev = Device::Cpu;
        let d = Dropout::new(0.25)?;
        let x = Tensor::ones(40_000, DType::F32, &dev)?;
        assert_eq!(d.forward_t(&x, false)?.to_vec1::<f32>()?, x.to_vec1::<f32>()?);
        let y = d.forward_t(&x, true)?.to_vec1::<f32>()?;
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        assert!((kept - 0.75).abs() < 0.02, "{kept}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        assert!(Dropout::new(1.0).is_err() && Dropout::new(-0.1).is_err());
        Ok(())
    }
}
