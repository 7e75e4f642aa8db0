//! Elementwise ops: unary functions, broadcasting binary ops, comparisons, `where_cond`,
//! and the arithmetic operators.

use super::Tensor;
use crate::backprop::{BackpropOp, Op};
use crate::op::{self, BinaryOpT, CmpOp, UnaryOpT};
use crate::{Error, Result};

/// A right-hand operand: a tensor, or a scalar converted to the left operand's dtype.
pub trait Operand {
    /// The operand as a tensor compatible with `like` (same dtype and device for scalars).
    fn to_operand(&self, like: &Tensor) -> Result<Tensor>;
}

impl Operand for Tensor {
    fn to_operand(&self, _: &Tensor) -> Result<Tensor> {
        Ok(self.clone())
    }
}
impl Operand for &Tensor {
    fn to_operand(&self, _: &Tensor) -> Result<Tensor> {
        Ok((*self).clone())
    }
}
impl Operand for crate::Var {
    fn to_operand(&self, _: &Tensor) -> Result<Tensor> {
        Ok(self.as_tensor().clone())
    }
}
impl Operand for &crate::Var {
    fn to_operand(&self, _: &Tensor) -> Result<Tensor> {
        Ok(self.as_tensor().clone())
    }
}
macro_rules! scalar_operand {
    ($($t:ty),*) => {$(
        impl Operand for $t {
            fn to_operand(&self, like: &Tensor) -> Result<Tensor> {
                Tensor::full_dtype(*self as f64, (), like.dtype(), like.device())
            }
        }
    )*};
}
scalar_operand!(f64, f32, i32, i64, u32, u8);

macro_rules! unary {
    ($($(#[$doc:meta])* $fn:ident => $op:ty),* $(,)?) => {
        impl Tensor {$(
            $(#[$doc])*
            pub fn $fn(&self) -> Result<Tensor> {
                self.unary::<$op>()
            }
        )*}
    };
}

unary!(
    /// `-x`.
    neg => op::Neg,
    /// `|x|`.
    abs => op::Abs,
    /// `e^x`.
    exp => op::Exp,
    /// Natural logarithm.
    log => op::Log,
    /// Square root.
    sqrt => op::Sqrt,
    /// `x²`.
    sqr => op::Sqr,
    /// `1 / x`.
    recip => op::Recip,
    /// Sine.
    sin => op::Sin,
    /// Cosine.
    cos => op::Cos,
    /// Hyperbolic tangent.
    tanh => op::Tanh,
    /// Error function.
    erf => op::Erf,
    /// `max(x, 0)`.
    relu => op::Relu,
    /// GELU, tanh approximation.
    gelu => op::Gelu,
    /// GELU with the exact erf (PyTorch's default `gelu`).
    gelu_erf => op::GeluErf,
    /// SiLU / swish: `x · sigmoid(x)`.
    silu => op::Silu,
    /// Logistic sigmoid.
    sigmoid => op::Sigmoid,
    /// Round down.
    floor => op::Floor,
    /// Round up.
    ceil => op::Ceil,
    /// Round half to even.
    round => op::Round,
    /// −1, 0 or 1.
    sign => op::Sign,
);

impl Tensor {
    fn unary<U: UnaryOpT>(&self) -> Result<Tensor> {
        let s = self.storage().unary_impl::<U>(self.layout())?;
        let op = BackpropOp::new1(self, |a| Op::Unary(a, U::KIND));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// Broadcasts two operands to a common shape, checking dtype and device.
    fn broadcast_pair(
        &self,
        rhs: &Tensor,
        op: &'static str,
    ) -> Result<(crate::Shape, crate::Layout, crate::Layout)> {
        if self.dtype() != rhs.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: rhs.dtype() });
        }
        self.device().same_as(rhs.device(), op)?;
        let shape = self.shape().broadcast_shape_binary_op(rhs.shape(), op)?;
        shape.checked_elem_count(op)?;
        let l = self.layout().broadcast_as(shape.clone())?;
        let r = rhs.layout().broadcast_as(shape.clone())?;
        Ok((shape, l, r))
    }

    fn binary<B: BinaryOpT>(&self, rhs: &Tensor) -> Result<Tensor> {
        let (shape, l, r) = self.broadcast_pair(rhs, B::NAME)?;
        let s = self.storage().binary_impl::<B>(&rhs.storage(), &l, &r)?;
        let op = BackpropOp::new2(self, rhs, |a, b| Op::Binary(a, b, B::KIND));
        Ok(Tensor::from_storage_contiguous_op(s, shape, op))
    }

    /// `self + rhs` with NumPy broadcasting; `rhs` may be a scalar.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?;
    /// let b = Tensor::new(&[10f32, 20.], &Device::Cpu)?;
    /// assert_eq!(a.add(&b)?.to_vec2::<f32>()?, vec![vec![11., 22.], vec![13., 24.]]);
    /// assert_eq!(a.add(1.0)?.to_vec2::<f32>()?, vec![vec![2., 3.], vec![4., 5.]]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn add<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Add>(&rhs.to_operand(self)?)
    }
    /// `self - rhs`, broadcasting.
    pub fn sub<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Sub>(&rhs.to_operand(self)?)
    }
    /// `self * rhs`, broadcasting.
    pub fn mul<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Mul>(&rhs.to_operand(self)?)
    }
    /// `self / rhs`, broadcasting. Integer division by zero is an error.
    pub fn div<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Div>(&rhs.to_operand(self)?)
    }
    /// Elementwise maximum, broadcasting (NaN wins).
    pub fn maximum<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Maximum>(&rhs.to_operand(self)?)
    }
    /// Elementwise minimum, broadcasting (NaN wins).
    pub fn minimum<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Minimum>(&rhs.to_operand(self)?)
    }
    /// `self ^ rhs` elementwise, broadcasting (float dtypes).
    pub fn pow<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.binary::<op::Pow>(&rhs.to_operand(self)?)
    }

    /// `self * mul + add`, computed in one pass.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        let s = self.storage().affine(self.layout(), mul, add)?;
        let op = BackpropOp::new1(self, |a| Op::Affine(a, mul));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// `self ^ e` for a scalar exponent (float dtypes).
    pub fn powf(&self, e: f64) -> Result<Tensor> {
        let s = self.storage().powf(self.layout(), e)?;
        let op = BackpropOp::new1(self, |a| Op::Powf(a, e));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// Limits every element to `[min, max]`.
    pub fn clamp<A: Operand, B: Operand>(&self, min: A, max: B) -> Result<Tensor> {
        self.maximum(min)?.minimum(max)
    }

    fn cmp<R: Operand>(&self, rhs: R, op: CmpOp) -> Result<Tensor> {
        let rhs = rhs.to_operand(self)?;
        let (shape, l, r) = self.broadcast_pair(&rhs, op.name())?;
        let s = self.storage().cmp(op, &rhs.storage(), &l, &r)?;
        Ok(Tensor::from_storage_contiguous(s, shape))
    }

    /// `self == rhs` as a U8 mask, broadcasting.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let a = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?;
    /// assert_eq!(a.ge(2.0)?.to_vec1::<u8>()?, vec![0, 1, 1]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn eq<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Eq)
    }
    /// `self != rhs` as a U8 mask.
    pub fn ne<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Ne)
    }
    /// `self < rhs` as a U8 mask.
    pub fn lt<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Lt)
    }
    /// `self <= rhs` as a U8 mask.
    pub fn le<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Le)
    }
    /// `self > rhs` as a U8 mask.
    pub fn gt<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Gt)
    }
    /// `self >= rhs` as a U8 mask.
    pub fn ge<R: Operand>(&self, rhs: R) -> Result<Tensor> {
        self.cmp(rhs, CmpOp::Ge)
    }

    /// Picks `on_true` where `self` (the condition, an integer mask) is non-zero, else
    /// `on_false`; all three broadcast together.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let dev = Device::Cpu;
    /// let x = Tensor::new(&[-1f32, 2., -3.], &dev)?;
    /// let y = x.gt(0.0)?.where_cond(&x, &x.zeros_like()?)?;
    /// assert_eq!(y.to_vec1::<f32>()?, vec![0., 2., 0.]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where_cond";
        if on_true.dtype() != on_false.dtype() {
            return Err(Error::DTypeMismatch { op: OP, lhs: on_true.dtype(), rhs: on_false.dtype() });
        }
        self.device().same_as(on_true.device(), OP)?;
        self.device().same_as(on_false.device(), OP)?;
        let shape = self
            .shape()
            .broadcast_shape_binary_op(on_true.shape(), OP)?
            .broadcast_shape_binary_op(on_false.shape(), OP)?;
        shape.checked_elem_count(OP)?;
        let c = self.layout().broadcast_as(shape.clone())?;
        let t = on_true.layout().broadcast_as(shape.clone())?;
        let f = on_false.layout().broadcast_as(shape.clone())?;
        let s = self.storage().where_cond(&c, &on_true.storage(), &t, &on_false.storage(), &f)?;
        let op = BackpropOp::new2(on_true, on_false, |t, f| Op::WhereCond(self.detach(), t, f));
        Ok(Tensor::from_storage_contiguous_op(s, shape, op))
    }
}

macro_rules! operator {
    ($trait:ident, $fn:ident, $method:ident, $mul:expr, $add:expr) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                self.$method(rhs)
            }
        }
        impl std::ops::$trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                self.$method(&rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                (&self).$method(rhs)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                (&self).$method(&rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f64) -> Result<Tensor> {
                if self.dtype().is_int() {
                    // Integers would lose the scalar's sign or fraction in `affine`.
                    return self.$method(rhs);
                }
                let (m, a): (f64, f64) = ($mul(rhs), $add(rhs));
                self.affine(m, a)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f64) -> Result<Tensor> {
                (&self).$fn(rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                self?.$method(rhs)
            }
        }
    };
}

operator!(Add, add, add, |_| 1.0, |r| r);
operator!(Sub, sub, sub, |_| 1.0, |r: f64| -r);
operator!(Mul, mul, mul, |r| r, |_| 0.0);
operator!(Div, div, div, |r: f64| 1.0 / r, |_| 0.0);

impl std::ops::Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}

impl std::ops::Sub<&Tensor> for f64 {
    type Output = Result<Tensor>;
    fn sub(self, rhs: &Tensor) -> Result<Tensor> {
        rhs.affine(-1.0, self)
    }
}
impl std::ops::Add<&Tensor> for f64 {
    type Output = Result<Tensor>;
    fn add(self, rhs: &Tensor) -> Result<Tensor> {
        rhs.affine(1.0, self)
    }
}
impl std::ops::Mul<&Tensor> for f64 {
    type Output = Result<Tensor>;
    fn mul(self, rhs: &Tensor) -> Result<Tensor> {
        rhs.affine(self, 0.0)
    }
}
