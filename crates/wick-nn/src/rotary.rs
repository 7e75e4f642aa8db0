//! [`RotaryEmbedding`]: rotary position embeddings (Su et al., 2021, "RoFormer") with
//! precomputed cos/sin tables, applied by the fused kernels `wick::ops::rope` /
//! `wick::ops::rope_interleaved`.

use wick::{DType, Device, Error, Result, Tensor};

/// Which elements of a head form the rotated pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs `(i, i + d/2)`: Hugging Face Llama/Mistral/Qwen (`rotate_half`), GPT-NeoX.
    HalfSplit,
    /// Pairs `(2i, 2i + 1)`: GPT-J and Meta's original Llama code.
    Interleaved,
}

/// Cos/sin tables for positions `0..max_positions`, each `(max_positions, head_dim / 2)`, with
/// frequencies `θ_i = base^(−2i / head_dim)`.
///
/// ```
/// use wick::{DType, Device, Tensor};
/// use wick_nn::{RopeLayout, RotaryEmbedding};
/// let dev = Device::Cpu;
/// let rope = RotaryEmbedding::new(10_000.0, 8, 64, RopeLayout::HalfSplit, DType::F32, &dev)?;
/// let q = Tensor::randn(0f32, 1.0, (1, 4, 3, 8), &dev)?; // (batch, heads, seq, head_dim)
/// let k = Tensor::randn(0f32, 1.0, (1, 2, 3, 8), &dev)?;
/// let (q, k) = rope.apply(&q, &k, 5)?; // positions 5, 6, 7
/// assert_eq!(q.dims(), &[1, 4, 3, 8]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    cos: Tensor,
    sin: Tensor,
    head_dim: usize,
    layout: RopeLayout,
}

impl RotaryEmbedding {
    /// Tables for `head_dim` (even) and positions `0..max_positions`, in `dtype`. The angles
    /// are computed in f64 and rounded once.
    pub fn new(
        base: f64,
        head_dim: usize,
        max_positions: usize,
        layout: RopeLayout,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        const OP: &str = "RotaryEmbedding::new";
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(Error::invalid(OP, format!("head_dim {head_dim} must be even and positive")));
        }
        if !(base.is_finite() && base > 0.0) {
            return Err(Error::invalid(OP, format!("base {base} must be finite and positive")));
        }
        let half = head_dim / 2;
        let inv_freq: Vec<f64> = (0..half).map(|i| base.powf(-((2 * i) as f64) / head_dim as f64)).collect();
        Self::from_inv_freq(&inv_freq, max_positions, layout, dtype, device)
    }

    /// Tables from given inverse frequencies (`head_dim / 2` of them), e.g. after a
    /// model-specific rescaling such as Llama 3's.
    pub fn from_inv_freq(
        inv_freq: &[f64],
        max_positions: usize,
        layout: RopeLayout,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        const OP: &str = "RotaryEmbedding::from_inv_freq";
        if inv_freq.is_empty() {
            return Err(Error::invalid(OP, "no frequency given"));
        }
        if !dtype.is_float() {
            return Err(Error::unsupported_dtype(OP, dtype, "the tables need a float dtype"));
        }
        let half = inv_freq.len();
        let n = max_positions
            .checked_mul(half)
            .ok_or_else(|| Error::overflow(OP, format!("{max_positions} positions x {half} frequencies")))?;
        let mut cos = Vec::with_capacity(n);
        let mut sin = Vec::with_capacity(n);
        for p in 0..max_positions {
            for &f in inv_freq {
                let a = p as f64 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (max_positions, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (max_positions, half), device)?.to_dtype(dtype)?;
        Ok(RotaryEmbedding { cos, sin, head_dim: 2 * half, layout })
    }

    /// The `(max_positions, head_dim / 2)` cosine table.
    pub fn cos(&self) -> &Tensor {
        &self.cos
    }

    /// The `(max_positions, head_dim / 2)` sine table.
    pub fn sin(&self) -> &Tensor {
        &self.sin
    }

    /// The number of positions the tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// The pair layout.
    pub fn layout(&self) -> RopeLayout {
        self.layout
    }

    /// Rotates one `(batch, heads, seq, head_dim)` tensor whose first position is `offset`.
    pub fn apply_one(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        const OP: &str = "RotaryEmbedding::apply";
        let (_, _, t, d) =
            x.dims4().map_err(|_| Error::RankMismatch { op: OP, expected: 4, shape: x.shape().clone() })?;
        if d != self.head_dim {
            return Err(Error::invalid(OP, format!("head_dim of {:?} is not {}", x.shape(), self.head_dim)));
        }
        let end = offset.checked_add(t).filter(|&e| e <= self.max_positions()).ok_or_else(|| {
            Error::invalid(
                OP,
                format!("positions {offset}..{offset}+{t} exceed the {} precomputed", self.max_positions()),
            )
        })?;
        let (cos, sin) =
            (self.cos.narrow(0, offset, end - offset)?, self.sin.narrow(0, offset, end - offset)?);
        let (cos, sin) = if x.dtype() == cos.dtype() {
            (cos, sin)
        } else {
            (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?)
        };
        match self.layout {
            RopeLayout::HalfSplit => wick::ops::rope(x, &cos, &sin),
            RopeLayout::Interleaved => wick::ops::rope_interleaved(x, &cos, &sin),
        }
    }

    /// Rotates queries and keys (each `(batch, heads, seq, head_dim)`, head counts may differ)
    /// whose first position is `offset`.
    pub fn apply(&self, q: &Tensor, k: &Tensor, offset: usize) -> Result<(Tensor, Tensor)> {
        Ok((self.apply_one(q, offset)?, self.apply_one(k, offset)?))
    }
}

/// Llama 3's rescaled inverse frequencies (`rope_type: "llama3"` in Hugging Face configs):
/// wavelengths longer than `original_max_positions / low_freq_factor` are divided by
/// `factor`, those shorter than `original_max_positions / high_freq_factor` kept, and the
/// band between interpolated smoothly. Feed the result to [`RotaryEmbedding::from_inv_freq`].
///
/// ```
/// use wick_nn::rotary::llama3_inv_freq;
/// let f = llama3_inv_freq(500_000.0, 64, 32.0, 1.0, 4.0, 8192)?;
/// assert_eq!(f.len(), 32);
/// assert_eq!(f[0], 1.0); // the highest frequency is kept
/// # Ok::<(), wick::Error>(())
/// ```
pub fn llama3_inv_freq(
    base: f64,
    head_dim: usize,
    factor: f64,
    low_freq_factor: f64,
    high_freq_factor: f64,
    original_max_positions: usize,
) -> Result<Vec<f64>> {
    const OP: &str = "llama3_inv_freq";
    if head_dim == 0 || !head_dim.is_multiple_of(2) || !(base.is_finite() && base > 0.0) {
        return Err(Error::invalid(OP, format!("head_dim {head_dim} must be even and base {base} positive")));
    }
    if !(factor > 0.0 && low_freq_factor > 0.0 && high_freq_factor > low_freq_factor) {
        return Err(Error::invalid(
            OP,
            format!("need factor {factor} > 0 and high_freq_factor {high_freq_factor} > low_freq_factor {low_freq_factor} > 0"),
        ));
    }
    let old = original_max_positions as f64;
    let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
    Ok((0..head_dim / 2)
        .map(|i| {
            let f = base.powf(-((2 * i) as f64) / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / f;
            if wavelen < high_wavelen {
                f
            } else if wavelen > low_wavelen {
                f / factor
            } else {
                let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                (1.0 - smooth) * f / factor + smooth * f
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotation of pairs by angle p·θ_i, from the definition.
    fn reference(x: &[f64], t: usize, d: usize, offset: usize, base: f64, interleaved: bool) -> Vec<f64> {
        let mut out = x.to_vec();
        for (r, row) in x.chunks(d).enumerate() {
            let p = (r % t + offset) as f64;
            for i in 0..d / 2 {
                let a = p * base.powf(-(2.0 * i as f64) / d as f64);
                let (ia, ib) = if interleaved { (2 * i, 2 * i + 1) } else { (i, i + d / 2) };
                out[r * d + ia] = row[ia] * a.cos() - row[ib] * a.sin();
                out[r * d + ib] = row[ia] * a.sin() + row[ib] * a.cos();
            }
        }
        out
    }

    #[test]
    fn both_layouts_match_definition_at_offsets() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, t, d) = (2, 3, 4, 8);
        for (layout, inter) in [(RopeLayout::HalfSplit, false), (RopeLayout::Interleaved, true)] {
            let rope = RotaryEmbedding::new(500.0, d, 16, layout, DType::F64, &dev)?;
            let x = Tensor::randn(0f64, 1.0, (b, h, t, d), &dev)?;
            for offset in [0, 3, 12] {
                let y = rope.apply_one(&x, offset)?.flatten_all()?.to_vec1::<f64>()?;
                let want = reference(&x.flatten_all()?.to_vec1::<f64>()?, t, d, offset, 500.0, inter);
                for (g, w) in y.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-12, "{layout:?} {offset}: {g} vs {w}");
                }
            }
            let e = rope.apply_one(&x, 13).unwrap_err().to_string();
            assert!(e.contains("13") && e.contains("16"), "{e}");
            // f32 input with f64 tables is converted.
            let y32 = rope.apply_one(&x.to_dtype(DType::F32)?, 1)?;
            assert_eq!(y32.dtype(), DType::F32);
        }
        assert!(RotaryEmbedding::new(1e4, 7, 4, RopeLayout::HalfSplit, DType::F32, &dev).is_err());
        assert!(RotaryEmbedding::new(1e4, 8, 4, RopeLayout::HalfSplit, DType::U32, &dev).is_err());
        Ok(())
    }

    /// Rotary makes q·k depend only on the distance between positions.
    #[test]
    fn scores_depend_on_relative_position() -> Result<()> {
        let dev = Device::Cpu;
        let rope = RotaryEmbedding::new(10_000.0, 16, 64, RopeLayout::HalfSplit, DType::F64, &dev)?;
        let q = Tensor::randn(0f64, 1.0, (1, 1, 1, 16), &dev)?;
        let k = Tensor::randn(0f64, 1.0, (1, 1, 1, 16), &dev)?;
        let dot = |pq: usize, pk: usize| -> Result<f64> {
            let a = rope.apply_one(&q, pq)?.flatten_all()?;
            let b = rope.apply_one(&k, pk)?.flatten_all()?;
            a.mul(&b)?.sum_all()?.to_scalar::<f64>()
        };
        assert!((dot(5, 2)? - dot(40, 37)?).abs() < 1e-10);
        Ok(())
    }
}
