//! Normalization layers over features: [`LayerNorm`], [`RmsNorm`] (fused kernels of
//! `wick::ops`) and [`GroupNorm`].

use crate::{Init, Module, VarBuilder};
#[cfg(test)]
use wick::DType;
use wick::{Error, Result, Tensor};

/// Layer normalization over the last dim (Ba et al., 2016), as `torch.nn.LayerNorm` with a
/// one-dim `normalized_shape`.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{LayerNorm, Module};
/// let dev = Device::Cpu;
/// let ln = LayerNorm::new(Tensor::new(&[1f32, 1.], &dev)?, Some(Tensor::new(&[0f32, 0.], &dev)?), 1e-5)?;
/// let y = ln.forward(&Tensor::new(&[[1f32, 3.]], &dev)?)?.to_vec2::<f32>()?;
/// assert!((y[0][0] + 1.0).abs() < 1e-4 && (y[0][1] - 1.0).abs() < 1e-4);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

fn check_rank1(op: &'static str, t: &Tensor) -> Result<usize> {
    t.dims1().map_err(|_| Error::RankMismatch { op, expected: 1, shape: t.shape().clone() })
}

impl LayerNorm {
    /// A layer norm with a `(d,)` weight, an optional `(d,)` bias and `eps`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, eps: f64) -> Result<Self> {
        let d = check_rank1("LayerNorm::new", &weight)?;
        if let Some(b) = &bias {
            if b.dims() != [d] {
                return Err(Error::shape_mismatch(
                    "LayerNorm::new",
                    weight.shape(),
                    b.shape(),
                    "weight and bias differ",
                ));
            }
        }
        Ok(LayerNorm { weight, bias, eps })
    }
    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        wick::ops::layer_norm(xs, &self.weight, self.bias.as_ref(), self.eps)
    }
}

/// A [`LayerNorm`] reading `weight` (init 1) and `bias` (init 0) of shape `(size,)` from `vb`.
pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let w = vb.get_with_init(size, "weight", Init::Const(1.0))?;
    let b = vb.get_with_init(size, "bias", Init::Const(0.0))?;
    LayerNorm::new(w, Some(b), eps)
}

/// A [`LayerNorm`] without bias, reading `weight` from `vb`.
pub fn layer_norm_no_bias(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    LayerNorm::new(vb.get_with_init(size, "weight", Init::Const(1.0))?, None, eps)
}

/// RMS normalization over the last dim (Zhang & Sennrich, 2019), as `torch.nn.RMSNorm` and
/// Llama's `LlamaRMSNorm`.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// An RMS norm with a `(d,)` weight and `eps`.
    pub fn new(weight: Tensor, eps: f64) -> Result<Self> {
        check_rank1("RmsNorm::new", &weight)?;
        Ok(RmsNorm { weight, eps })
    }
    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for RmsNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        wick::ops::rms_norm(xs, &self.weight, self.eps)
    }
}

/// An [`RmsNorm`] reading `weight` (init 1) of shape `(size,)` from `vb`.
pub fn rms_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<RmsNorm> {
    RmsNorm::new(vb.get_with_init(size, "weight", Init::Const(1.0))?, eps)
}

/// Group normalization (Wu & He, 2018) of `(n, c, ..)` inputs, as `torch.nn.GroupNorm`: the
/// channels are split into `groups`, each normalized over its channels and all positions,
/// then scaled and shifted per channel.
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// A group norm over `weight.len()` channels in `groups` groups.
    pub fn new(weight: Tensor, bias: Tensor, groups: usize, eps: f64) -> Result<Self> {
        let c = check_rank1("GroupNorm::new", &weight)?;
        if bias.dims() != [c] {
            return Err(Error::shape_mismatch(
                "GroupNorm::new",
                weight.shape(),
                bias.shape(),
                "weight and bias differ",
            ));
        }
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(Error::invalid(
                "GroupNorm::new",
                format!("{c} channels do not split into {groups} groups"),
            ));
        }
        Ok(GroupNorm { weight, bias, groups, eps })
    }
}

impl Module for GroupNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let c = self.weight.dims()[0];
        if xs.rank() < 2 || xs.dims()[1] != c {
            return Err(Error::shape_mismatch(
                "GroupNorm",
                xs.shape(),
                self.weight.shape(),
                format!("the input must be (n, {c}, ..)"),
            ));
        }
        let n = xs.dims()[0];
        let per_group = xs.elem_count() / n.max(1) / self.groups;
        if per_group == 0 {
            return Ok(xs.clone());
        }
        // Each (sample, group) is one row of a layer norm with unit weight: the fused kernel.
        let ones = Tensor::ones(per_group, xs.dtype(), xs.device())?;
        let normed = wick::ops::layer_norm(&xs.reshape((n, self.groups, per_group))?, &ones, None, self.eps)?;
        let mut bshape = vec![1usize; xs.rank()];
        bshape[1] = c;
        let w = self.weight.reshape(bshape.clone())?;
        let b = self.bias.reshape(bshape)?;
        normed.reshape(xs.shape())?.mul(&w)?.add(&b)
    }
}

/// A [`GroupNorm`] reading `weight` (init 1) and `bias` (init 0) of shape `(channels,)`.
pub fn group_norm(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<GroupNorm> {
    let w = vb.get_with_init(channels, "weight", Init::Const(1.0))?;
    let b = vb.get_with_init(channels, "bias", Init::Const(0.0))?;
    GroupNorm::new(w, b, groups, eps)
}

/// Per-channel shape `(1, c, 1, ..)` for an input of `rank`.
pub(crate) fn channel_shape(rank: usize, c: usize) -> Vec<usize> {
    let mut s = vec![1usize; rank];
    s[1] = c;
    s
}

/// Mean and population variance of `(n, c, ..)` per channel, as `(c,)` f64 vectors; used by
/// tests as a scalar reference.
#[cfg(test)]
pub(crate) fn channel_stats(x: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
    let dims = x.dims().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let inner: usize = dims[2..].iter().product();
    let v = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let vals: Vec<f64> =
            (0..n).flat_map(|s| (0..inner).map(move |i| (s * c + ch) * inner + i)).map(|i| v[i]).collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        mean[ch] = m;
        var[ch] = vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / vals.len() as f64;
    }
    Ok((mean, var))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::Device;

    fn vec(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn group_norm_matches_scalar_loop() -> Result<()> {
        let dev = Device::Cpu;
        let (n, c, h, w, g) = (2, 6, 3, 2, 3);
        let x = Tensor::randn(1f64, 2.0, (n, c, h, w), &dev)?;
        let weight = Tensor::randn(0f64, 1.0, c, &dev)?;
        let bias = Tensor::randn(0f64, 1.0, c, &dev)?;
        let gn = GroupNorm::new(weight.clone(), bias.clone(), g, 1e-5)?;
        let y = vec(&gn.forward(&x)?);
        let (xv, wv, bv) = (vec(&x), vec(&weight), vec(&bias));
        let cg = c / g;
        let inner = h * w;
        for s in 0..n {
            for gi in 0..g {
                let idx: Vec<usize> = (gi * cg..(gi + 1) * cg)
                    .flat_map(|ch| (0..inner).map(move |i| (s * c + ch) * inner + i))
                    .collect();
                let m = idx.iter().map(|&i| xv[i]).sum::<f64>() / idx.len() as f64;
                let var = idx.iter().map(|&i| (xv[i] - m).powi(2)).sum::<f64>() / idx.len() as f64;
                for &i in &idx {
                    let ch = (i / inner) % c;
                    let want = (xv[i] - m) / (var + 1e-5).sqrt() * wv[ch] + bv[ch];
                    assert!((y[i] - want).abs() < 1e-10, "{} vs {want}", y[i]);
                }
            }
        }
        assert!(gn.forward(&Tensor::zeros((2, 4, 3), DType::F64, &dev)?).is_err());
        assert!(GroupNorm::new(weight.clone(), bias, 4, 1e-5).is_err());
        Ok(())
    }

    #[test]
    fn layer_and_rms_norm_match_definitions() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f64, 1.0, (3, 5), &dev)?;
        let w = Tensor::randn(0f64, 1.0, 5, &dev)?;
        let b = Tensor::randn(0f64, 1.0, 5, &dev)?;
        let (xv, wv, bv) = (vec(&x), vec(&w), vec(&b));
        let ln = vec(&LayerNorm::new(w.clone(), Some(b.clone()), 1e-6)?.forward(&x)?);
        let rms = vec(&RmsNorm::new(w.clone(), 1e-6)?.forward(&x)?);
        for r in 0..3 {
            let row = &xv[r * 5..r * 5 + 5];
            let m = row.iter().sum::<f64>() / 5.0;
            let var = row.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 5.0;
            let ms = row.iter().map(|v| v * v).sum::<f64>() / 5.0;
            for i in 0..5 {
                let want = (row[i] - m) / (var + 1e-6).sqrt() * wv[i] + bv[i];
                assert!((ln[r * 5 + i] - want).abs() < 1e-10);
                let want = row[i] / (ms + 1e-6).sqrt() * wv[i];
                assert!((rms[r * 5 + i] - want).abs() < 1e-10);
            }
        }
        assert!(LayerNorm::new(w.clone(), Some(Tensor::zeros(4, DType::F64, &dev)?), 1e-5).is_err());
        assert!(RmsNorm::new(x, 1e-5).is_err());
        Ok(())
    }
}
