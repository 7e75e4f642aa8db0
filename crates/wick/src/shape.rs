//! Shapes, dim arguments and broadcasting rules.

use crate::{Error, Result};

/// The sizes of a tensor's dims. Debug-prints as `[2, 3]`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Shape {
    /// The sizes as a slice.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements. Shapes built by wick are checked not to overflow, so this does not.
    pub fn elem_count(&self) -> usize {
        self.0.iter().product()
    }

    /// Number of elements, or an error if the product overflows `usize`.
    pub fn checked_elem_count(&self, op: &'static str) -> Result<usize> {
        self.0
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::overflow(op, format!("element count of shape {self:?}")))
    }

    /// Row-major (C order) strides of this shape.
    pub fn stride_contiguous(&self) -> Vec<usize> {
        let mut stride = vec![0; self.0.len()];
        let mut acc = 1usize;
        for (s, &d) in stride.iter_mut().zip(self.0.iter()).rev() {
            *s = acc;
            acc = acc.saturating_mul(d);
        }
        stride
    }

    /// Consumes the shape, giving its sizes.
    pub fn into_dims(self) -> Vec<usize> {
        self.0
    }

    /// The size of one dim, checked.
    pub fn dim<D: Dim>(&self, dim: D) -> Result<usize> {
        let d = dim.to_index(self, "dim")?;
        Ok(self.0[d])
    }

    /// The shape both operands broadcast to, following NumPy's rules (align trailing dims;
    /// a dim of size 1 stretches).
    pub fn broadcast_shape_binary_op(&self, rhs: &Shape, op: &'static str) -> Result<Shape> {
        let (l, r) = (self.dims(), rhs.dims());
        let rank = l.len().max(r.len());
        let mut out = vec![0; rank];
        for i in 0..rank {
            let ld = if i < rank - l.len() { 1 } else { l[i - (rank - l.len())] };
            let rd = if i < rank - r.len() { 1 } else { r[i - (rank - r.len())] };
            out[i] = if ld == rd {
                ld
            } else if ld == 1 {
                rd
            } else if rd == 1 {
                ld
            } else {
                return Err(Error::shape_mismatch(
                    op,
                    self,
                    rhs,
                    format!("dim {i} of the broadcast: {ld} vs {rd}"),
                ));
            };
        }
        Ok(Shape(out))
    }

    /// Splits off the last two dims, for batched matrix ops.
    pub(crate) fn batch_and_matrix(&self, op: &'static str) -> Result<(&[usize], usize, usize)> {
        let r = self.rank();
        if r < 2 {
            return Err(Error::invalid(op, format!("needs rank >= 2, got shape {self:?}")));
        }
        Ok((&self.0[..r - 2], self.0[r - 2], self.0[r - 1]))
    }
}

impl std::ops::Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape(vec![])
    }
}
impl From<usize> for Shape {
    fn from(d: usize) -> Self {
        Shape(vec![d])
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}
impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<&Vec<usize>> for Shape {
    fn from(d: &Vec<usize>) -> Self {
        Shape(d.clone())
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(d: &[usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

macro_rules! shape_from_tuple {
    ($($n:ident),+) => {
        impl From<($(shape_from_tuple!(@usize $n),)+)> for Shape {
            #[allow(non_snake_case)]
            fn from(($($n,)+): ($(shape_from_tuple!(@usize $n),)+)) -> Self {
                Shape(vec![$($n),+])
            }
        }
    };
    (@usize $n:ident) => { usize };
}
shape_from_tuple!(A);
shape_from_tuple!(A, B);
shape_from_tuple!(A, B, C);
shape_from_tuple!(A, B, C, E);
shape_from_tuple!(A, B, C, E, F);
shape_from_tuple!(A, B, C, E, F, G);

/// A dim counted from the end: `D::Minus1` is the last dim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D {
    /// The last dim.
    Minus1,
    /// The second-to-last dim.
    Minus2,
    /// The n-th dim from the end (`Minus(1)` is the last).
    Minus(usize),
}

/// Anything that names one dim: `usize`, a negative-or-positive `i32`/`i64` (PyTorch style),
/// or [`D`].
pub trait Dim: Copy {
    /// The dim index for a tensor of `shape`, or an error naming `op`.
    fn to_index(&self, shape: &Shape, op: &'static str) -> Result<usize>;
    /// Like [`Dim::to_index`] but allows `rank` itself (for inserting a dim).
    fn to_index_plus_one(&self, shape: &Shape, op: &'static str) -> Result<usize>;
}

fn signed_dim(dim: i64, rank: usize, shape: &Shape, op: &'static str) -> Result<usize> {
    let r = rank as i64;
    let idx = if dim < 0 { dim + r } else { dim };
    if idx < 0 || idx >= r {
        return Err(Error::DimOutOfRange { op, dim, shape: shape.clone() });
    }
    Ok(idx as usize)
}

impl Dim for usize {
    fn to_index(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        if *self >= shape.rank() {
            return Err(Error::DimOutOfRange { op, dim: *self as i64, shape: shape.clone() });
        }
        Ok(*self)
    }
    fn to_index_plus_one(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        if *self > shape.rank() {
            return Err(Error::DimOutOfRange { op, dim: *self as i64, shape: shape.clone() });
        }
        Ok(*self)
    }
}

impl Dim for i64 {
    fn to_index(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        signed_dim(*self, shape.rank(), shape, op)
    }
    fn to_index_plus_one(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        signed_dim(*self, shape.rank() + 1, shape, op)
    }
}

impl Dim for i32 {
    fn to_index(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        (*self as i64).to_index(shape, op)
    }
    fn to_index_plus_one(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        (*self as i64).to_index_plus_one(shape, op)
    }
}

impl Dim for D {
    fn to_index(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        let n = match self {
            D::Minus1 => 1,
            D::Minus2 => 2,
            D::Minus(n) => *n,
        };
        let dim = -(n as i64);
        if n == 0 || n > shape.rank() {
            return Err(Error::DimOutOfRange { op, dim, shape: shape.clone() });
        }
        Ok(shape.rank() - n)
    }
    fn to_index_plus_one(&self, shape: &Shape, op: &'static str) -> Result<usize> {
        let n = match self {
            D::Minus1 => 1,
            D::Minus2 => 2,
            D::Minus(n) => *n,
        };
        if n == 0 || n > shape.rank() + 1 {
            return Err(Error::DimOutOfRange { op, dim: -(n as i64), shape: shape.clone() });
        }
        Ok(shape.rank() + 1 - n)
    }
}

/// Several dims at once (for reductions over more than one dim): a single [`Dim`], a tuple,
/// a `Vec` or a slice. Duplicates are an error.
pub trait Dims {
    /// The sorted, distinct dim indices.
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>>;
}

fn check_distinct(mut v: Vec<usize>, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
    v.sort_unstable();
    for w in v.windows(2) {
        if w[0] == w[1] {
            return Err(Error::invalid(op, format!("dim {} given twice for shape {shape:?}", w[0])));
        }
    }
    Ok(v)
}

impl<T: Dim> Dims for T {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        Ok(vec![self.to_index(shape, op)?])
    }
}
impl<T: Dim> Dims for Vec<T> {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        self.as_slice().to_indexes(shape, op)
    }
}
impl<T: Dim> Dims for &[T] {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        let v = self.iter().map(|d| d.to_index(shape, op)).collect::<Result<Vec<_>>>()?;
        check_distinct(v, shape, op)
    }
}
impl<T: Dim, const N: usize> Dims for [T; N] {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        self.as_slice().to_indexes(shape, op)
    }
}
impl<A: Dim, B: Dim> Dims for (A, B) {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        let v = vec![self.0.to_index(shape, op)?, self.1.to_index(shape, op)?];
        check_distinct(v, shape, op)
    }
}
impl<A: Dim, B: Dim, C: Dim> Dims for (A, B, C) {
    fn to_indexes(&self, shape: &Shape, op: &'static str) -> Result<Vec<usize>> {
        let v = vec![self.0.to_index(shape, op)?, self.1.to_index(shape, op)?, self.2.to_index(shape, op)?];
        check_distinct(v, shape, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_counts() {
        let s = Shape::from((2, 3, 4));
        assert_eq!(s.stride_contiguous(), vec![12, 4, 1]);
        assert_eq!(s.elem_count(), 24);
        assert_eq!(Shape::from(()).elem_count(), 1);
        assert!(Shape::from(vec![usize::MAX, 2]).checked_elem_count("t").is_err());
    }

    #[test]
    fn dims_resolve() {
        let s = Shape::from((2, 3, 4));
        assert_eq!(D::Minus1.to_index(&s, "t").unwrap(), 2);
        assert_eq!((-3i32).to_index(&s, "t").unwrap(), 0);
        assert!((-4i32).to_index(&s, "t").is_err());
        assert!(3usize.to_index(&s, "t").is_err());
        assert_eq!(3usize.to_index_plus_one(&s, "t").unwrap(), 3);
        assert_eq!((0usize, D::Minus1).to_indexes(&s, "t").unwrap(), vec![0, 2]);
        assert!((2usize, D::Minus1).to_indexes(&s, "t").is_err());
    }

    #[test]
    fn broadcasting() {
        let a = Shape::from((3, 1, 5));
        let b = Shape::from((4, 1));
        assert_eq!(a.broadcast_shape_binary_op(&b, "t").unwrap(), Shape::from((3, 4, 5)));
        let e = Shape::from((2, 3)).broadcast_shape_binary_op(&Shape::from(4), "add");
        assert!(e.unwrap_err().to_string().contains("add: shapes [2, 3] and [4]"));
    }
}
