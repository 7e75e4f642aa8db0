//! GGUF metadata values: the thirteen value types, scalars, strings and (nested) arrays, with
//! typed getters.

use crate::{Error, Result};

/// The type tag of a GGUF metadata value (`gguf_metadata_value_type` in the GGUF spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `u8` (tag 0).
    U8,
    /// `i8` (1).
    I8,
    /// `u16` (2).
    U16,
    /// `i16` (3).
    I16,
    /// `u32` (4).
    U32,
    /// `i32` (5).
    I32,
    /// `f32` (6).
    F32,
    /// `bool`, one byte 0 or 1 (7).
    Bool,
    /// UTF-8 string with a `u64` byte length (8).
    String,
    /// Typed array: element type tag, `u64` count, elements (9).
    Array,
    /// `u64` (10).
    U64,
    /// `i64` (11).
    I64,
    /// `f64` (12).
    F64,
}

impl ValueType {
    /// The type with tag `id`, if there is one.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    /// The tag stored in the file.
    pub fn id(self) -> u32 {
        match self {
            ValueType::U8 => 0,
            ValueType::I8 => 1,
            ValueType::U16 => 2,
            ValueType::I16 => 3,
            ValueType::U32 => 4,
            ValueType::I32 => 5,
            ValueType::F32 => 6,
            ValueType::Bool => 7,
            ValueType::String => 8,
            ValueType::Array => 9,
            ValueType::U64 => 10,
            ValueType::I64 => 11,
            ValueType::F64 => 12,
        }
    }

    /// Lower-case name used in messages (`"u32"`, `"string"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "u8",
            ValueType::I8 => "i8",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::F32 => "f32",
            ValueType::Bool => "bool",
            ValueType::String => "string",
            ValueType::Array => "array",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F64 => "f64",
        }
    }

    /// The fewest bytes one value of this type takes in a file (without its type tag): the
    /// scalar size, 8 for a string (its length), 12 for an array (element tag and count).
    /// The reader uses it to refuse counts that cannot fit before allocating anything.
    pub(crate) fn min_encoded_size(self) -> usize {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
            ValueType::Array => 12,
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
///
/// Getters are strict about the type (`to_u32` on a `U64` is an error), except
/// [`Value::to_usize`], which takes any non-negative integer that fits, since converters
/// disagree on the integer width of counts.
///
/// ```
/// use wick::gguf::{Array, Value};
/// let v = Value::U32(32);
/// assert_eq!(v.to_u32()?, 32);
/// assert_eq!(v.to_usize()?, 32);
/// assert!(v.to_f32().unwrap_err().to_string().contains("expected f32, found u32 32"));
/// let tokens = Value::Array(Array::String(vec!["<s>".into(), "a".into()]));
/// assert_eq!(tokens.to_string_vec()?, ["<s>", "a"]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// A string. Strings read from a file that are not valid UTF-8 are converted lossily
    /// (invalid sequences become U+FFFD), since some converters wrote raw token bytes.
    String(String),
    /// A typed array.
    Array(Array),
}

/// A typed metadata array. Elements are stored unboxed per type, so a large array (a
/// vocabulary, token scores) costs little more memory than it does on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// `u8` elements.
    U8(Vec<u8>),
    /// `i8` elements.
    I8(Vec<i8>),
    /// `u16` elements.
    U16(Vec<u16>),
    /// `i16` elements.
    I16(Vec<i16>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `u64` elements.
    U64(Vec<u64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `bool` elements.
    Bool(Vec<bool>),
    /// String elements.
    String(Vec<String>),
    /// Arrays of arrays (each inner array has its own element type).
    Array(Vec<Array>),
}

impl Array {
    /// The element type.
    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F32(_) => ValueType::F32,
            Array::F64(_) => ValueType::F64,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a [`Value`] (cloned), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.clone()),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
        })
    }

    /// Depth of array nesting: 1 for an array of scalars or strings, 2 for an array of such
    /// arrays, ...
    pub(crate) fn depth(&self) -> usize {
        match self {
            Array::Array(v) => 1 + v.iter().map(Array::depth).max().unwrap_or(0),
            _ => 1,
        }
    }
}

/// Conversion of a [`Value`] to a Rust type, used by [`Value::to`] and
/// [`Content::get`](super::Content::get).
pub trait FromValue<'a>: Sized {
    /// What the conversion expects, for error messages (`"u32"`, `"array of string"`).
    const EXPECTED: &'static str;
    /// The converted value, or `None` when the value has another type.
    fn from_value(value: &'a Value) -> Option<Self>;
}

impl<'a> FromValue<'a> for u8 {
    const EXPECTED: &'static str = "u8";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::U8(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for i8 {
    const EXPECTED: &'static str = "i8";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::I8(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for u16 {
    const EXPECTED: &'static str = "u16";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::U16(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for i16 {
    const EXPECTED: &'static str = "i16";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::I16(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for u32 {
    const EXPECTED: &'static str = "u32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::U32(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for i32 {
    const EXPECTED: &'static str = "i32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::I32(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for u64 {
    const EXPECTED: &'static str = "u64";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::U64(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for i64 {
    const EXPECTED: &'static str = "i64";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::I64(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for f32 {
    const EXPECTED: &'static str = "f32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::F32(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for f64 {
    const EXPECTED: &'static str = "f64";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::F64(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for bool {
    const EXPECTED: &'static str = "bool";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Bool(x) = value {
            Some(*x)
        } else {
            None
        }
    }
}
/// Any non-negative integer value that fits in `usize`.
impl<'a> FromValue<'a> for usize {
    const EXPECTED: &'static str = "a non-negative integer";
    fn from_value(value: &'a Value) -> Option<Self> {
        match *value {
            Value::U8(x) => Some(usize::from(x)),
            Value::U16(x) => Some(usize::from(x)),
            Value::U32(x) => usize::try_from(x).ok(),
            Value::U64(x) => usize::try_from(x).ok(),
            Value::I8(x) => usize::try_from(x).ok(),
            Value::I16(x) => usize::try_from(x).ok(),
            Value::I32(x) => usize::try_from(x).ok(),
            Value::I64(x) => usize::try_from(x).ok(),
            _ => None,
        }
    }
}
impl<'a> FromValue<'a> for &'a str {
    const EXPECTED: &'static str = "string";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::String(x) = value {
            Some(x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for &'a Array {
    const EXPECTED: &'static str = "array";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Array(x) = value {
            Some(x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for &'a [String] {
    const EXPECTED: &'static str = "array of string";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Array(Array::String(x)) = value {
            Some(x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for &'a [f32] {
    const EXPECTED: &'static str = "array of f32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Array(Array::F32(x)) = value {
            Some(x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for &'a [i32] {
    const EXPECTED: &'static str = "array of i32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Array(Array::I32(x)) = value {
            Some(x)
        } else {
            None
        }
    }
}
impl<'a> FromValue<'a> for &'a [u32] {
    const EXPECTED: &'static str = "array of u32";
    fn from_value(value: &'a Value) -> Option<Self> {
        if let Value::Array(Array::U32(x)) = value {
            Some(x)
        } else {
            None
        }
    }
}

impl Value {
    /// The type tag.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
        }
    }

    /// A short description for messages: `u32 5`, `string "llama"`, `array of 3 u32`.
    pub fn describe(&self) -> String {
        match self {
            Value::U8(x) => format!("u8 {x}"),
            Value::I8(x) => format!("i8 {x}"),
            Value::U16(x) => format!("u16 {x}"),
            Value::I16(x) => format!("i16 {x}"),
            Value::U32(x) => format!("u32 {x}"),
            Value::I32(x) => format!("i32 {x}"),
            Value::U64(x) => format!("u64 {x}"),
            Value::I64(x) => format!("i64 {x}"),
            Value::F32(x) => format!("f32 {x}"),
            Value::F64(x) => format!("f64 {x}"),
            Value::Bool(x) => format!("bool {x}"),
            Value::String(s) => {
                let short: String = s.chars().take(40).collect();
                let more = if short.len() < s.len() { "..." } else { "" };
                format!("string {short:?}{more}")
            }
            Value::Array(a) => format!("array of {} {}", a.len(), a.elem_type()),
        }
    }

    /// The error for a value of the wrong type, naming the metadata key when known.
    pub(crate) fn mismatch(&self, expected: &str, key: Option<&str>) -> Error {
        let at = key.map(|k| format!("metadata key {k:?}: ")).unwrap_or_default();
        Error::format("gguf", format!("{at}expected {expected}, found {}", self.describe()))
    }

    /// The value as `T`, or an [`Error::Format`] saying what was expected and found.
    pub fn to<'a, T: FromValue<'a>>(&'a self) -> Result<T> {
        T::from_value(self).ok_or_else(|| self.mismatch(T::EXPECTED, None))
    }

    /// The `u8` value.
    pub fn to_u8(&self) -> Result<u8> {
        self.to()
    }
    /// The `i8` value.
    pub fn to_i8(&self) -> Result<i8> {
        self.to()
    }
    /// The `u16` value.
    pub fn to_u16(&self) -> Result<u16> {
        self.to()
    }
    /// The `i16` value.
    pub fn to_i16(&self) -> Result<i16> {
        self.to()
    }
    /// The `u32` value.
    pub fn to_u32(&self) -> Result<u32> {
        self.to()
    }
    /// The `i32` value.
    pub fn to_i32(&self) -> Result<i32> {
        self.to()
    }
    /// The `u64` value.
    pub fn to_u64(&self) -> Result<u64> {
        self.to()
    }
    /// The `i64` value.
    pub fn to_i64(&self) -> Result<i64> {
        self.to()
    }
    /// The `f32` value.
    pub fn to_f32(&self) -> Result<f32> {
        self.to()
    }
    /// The `f64` value.
    pub fn to_f64(&self) -> Result<f64> {
        self.to()
    }
    /// The `bool` value.
    pub fn to_bool(&self) -> Result<bool> {
        self.to()
    }
    /// Any non-negative integer value that fits in `usize`, whatever its width.
    pub fn to_usize(&self) -> Result<usize> {
        self.to()
    }
    /// The string value.
    pub fn to_string(&self) -> Result<&str> {
        self.to()
    }
    /// The array value, of any element type.
    pub fn to_vec(&self) -> Result<&Array> {
        self.to()
    }
    /// The elements of an array of strings.
    pub fn to_string_vec(&self) -> Result<&[String]> {
        self.to()
    }
    /// The elements of an array of `f32`.
    pub fn to_f32_vec(&self) -> Result<&[f32]> {
        self.to()
    }
    /// The elements of an array of `i32`.
    pub fn to_i32_vec(&self) -> Result<&[i32]> {
        self.to()
    }
    /// The elements of an array of `u32`.
    pub fn to_u32_vec(&self) -> Result<&[u32]> {
        self.to()
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Array> for Value {
    fn from(a: Array) -> Self {
        Value::Array(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_getters_and_usize() {
        assert_eq!(Value::U64(7).to_usize().unwrap(), 7);
        assert_eq!(Value::I32(7).to_usize().unwrap(), 7);
        assert!(Value::I32(-1).to_usize().is_err());
        assert!(Value::F32(1.0).to_usize().is_err());
        assert!(Value::U64(7).to_u32().is_err());
        let e = Value::from("abc").to_u32().unwrap_err().to_string();
        assert_eq!(e, "gguf: expected u32, found string \"abc\"");
        assert_eq!(Value::from("abc").to_string().unwrap(), "abc");
        let a = Value::Array(Array::Array(vec![Array::U8(vec![1]), Array::Array(vec![Array::Bool(vec![])])]));
        assert_eq!(a.to_vec().unwrap().depth(), 3);
        assert_eq!(a.to_vec().unwrap().get(0), Some(Value::Array(Array::U8(vec![1]))));
        assert!(a
            .to_string_vec()
            .unwrap_err()
            .to_string()
            .contains("expected array of string, found array of 2 array"));
    }

    #[test]
    fn value_type_ids_round_trip() {
        for id in 0..13 {
            assert_eq!(ValueType::from_id(id).map(ValueType::id), Some(id));
        }
        assert_eq!(ValueType::from_id(13), None);
    }
}
