//! The values the safe unpickler produces: a tree of containers and scalars whose leaves
//! include tensors described as strided views of storages.

/// A tensor element type as PyTorch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TorchDType {
    /// `torch.float64`.
    F64,
    /// `torch.float32`.
    F32,
    /// `torch.float16`.
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64`.
    I64,
    /// `torch.int32` (read as wick `I64`).
    I32,
    /// `torch.int16` (read as wick `I64`).
    I16,
    /// `torch.int8` (read as wick `I64`).
    I8,
    /// `torch.uint8`.
    U8,
    /// `torch.bool` (read as wick `U8`, 0 or 1).
    Bool,
    /// `torch.uint16` (read as wick `U32`).
    U16,
    /// `torch.uint32`.
    U32,
    /// `torch.uint64` (read as wick `I64`; a value above `i64::MAX` is an error).
    U64,
}

impl TorchDType {
    /// The element type of the shared raw-data conversion.
    pub(crate) fn elem(self) -> crate::npy::Elem {
        use crate::npy::Elem;
        match self {
            TorchDType::F64 => Elem::F64,
            TorchDType::F32 => Elem::F32,
            TorchDType::F16 => Elem::F16,
            TorchDType::BF16 => Elem::BF16,
            TorchDType::I64 => Elem::I64,
            TorchDType::I32 => Elem::I32,
            TorchDType::I16 => Elem::I16,
            TorchDType::I8 => Elem::I8,
            TorchDType::U8 => Elem::U8,
            TorchDType::Bool => Elem::Bool,
            TorchDType::U16 => Elem::U16,
            TorchDType::U32 => Elem::U32,
            TorchDType::U64 => Elem::U64,
        }
    }

    /// PyTorch's name for the dtype, e.g. `"float32"`.
    pub fn name(self) -> &'static str {
        match self {
            TorchDType::F64 => "float64",
            TorchDType::F32 => "float32",
            TorchDType::F16 => "float16",
            TorchDType::BF16 => "bfloat16",
            TorchDType::I64 => "int64",
            TorchDType::I32 => "int32",
            TorchDType::I16 => "int16",
            TorchDType::I8 => "int8",
            TorchDType::U8 => "uint8",
            TorchDType::Bool => "bool",
            TorchDType::U16 => "uint16",
            TorchDType::U32 => "uint32",
            TorchDType::U64 => "uint64",
        }
    }

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        self.elem().size()
    }

    pub(super) fn from_storage_name(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => TorchDType::F64,
            "FloatStorage" => TorchDType::F32,
            "HalfStorage" => TorchDType::F16,
            "BFloat16Storage" => TorchDType::BF16,
            "LongStorage" => TorchDType::I64,
            "IntStorage" => TorchDType::I32,
            "ShortStorage" => TorchDType::I16,
            "CharStorage" => TorchDType::I8,
            "ByteStorage" => TorchDType::U8,
            "BoolStorage" => TorchDType::Bool,
            _ => return None,
        })
    }

    pub(super) fn from_dtype_name(name: &str) -> Option<Self> {
        Some(match name {
            "float64" | "double" => TorchDType::F64,
            "float32" | "float" => TorchDType::F32,
            "float16" | "half" => TorchDType::F16,
            "bfloat16" => TorchDType::BF16,
            "int64" | "long" => TorchDType::I64,
            "int32" | "int" => TorchDType::I32,
            "int16" | "short" => TorchDType::I16,
            "int8" => TorchDType::I8,
            "uint8" => TorchDType::U8,
            "bool" => TorchDType::Bool,
            "uint16" => TorchDType::U16,
            "uint32" => TorchDType::U32,
            "uint64" => TorchDType::U64,
            _ => return None,
        })
    }
}

/// Torch dtypes that exist but that wick cannot represent; naming them gives a clearer error
/// than the generic refusal.
pub(super) const UNSUPPORTED_DTYPES: &[&str] = &[
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "chalf",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
];

/// A storage referenced by a persistent id: zip member `data/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// The storage's key, naming its zip member.
    pub key: String,
    /// The element type; `None` for an untyped (byte) storage.
    pub dtype: Option<TorchDType>,
    /// Number of elements (bytes when untyped).
    pub numel: usize,
}

impl StorageRef {
    /// Size of the storage in bytes, checked.
    pub fn nbytes(&self) -> Option<usize> {
        self.numel.checked_mul(self.dtype.map_or(1, TorchDType::size_in_bytes))
    }
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// The storage viewed.
    pub storage: StorageRef,
    /// Element type of the tensor.
    pub dtype: TorchDType,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Sizes.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

/// A value of the unpickled object graph, as far as wick understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A bytes object.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict (or `OrderedDict`), entries in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A tensor.
    Tensor(Box<TensorRef>),
    /// A storage on its own.
    Storage(Box<StorageRef>),
    /// An allow-listed global that was referenced but not applied, as `module.name`.
    Global(String),
}
