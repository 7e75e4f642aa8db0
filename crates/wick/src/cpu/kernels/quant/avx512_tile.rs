//! AVX-512 VNNI tile kernels: a tile of up to `R` weight rows times `A` activation rows,
//! so each weight block is loaded and unpacked once for `A` activation rows and each
//! activation block once for `R` weight rows.
//!
//! Every weight level is brought to an unsigned byte `q + OFFSET` (0..=255) so that one
//! `vpdpbusd` (unsigned × signed bytes, summed by four into i32 lanes) does the products;
//! `OFFSET · Σy` is taken off afterwards, computed once per activation block by a `vpdpbusd`
//! with a constant. Integer sums are exact; they are scaled in f32 per block (32-element
//! formats, two blocks per 512-bit step) or per super-block (K-quants, four steps of 64).
//!
//! Output: `out[r * m + i]` is the dot of weight row `r` with activation row `i`, for the
//! `w.len() / kb` weight rows and `m = x.len() / kb` activation rows.

// Tile loops index several parallel arrays (rows, activation rows, steps) by the same
// counter; ranges say that more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

use crate::quantized::{BlockIQ4NL, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0};
use std::arch::x86_64::*;

/// Weight rows and activation rows of a full tile.
const R: usize = 4;
const A: usize = 4;

/// Asks for the cache lines holding `row[ahead]`, which may lie past the end of `row`.
///
/// Weight rows are contiguous, `kb` blocks apart, so `row[RR·kb + j]` is block `j` of the
/// row one tile further on: each step fetches the next tile's blocks at the pace this tile
/// reads its own, one tile ahead. Without this a one-row product (decode) waits on memory at
/// every 4 KiB page, where the hardware prefetchers stop.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn prefetch_next_tile<T>(row: &[T], ahead: usize) {
    let p: *const i8 = row.as_ptr().wrapping_add(ahead).cast();
    // Every cache line the element touches (an element is at most a few lines). A prefetch
    // never faults, so the addresses need not be inside any allocation.
    let size = std::mem::size_of::<T>();
    for off in (0..size).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(size - 1));
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn idx(v: [i32; 16]) -> __m512i {
    // SAFETY: `v` is 64 bytes; the load is unaligned.
    unsafe { _mm512_loadu_si512(v.as_ptr() as *const __m512i) }
}

/// 32 bytes at `p[..32]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn load32<T: bytemuck::Pod>(p: &[T]) -> __m256i {
    let b: &[u8] = bytemuck::cast_slice(p);
    assert!(b.len() >= 32);
    // SAFETY: `b` holds at least 32 bytes (checked above); the load is unaligned.
    unsafe { _mm256_loadu_si256(b.as_ptr() as *const __m256i) }
}

/// 64 bytes at `p[..64]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn load64<T: bytemuck::Pod>(p: &[T]) -> __m512i {
    let b: &[u8] = bytemuck::cast_slice(p);
    assert!(b.len() >= 64);
    // SAFETY: `b` holds at least 64 bytes (checked above); the load is unaligned.
    unsafe { _mm512_loadu_si512(b.as_ptr() as *const __m512i) }
}

/// 16 bytes at `p[..16]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn load16<T: bytemuck::Pod>(p: &[T]) -> __m128i {
    let b: &[u8] = bytemuck::cast_slice(p);
    assert!(b.len() >= 16);
    // SAFETY: `b` holds at least 16 bytes (checked above); the load is unaligned.
    unsafe { _mm_loadu_si128(b.as_ptr() as *const __m128i) }
}

/// Two f16 scales as `[a; 8] ++ [b; 8]` in f32: two word broadcasts (the second under a
/// mask) and one conversion.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn scale_pair(a: half::f16, b: half::f16) -> __m512 {
    let h = _mm256_mask_set1_epi16(_mm256_set1_epi16(a.to_bits() as i16), 0xFF00, b.to_bits() as i16);
    _mm512_cvtph_ps(h)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn h2f(h: half::f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits()))))
}

/// The bytes of two consecutive blocks as 16-bit words, zero past their end (at most 64
/// bytes: the 18- and 22-byte formats).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn pair_words<T: bytemuck::Pod>(pair: &[T; 2]) -> __m512i {
    let b: &[u8] = bytemuck::cast_slice(pair);
    assert!(b.len() <= 64 && b.len().is_multiple_of(2));
    let mask: __mmask32 = (1u32 << (b.len() / 2)) - 1;
    // SAFETY: the mask selects the `b.len() / 2` words of `b` only; masked-off words are
    // neither read nor able to fault.
    unsafe { _mm512_maskz_loadu_epi16(mask, b.as_ptr().cast()) }
}

/// The `vpermw` index that gathers the 16 nibble bytes of a block pair starting at word `qa`
/// (first block) and word `qb` (second) into `[a | a | b | b]` (128-bit lanes).
const fn nibble_index(qa: i16, qb: i16) -> [i16; 32] {
    let mut i = [0i16; 32];
    let mut l = 0;
    while l < 32 {
        i[l] = if l < 16 { qa } else { qb } + (l % 8) as i16;
        l += 1;
    }
    i
}

/// The `vpermw` index that puts the word `da` in words 0..8 and `db` in words 8..16.
const fn scale_index(da: i16, db: i16) -> [i16; 32] {
    let mut i = [0i16; 32];
    let mut l = 0;
    while l < 32 {
        i[l] = if l < 8 { da } else { db };
        l += 1;
    }
    i
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn permute_words(v: __m512i, index: &[i16; 32]) -> __m512i {
    // SAFETY: `index` is 64 bytes; the load is unaligned.
    let i = unsafe { _mm512_loadu_si512(index.as_ptr().cast()) };
    _mm512_permutexvar_epi16(i, v)
}

/// The 64 4-bit levels of a block pair, `[lo(a) | hi(a) | lo(b) | hi(b)]` (low nibbles are
/// elements 0..16 of a block, high nibbles 16..32), from the words `v` of the pair and a
/// [`nibble_index`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn nibbles_at(v: __m512i, index: &[i16; 32]) -> __m512i {
    let z = _mm512_srlv_epi64(permute_words(v, index), _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
}

/// `[d_a; 8] ++ [d_b; 8]` in f32 of the f16 scales a [`scale_index`] picks from `v`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn scales_at(v: __m512i, index: &[i16; 32]) -> __m512 {
    _mm512_cvtph_ps(_mm512_castsi512_si256(permute_words(v, index)))
}

/// Stamps out the tile kernel of a 32-element weight format dotted with Q8_0 activations:
/// `$pair` turns two consecutive blocks into their 64 unsigned levels `q + $off` and their
/// scales `[d_a; 8] ++ [d_b; 8]`.
///
/// One activation row (decode) takes [`gemv_legacy`]'s path: the activation's per-step
/// vectors are made once and every weight row streams past them.
macro_rules! legacy_tile {
    ($name:ident, $W:ty, $off:expr, |$p:ident| $pair:expr) => {
        /// Tile kernel (see the module documentation).
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
        pub(crate) fn $name(w: &[$W], x: &[BlockQ8_0], kb: usize, out: &mut [f32]) {
            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
            fn pair($p: &[$W; 2]) -> (__m512i, __m512) {
                $pair
            }

            /// Blocks `j` and `j + 1` of `row`; an odd last block is paired with itself (the
            /// activation side gives the copy a zero scale).
            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
            fn pair_at(row: &[$W], j: usize) -> (__m512i, __m512) {
                // A reference into the row, not a copy: a vector load of freshly stored
                // blocks would stall on store forwarding.
                match row.get(j..j + 2).and_then(|p| <&[$W; 2]>::try_from(p).ok()) {
                    Some(p) => pair(p),
                    None => pair(&[row[j], row[j]]),
                }
            }

            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
            fn micro<const RR: usize, const AA: usize>(
                w: [&[$W]; RR],
                x: [&[BlockQ8_0]; AA],
                kb: usize,
            ) -> [[f32; AA]; RR] {
                let mut acc = [[_mm512_setzero_ps(); AA]; RR];
                for r in 0..RR {
                    assert!(w[r].len() >= kb);
                }
                for j in (0..kb).step_by(2) {
                    let act: [Q8Pair; AA] = std::array::from_fn(|a| q8_pair(x[a], j, $off));
                    for r in 0..RR {
                        prefetch_next_tile(w[r], RR * kb + j);
                        prefetch_next_tile(w[r], RR * kb + j + 1);
                        let (q, dx) = pair_at(w[r], j);
                        for a in 0..AA {
                            let p = _mm512_dpbusd_epi32(act[a].bias, q, act[a].y);
                            acc[r][a] = _mm512_fmadd_ps(
                                _mm512_cvtepi32_ps(p),
                                _mm512_mul_ps(dx, act[a].d),
                                acc[r][a],
                            );
                        }
                    }
                }
                acc.map(|row| row.map(|v| _mm512_reduce_add_ps(v)))
            }

            if kb > 0 && x.len() == kb {
                gemv_legacy(w, x, kb, out, $off, |p: &[$W; 2]| pair(p));
            } else {
                tile_driver!(w, x, kb, out, micro);
            }
        }
    };
}

/// One step (two blocks) of a Q8_0 activation row, ready for `vpdpbusd` against weight
/// levels offset by `off`.
#[derive(Clone, Copy)]
struct Q8Pair {
    /// The 64 activation bytes.
    y: __m512i,
    /// `−off·Σy` over each group of four, the start of every product's sum.
    bias: __m512i,
    /// `[d_a; 8] ++ [d_b; 8]`, the second half zero when the row ends after block `j`.
    d: __m512,
}

/// Step `j` of the activation row `x` (blocks `j`, `j + 1`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn q8_pair(x: &[BlockQ8_0], j: usize, off: u8) -> Q8Pair {
    let last = j + 1 == x.len();
    let (p, q) = (&x[j], &x[if last { j } else { j + 1 }]);
    let y = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load32(&p.qs)), load32(&q.qs));
    let zero = _mm512_setzero_si512();
    let bias = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(off as i8), y));
    let d = scale_pair(p.d, q.d);
    Q8Pair { y, bias, d: if last { _mm512_maskz_mov_ps(0x00FF, d) } else { d } }
}

/// `out[r] = w_r · x` for the `w.len() / kb` rows of `w` and the single activation row `x`
/// (kb blocks); `pair` gives the levels and scales of two consecutive blocks of a row.
///
/// The activation's steps are made once; rows go four at a time, each step asking for the
/// same blocks of the next four rows (memory-bound: the weights are read once).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn gemv_legacy<W: Copy>(
    w: &[W],
    x: &[BlockQ8_0],
    kb: usize,
    out: &mut [f32],
    off: u8,
    pair: impl Fn(&[W; 2]) -> (__m512i, __m512) + Copy,
) {
    let act: Vec<Q8Pair> = (0..kb).step_by(2).map(|j| q8_pair(x, j, off)).collect();
    let rows = w.len() / kb;
    assert!(out.len() >= rows);
    let row = |r: usize| &w[r * kb..(r + 1) * kb];
    let mut r = 0;
    while rows - r >= 4 {
        let dots = gemv_rows::<W, 4>(std::array::from_fn(|t| row(r + t)), &act, pair);
        out[r..r + 4].copy_from_slice(&dots);
        r += 4;
    }
    while r < rows {
        out[r] = gemv_rows::<W, 1>([row(r)], &act, pair)[0];
        r += 1;
    }
}

/// The dots of `RR` consecutive rows (of `kb` blocks each) with the activation steps `act`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn gemv_rows<W: Copy, const RR: usize>(
    rows: [&[W]; RR],
    act: &[Q8Pair],
    pair: impl Fn(&[W; 2]) -> (__m512i, __m512),
) -> [f32; RR] {
    let kb = rows[0].len();
    let pairs: [&[[W; 2]]; RR] = rows.map(|r| r.as_chunks::<2>().0);
    let mut acc = [_mm512_setzero_ps(); RR];
    let mut step = |t: usize, q: __m512i, dx: __m512, a: &Q8Pair| {
        let p = _mm512_dpbusd_epi32(a.bias, q, a.y);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dx, a.d), acc[t]);
    };
    for (s, a) in act.iter().enumerate().take(kb / 2) {
        for t in 0..RR {
            // The same pair of the row `RR` rows on: rows are contiguous, `kb` blocks apart.
            let ahead = rows[t].as_ptr().wrapping_add(RR * kb + 2 * s);
            prefetch_bytes(ahead.cast(), 2 * std::mem::size_of::<W>());
            let (q, dx) = pair(&pairs[t][s]);
            step(t, q, dx, a);
        }
    }
    if kb % 2 == 1 {
        // The last step's activation scales are zero past its one block.
        let a = &act[kb / 2];
        for t in 0..RR {
            let last = rows[t][kb - 1];
            let (q, dx) = pair(&[last, last]);
            step(t, q, dx, a);
        }
    }
    acc.map(|v| _mm512_reduce_add_ps(v))
}

/// Asks for the cache lines of `bytes` bytes from `p`, one per 64 bytes: enough to cover
/// every line when a loop asks for consecutive runs of at most 64 bytes, or several lines.
/// `p` may point anywhere: a prefetch never faults.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn prefetch_bytes(p: *const i8, bytes: usize) {
    for off in (0..bytes).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
}

/// Runs `$micro` over the `R × A` tiles (and the single-row / single-column edges) of the
/// product and stores the results.
macro_rules! tile_driver {
    ($w:ident, $x:ident, $kb:ident, $out:ident, $micro:ident) => {{
        let (nr, m) = ($w.len() / $kb, $x.len() / $kb);
        assert!($out.len() >= nr * m);
        let wrow = |r: usize| &$w[r * $kb..(r + 1) * $kb];
        let xrow = |i: usize| &$x[i * $kb..(i + 1) * $kb];
        let mut r = 0;
        while r < nr {
            let rr = if nr - r >= R { R } else { 1 };
            let mut i = 0;
            while i < m {
                let aa = if m - i >= A { A } else { 1 };
                match (rr, aa) {
                    (R, A) => {
                        let t = $micro::<R, A>(
                            std::array::from_fn(|k| wrow(r + k)),
                            std::array::from_fn(|k| xrow(i + k)),
                            $kb,
                        );
                        for (k, row) in t.iter().enumerate() {
                            $out[(r + k) * m + i..][..A].copy_from_slice(row);
                        }
                    }
                    (R, _) => {
                        let t = $micro::<R, 1>(std::array::from_fn(|k| wrow(r + k)), [xrow(i)], $kb);
                        for (k, row) in t.iter().enumerate() {
                            $out[(r + k) * m + i] = row[0];
                        }
                    }
                    (_, A) => {
                        let t = $micro::<1, A>([wrow(r)], std::array::from_fn(|k| xrow(i + k)), $kb);
                        $out[r * m + i..][..A].copy_from_slice(&t[0]);
                    }
                    _ => $out[r * m + i] = $micro::<1, 1>([wrow(r)], [xrow(i)], $kb)[0][0],
                }
                i += aa;
            }
            r += rr;
        }
    }};
}

// Word offsets in a pair of 18-byte blocks (d, 16 nibble bytes): d at words 0 and 9, the
// nibbles at words 1 and 10.
legacy_tile!(tile_q4_0, BlockQ4_0, 8u8, |p| {
    let v = pair_words(p);
    (nibbles_at(v, &const { nibble_index(1, 10) }), scales_at(v, &const { scale_index(0, 9) }))
});

legacy_tile!(tile_q8_0, BlockQ8_0, 0x80u8, |p| {
    let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load32(&p[0].qs)), load32(&p[1].qs));
    (_mm512_xor_si512(v, _mm512_set1_epi8(-128)), scale_pair(p[0].d, p[1].d))
});

// A pair of 22-byte blocks (d, 4 bytes of fifth bits, 16 nibble bytes): d at words 0 and 11,
// the nibbles at words 3 and 14.
legacy_tile!(tile_q5_0, BlockQ5_0, 16u8, |p| {
    let v = pair_words(p);
    let bits = u64::from(u32::from_le_bytes(p[0].qh)) | (u64::from(u32::from_le_bytes(p[1].qh)) << 32);
    let q = nibbles_at(v, &const { nibble_index(3, 14) });
    (
        _mm512_or_si512(q, _mm512_maskz_mov_epi8(bits, _mm512_set1_epi8(16))),
        scales_at(v, &const { scale_index(0, 11) }),
    )
});

legacy_tile!(tile_iq4_nl, BlockIQ4NL, 0x80u8, |p| {
    // The 16 levels as unsigned bytes `level + 128`.
    let lut = _mm_xor_si128(load16(crate::quantized::iq4_values()), _mm_set1_epi8(-128));
    let v = pair_words(p);
    let q = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(lut), nibbles_at(v, &const { nibble_index(1, 10) }));
    (q, scales_at(v, &const { scale_index(0, 9) }))
});

/// The eight 6-bit scales and eight 6-bit mins of a Q4_K/Q5_K super-block as bytes
/// `[sc0..sc7, m0..m7]`, unpacked with 32-bit masks (ggml's `kmask` steps) instead of per
/// byte, and built in registers (no store-to-load round trip).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn scales_mins(q: &[u8; 12]) -> __m128i {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]]);
    let (a, b, c) = (word(0), word(1), word(2));
    // Scales 0..3 are the low 6 bits of bytes 0..3, mins 0..3 of bytes 4..7; scales 4..7 are
    // the low nibbles of bytes 8..11 with bytes 0..3's top two bits, mins 4..7 the high
    // nibbles of bytes 8..11 with bytes 4..7's top two bits.
    let sc = u64::from(a & LOW6) | (u64::from((c & LOW4) | (((a >> 6) & LOW2) << 4)) << 32);
    let mn = u64::from(b & LOW6) | (u64::from(((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4)) << 32);
    _mm_set_epi64x(mn as i64, sc as i64)
}

/// Stamps out the tile kernel of a K-quant with 8 sub-blocks of 32, 6-bit scales and mins
/// (Q4_K, and Q5_K whose `$high` adds the fifth bits).
macro_rules! kmin_tile {
    ($name:ident, $W:ty, |$blk:ident, $c:ident, $lo:ident| $levels:expr) => {
        /// Tile kernel (see the module documentation).
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
        pub(crate) fn $name(w: &[$W], x: &[BlockQ8K], kb: usize, out: &mut [f32]) {
            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
            fn levels($blk: &$W, $c: usize) -> __m512i {
                let v = load32(&$blk.qs[32 * $c..]);
                let z = _mm512_broadcast_i64x4(v);
                let $lo = _mm512_and_si512(
                    _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)),
                    _mm512_set1_epi8(0x0F),
                );
                $levels
            }

            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
            fn micro<const RR: usize, const AA: usize>(
                w: [&[$W]; RR],
                x: [&[BlockQ8K]; AA],
                kb: usize,
            ) -> [[f32; AA]; RR] {
                let zero = _mm512_setzero_si512();
                let sel: [__m512i; 4] =
                    std::array::from_fn(|c| idx(std::array::from_fn(|l| (2 * c + l / 8) as i32)));
                let mut acc = [[_mm512_setzero_ps(); AA]; RR];
                for r in 0..RR {
                    assert!(w[r].len() >= kb);
                }
                for a in 0..AA {
                    assert!(x[a].len() >= kb);
                }
                for s in 0..kb {
                    let mut scales = [zero; RR];
                    let mut mins = [_mm256_setzero_si256(); RR];
                    for r in 0..RR {
                        prefetch_next_tile(w[r], RR * kb + s);
                        let v = scales_mins(&w[r][s].scales);
                        scales[r] = _mm512_cvtepu8_epi32(v);
                        mins[r] = _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(v));
                    }
                    let mut isum = [[zero; AA]; RR];
                    for c in 0..4 {
                        let y: [__m512i; AA] = std::array::from_fn(|a| load64(&x[a][s].qs[64 * c..]));
                        for r in 0..RR {
                            let q = levels(&w[r][s], c);
                            let sc = _mm512_permutexvar_epi32(sel[c], scales[r]);
                            for a in 0..AA {
                                let p = _mm512_dpbusd_epi32(zero, q, y[a]);
                                isum[r][a] = _mm512_add_epi32(isum[r][a], _mm512_madd_epi16(p, sc));
                            }
                        }
                    }
                    for a in 0..AA {
                        let bs = _mm256_madd_epi16(load32(&x[a][s].bsums), _mm256_set1_epi16(1));
                        let dy = x[a][s].d;
                        for r in 0..RR {
                            let (d, dmin) = (h2f(w[r][s].d) * dy, h2f(w[r][s].dmin) * dy);
                            let mn = _mm512_castsi256_si512(_mm256_madd_epi16(mins[r], bs));
                            let mn = _mm512_cvtepi32_ps(_mm512_maskz_mov_epi32(0x00FF, mn));
                            let v =
                                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][a]), _mm512_set1_ps(d), acc[r][a]);
                            acc[r][a] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(dmin), v);
                        }
                    }
                }
                acc.map(|row| row.map(|v| _mm512_reduce_add_ps(v)))
            }

            tile_driver!(w, x, kb, out, micro);
        }
    };
}

kmin_tile!(tile_q4k, BlockQ4K, |blk, c, lo| lo);

kmin_tile!(tile_q5k, BlockQ5K, |blk, c, lo| {
    let h = _mm512_broadcast_i64x4(load32(&blk.qh));
    let (s0, s1) = (2 * c as i64, 2 * c as i64 + 1);
    let h = _mm512_srlv_epi64(h, _mm512_set_epi64(s1, s1, s1, s1, s0, s0, s0, s0));
    let h = _mm512_slli_epi64::<4>(_mm512_and_si512(h, _mm512_set1_epi8(1)));
    _mm512_or_si512(lo, h)
});

/// Q6_K · Q8_K tile: levels as unsigned `q + 32`, 16 signed scales per super-block, and
/// `32 Σ sc·bsum` taken off per super-block.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) fn tile_q6k(w: &[BlockQ6K], x: &[BlockQ8K], kb: usize, out: &mut [f32]) {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn levels(b: &BlockQ6K, t: usize) -> __m512i {
        let (n, odd) = (t / 2, t % 2 == 1);
        let ql = load64(&b.ql[64 * n..]);
        let lo = if odd { _mm512_srli_epi16::<4>(ql) } else { ql };
        let lo = _mm512_and_si512(lo, _mm512_set1_epi8(0x0F));
        let h = _mm512_broadcast_i64x4(load32(&b.qh[32 * n..]));
        let (s0, s1) = if odd { (4, 6) } else { (0, 2) };
        let h = _mm512_srlv_epi64(h, _mm512_set_epi64(s1, s1, s1, s1, s0, s0, s0, s0));
        let h = _mm512_slli_epi64::<4>(_mm512_and_si512(h, _mm512_set1_epi8(3)));
        _mm512_or_si512(lo, h)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn micro<const RR: usize, const AA: usize>(
        w: [&[BlockQ6K]; RR],
        x: [&[BlockQ8K]; AA],
        kb: usize,
    ) -> [[f32; AA]; RR] {
        let zero = _mm512_setzero_si512();
        let sel: [__m512i; 4] = std::array::from_fn(|t| idx(std::array::from_fn(|l| (4 * t + l / 4) as i32)));
        let low16 = _mm512_set1_epi32(0xFFFF);
        let mut acc = [[_mm512_setzero_ps(); AA]; RR];
        for r in 0..RR {
            assert!(w[r].len() >= kb);
        }
        for a in 0..AA {
            assert!(x[a].len() >= kb);
        }
        for s in 0..kb {
            let mut scales = [zero; RR];
            let mut sc16 = [_mm256_setzero_si256(); RR];
            for r in 0..RR {
                prefetch_next_tile(w[r], RR * kb + s);
                let raw = load16(&w[r][s].scales);
                scales[r] = _mm512_and_si512(_mm512_cvtepi8_epi32(raw), low16);
                sc16[r] = _mm256_cvtepi8_epi16(raw);
            }
            let mut isum = [[zero; AA]; RR];
            for t in 0..4 {
                let y: [__m512i; AA] = std::array::from_fn(|a| load64(&x[a][s].qs[64 * t..]));
                for r in 0..RR {
                    let q = levels(&w[r][s], t);
                    let sc = _mm512_permutexvar_epi32(sel[t], scales[r]);
                    for a in 0..AA {
                        let p = _mm512_dpbusd_epi32(zero, q, y[a]);
                        isum[r][a] = _mm512_add_epi32(isum[r][a], _mm512_madd_epi16(p, sc));
                    }
                }
            }
            for a in 0..AA {
                let bs = load32(&x[a][s].bsums);
                let dy = x[a][s].d;
                for r in 0..RR {
                    let bias = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sc16[r], bs));
                    let bias = _mm512_maskz_mov_epi32(0x00FF, _mm512_castsi256_si512(bias));
                    let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(isum[r][a], bias));
                    acc[r][a] = _mm512_fmadd_ps(v, _mm512_set1_ps(h2f(w[r][s].d) * dy), acc[r][a]);
                }
            }
        }
        acc.map(|row| row.map(|v| _mm512_reduce_add_ps(v)))
    }

    tile_driver!(w, x, kb, out, micro);
}
