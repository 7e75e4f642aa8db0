//! `t.i((.., 1..3, 2))` style indexing: integers pick (and drop) a dim, ranges narrow it.

use super::Tensor;
use crate::{Error, Result};
use std::ops::{Bound, RangeBounds};

/// One entry of an index tuple.
#[derive(Debug, Clone)]
pub enum TensorIndexer {
    /// Picks one position and removes the dim.
    Select(usize),
    /// Keeps a range of positions.
    Narrow(Bound<usize>, Bound<usize>),
}

impl From<usize> for TensorIndexer {
    fn from(i: usize) -> Self {
        TensorIndexer::Select(i)
    }
}

macro_rules! range_indexer {
    ($($t:ty),*) => {$(
        impl From<$t> for TensorIndexer {
            fn from(r: $t) -> Self {
                TensorIndexer::Narrow(r.start_bound().cloned(), r.end_bound().cloned())
            }
        }
    )*};
}
range_indexer!(
    std::ops::Range<usize>,
    std::ops::RangeFrom<usize>,
    std::ops::RangeFull,
    std::ops::RangeInclusive<usize>,
    std::ops::RangeTo<usize>,
    std::ops::RangeToInclusive<usize>
);

impl Tensor {
    fn index_with(&self, indexers: &[TensorIndexer]) -> Result<Tensor> {
        if indexers.len() > self.rank() {
            return Err(Error::invalid(
                "i",
                format!(
                    "{} indices given for a tensor of rank {} (shape {:?})",
                    indexers.len(),
                    self.rank(),
                    self.shape()
                ),
            ));
        }
        let mut t = self.clone();
        let mut dim = 0;
        for ix in indexers {
            let size = t.dims()[dim];
            match ix {
                TensorIndexer::Select(i) => {
                    if *i >= size {
                        return Err(Error::IndexOutOfBounds {
                            op: "i",
                            index: *i as i64,
                            dim,
                            size,
                            shape: t.shape().clone(),
                        });
                    }
                    t = t.narrow(dim, *i, 1)?.squeeze(dim)?;
                }
                TensorIndexer::Narrow(lo, hi) => {
                    let start = match lo {
                        Bound::Included(s) => *s,
                        Bound::Excluded(s) => s.saturating_add(1),
                        Bound::Unbounded => 0,
                    };
                    let end = match hi {
                        Bound::Included(e) => e.saturating_add(1),
                        Bound::Excluded(e) => *e,
                        Bound::Unbounded => size,
                    };
                    if start > end || end > size {
                        return Err(Error::invalid(
                            "i",
                            format!("range {start}..{end} is out of bounds for dim {dim} of size {size} (shape {:?})", t.shape()),
                        ));
                    }
                    t = t.narrow(dim, start, end - start)?;
                    dim += 1;
                }
            }
        }
        Ok(t)
    }
}

/// Indexing with a single indexer or a tuple of them.
///
/// ```
/// use wick::{Device, IndexOp, Tensor};
/// let t = Tensor::arange(0u32, 24, &Device::Cpu)?.reshape((2, 3, 4))?;
/// let s = t.i((.., 1..3, 2))?;
/// assert_eq!(s.to_vec2::<u32>()?, vec![vec![6, 10], vec![18, 22]]);
/// assert!(t.i(2).is_err());
/// # Ok::<(), wick::Error>(())
/// ```
pub trait IndexOp<T> {
    /// The indexed view.
    fn i(&self, index: T) -> Result<Tensor>;
}

impl<A: Into<TensorIndexer>> IndexOp<A> for Tensor {
    fn i(&self, a: A) -> Result<Tensor> {
        self.index_with(&[a.into()])
    }
}

macro_rules! index_tuple {
    ($($n:ident),+) => {
        impl<$($n: Into<TensorIndexer>),+> IndexOp<($($n,)+)> for Tensor {
            #[allow(non_snake_case)]
            fn i(&self, ($($n,)+): ($($n,)+)) -> Result<Tensor> {
                self.index_with(&[$($n.into()),+])
            }
        }
    };
}
index_tuple!(A);
index_tuple!(A, B);
index_tuple!(A, B, C);
index_tuple!(A, B, C, D);
index_tuple!(A, B, C, D, E);
index_tuple!(A, B, C, D, E, F);
