//! Convolution layers over `(n, c, l)` and `(n, c, h, w)` inputs, as `torch.nn.Conv1d`,
//! `Conv2d`, `ConvTranspose1d` and `ConvTranspose2d` (weights in PyTorch's layout).

use crate::linear::{default_bias_init, default_weight_init};
use crate::{Module, VarBuilder};
use wick::{Error, Result, Tensor};

/// Options of [`Conv1d`] and [`Conv2d`] (the same for both spatial dims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvConfig {
    /// Zero padding on each side. Default 0.
    pub padding: usize,
    /// Step between windows. Default 1.
    pub stride: usize,
    /// Spacing between kernel taps. Default 1.
    pub dilation: usize,
    /// Channel groups (`in` and `out` both divisible by it). Default 1.
    pub groups: usize,
}

impl Default for ConvConfig {
    fn default() -> Self {
        ConvConfig { padding: 0, stride: 1, dilation: 1, groups: 1 }
    }
}

/// Options of [`ConvTranspose1d`] and [`ConvTranspose2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTransposeConfig {
    /// Implicit padding removed from each side of the output. Default 0.
    pub padding: usize,
    /// Extra size added to one side of the output. Default 0.
    pub output_padding: usize,
    /// Stride of the matching forward convolution. Default 1.
    pub stride: usize,
    /// Spacing between kernel taps. Default 1.
    pub dilation: usize,
    /// Channel groups. Default 1.
    pub groups: usize,
}

impl Default for ConvTransposeConfig {
    fn default() -> Self {
        ConvTransposeConfig { padding: 0, output_padding: 0, stride: 1, dilation: 1, groups: 1 }
    }
}

fn check_bias(op: &'static str, weight: &Tensor, bias: &Option<Tensor>, out: usize) -> Result<()> {
    match bias {
        Some(b) if b.dims() != [out] => Err(Error::shape_mismatch(
            op,
            weight.shape(),
            b.shape(),
            format!("the bias must have shape [{out}], the output channels"),
        )),
        _ => Ok(()),
    }
}

/// Adds a `(c,)` bias over dim 1 of `y`.
fn add_bias(y: Tensor, bias: &Option<Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => {
            let mut shape = vec![1usize; y.rank()];
            shape[1] = b.dims()[0];
            y.add(&b.reshape(shape)?)
        }
        None => Ok(y),
    }
}

/// Runs `f` on a batched input; an unbatched `(c, ..)` input (rank `rank - 1`) gets a batch
/// dim of 1 added and removed, as in PyTorch.
fn batched(xs: &Tensor, rank: usize, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if xs.rank() + 1 == rank {
        f(&xs.unsqueeze(0)?)?.squeeze(0)
    } else {
        f(xs)
    }
}

macro_rules! conv_layer {
    ($(#[$doc:meta])* $name:ident, $cfg:ty, $rank:expr, $out_dim:expr, |$s:ident, $x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            weight: Tensor,
            bias: Option<Tensor>,
            cfg: $cfg,
        }

        impl $name {
            /// A layer over a weight in PyTorch's layout, an optional `(out_channels,)` bias
            /// and `cfg`.
            pub fn new(weight: Tensor, bias: Option<Tensor>, cfg: $cfg) -> Result<Self> {
                const OP: &str = concat!(stringify!($name), "::new");
                if weight.rank() != $rank {
                    return Err(Error::RankMismatch { op: OP, expected: $rank, shape: weight.shape().clone() });
                }
                if cfg.groups == 0 || cfg.stride == 0 || cfg.dilation == 0 {
                    return Err(Error::invalid(OP, format!("{cfg:?}: groups, stride and dilation must be positive")));
                }
                let out: usize = ($out_dim)(&weight, &cfg);
                check_bias(OP, &weight, &bias, out)?;
                Ok($name { weight, bias, cfg })
            }
            /// The weight.
            pub fn weight(&self) -> &Tensor {
                &self.weight
            }
            /// The bias, if any.
            pub fn bias(&self) -> Option<&Tensor> {
                self.bias.as_ref()
            }
            /// The configuration.
            pub fn config(&self) -> &$cfg {
                &self.cfg
            }
        }

        impl Module for $name {
            fn forward(&self, xs: &Tensor) -> Result<Tensor> {
                let y = batched(xs, $rank, |$x| {
                    let $s = self;
                    add_bias($body?, &self.bias)
                })?;
                Ok(y)
            }
        }
    };
}

conv_layer!(
    /// 1d convolution: weight `(out, in / groups, k)`, input `(n, in, l)` or `(in, l)`.
    Conv1d, ConvConfig, 3, |w: &Tensor, _c: &ConvConfig| w.dims()[0],
    |s, x| { let c = s.cfg; x.conv1d(&s.weight, c.padding, c.stride, c.dilation, c.groups) }
);
conv_layer!(
    /// 2d convolution: weight `(out, in / groups, kh, kw)`, input `(n, in, h, w)` or `(in, h, w)`.
    Conv2d, ConvConfig, 4, |w: &Tensor, _c: &ConvConfig| w.dims()[0],
    |s, x| { let c = s.cfg; x.conv2d(&s.weight, c.padding, c.stride, c.dilation, c.groups) }
);
conv_layer!(
    /// Transposed 1d convolution: weight `(in, out / groups, k)`, input `(n, in, l)`.
    ConvTranspose1d, ConvTransposeConfig, 3, |w: &Tensor, c: &ConvTransposeConfig| w.dims()[1] * c.groups,
    |s, x| {
        let c = s.cfg;
        x.conv_transpose1d(&s.weight, c.padding, c.output_padding, c.stride, c.dilation, c.groups)
    }
);
conv_layer!(
    /// Transposed 2d convolution: weight `(in, out / groups, kh, kw)`, input `(n, in, h, w)`.
    ConvTranspose2d, ConvTransposeConfig, 4, |w: &Tensor, c: &ConvTransposeConfig| w.dims()[1] * c.groups,
    |s, x| {
        let c = s.cfg;
        x.conv_transpose2d(&s.weight, c.padding, c.output_padding, c.stride, c.dilation, c.groups)
    }
);

fn check_groups(op: &'static str, a: usize, b: usize, groups: usize) -> Result<()> {
    if groups == 0 || !a.is_multiple_of(groups) || !b.is_multiple_of(groups) {
        return Err(Error::invalid(
            op,
            format!("channels {a} and {b} must both be divisible by groups = {groups}"),
        ));
    }
    Ok(())
}

fn weight_and_bias(
    vb: &VarBuilder,
    shape: Vec<usize>,
    fan_in: usize,
    out: usize,
    bias: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let w = vb.get_with_init(shape, "weight", default_weight_init())?;
    let b = if bias { Some(vb.get_with_init(out, "bias", default_bias_init(fan_in))?) } else { None };
    Ok((w, b))
}

/// A [`Conv1d`] reading `weight` `(out, in / groups, k)` and `bias` `(out,)` from `vb`.
pub fn conv1d(
    inp: usize,
    out: usize,
    k: usize,
    cfg: ConvConfig,
    bias: bool,
    vb: VarBuilder,
) -> Result<Conv1d> {
    check_groups("conv1d", inp, out, cfg.groups)?;
    let (w, b) = weight_and_bias(&vb, vec![out, inp / cfg.groups, k], inp / cfg.groups * k, out, bias)?;
    Conv1d::new(w, b, cfg)
}

/// A [`Conv2d`] reading `weight` `(out, in / groups, k, k)` and `bias` `(out,)` from `vb`.
pub fn conv2d(
    inp: usize,
    out: usize,
    k: usize,
    cfg: ConvConfig,
    bias: bool,
    vb: VarBuilder,
) -> Result<Conv2d> {
    check_groups("conv2d", inp, out, cfg.groups)?;
    let (w, b) =
        weight_and_bias(&vb, vec![out, inp / cfg.groups, k, k], inp / cfg.groups * k * k, out, bias)?;
    Conv2d::new(w, b, cfg)
}

/// A [`ConvTranspose1d`] reading `weight` `(in, out / groups, k)` and `bias` `(out,)`.
pub fn conv_transpose1d(
    inp: usize,
    out: usize,
    k: usize,
    cfg: ConvTransposeConfig,
    bias: bool,
    vb: VarBuilder,
) -> Result<ConvTranspose1d> {
    check_groups("conv_transpose1d", inp, out, cfg.groups)?;
    let (w, b) = weight_and_bias(&vb, vec![inp, out / cfg.groups, k], out / cfg.groups * k, out, bias)?;
    ConvTranspose1d::new(w, b, cfg)
}

/// A [`ConvTranspose2d`] reading `weight` `(in, out / groups, k, k)` and `bias` `(out,)`.
pub fn conv_transpose2d(
    inp: usize,
    out: usize,
    k: usize,
    cfg: ConvTransposeConfig,
    bias: bool,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    check_groups("conv_transpose2d", inp, out, cfg.groups)?;
    let (w, b) =
        weight_and_bias(&vb, vec![inp, out / cfg.groups, k, k], out / cfg.groups * k * k, out, bias)?;
    ConvTranspose2d::new(w, b, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::{DType, Device};

    /// Direct 1d convolution with groups, stride, padding, dilation and bias.
    #[allow(clippy::too_many_arguments)]
    fn conv1d_ref(
        x: &[f64],
        w: &[f64],
        b: &[f64],
        n: usize,
        cin: usize,
        l: usize,
        cout: usize,
        k: usize,
        c: ConvConfig,
    ) -> Vec<f64> {
        let cig = cin / c.groups;
        let cog = cout / c.groups;
        let lout = (l + 2 * c.padding - c.dilation * (k - 1) - 1) / c.stride + 1;
        let mut y = vec![0.0; n * cout * lout];
        for s in 0..n {
            for o in 0..cout {
                let g = o / cog;
                for p in 0..lout {
                    let mut acc = b[o];
                    for ci in 0..cig {
                        for t in 0..k {
                            let pos = (p * c.stride + t * c.dilation) as i64 - c.padding as i64;
                            if pos >= 0 && (pos as usize) < l {
                                acc += x[(s * cin + g * cig + ci) * l + pos as usize]
                                    * w[(o * cig + ci) * k + t];
                            }
                        }
                    }
                    y[(s * cout + o) * lout + p] = acc;
                }
            }
        }
        y
    }

    fn vec(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn conv1d_matches_direct_loop() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = ConvConfig { padding: 2, stride: 2, dilation: 2, groups: 2 };
        let (n, cin, l, cout, k) = (2, 4, 9, 6, 3);
        let x = Tensor::randn(0f64, 1.0, (n, cin, l), &dev)?;
        let w = Tensor::randn(0f64, 1.0, (cout, cin / 2, k), &dev)?;
        let b = Tensor::randn(0f64, 1.0, cout, &dev)?;
        let conv = Conv1d::new(w.clone(), Some(b.clone()), cfg)?;
        let y = conv.forward(&x)?;
        let want = conv1d_ref(&vec(&x), &vec(&w), &vec(&b), n, cin, l, cout, k, cfg);
        for (g, w) in vec(&y).iter().zip(&want) {
            assert!((g - w).abs() < 1e-10);
        }
        // Unbatched input.
        let y0 = conv.forward(&x.get(0)?)?;
        assert_eq!(vec(&y0), vec(&y.get(0)?));
        assert!(Conv1d::new(w.clone(), Some(Tensor::zeros(5, DType::F64, &dev)?), cfg).is_err());
        assert!(Conv1d::new(w, None, ConvConfig { stride: 0, ..cfg }).is_err());
        Ok(())
    }

    /// A transposed convolution is the adjoint of the convolution: <conv(x), y> = <x, convT(y)>.
    #[test]
    fn conv_transpose_is_adjoint_of_conv() -> Result<()> {
        let dev = Device::Cpu;
        let (cin, cout, k) = (4, 6, 3);
        let cfg = ConvConfig { padding: 1, stride: 2, dilation: 1, groups: 2 };
        let w = Tensor::randn(0f64, 1.0, (cout, cin / 2, k, k), &dev)?;
        let x = Tensor::randn(0f64, 1.0, (1, cin, 7, 7), &dev)?;
        let conv = Conv2d::new(w.clone(), None, cfg)?;
        let y = conv.forward(&x)?;
        let r = Tensor::randn(0f64, 1.0, y.shape(), &dev)?;
        // ConvTranspose2d's weight (in = cout, out/groups = cin/groups, k, k) is the same tensor.
        let tcfg = ConvTransposeConfig { padding: 1, output_padding: 0, stride: 2, dilation: 1, groups: 2 };
        let convt = ConvTranspose2d::new(w, None, tcfg)?;
        let xt = convt.forward(&r)?;
        assert_eq!(xt.dims(), x.dims());
        let lhs: f64 = vec(&y.mul(&r)?).iter().sum();
        let rhs: f64 = vec(&x.mul(&xt)?).iter().sum();
        assert!((lhs - rhs).abs() < 1e-9 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
        Ok(())
    }

    #[test]
    fn builders_make_pytorch_shapes() -> Result<()> {
        let dev = Device::Cpu;
        let vb = VarBuilder::from_tensors(Default::default(), DType::F32, &dev);
        assert!(conv1d(3, 4, 3, ConvConfig { groups: 2, ..Default::default() }, true, vb.clone()).is_err());
        let e = conv2d(3, 4, 3, Default::default(), true, vb.pp("c")).unwrap_err().to_string();
        assert!(e.contains("c.weight"), "{e}");
        Ok(())
    }
}
