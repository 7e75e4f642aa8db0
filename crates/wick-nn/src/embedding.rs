//! [`Embedding`]: a lookup table of vectors indexed by integer ids.

use crate::{Init, Module, VarBuilder};
use wick::{Error, Result, Tensor};

/// A `(vocab, hidden)` table; `forward(ids)` maps integer ids of any shape to `(.., hidden)`.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{Embedding, Module};
/// let dev = Device::Cpu;
/// let emb = Embedding::new(Tensor::new(&[[0f32, 0.], [1., 1.], [2., 2.]], &dev)?)?;
/// let y = emb.forward(&Tensor::new(&[2u32, 0], &dev)?)?;
/// assert_eq!(y.to_vec2::<f32>()?, vec![vec![2., 2.], vec![0., 0.]]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Embedding {
    table: Tensor,
}

impl Embedding {
    /// An embedding over a `(vocab, hidden)` table.
    pub fn new(table: Tensor) -> Result<Self> {
        if table.rank() != 2 {
            return Err(Error::RankMismatch {
                op: "Embedding::new",
                expected: 2,
                shape: table.shape().clone(),
            });
        }
        Ok(Embedding { table })
    }

    /// The `(vocab, hidden)` table.
    pub fn embeddings(&self) -> &Tensor {
        &self.table
    }

    /// The vector size.
    pub fn hidden_size(&self) -> usize {
        self.table.dims()[1]
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        if ids.dtype().is_float() {
            return Err(Error::unsupported_dtype("Embedding", ids.dtype(), "ids must be u8, u32 or i64"));
        }
        self.table.embedding(ids)
    }
}

/// An [`Embedding`] reading `weight` `(vocab, hidden)` from `vb` (created `N(0, 1)` as in
/// PyTorch when `vb` is backed by a `VarMap`).
pub fn embedding(vocab: usize, hidden: usize, vb: VarBuilder) -> Result<Embedding> {
    Embedding::new(vb.get_with_init((vocab, hidden), "weight", Init::Normal { mean: 0.0, std: 1.0 })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::{DType, Device};

    #[test]
    fn rows_for_ids_of_any_shape() -> Result<()> {
        let dev = Device::Cpu;
        let table = Tensor::arange(0f32, 12., &dev)?.reshape((4, 3))?;
        let emb = Embedding::new(table)?;
        let ids = Tensor::new(&[[3i64, 1], [0, 3]], &dev)?;
        let y = emb.forward(&ids)?;
        assert_eq!(y.dims(), &[2, 2, 3]);
        let want = [9., 10., 11., 3., 4., 5., 0., 1., 2., 9., 10., 11.];
        assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, want);
        assert!(emb.forward(&Tensor::new(&[4u32], &dev)?).is_err());
        assert!(emb.forward(&Tensor::new(&[0f32], &dev)?).is_err());
        assert!(Embedding::new(Tensor::zeros(3, DType::F32, &dev)?).is_err());
        Ok(())
    }
}
