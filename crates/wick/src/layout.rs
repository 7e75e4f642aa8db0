//! Where a tensor's elements sit in its storage: shape, strides and start offset.
//!
//! Every view (`transpose`, `narrow`, `broadcast_as`, `permute`, ...) is a new `Layout` over
//! the same storage; kernels walk layouts through [`StridedIndex`] and [`coalesce_dims`]
//! instead of redoing stride arithmetic themselves.

use crate::{Error, Result, Shape};

/// Shape, strides (in elements) and start offset of a tensor inside its storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Shape,
    stride: Vec<usize>,
    start_offset: usize,
}

impl Layout {
    /// A row-major layout starting at `start_offset`.
    pub fn contiguous_with_offset<S: Into<Shape>>(shape: S, start_offset: usize) -> Self {
        let shape = shape.into();
        let stride = shape.stride_contiguous();
        Layout { shape, stride, start_offset }
    }

    /// A row-major layout starting at 0.
    pub fn contiguous<S: Into<Shape>>(shape: S) -> Self {
        Self::contiguous_with_offset(shape, 0)
    }

    /// Builds a layout from its parts (the caller guarantees it stays inside the storage).
    pub(crate) fn new(shape: Shape, stride: Vec<usize>, start_offset: usize) -> Self {
        Layout { shape, stride, start_offset }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// The dims.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    /// Strides in elements.
    pub fn stride(&self) -> &[usize] {
        &self.stride
    }
    /// Offset of the first element.
    pub fn start_offset(&self) -> usize {
        self.start_offset
    }

    /// True when elements are laid out in row-major order with no gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for (&d, &s) in self.shape.dims().iter().zip(self.stride.iter()).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// `Some((start, end))` when the elements are one contiguous run in storage.
    pub fn contiguous_offsets(&self) -> Option<(usize, usize)> {
        if self.is_contiguous() {
            Some((self.start_offset, self.start_offset + self.shape.elem_count()))
        } else {
            None
        }
    }

    /// One past the largest storage offset this layout touches (0 for an empty tensor).
    pub fn max_offset_exclusive(&self) -> usize {
        if self.shape.elem_count() == 0 {
            return self.start_offset;
        }
        let span: usize = self.shape.dims().iter().zip(self.stride.iter()).map(|(&d, &s)| (d - 1) * s).sum();
        self.start_offset + span + 1
    }

    /// A view of `len` elements of `dim` starting at `start`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        let size = self.shape[dim];
        match start.checked_add(len) {
            Some(end) if end <= size => {}
            _ => {
                return Err(Error::invalid(
                    "narrow",
                    format!(
                        "range {start}..{} is out of bounds for dim {dim} of size {size} (shape {:?})",
                        start.saturating_add(len),
                        self.shape
                    ),
                ))
            }
        }
        let mut dims = self.shape.dims().to_vec();
        dims[dim] = len;
        Ok(Layout {
            shape: Shape::from(dims),
            stride: self.stride.clone(),
            start_offset: self.start_offset + self.stride[dim] * start,
        })
    }

    /// Swaps two dims.
    pub fn transpose(&self, d1: usize, d2: usize) -> Self {
        let mut dims = self.shape.dims().to_vec();
        let mut stride = self.stride.clone();
        dims.swap(d1, d2);
        stride.swap(d1, d2);
        Layout { shape: Shape::from(dims), stride, start_offset: self.start_offset }
    }

    /// Reorders dims: dim `i` of the result is dim `perm[i]` of `self`. `perm` must be a
    /// permutation (checked by the caller).
    pub fn permute(&self, perm: &[usize]) -> Self {
        let dims = perm.iter().map(|&p| self.shape[p]).collect::<Vec<_>>();
        let stride = perm.iter().map(|&p| self.stride[p]).collect();
        Layout { shape: Shape::from(dims), stride, start_offset: self.start_offset }
    }

    /// A view of this layout stretched to `shape` (NumPy broadcasting, stride 0 on new dims).
    pub fn broadcast_as<S: Into<Shape>>(&self, shape: S) -> Result<Self> {
        let shape = shape.into();
        let (src, dst) = (self.shape.dims(), shape.dims());
        if dst.len() < src.len() {
            return Err(Error::shape_mismatch("broadcast_as", &self.shape, &shape, "target has fewer dims"));
        }
        let lead = dst.len() - src.len();
        let mut stride = vec![0; dst.len()];
        for (i, &d) in dst.iter().enumerate() {
            if i < lead {
                continue;
            }
            let s = src[i - lead];
            if s == d {
                stride[i] = self.stride[i - lead];
            } else if s == 1 {
                stride[i] = 0;
            } else {
                return Err(Error::shape_mismatch(
                    "broadcast_as",
                    &self.shape,
                    &shape,
                    format!("dim {i}: {s} cannot stretch to {d}"),
                ));
            }
        }
        Ok(Layout { shape, stride, start_offset: self.start_offset })
    }

    /// Iterates over the storage offset of every element in row-major order.
    pub fn strided_index(&self) -> StridedIndex<'_> {
        StridedIndex::new(self.shape.dims(), &self.stride, self.start_offset)
    }

    /// Splits the layout into equal contiguous blocks: `(block_len, offsets of each block)`.
    /// A contiguous layout is one block.
    pub fn strided_blocks(&self) -> StridedBlocks<'_> {
        let dims = self.shape.dims();
        let mut block_len = 1;
        let mut inner = dims.len();
        for (&d, &s) in dims.iter().zip(self.stride.iter()).rev() {
            if s != block_len && d != 1 {
                break;
            }
            block_len *= d;
            inner -= 1;
        }
        if inner == 0 {
            StridedBlocks::Single { start: self.start_offset, len: block_len }
        } else {
            StridedBlocks::Multiple {
                block_len,
                index: StridedIndex::new(&dims[..inner], &self.stride[..inner], self.start_offset),
            }
        }
    }
}

/// Contiguous runs of a layout, see [`Layout::strided_blocks`].
pub enum StridedBlocks<'a> {
    /// The whole tensor is one run.
    Single {
        /// Offset of the first element.
        start: usize,
        /// Number of elements.
        len: usize,
    },
    /// Equal runs of `block_len` elements at the offsets `index` yields.
    Multiple {
        /// Elements per run.
        block_len: usize,
        /// Start offset of each run.
        index: StridedIndex<'a>,
    },
}

/// Iterator over storage offsets in row-major element order.
pub struct StridedIndex<'a> {
    next: Option<usize>,
    multi_index: Vec<usize>,
    dims: &'a [usize],
    stride: &'a [usize],
}

impl<'a> StridedIndex<'a> {
    fn new(dims: &'a [usize], stride: &'a [usize], start_offset: usize) -> Self {
        let empty = dims.contains(&0);
        StridedIndex {
            next: if empty { None } else { Some(start_offset) },
            multi_index: vec![0; dims.len()],
            dims,
            stride,
        }
    }
}

impl Iterator for StridedIndex<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        let mut offset = current;
        let mut done = true;
        for i in (0..self.dims.len()).rev() {
            if self.multi_index[i] + 1 < self.dims[i] {
                self.multi_index[i] += 1;
                offset += self.stride[i];
                done = false;
                break;
            }
            offset -= self.multi_index[i] * self.stride[i];
            self.multi_index[i] = 0;
        }
        self.next = if done { None } else { Some(offset) };
        Some(current)
    }
}

/// Merges adjacent dims that are contiguous with respect to each other in *every* operand,
/// so kernels see as few, as long dims as possible. Dims of size 1 are dropped. Returns the
/// merged dims and, per operand, its merged strides (at least one dim, possibly of size 1).
pub fn coalesce_dims(dims: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::with_capacity(dims.len());
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::with_capacity(dims.len()); strides.len()];
    for (i, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let mergeable = match out_dims.last() {
            None => false,
            Some(_) => strides.iter().zip(out_strides.iter()).all(|(s, os)| {
                let last = os[os.len() - 1];
                last == s[i] * d
            }),
        };
        if mergeable {
            let n = out_dims.len() - 1;
            out_dims[n] *= d;
            for (s, os) in strides.iter().zip(out_strides.iter_mut()) {
                os[n] = s[i];
            }
        } else {
            out_dims.push(d);
            for (s, os) in strides.iter().zip(out_strides.iter_mut()) {
                os.push(s[i]);
            }
        }
    }
    if out_dims.is_empty() {
        out_dims.push(1);
        for os in out_strides.iter_mut() {
            os.push(1);
        }
    }
    (out_dims, out_strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_index_of_transpose() {
        let l = Layout::contiguous((2, 3)).transpose(0, 1);
        assert_eq!(l.strided_index().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
    }

    #[test]
    fn blocks_of_narrow() {
        let l = Layout::contiguous((3, 4)).narrow(1, 1, 2).unwrap();
        match l.strided_blocks() {
            StridedBlocks::Multiple { block_len, index } => {
                assert_eq!(block_len, 2);
                assert_eq!(index.collect::<Vec<_>>(), vec![1, 5, 9]);
            }
            StridedBlocks::Single { .. } => panic!("narrowed layout is not contiguous"),
        }
        assert!(Layout::contiguous((3, 4)).narrow(1, 3, 2).is_err());
    }

    #[test]
    fn broadcast_and_coalesce() {
        let l = Layout::contiguous((1, 4)).broadcast_as((3, 4)).unwrap();
        assert_eq!(l.stride(), &[0, 1]);
        let c = Layout::contiguous((2, 3, 4));
        let (d, s) = coalesce_dims(c.dims(), &[c.stride(), l.broadcast_as((2, 3, 4)).unwrap().stride()]);
        assert_eq!(d, vec![6, 4]);
        assert_eq!(s, vec![vec![4, 1], vec![0, 1]]);
    }

    #[test]
    fn empty_iterates_nothing() {
        let l = Layout::contiguous((2, 0, 3));
        assert_eq!(l.strided_index().count(), 0);
    }
}
