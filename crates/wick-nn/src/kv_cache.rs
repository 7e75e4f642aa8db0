//! [`KvCache`]: the keys and values of past positions, for incremental decoding.

use std::sync::Arc;
use wick::{Error, Result, Tensor};

/// Keys and values appended along a sequence dim (2 for `(batch, heads, seq, head_dim)`), up
/// to `max_len` positions.
///
/// Positions are written in place into buffers that grow by doubling (up to `max_len`), so
/// appending one position copies only that position; what [`KvCache::append`] returns are
/// views of the buffers' first positions. Values a view shows never change: later appends
/// write past its end, and growing or [`KvCache::reset`] moves to new buffers. Cloning copies
/// on write: a clone shares the buffers until one of the two appends, which first moves to
/// buffers of its own.
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
    /// Key and value buffers, `capacity` positions along `dim`, and the positions written.
    buffers: Option<(Tensor, Tensor)>,
    len: usize,
    /// Shared with the clones that share `buffers`: writing needs it unshared.
    owner: Arc<()>,
    dim: usize,
    max_len: usize,
}

/// Positions a new buffer holds at least, so short prompts do not regrow at every token.
const MIN_CAPACITY: usize = 64;

impl KvCache {
    /// An empty cache growing along `dim`, holding at most `max_len` positions.
    pub fn new(dim: usize, max_len: usize) -> Self {
        KvCache { buffers: None, len: 0, owner: Arc::new(()), dim, max_len }
    }

    /// Positions held.
    pub fn current_len(&self) -> usize {
        self.len
    }

    /// The most positions it may hold.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Positions the current buffers hold before they grow again.
    pub fn capacity(&self) -> usize {
        self.buffers.as_ref().map_or(0, |(k, _)| k.dims()[self.dim])
    }

    /// The cached keys, if any.
    pub fn k(&self) -> Option<Tensor> {
        self.view(|b| &b.0)
    }

    /// The cached values, if any.
    pub fn v(&self) -> Option<Tensor> {
        self.view(|b| &b.1)
    }

    fn view(&self, pick: impl Fn(&(Tensor, Tensor)) -> &Tensor) -> Option<Tensor> {
        let b = self.buffers.as_ref().filter(|_| self.len > 0)?;
        pick(b).narrow(self.dim, 0, self.len).ok()
    }

    /// Forgets every position.
    pub fn reset(&mut self) {
        self.buffers = None;
        self.len = 0;
        self.owner = Arc::new(());
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
        let new_len = self.len.checked_add(n).filter(|&l| l <= self.max_len).ok_or_else(|| {
            Error::invalid(
                OP,
                format!(
                    "appending {n} positions to {} would exceed the maximum length {}",
                    self.len, self.max_len
                ),
            )
        })?;
        if let Some((bk, bv)) = &self.buffers {
            for (new, held) in [(k, bk), (v, bv)] {
                let same = new.rank() == held.rank()
                    && new.dims().iter().zip(held.dims()).enumerate().all(|(i, (a, b))| i == d || a == b);
                if !same || new.dtype() != held.dtype() {
                    return Err(Error::shape_mismatch(
                        OP,
                        held.shape(),
                        new.shape(),
                        format!("appended positions must match the cache in dtype and every dim but {d}"),
                    ));
                }
            }
        }
        if new_len > self.capacity() || Arc::strong_count(&self.owner) > 1 {
            self.grow(k, v, new_len)?;
        }
        let (bk, bv) = self.buffers.as_ref().ok_or_else(|| Error::invalid(OP, "no buffers after growing"))?;
        bk.slice_set(&k.detach(), d, self.len)?;
        bv.slice_set(&v.detach(), d, self.len)?;
        self.len = new_len;
        Ok((bk.narrow(d, 0, new_len)?, bv.narrow(d, 0, new_len)?))
    }

    /// Moves to buffers of its own of at least `needed` positions (doubling when it must grow,
    /// at most `max_len`), copying the positions held.
    fn grow(&mut self, k: &Tensor, v: &Tensor, needed: usize) -> Result<()> {
        let d = self.dim;
        let held = self.capacity();
        let cap = if needed <= held {
            held
        } else {
            held.saturating_mul(2).max(MIN_CAPACITY).max(needed).min(self.max_len)
        };
        let buffer = |like: &Tensor| {
            let mut dims = like.dims().to_vec();
            dims[d] = cap;
            Tensor::zeros(dims, like.dtype(), like.device())
        };
        let (nk, nv) = (buffer(k)?, buffer(v)?);
        if let Some((bk, bv)) = &self.buffers {
            if self.len > 0 {
                nk.slice_set(&bk.narrow(d, 0, self.len)?, d, 0)?;
                nv.slice_set(&bv.narrow(d, 0, self.len)?, d, 0)?;
            }
        }
        self.buffers = Some((nk, nv));
        self.owner = Arc::new(());
        Ok(())
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

    /// Appends one position at a time past several regrowths: every returned view equals the
    /// concatenation of what was appended (the reference), and earlier views keep their values.
    #[test]
    fn in_place_appends_match_concatenation() -> Result<()> {
        let dev = Device::Cpu;
        let mut c = KvCache::new(2, 300);
        let step =
            |i: usize| Tensor::arange(0f32, 6., &dev)?.affine(1.0, 10.0 * i as f64)?.reshape((1, 2, 1, 3));
        let mut parts = vec![Tensor::arange(0f32, 30., &dev)?.affine(-1.0, 0.0)?.reshape((1, 2, 5, 3))?];
        let (first, _) = c.append(&parts[0], &parts[0].neg()?)?;
        let first_values = first.to_vec3::<f32>().ok();
        let mut views = Vec::new();
        for i in 0..200 {
            let s = step(i)?;
            parts.push(s.clone());
            let (k, v) = c.append(&s, &s.affine(2.0, 0.0)?)?;
            let want = Tensor::cat(&parts, 2)?;
            assert_eq!(k.flatten_all()?.to_vec1::<f32>()?, want.flatten_all()?.to_vec1::<f32>()?, "step {i}");
            assert_eq!(
                v.get(0)?.get(1)?.get(5 + i)?.to_vec1::<f32>()?,
                s.affine(2.0, 0.0)?.flatten_all()?.to_vec1::<f32>()?[3..].to_vec()
            );
            if i % 50 == 0 {
                views.push((k.clone(), want));
            }
        }
        assert!(c.capacity() >= 205 && c.capacity() <= 300, "capacity {}", c.capacity());
        for (view, want) in views {
            assert_eq!(view.flatten_all()?.to_vec1::<f32>()?, want.flatten_all()?.to_vec1::<f32>()?);
        }
        assert_eq!(first.to_vec3::<f32>().ok(), first_values);
        Ok(())
    }

    /// A clone shares nothing observable: appends to either leave the other's positions alone.
    #[test]
    fn clones_grow_independently() -> Result<()> {
        let dev = Device::Cpu;
        let mut a = KvCache::new(1, 10);
        let x = Tensor::new(&[[1f32], [2.]], &dev)?.reshape((1, 2, 1))?;
        a.append(&x, &x)?;
        let mut b = a.clone();
        let (ka, _) = a.append(&x.affine(10.0, 0.0)?, &x)?;
        let (kb, _) = b.append(&x.affine(100.0, 0.0)?, &x)?;
        assert_eq!(ka.flatten_all()?.to_vec1::<f32>()?, vec![1., 2., 10., 20.]);
        assert_eq!(kb.flatten_all()?.to_vec1::<f32>()?, vec![1., 2., 100., 200.]);
        assert_eq!(
            a.k().map(|k| k.flatten_all()?.to_vec1::<f32>()).transpose()?,
            Some(vec![1., 2., 10., 20.])
        );
        Ok(())
    }

    #[test]
    fn mismatched_appends_are_refused() -> Result<()> {
        let dev = Device::Cpu;
        let mut c = KvCache::new(2, 8);
        let a = Tensor::zeros((1, 2, 3, 4), DType::F32, &dev)?;
        c.append(&a, &a)?;
        let other_heads = Tensor::zeros((1, 3, 1, 4), DType::F32, &dev)?;
        let e = c.append(&other_heads, &other_heads).unwrap_err().to_string();
        assert!(e.contains("KvCache::append") && e.contains("[1, 3, 1, 4]"), "{e}");
        let f16 = Tensor::zeros((1, 2, 1, 4), DType::F16, &dev)?;
        assert!(c.append(&f16, &f16).is_err());
        assert_eq!(c.current_len(), 3);
        Ok(())
    }
}
