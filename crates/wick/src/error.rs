//! The one error type of wick.
//!
//! Every error names the operation that failed and the shapes, dtypes or dims involved, so a
//! message read out of context still says what went wrong.

use crate::{DType, Shape};

/// Everything that can go wrong in wick.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two operands whose shapes cannot be combined (broadcast, matmul, cat, ...).
    #[error("{op}: shapes {lhs:?} and {rhs:?} are not compatible{}", fmt_reason(.reason))]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// Left-hand (or first) shape.
        lhs: Shape,
        /// Right-hand (or second) shape.
        rhs: Shape,
        /// Why, when it is not obvious.
        reason: String,
    },

    /// An operand has the wrong dtype for the op.
    #[error("{op}: dtypes {lhs} and {rhs} do not match")]
    DTypeMismatch {
        /// The operation.
        op: &'static str,
        /// First dtype.
        lhs: DType,
        /// Second dtype.
        rhs: DType,
    },

    /// The op is not defined for this dtype.
    #[error("{op}: dtype {dtype} is not supported{}", fmt_reason(.reason))]
    UnsupportedDType {
        /// The operation.
        op: &'static str,
        /// The offending dtype.
        dtype: DType,
        /// What is supported instead.
        reason: String,
    },

    /// A dim index outside the tensor's rank.
    #[error("{op}: dim {dim} is out of range for a tensor of shape {shape:?} (rank {})", .shape.rank())]
    DimOutOfRange {
        /// The operation.
        op: &'static str,
        /// The dim as the caller gave it (negative counts from the end).
        dim: i64,
        /// The tensor's shape.
        shape: Shape,
    },

    /// The element count of a shape does not fit the data or the target shape.
    #[error("{op}: shape {shape:?} holds {expected} elements but {got} were given")]
    ElementCount {
        /// The operation.
        op: &'static str,
        /// The target shape.
        shape: Shape,
        /// Elements the shape holds.
        expected: usize,
        /// Elements provided.
        got: usize,
    },

    /// A tensor of the wrong rank.
    #[error("{op}: expected a tensor of rank {expected}, got shape {shape:?}")]
    RankMismatch {
        /// The operation.
        op: &'static str,
        /// The rank the op needs.
        expected: usize,
        /// The shape received.
        shape: Shape,
    },

    /// An index (in `narrow`, `index_select`, `gather`, ...) outside the dim it indexes.
    #[error("{op}: index {index} is out of bounds for dim {dim} of size {size} (shape {shape:?})")]
    IndexOutOfBounds {
        /// The operation.
        op: &'static str,
        /// The offending index.
        index: i64,
        /// The dim indexed.
        dim: usize,
        /// Size of that dim.
        size: usize,
        /// The indexed tensor's shape.
        shape: Shape,
    },

    /// Two tensors on different devices.
    #[error("{op}: tensors are on different devices ({lhs} and {rhs})")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// First device.
        lhs: String,
        /// Second device.
        rhs: String,
    },

    /// A size computation overflowed `usize` (e.g. a shape whose element count is too large).
    #[error("{op}: size overflow ({what})")]
    Overflow {
        /// The operation.
        op: &'static str,
        /// What was being computed.
        what: String,
    },

    /// Any other invalid argument, described in words.
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },

    /// A device or feature not compiled into this build.
    #[error("{0} is not available in this build")]
    NotCompiled(&'static str),

    /// A malformed, truncated or hostile file (or in-memory image of one).
    #[error("{format}: {}{msg}", fmt_tensor(.tensor))]
    Format {
        /// The format being read (`"safetensors"`, `"npy"`, `"pth"`, `"gguf"`, ...).
        format: &'static str,
        /// The tensor concerned, when there is one.
        tensor: Option<String>,
        /// What is wrong, with byte offsets or ranges where they help.
        msg: String,
    },

    /// An I/O error, with the path when there is one.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An error with a layer of context added by `.context(..)`.
    #[error("{context}: {inner}")]
    Context {
        /// What was being done.
        context: String,
        /// The error that happened while doing it.
        inner: Box<Error>,
    },
}

fn fmt_tensor(tensor: &Option<String>) -> String {
    match tensor {
        Some(t) => format!("tensor {t:?}: "),
        None => String::new(),
    }
}

fn fmt_reason(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// wick's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid { op, msg: msg.into() }
    }

    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shape_mismatch(op: &'static str, lhs: &Shape, rhs: &Shape, reason: impl Into<String>) -> Self {
        Error::ShapeMismatch { op, lhs: lhs.clone(), rhs: rhs.clone(), reason: reason.into() }
    }

    /// Shorthand for [`Error::UnsupportedDType`].
    pub fn unsupported_dtype(op: &'static str, dtype: DType, reason: impl Into<String>) -> Self {
        Error::UnsupportedDType { op, dtype, reason: reason.into() }
    }

    /// Shorthand for [`Error::Format`] without a tensor name.
    pub fn format(format: &'static str, msg: impl Into<String>) -> Self {
        Error::Format { format, tensor: None, msg: msg.into() }
    }

    /// Shorthand for [`Error::Format`] about one tensor.
    pub fn format_tensor(format: &'static str, tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Format { format, tensor: Some(tensor.into()), msg: msg.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }

    /// Shorthand for [`Error::Overflow`].
    pub fn overflow(op: &'static str, what: impl Into<String>) -> Self {
        Error::Overflow { op, what: what.into() }
    }

    /// Wraps this error with a description of what was being done.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Error::Context { context: context.to_string(), inner: Box::new(self) }
    }

    /// The innermost error, under all layers of context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { inner, .. } => inner.root(),
            e => e,
        }
    }
}

/// Adds `.context(..)` to `Result`s, like `anyhow` does.
pub trait Context<T> {
    /// Wraps an error with a description of what was being done.
    fn context(self, context: impl std::fmt::Display) -> Result<T>;
    /// Like [`Context::context`], computing the description only on error.
    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(context))
    }
    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_layers_and_root() {
        let e = Error::invalid("narrow", "bad").context("loading layer 3").context("model");
        assert_eq!(e.to_string(), "model: loading layer 3: narrow: bad");
        assert!(matches!(e.root(), Error::Invalid { op: "narrow", .. }));
    }

    #[test]
    fn shape_mismatch_message() {
        let e =
            Error::shape_mismatch("matmul", &Shape::from((2, 3)), &Shape::from((4, 5)), "inner dims 3 != 4");
        assert_eq!(e.to_string(), "matmul: shapes [2, 3] and [4, 5] are not compatible (inner dims 3 != 4)");
    }
}
