//! The ggml tensor types a GGUF file can hold: ids, block sizes and bytes per block.
//!
//! Values from ggml's `ggml.h` (`enum ggml_type`) and `ggml-common.h` (the `block_*` structs
//! and their `static_assert`ed sizes), `QK_K = 256`. gguf-py's `GGML_QUANT_SIZES` agrees on
//! every type here except Q8_1, which it lists as 40 bytes (the old `float d, s` layout);
//! ggml has used two `ggml_half`s (36 bytes) since 2023 and that is what ggml reads.

use crate::{DType, Error, Result};

/// A tensor element type of ggml, as stored in a GGUF tensor info.
///
/// Dense types hold one element per block; quantized types pack `block_size()` elements into
/// `type_size()` bytes. The variant names are ggml's own.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlDType {
    /// IEEE single precision (ggml type 0).
    F32,
    /// IEEE half precision (1).
    F16,
    /// Brain float 16 (30).
    BF16,
    /// IEEE double precision (28).
    F64,
    /// Signed 8-bit integer (24).
    I8,
    /// Signed 16-bit integer (25).
    I16,
    /// Signed 32-bit integer (26).
    I32,
    /// Signed 64-bit integer (27).
    I64,
    /// 32 elements: f16 scale + 16 bytes of 4-bit quants (2).
    Q4_0,
    /// 32 elements: f16 scale and min + 16 bytes of 4-bit quants (3).
    Q4_1,
    /// 32 elements: f16 scale + 4 bytes of high bits + 16 bytes of low nibbles (6).
    Q5_0,
    /// 32 elements: f16 scale and min + high bits + low nibbles (7).
    Q5_1,
    /// 32 elements: f16 scale + 32 signed bytes (8).
    Q8_0,
    /// 32 elements: f16 scale and sum + 32 signed bytes (9).
    Q8_1,
    /// 256-element super-block, 2-bit (10).
    Q2_K,
    /// 256-element super-block, 3-bit (11).
    Q3_K,
    /// 256-element super-block, 4-bit (12).
    Q4_K,
    /// 256-element super-block, 5-bit (13).
    Q5_K,
    /// 256-element super-block, 6-bit (14).
    Q6_K,
    /// 256-element super-block, 8-bit with f32 scale and block sums (15).
    Q8_K,
    /// 32 elements, 4-bit non-linear (20).
    IQ4_NL,
    /// 256-element super-block, 4-bit non-linear with 6-bit scales (23).
    IQ4_XS,
}

impl GgmlDType {
    /// Every supported type, in ggml id order.
    pub const ALL: [GgmlDType; 22] = [
        GgmlDType::F32,
        GgmlDType::F16,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q8_1,
        GgmlDType::Q2_K,
        GgmlDType::Q3_K,
        GgmlDType::Q4_K,
        GgmlDType::Q5_K,
        GgmlDType::Q6_K,
        GgmlDType::Q8_K,
        GgmlDType::IQ4_NL,
        GgmlDType::IQ4_XS,
        GgmlDType::I8,
        GgmlDType::I16,
        GgmlDType::I32,
        GgmlDType::I64,
        GgmlDType::F64,
        GgmlDType::BF16,
    ];

    /// The ggml type id stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.info().0
    }

    /// ggml's name for the type (`"Q4_K"`, `"BF16"`, ...).
    pub fn name(self) -> &'static str {
        self.info().1
    }

    /// Elements per block (1 for dense types).
    pub fn block_size(self) -> usize {
        self.info().2
    }

    /// Bytes per block (the element size for dense types).
    pub fn type_size(self) -> usize {
        self.info().3
    }

    /// True for the block-quantized types.
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    // (id, name, elements per block, bytes per block), from ggml.h and ggml-common.h.
    fn info(self) -> (u32, &'static str, usize, usize) {
        const QK_K: usize = 256;
        match self {
            GgmlDType::F32 => (0, "F32", 1, 4),
            GgmlDType::F16 => (1, "F16", 1, 2),
            GgmlDType::Q4_0 => (2, "Q4_0", 32, 2 + 16),
            GgmlDType::Q4_1 => (3, "Q4_1", 32, 2 + 2 + 16),
            GgmlDType::Q5_0 => (6, "Q5_0", 32, 2 + 4 + 16),
            GgmlDType::Q5_1 => (7, "Q5_1", 32, 2 + 2 + 4 + 16),
            GgmlDType::Q8_0 => (8, "Q8_0", 32, 2 + 32),
            GgmlDType::Q8_1 => (9, "Q8_1", 32, 2 + 2 + 32),
            GgmlDType::Q2_K => (10, "Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2),
            GgmlDType::Q3_K => (11, "Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2),
            GgmlDType::Q4_K => (12, "Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2),
            GgmlDType::Q5_K => (13, "Q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2),
            GgmlDType::Q6_K => (14, "Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2),
            GgmlDType::Q8_K => (15, "Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2),
            GgmlDType::IQ4_NL => (20, "IQ4_NL", 32, 2 + 16),
            GgmlDType::IQ4_XS => (23, "IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2),
            GgmlDType::I8 => (24, "I8", 1, 1),
            GgmlDType::I16 => (25, "I16", 1, 2),
            GgmlDType::I32 => (26, "I32", 1, 4),
            GgmlDType::I64 => (27, "I64", 1, 8),
            GgmlDType::F64 => (28, "F64", 1, 8),
            GgmlDType::BF16 => (30, "BF16", 1, 2),
        }
    }

    /// The type with ggml id `id`, or a message saying why there is none: an id ggml knows
    /// but wick does not read ("unsupported type IQ2_XXS"), one ggml removed, or an unknown
    /// one.
    pub(crate) fn lookup(id: u32) -> std::result::Result<Self, String> {
        if let Some(t) = Self::ALL.iter().copied().find(|t| t.id() == id) {
            return Ok(t);
        }
        let unsupported = match id {
            16 => "IQ2_XXS",
            17 => "IQ2_XS",
            18 => "IQ3_XXS",
            19 => "IQ1_S",
            21 => "IQ3_S",
            22 => "IQ2_S",
            29 => "IQ1_M",
            34 => "TQ1_0",
            35 => "TQ2_0",
            39 => "MXFP4",
            40 => "NVFP4",
            41 => "Q1_0",
            _ => "",
        };
        if !unsupported.is_empty() {
            return Err(format!(
                "unsupported type {unsupported} (ggml type {id}): wick does not read it yet"
            ));
        }
        let removed = match id {
            4 => "Q4_2",
            5 => "Q4_3",
            31 => "Q4_0_4_4",
            32 => "Q4_0_4_8",
            33 => "Q4_0_8_8",
            36 => "IQ4_NL_4_4",
            37 => "IQ4_NL_4_8",
            38 => "IQ4_NL_8_8",
            _ => "",
        };
        if !removed.is_empty() {
            return Err(format!(
                "ggml type {id} ({removed}) was removed from GGUF files by ggml; re-convert the model"
            ));
        }
        Err(format!("unknown ggml type id {id}"))
    }

    /// The type with ggml id `id`; an [`Error::Format`] naming the type for ids wick does not
    /// read (`"unsupported type IQ2_XXS"`) and for unknown ids.
    ///
    /// ```
    /// use wick::gguf::GgmlDType;
    /// assert_eq!(GgmlDType::from_id(8)?, GgmlDType::Q8_0);
    /// assert!(GgmlDType::from_id(16).unwrap_err().to_string().contains("unsupported type IQ2_XXS"));
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn from_id(id: u32) -> Result<Self> {
        Self::lookup(id).map_err(|msg| Error::format("gguf", msg))
    }

    /// The wick dtype a tensor of this type reads into without conversion (F32, F16, BF16,
    /// F64, I64), if any.
    pub fn to_dtype(self) -> Option<DType> {
        match self {
            GgmlDType::F32 => Some(DType::F32),
            GgmlDType::F16 => Some(DType::F16),
            GgmlDType::BF16 => Some(DType::BF16),
            GgmlDType::F64 => Some(DType::F64),
            GgmlDType::I64 => Some(DType::I64),
            _ => None,
        }
    }

    /// The ggml type a wick dtype is stored as, if GGUF has one (U8 and U32 have none).
    pub fn from_dtype(dtype: DType) -> Option<Self> {
        match dtype {
            DType::F32 => Some(GgmlDType::F32),
            DType::F16 => Some(GgmlDType::F16),
            DType::BF16 => Some(GgmlDType::BF16),
            DType::F64 => Some(GgmlDType::F64),
            DType::I64 => Some(GgmlDType::I64),
            DType::U8 | DType::U32 => None,
        }
    }

    /// Bytes taken by a tensor of this type with row-major `shape`, or a message saying why
    /// the shape does not fit: the row (innermost dim) is not a whole number of blocks, or the
    /// size overflows `usize`. A rank-0 shape is one element.
    pub(crate) fn byte_size(self, shape: &[usize]) -> std::result::Result<usize, String> {
        let row = shape.last().copied().unwrap_or(1);
        let block = self.block_size();
        if row % block != 0 {
            return Err(format!(
                "row length {row} (innermost dim of {shape:?}) is not a multiple of the block size {block} of {}",
                self.name()
            ));
        }
        let outer =
            shape.iter().take(shape.len().saturating_sub(1)).try_fold(1usize, |acc, &d| acc.checked_mul(d));
        outer
            .and_then(|rows| rows.checked_mul(row / block))
            .and_then(|blocks| blocks.checked_mul(self.type_size()))
            .ok_or_else(|| format!("byte size of {shape:?} {} overflows", self.name()))
    }
}

impl std::fmt::Display for GgmlDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_ggml() {
        // (type, id, block, bytes) as `static_assert`ed in ggml-common.h.
        let expect = [
            (GgmlDType::Q4_0, 2, 32, 18),
            (GgmlDType::Q4_1, 3, 32, 20),
            (GgmlDType::Q5_0, 6, 32, 22),
            (GgmlDType::Q5_1, 7, 32, 24),
            (GgmlDType::Q8_0, 8, 32, 34),
            (GgmlDType::Q8_1, 9, 32, 36),
            (GgmlDType::Q2_K, 10, 256, 84),
            (GgmlDType::Q3_K, 11, 256, 110),
            (GgmlDType::Q4_K, 12, 256, 144),
            (GgmlDType::Q5_K, 13, 256, 176),
            (GgmlDType::Q6_K, 14, 256, 210),
            (GgmlDType::Q8_K, 15, 256, 292),
            (GgmlDType::IQ4_NL, 20, 32, 18),
            (GgmlDType::IQ4_XS, 23, 256, 136),
        ];
        for (t, id, block, bytes) in expect {
            assert_eq!((t.id(), t.block_size(), t.type_size()), (id, block, bytes), "{t}");
            assert!(t.is_quantized());
        }
        for t in GgmlDType::ALL {
            assert_eq!(GgmlDType::from_id(t.id()).unwrap(), t);
        }
        let ids: std::collections::HashSet<u32> = GgmlDType::ALL.iter().map(|t| t.id()).collect();
        assert_eq!(ids.len(), GgmlDType::ALL.len());
    }

    #[test]
    fn unknown_removed_and_unsupported_ids() {
        assert!(GgmlDType::lookup(17).unwrap_err().contains("unsupported type IQ2_XS "));
        assert!(GgmlDType::lookup(4).unwrap_err().contains("removed"));
        assert!(GgmlDType::lookup(999).unwrap_err().contains("unknown ggml type id 999"));
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(GgmlDType::Q8_0.byte_size(&[3, 64]), Ok(3 * 2 * 34));
        assert_eq!(GgmlDType::F32.byte_size(&[]), Ok(4));
        assert_eq!(GgmlDType::F32.byte_size(&[0, 5]), Ok(0));
        assert!(GgmlDType::Q4_K
            .byte_size(&[2, 32])
            .unwrap_err()
            .contains("not a multiple of the block size"));
        assert!(GgmlDType::F32.byte_size(&[usize::MAX, 2]).unwrap_err().contains("overflows"));
    }
}
