//! Block-quantized tensors in ggml's formats: block layouts, quantize / dequantize, dot
//! products against quantized activations, [`QTensor`] and the quantized matrix product
//! [`QTensor::matmul_t`].
//!
//! Each format is a `#[repr(C)]` block struct laid out byte for byte as ggml's
//! `ggml-common.h` `block_*` (sizes checked at compile time) implementing [`GgmlBlock`]. The
//! formats, their ggml types and the activation format their dot product takes:
//!
//! | block | elements | bytes | dot with |
//! |---|---:|---:|---|
//! | [`BlockQ4_0`] | 32 | 18 | [`BlockQ8_0`] |
//! | [`BlockQ4_1`] | 32 | 20 | [`BlockQ8_1`] |
//! | [`BlockQ5_0`] | 32 | 22 | [`BlockQ8_0`] |
//! | [`BlockQ5_1`] | 32 | 24 | [`BlockQ8_1`] |
//! | [`BlockQ8_0`] | 32 | 34 | [`BlockQ8_0`] |
//! | [`BlockQ8_1`] | 32 | 36 | [`BlockQ8_1`] |
//! | [`BlockQ2K`] | 256 | 84 | [`BlockQ8K`] |
//! | [`BlockQ3K`] | 256 | 110 | [`BlockQ8K`] |
//! | [`BlockQ4K`] | 256 | 144 | [`BlockQ8K`] |
//! | [`BlockQ5K`] | 256 | 176 | [`BlockQ8K`] |
//! | [`BlockQ6K`] | 256 | 210 | [`BlockQ8K`] |
//! | [`BlockQ8K`] | 256 | 292 | [`BlockQ8K`] |
//! | [`BlockIQ4NL`] | 32 | 18 | [`BlockQ8_0`] |
//! | [`BlockIQ4XS`] | 256 | 136 | [`BlockQ8K`] |
//!
//! Quantizing follows ggml's reference (`quantize_row_*_ref`) rounding: Q4_0, Q4_1, Q5_0,
//! Q5_1 and Q8_0 are bit-exact with the `gguf` Python package (checked by fixtures), and
//! dequantizing gives the same floats as `gguf.quants.dequantize` for every format it reads.
//!
//! ```
//! use wick::quantized::QTensor;
//! use wick::gguf::GgmlDType;
//! use wick::{Device, Tensor};
//! let w = Tensor::randn(0f32, 1.0, (64, 256), &Device::Cpu)?;
//! let q = QTensor::quantize(&w, GgmlDType::Q8_0)?;
//! let x = Tensor::randn(0f32, 1.0, (3, 256), &Device::Cpu)?;
//! let y = q.matmul_t(&x)?; // x @ w^T, shape (3, 64)
//! let dense = x.matmul(&q.dequantize()?.t()?)?;
//! let diff = y.sub(&dense)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
//! assert!(diff < 0.5, "{diff}");
//! # Ok::<(), wick::Error>(())
//! ```

pub(crate) mod interleaved;
mod iq4;
mod k_quants;
mod k_search;
mod legacy;
mod matmul;
mod qtensor;

pub use iq4::{BlockIQ4NL, BlockIQ4XS};
#[cfg(test)]
pub(crate) use k_quants::scale_min_k4;
pub use k_quants::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
pub use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
pub use qtensor::QTensor;

use crate::gguf::GgmlDType;
use crate::{Error, Result};

/// Elements in a K-quant super-block.
pub const QK_K: usize = 256;

/// One ggml quantization block: its layout, how to make it from f32 and back, and its dot
/// product with a row of quantized activations.
///
/// The `*_blocks` methods process `min(input blocks, output blocks)` whole blocks; the
/// `*_row` methods check the lengths first and return an error when they do not match.
pub trait GgmlBlock: bytemuck::Pod + Send + Sync + 'static {
    /// The ggml type id of this format.
    const DTYPE: GgmlDType;
    /// Elements per block.
    const BLOCK_SIZE: usize;
    /// The format activations are quantized to for [`GgmlBlock::vec_dot`].
    type VecDotType: GgmlBlock;

    /// Quantizes `x` a block (`BLOCK_SIZE` values) at a time into `out`.
    fn quantize_blocks(x: &[f32], out: &mut [Self]);
    /// Dequantizes `blocks` into `out`, `BLOCK_SIZE` values per block.
    fn dequantize_blocks(blocks: &[Self], out: &mut [f32]);
    /// Σ a·b over the blocks zipped pairwise, with the fastest kernel this CPU has.
    fn dot_blocks(a: &[Self], b: &[Self::VecDotType]) -> f32;
    /// The same dot product by the plain scalar reference.
    fn dot_blocks_reference(a: &[Self], b: &[Self::VecDotType]) -> f32;

    /// Every weight row of `w` dotted with every activation row of `x`, rows of `kb` blocks:
    /// `out[r * m + i] = w_r · x_i` with `m = x.len() / kb`. Formats with a tile kernel
    /// override this so a weight block is unpacked once for several activation rows.
    fn dot_tile(w: &[Self], x: &[Self::VecDotType], kb: usize, out: &mut [f32]) {
        if kb == 0 {
            return;
        }
        let m = x.len() / kb;
        for (wr, dst) in w.chunks_exact(kb).zip(out.chunks_mut(m.max(1))) {
            for (o, xr) in dst.iter_mut().zip(x.chunks_exact(kb)) {
                *o = Self::dot_blocks(wr, xr);
            }
        }
    }

    /// Quantizes a row: `x.len()` must be `out.len() * BLOCK_SIZE`.
    fn quantize_row(x: &[f32], out: &mut [Self]) -> Result<()> {
        check_len("quantize_row", Self::DTYPE, x.len(), out.len(), Self::BLOCK_SIZE)?;
        Self::quantize_blocks(x, out);
        Ok(())
    }

    /// Dequantizes a row: `out.len()` must be `blocks.len() * BLOCK_SIZE`.
    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<()> {
        check_len("dequantize_row", Self::DTYPE, out.len(), blocks.len(), Self::BLOCK_SIZE)?;
        Self::dequantize_blocks(blocks, out);
        Ok(())
    }

    /// The dot product of a quantized row with a row of activations in
    /// [`GgmlBlock::VecDotType`] of the same number of blocks.
    fn vec_dot(a: &[Self], b: &[Self::VecDotType]) -> Result<f32> {
        check_blocks(Self::DTYPE, a.len(), b.len())?;
        Ok(Self::dot_blocks(a, b))
    }

    /// [`GgmlBlock::vec_dot`] by the scalar reference.
    fn vec_dot_reference(a: &[Self], b: &[Self::VecDotType]) -> Result<f32> {
        check_blocks(Self::DTYPE, a.len(), b.len())?;
        Ok(Self::dot_blocks_reference(a, b))
    }
}

fn check_len(op: &'static str, dtype: GgmlDType, values: usize, blocks: usize, bs: usize) -> Result<()> {
    if blocks.checked_mul(bs) != Some(values) {
        return Err(Error::invalid(
            op,
            format!("{values} values do not fill {blocks} {dtype} blocks of {bs}"),
        ));
    }
    Ok(())
}

fn check_blocks(dtype: GgmlDType, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::invalid("vec_dot", format!("{a} {dtype} blocks against {b} activation blocks")));
    }
    Ok(())
}

/// Runs `$body` with `$B` bound to the block type of a quantized [`GgmlDType`]; the one table
/// from ggml type to block format. `$other` runs for dense types.
macro_rules! with_block {
    ($dtype:expr, $B:ident => $body:expr, $other:ident => $fallback:expr) => {{
        use $crate::gguf::GgmlDType as G;
        use $crate::quantized::*;
        match $dtype {
            G::Q4_0 => {
                type $B = BlockQ4_0;
                $body
            }
            G::Q4_1 => {
                type $B = BlockQ4_1;
                $body
            }
            G::Q5_0 => {
                type $B = BlockQ5_0;
                $body
            }
            G::Q5_1 => {
                type $B = BlockQ5_1;
                $body
            }
            G::Q8_0 => {
                type $B = BlockQ8_0;
                $body
            }
            G::Q8_1 => {
                type $B = BlockQ8_1;
                $body
            }
            G::Q2_K => {
                type $B = BlockQ2K;
                $body
            }
            G::Q3_K => {
                type $B = BlockQ3K;
                $body
            }
            G::Q4_K => {
                type $B = BlockQ4K;
                $body
            }
            G::Q5_K => {
                type $B = BlockQ5K;
                $body
            }
            G::Q6_K => {
                type $B = BlockQ6K;
                $body
            }
            G::Q8_K => {
                type $B = BlockQ8K;
                $body
            }
            G::IQ4_NL => {
                type $B = BlockIQ4NL;
                $body
            }
            G::IQ4_XS => {
                type $B = BlockIQ4XS;
                $body
            }
            $other => $fallback,
        }
    }};
}
pub(crate) use with_block;

/// Dequantizes raw block bytes of type `dtype` (as stored in a GGUF file) into `out`, which
/// must hold `block_size` values per block. Dense types are refused.
///
/// ```
/// use wick::gguf::GgmlDType;
/// let mut block = vec![0u8; 34]; // Q8_0: f16 scale 1.0, then 32 i8 quants
/// block[..2].copy_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
/// block[2] = 5;
/// let mut out = vec![0f32; 32];
/// wick::quantized::dequantize_bytes(GgmlDType::Q8_0, &block, &mut out)?;
/// assert_eq!(out[0], 5.0);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn dequantize_bytes(dtype: GgmlDType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    use bytemuck::Zeroable as _;
    with_block!(dtype, B => {
        let mut blocks = vec![B::zeroed(); bytes.len() / std::mem::size_of::<B>()];
        if std::mem::size_of_val(blocks.as_slice()) != bytes.len() {
            return Err(Error::invalid("dequantize_bytes", format!("{} bytes are not whole {dtype} blocks", bytes.len())));
        }
        bytemuck::cast_slice_mut::<B, u8>(&mut blocks).copy_from_slice(bytes);
        B::dequantize_row(&blocks, out)
    }, d => Err(Error::invalid("dequantize_bytes", format!("{d} is not a block-quantized type"))))
}

/// Quantizes `x` into raw block bytes of type `dtype` (the bytes a GGUF file stores).
///
/// ```
/// use wick::gguf::GgmlDType;
/// let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
/// let bytes = wick::quantized::quantize_bytes(GgmlDType::Q4_0, &x)?;
/// assert_eq!(bytes.len(), 18);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn quantize_bytes(dtype: GgmlDType, x: &[f32]) -> Result<Vec<u8>> {
    use bytemuck::Zeroable as _;
    with_block!(dtype, B => {
        let mut blocks = vec![B::zeroed(); x.len() / B::BLOCK_SIZE];
        B::quantize_row(x, &mut blocks)?;
        Ok(bytemuck::cast_slice::<B, u8>(&blocks).to_vec())
    }, d => Err(Error::invalid("quantize_bytes", format!("{d} is not a block-quantized type"))))
}

/// ggml's `nearest_int`: round half to even (exact for |x| < 2²²), saturating outside.
#[inline]
pub(crate) fn nearest_int(x: f32) -> i32 {
    x.round_ties_even() as i32
}

/// IQ4's 16 levels.
pub(crate) fn iq4_values() -> &'static [i8; 16] {
    &k_search::IQ4_VALUES
}

pub(crate) use iq4::unpack_indices as iq4_unpack;
