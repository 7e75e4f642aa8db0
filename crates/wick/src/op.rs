//! The op vocabulary shared by every backend: unary and binary element functions, reductions
//! and comparisons. A backend implements each family once, generic over these definitions.

use crate::dtype::{FloatDType, WithDType};

/// An elementwise function of one float.
pub trait UnaryOpT: Send + Sync + 'static {
    /// The op's name, for errors.
    const NAME: &'static str;
    /// Which function this is, for autograd.
    const KIND: UnaryKind;
    /// The function, in the element type (f16/bf16 go through f32).
    fn f<T: FloatDType>(x: T) -> T;
}

/// An elementwise function of two values of the same dtype.
pub trait BinaryOpT: Send + Sync + 'static {
    /// The op's name, for errors.
    const NAME: &'static str;
    /// Which function this is, for autograd.
    const KIND: BinaryKind;
    /// Whether integer dtypes are refused.
    const FLOAT_ONLY: bool = false;
    /// Whether an integer zero in the right operand is an error (integer division).
    const NONZERO_INT_RHS: bool = false;
    /// The function.
    fn f<T: WithDType>(a: T, b: T) -> T;
}

/// The unary functions, as values (what autograd records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum UnaryKind {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Sqr,
    Recip,
    Sin,
    Cos,
    Tanh,
    Erf,
    Relu,
    Gelu,
    GeluErf,
    Silu,
    Sigmoid,
    Floor,
    Ceil,
    Round,
    Sign,
}

/// The binary functions, as values (what autograd records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    Pow,
}

macro_rules! unary_op {
    ($(#[$doc:meta])* $name:ident, $str:literal, |$x:ident| $f32:expr, |$y:ident| $f64:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl UnaryOpT for $name {
            const NAME: &'static str = $str;
            const KIND: UnaryKind = UnaryKind::$name;
            #[inline(always)]
            fn f<T: FloatDType>(x: T) -> T {
                x.map_f(|$x: f32| $f32, |$y: f64| $f64)
            }
        }
    };
}

unary_op!(/** `-x` */ Neg, "neg", |x| -x, |x| -x);
unary_op!(/** `|x|` */ Abs, "abs", |x| x.abs(), |x| x.abs());
unary_op!(/** `e^x` */ Exp, "exp", |x| x.exp(), |x| x.exp());
unary_op!(/** natural log */ Log, "log", |x| x.ln(), |x| x.ln());
unary_op!(/** square root */ Sqrt, "sqrt", |x| x.sqrt(), |x| x.sqrt());
unary_op!(/** `x²` */ Sqr, "sqr", |x| x * x, |x| x * x);
unary_op!(/** `1/x` */ Recip, "recip", |x| 1.0 / x, |x| 1.0 / x);
unary_op!(/** sine */ Sin, "sin", |x| x.sin(), |x| x.sin());
unary_op!(/** cosine */ Cos, "cos", |x| x.cos(), |x| x.cos());
unary_op!(/** hyperbolic tangent */ Tanh, "tanh", |x| x.tanh(), |x| x.tanh());
unary_op!(/** the error function */ Erf, "erf", |x| libm::erff(x), |x| libm::erf(x));
unary_op!(/** `max(x, 0)`, NaN stays NaN */ Relu, "relu", |x| if x < 0.0 { 0.0 } else { x },
    |x| if x < 0.0 { 0.0 } else { x });
unary_op!(/** GELU, tanh approximation (Hendrycks & Gimpel 2016) */ Gelu, "gelu",
    |x| 0.5 * x * (1.0 + (0.797_884_6_f32 * (x + 0.044_715 * x * x * x)).tanh()),
    |x| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044_715 * x * x * x)).tanh()));
unary_op!(/** GELU with the exact erf */ GeluErf, "gelu_erf",
    |x| 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)),
    |x| 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)));
unary_op!(/** `x · sigmoid(x)` */ Silu, "silu", |x| x / (1.0 + (-x).exp()), |x| x / (1.0 + (-x).exp()));
unary_op!(/** `1 / (1 + e^-x)` */ Sigmoid, "sigmoid", |x| 1.0 / (1.0 + (-x).exp()),
    |x| 1.0 / (1.0 + (-x).exp()));
unary_op!(/** round down */ Floor, "floor", |x| x.floor(), |x| x.floor());
unary_op!(/** round up */ Ceil, "ceil", |x| x.ceil(), |x| x.ceil());
unary_op!(/** round half to even, like NumPy and PyTorch */ Round, "round",
    |x| x.round_ties_even(), |x| x.round_ties_even());
unary_op!(/** −1, 0 or 1; NaN stays NaN */ Sign, "sign",
    |x| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { x },
    |x| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { x });

macro_rules! binary_op {
    ($(#[$doc:meta])* $name:ident, $str:literal, $float_only:expr, $nonzero:expr, |$a:ident, $b:ident| $e:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl BinaryOpT for $name {
            const NAME: &'static str = $str;
            const KIND: BinaryKind = BinaryKind::$name;
            const FLOAT_ONLY: bool = $float_only;
            const NONZERO_INT_RHS: bool = $nonzero;
            #[inline(always)]
            fn f<T: WithDType>($a: T, $b: T) -> T {
                $e
            }
        }
    };
}

binary_op!(/** `a + b` */ Add, "add", false, false, |a, b| a.add(b));
binary_op!(/** `a - b` */ Sub, "sub", false, false, |a, b| a.sub(b));
binary_op!(/** `a * b` */ Mul, "mul", false, false, |a, b| a.mul(b));
binary_op!(/** `a / b` */ Div, "div", false, true, |a, b| a.div(b));

binary_op!(/** elementwise max, NaN-propagating */ Maximum, "maximum", false, false, |a, b| a.max_(b));
binary_op!(/** elementwise min, NaN-propagating */ Minimum, "minimum", false, false, |a, b| a.min_(b));
binary_op!(/** `a^b` */ Pow, "pow", true, false, |a, b| T::from_f64(a.to_f64().powf(b.to_f64())));

/// Reductions over one or more dims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Sum (f16/bf16 accumulate in f32, integers wrap).
    Sum,
    /// Largest value, NaN-propagating.
    Max,
    /// Smallest value, NaN-propagating.
    Min,
    /// Index (U32) of the first largest value.
    ArgMax,
    /// Index (U32) of the first smallest value.
    ArgMin,
}

impl ReduceOp {
    /// Name for errors.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }
}

/// Elementwise comparisons, giving a U8 mask (1 where true).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Name for errors.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    /// Applies the comparison (IEEE semantics: NaN compares unequal to everything).
    #[inline(always)]
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}
