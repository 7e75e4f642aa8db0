//! [`KvCache`]: the keys and values of past positions, for incremental decoding.

use wick::{Error, Result, Tensor};

/// Keys and values appended along a sequence dim (2 for `(batch, heads, seq, head_dim)`), up
/// to `max_len` positions.
///
/// ```
/// use wick::{DType, Device, Tensor};
/// use wick_nn::KvCache;
/// let dev = Device::Cpu;
/// let mut cache = KvCache::new(2, 16);
/// let kv = Tensor::zeros((1, 2, 3, 8), DType::F32, &dev)?;
/// let (k, _v) = cache.append(&kv, &kv)?; // prompt
/// assert_eq!(k.dims(), &[1, 2, 3, 8]);
/// let step = Tensor::zeros((1, 2, 1, 8), DType::F32, &dev)?;
/// let (k, _v) = cache.append(&step, &step)?; // one decoded token
/// assert_eq!((k.dims()[2], cache.current_len()), (4, 4));
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    dim: usize,
    max_len: usize,
}

impl KvCache {
    /// An empty cache growing along `dim`, holding at most `max_len` positions.
    pub fn new(dim: usize, max_len: usize) -> Self {
        KvCache { k: None, v: None, dim, max_len }
    }

    /// Positions held.
    pub fn current_len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[self.dim])
    }

    /// The most positions it may hold.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The cached keys, if any.
    pub fn k(&self) -> Option<&Tensor> {
        self.k.as_ref()
    }

    /// The cached values, if any.
    pub fn v(&self) -> Option<&Tensor> {
        self.v.as_ref()
    }

    /// Forgets every position.
    pub fn reset(&mut self) {
        self.k = None;
        self.v = None;
    }

    /// Appends `k` and `v` (same length along the cache dim; other dims must match what is
    /// held) and returns all keys and values so far. Exceeding `max_len` is an error and
    /// leaves the cache unchanged.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        const OP: &str = "KvCache::append";
        let d = self.dim;
        if k.rank() <= d || v.rank() <= d {
            return Err(Error::shape_mismatch(OP, k.shape(), v.shape(), format!("k and v need a dim {d}")));
        }
        let n = k.dims()[d];
        if v.dims()[d] != n {
            return Err(Error::shape_mismatch(
                OP,
                k.shape(),
                v.shape(),
                format!("k and v differ along dim {d}"),
            ));
        }
        let new_len = self.current_len().checked_add(n).filter(|&l| l <= self.max_len).ok_or_else(|| {
            Error::invalid(
                OP,
                format!(
                    "appending {n} positions to {} would exceed the maximum length {}",
                    self.current_len(),
                    self.max_len
                ),
            )
        })?;
        let (k, v) = match (&self.k, &self.v) {
            (Some(pk), Some(pv)) => (Tensor::cat(&[pk, k], d)?, Tensor::cat(&[pv, v], d)?),
            _ => (k.clone(), v.clone()),
        };
        debug_assert_eq!(k.dims()[d], new_len);
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        Ok((k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::{DType, Device};

    #[test]
    fn appends_concatenate_and_limit_is_enforced() -> Result<()> {
        let dev = Device::Cpu;
        let mut c = KvCache::new(2, 5);
        assert_eq!(c.current_len(), 0);
        let a = Tensor::arange(0f32, 12., &dev)?.reshape((1, 2, 3, 2))?;
        let b = Tensor::arange(100f32, 104., &dev)?.reshape((1, 2, 1, 2))?;
        c.append(&a, &a.neg()?)?;
        let (k, v) = c.append(&b, &b.neg()?)?;
        assert_eq!(k.dims(), &[1, 2, 4, 2]);
        let k0 = k.get(0)?.get(0)?.to_vec2::<f32>()?;
        assert_eq!(k0, vec![vec![0., 1.], vec![2., 3.], vec![4., 5.], vec![100., 101.]]);
        assert_eq!(v.get(0)?.get(1)?.to_vec2::<f32>()?[3], vec![-102., -103.]);
        let e = c.append(&a, &a).unwrap_err().to_string();
        assert!(e.contains("exceed") && e.contains('5'), "{e}");
        assert_eq!(c.current_len(), 4);
        assert!(c.append(&b, &a).is_err());
        assert!(c.append(&Tensor::zeros((1, 3, 1, 2), DType::F32, &dev)?, &b).is_err());
        c.reset();
        assert_eq!(c.current_len(), 0);
        c.append(&a, &a)?;
        assert_eq!(c.current_len(), 3);
        Ok(())
    }
}
