//! Scaled dot-product attention (Vaswani et al., 2017) with grouped-query heads (Ainslie et
//! al., 2023) and causal masking aligned for decoding with a KV cache.

use wick::{DType, Error, Result, Tensor, D};

/// `softmax(q kᵀ · scale + mask) v` over `(batch, heads, seq, head_dim)` tensors.
///
/// - `q` is `(b, hq, tq, d)`, `k` is `(b, hkv, tk, d)`, `v` is `(b, hkv, tk, dv)`; `hq` must be a
///   multiple of `hkv` (grouped-query attention: query head `h` reads kv head `h / (hq / hkv)`,
///   as `repeat_interleave` of the kv heads). The kv heads are not copied: each group of query
///   heads is folded into the rows of one product with its kv head.
/// - `mask`, broadcastable to `(b, hq, tq, tk)`: a `U8` mask keeps the positions where it is
///   non-zero (like PyTorch's boolean masks); a float mask of `q`'s dtype is added to the
///   scores.
/// - `causal`: query `i` sees keys `j <= i + (tk − tq)`, i.e. the queries are the *last* `tq`
///   positions, as when decoding with a KV cache (PyTorch's `is_causal` aligns top-left
///   instead; the two agree when `tq == tk`).
/// - `scale` defaults to `1 / sqrt(d)`.
///
/// A row with every key masked gives NaN, as in PyTorch.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::scaled_dot_product_attention;
/// let dev = Device::Cpu;
/// let q = Tensor::randn(0f32, 1.0, (1, 8, 5, 16), &dev)?;
/// let k = Tensor::randn(0f32, 1.0, (1, 2, 5, 16), &dev)?; // 4 query heads per kv head
/// let v = Tensor::randn(0f32, 1.0, (1, 2, 5, 16), &dev)?;
/// let y = scaled_dot_product_attention(&q, &k, &v, None, true, None)?;
/// assert_eq!(y.dims(), &[1, 8, 5, 16]);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    const OP: &str = "scaled_dot_product_attention";
    let rank4 = |t: &Tensor| {
        t.dims4().map_err(|_| Error::RankMismatch { op: OP, expected: 4, shape: t.shape().clone() })
    };
    let (b, hq, tq, d) = rank4(q)?;
    let (bk, hkv, tk, dk) = rank4(k)?;
    let (bv, hv, tv, dv) = rank4(v)?;
    if bk != b || dk != d {
        return Err(Error::shape_mismatch(
            OP,
            q.shape(),
            k.shape(),
            "q and k need the same batch and head_dim",
        ));
    }
    if (bv, hv, tv) != (b, hkv, tk) {
        return Err(Error::shape_mismatch(
            OP,
            k.shape(),
            v.shape(),
            "k and v need the same batch, heads and seq",
        ));
    }
    if hkv == 0 || !hq.is_multiple_of(hkv) {
        return Err(Error::shape_mismatch(
            OP,
            q.shape(),
            k.shape(),
            format!("{hq} query heads are not a multiple of {hkv} kv heads"),
        ));
    }
    if causal && tq > tk {
        return Err(Error::shape_mismatch(OP, q.shape(), k.shape(), "causal attention needs tq <= tk"));
    }
    let group = hq / hkv;
    let scale = scale.unwrap_or(1.0 / (d as f64).sqrt());
    // Scaling q (tq·d values) is cheaper than scaling the scores (tq·tk values). The result is
    // a fresh row-major tensor, so folding the query-head groups into rows is a free view.
    let q = q.affine(scale, 0.0)?.reshape((b, hkv, group * tq, d))?;
    let scores = q.matmul(&k.t()?)?.reshape((b, hq, tq, tk))?;
    let scores = match mask {
        None => scores,
        Some(m) if m.dtype() == DType::U8 => {
            let neg = Tensor::full_dtype(f64::NEG_INFINITY, (), scores.dtype(), scores.device())?;
            m.where_cond(&scores, &neg).map_err(|e| e.context(format!("{OP}: applying the mask")))?
        }
        Some(m) => scores.add(m).map_err(|e| e.context(format!("{OP}: adding the mask")))?,
    };
    let scores = if causal && tq > 1 { scores.add(&causal_mask(tq, tk, &scores)?)? } else { scores };
    let probs = scores.softmax(D::Minus1)?;
    probs.reshape((b, hkv, group * tq, tk))?.matmul(v)?.reshape((b, hq, tq, dv))
}

/// `(tq, tk)` additive mask: 0 where key `j <= i + (tk − tq)`, −∞ elsewhere.
pub fn causal_mask(tq: usize, tk: usize, like: &Tensor) -> Result<Tensor> {
    let offset = tk.saturating_sub(tq);
    let n = tq.checked_mul(tk).ok_or_else(|| Error::overflow("causal_mask", format!("{tq} x {tk} mask")))?;
    let mut m = Vec::with_capacity(n);
    for i in 0..tq {
        for j in 0..tk {
            m.push(if j <= i + offset { 0f32 } else { f32::NEG_INFINITY });
        }
    }
    Tensor::from_vec(m, (tq, tk), like.device())?.to_dtype(like.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::Device;

    /// Attention one query at a time, with explicit kv-head repetition.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, mask: Option<&[Vec<bool>]>) -> Vec<f64> {
        let (b, hq, tq, d) = q.dims4().unwrap();
        let (_, hkv, tk, dv) = v.dims4().unwrap();
        let f = |t: &Tensor| t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        let (qv, kv, vv) = (f(q), f(k), f(v));
        let g = hq / hkv;
        let mut out = vec![0.0; b * hq * tq * dv];
        for bi in 0..b {
            for h in 0..hq {
                let kh = h / g;
                for i in 0..tq {
                    let mut s: Vec<f64> = (0..tk)
                        .map(|j| {
                            let dot: f64 = (0..d)
                                .map(|x| {
                                    qv[((bi * hq + h) * tq + i) * d + x]
                                        * kv[((bi * hkv + kh) * tk + j) * d + x]
                                })
                                .sum();
                            dot / (d as f64).sqrt()
                        })
                        .collect();
                    for (j, sj) in s.iter_mut().enumerate() {
                        if (causal && j > i + tk - tq) || mask.is_some_and(|m| !m[i][j]) {
                            *sj = f64::NEG_INFINITY;
                        }
                    }
                    let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..dv {
                        out[((bi * hq + h) * tq + i) * dv + c] =
                            (0..tk).map(|j| e[j] / z * vv[((bi * hkv + kh) * tk + j) * dv + c]).sum::<f64>();
                    }
                }
            }
        }
        out
    }

    fn check(got: &Tensor, want: &[f64], tol: f64) {
        let g = got.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(g.len(), want.len());
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn gqa_causal_and_decode_offsets_match_reference() -> Result<()> {
        let dev = Device::Cpu;
        for &(hq, hkv, tq, tk, causal) in &[
            (4, 4, 5, 5, false),
            (4, 2, 5, 5, true),
            (6, 2, 1, 7, true),
            (8, 1, 3, 9, true),
            (2, 1, 4, 6, false),
        ] {
            let q = Tensor::randn(0f64, 1.0, (2, hq, tq, 8), &dev)?;
            let k = Tensor::randn(0f64, 1.0, (2, hkv, tk, 8), &dev)?;
            let v = Tensor::randn(0f64, 1.0, (2, hkv, tk, 6), &dev)?;
            let y = scaled_dot_product_attention(&q, &k, &v, None, causal, None)?;
            check(&y, &reference(&q, &k, &v, causal, None), 1e-12);
            // The f32 path (fused softmax) agrees too.
            let (q, k, v) = (q.to_dtype(DType::F32)?, k.to_dtype(DType::F32)?, v.to_dtype(DType::F32)?);
            let y = scaled_dot_product_attention(&q, &k, &v, None, causal, None)?;
            check(&y, &reference(&q, &k, &v, causal, None), 1e-5);
        }
        Ok(())
    }

    #[test]
    fn boolean_and_additive_masks() -> Result<()> {
        let dev = Device::Cpu;
        let (tq, tk) = (3, 4);
        let keep = vec![
            vec![true, false, true, true],
            vec![true, true, false, false],
            vec![false, true, true, true],
        ];
        let mask_u8: Vec<u8> = keep.iter().flatten().map(|&b| b as u8).collect();
        let mask_u8 = Tensor::from_vec(mask_u8, (tq, tk), &dev)?;
        let q = Tensor::randn(0f64, 1.0, (1, 2, tq, 4), &dev)?;
        let k = Tensor::randn(0f64, 1.0, (1, 2, tk, 4), &dev)?;
        let v = Tensor::randn(0f64, 1.0, (1, 2, tk, 4), &dev)?;
        let want = reference(&q, &k, &v, false, Some(&keep));
        check(&scaled_dot_product_attention(&q, &k, &v, Some(&mask_u8), false, None)?, &want, 1e-12);
        let additive = mask_u8
            .where_cond(&Tensor::zeros((), DType::F64, &dev)?, &Tensor::full(f64::NEG_INFINITY, (), &dev)?)?;
        check(&scaled_dot_product_attention(&q, &k, &v, Some(&additive), false, None)?, &want, 1e-12);
        Ok(())
    }

    #[test]
    fn shape_errors() -> Result<()> {
        let dev = Device::Cpu;
        let z = |s: (usize, usize, usize, usize)| Tensor::zeros(s, DType::F32, &dev);
        let e = scaled_dot_product_attention(
            &z((1, 3, 2, 4))?,
            &z((1, 2, 2, 4))?,
            &z((1, 2, 2, 4))?,
            None,
            false,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("3 query heads") && e.contains("2 kv heads"), "{e}");
        assert!(scaled_dot_product_attention(
            &z((1, 2, 2, 4))?,
            &z((1, 2, 3, 4))?,
            &z((1, 2, 2, 4))?,
            None,
            false,
            None
        )
        .is_err());
        assert!(scaled_dot_product_attention(
            &z((1, 2, 5, 4))?,
            &z((1, 2, 3, 4))?,
            &z((1, 2, 3, 4))?,
            None,
            true,
            None
        )
        .is_err());
        Ok(())
    }
}
