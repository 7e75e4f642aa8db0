//! AVX-512 VNNI kernels over interleaved units (see `quantized::interleaved`): each
//! `vpdpbusd` multiplies 64 weight bytes (four of each of 16 rows) by four activation bytes
//! broadcast to every lane. A micro-kernel keeps `A` activation rows' 16-row accumulators in
//! registers, so each unpacked chunk of weights serves `A` rows.

// Kernels index several parallel arrays (activation rows, their scales and sums) by the
// same counter.
#![allow(clippy::needless_range_loop)]

use crate::quantized::interleaved::{Q4Kx16, Q4_0x16, Q8_0x16, ROWS};
use crate::quantized::{BlockQ8K, BlockQ8_0};
use std::arch::x86_64::*;

/// Activation rows per micro-kernel call (the last rows of a product go one at a time).
const A: usize = 4;
/// How many units ahead of the one in use the weights are prefetched: rows of units are
/// contiguous, and without it a one-row product waits on memory at each 4 KiB page.
const AHEAD_BYTES: usize = 4096;

/// 64 bytes at `p[..64]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn load64(p: &[u8]) -> __m512i {
    assert!(p.len() >= 64);
    // SAFETY: `p` holds at least 64 bytes (checked above); the load is unaligned.
    unsafe { _mm512_loadu_si512(p.as_ptr().cast()) }
}

/// 16 f16 values widened to f32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(super) fn f16x16(h: &[half::f16; ROWS]) -> __m512 {
    // SAFETY: `h` is 32 bytes; the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(h.as_ptr().cast()) })
}

/// The four bytes `q[at..at + 4]` broadcast to every i32 lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn quad(q: &[i8], at: usize) -> __m512i {
    let s = &q[at..at + 4];
    _mm512_set1_epi32(i32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]))
}

/// Stores 16 lanes at `out[..16]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn store16(out: &mut [f32], v: __m512) {
    assert!(out.len() >= ROWS);
    // SAFETY: `out` holds at least 16 floats (checked above); the store is unaligned.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) }
}

/// Asks for the cache lines of the `size_of::<U>()` bytes `AHEAD_BYTES` past `u`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn prefetch_ahead<U>(u: &U) {
    prefetch_lines(u, 0, std::mem::size_of::<U>());
}

/// Asks for the cache lines of bytes `from..from + len` of the unit `AHEAD_BYTES` past `u`'s
/// start, one per 64 bytes (units are contiguous, so every line is asked for once).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn prefetch_lines<U>(u: &U, from: usize, len: usize) {
    let p: *const i8 = (u as *const U).cast::<i8>().wrapping_add(AHEAD_BYTES + from);
    for off in (0..len).step_by(64) {
        // A prefetch never faults: the address need not be inside any allocation.
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
}

/// Q4_0 units × Q8_0 rows: `out[i·ldo + 16g + r]` = row `16g + r` · activation row `i`;
/// `xd`, `xs` are each activation block's scale and quant sum.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) fn gemm_q4_0x16(
    w: &[Q4_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    let m = x.len() / kb;
    assert!(xd.len() >= m * kb && xs.len() >= m * kb);
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn micro<const AA: usize>(
        w: &[Q4_0x16],
        (x, xd, xs): (&[BlockQ8_0], &[f32], &[i32]),
        kb: usize,
        i: usize,
    ) -> [__m512; AA] {
        let nib = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); AA];
        for (j, u) in w.iter().enumerate() {
            prefetch_ahead(u);
            let dw = f16x16(&u.d);
            let a: [usize; AA] = std::array::from_fn(|t| (i + t) * kb + j);
            // The −8 of every level, as −8·Σy, starts the sum of the low nibbles.
            let mut lo_sum: [__m512i; AA] = std::array::from_fn(|t| _mm512_set1_epi32(-8 * xs[a[t]]));
            let mut hi_sum = [_mm512_setzero_si512(); AA];
            for c in 0..4 {
                let v = load64(&u.qs[64 * c..]);
                let lo = _mm512_and_si512(v, nib);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nib);
                for t in 0..AA {
                    let q = &x[a[t]].qs;
                    lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, quad(q, 4 * c));
                    hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, quad(q, 16 + 4 * c));
                }
            }
            for t in 0..AA {
                let s = _mm512_cvtepi32_ps(_mm512_add_epi32(lo_sum[t], hi_sum[t]));
                acc[t] = _mm512_fmadd_ps(s, _mm512_mul_ps(dw, _mm512_set1_ps(xd[a[t]])), acc[t]);
            }
        }
        acc
    }
    let act = (x, xd, xs);
    let call = |wg: &[Q4_0x16], i: usize| micro::<A>(wg, act, kb, i);
    let call1 = |wg: &[Q4_0x16], i: usize| micro::<1>(wg, act, kb, i);
    drive_fns(w, kb, m, out, ldo, call, call1);
}

/// Q8_0 units × Q8_0 rows, as [`gemm_q4_0x16`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) fn gemm_q8_0x16(
    w: &[Q8_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    let m = x.len() / kb;
    assert!(xd.len() >= m * kb && xs.len() >= m * kb);
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn micro<const AA: usize>(
        w: &[Q8_0x16],
        (x, xd, xs): (&[BlockQ8_0], &[f32], &[i32]),
        kb: usize,
        i: usize,
    ) -> [__m512; AA] {
        let mut acc = [_mm512_setzero_ps(); AA];
        for (j, u) in w.iter().enumerate() {
            prefetch_ahead(u);
            let dw = f16x16(&u.d);
            let a: [usize; AA] = std::array::from_fn(|t| (i + t) * kb + j);
            // Levels are stored +128: −128·Σy starts the sum.
            let mut even: [__m512i; AA] = std::array::from_fn(|t| _mm512_set1_epi32(-128 * xs[a[t]]));
            let mut odd = [_mm512_setzero_si512(); AA];
            for c in (0..8).step_by(2) {
                let (v0, v1) = (load64(&u.qs[64 * c..]), load64(&u.qs[64 * (c + 1)..]));
                for t in 0..AA {
                    let q = &x[a[t]].qs;
                    even[t] = _mm512_dpbusd_epi32(even[t], v0, quad(q, 4 * c));
                    odd[t] = _mm512_dpbusd_epi32(odd[t], v1, quad(q, 4 * c + 4));
                }
            }
            for t in 0..AA {
                let s = _mm512_cvtepi32_ps(_mm512_add_epi32(even[t], odd[t]));
                acc[t] = _mm512_fmadd_ps(s, _mm512_mul_ps(dw, _mm512_set1_ps(xd[a[t]])), acc[t]);
            }
        }
        acc
    }
    let act = (x, xd, xs);
    let call = |wg: &[Q8_0x16], i: usize| micro::<A>(wg, act, kb, i);
    let call1 = |wg: &[Q8_0x16], i: usize| micro::<1>(wg, act, kb, i);
    drive_fns(w, kb, m, out, ldo, call, call1);
}

/// Q4_K units × Q8_K rows, as [`gemm_q4_0x16`]; `pairs` are each activation super-block's
/// 32-element sums paired two i16 to an i32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) fn gemm_q4kx16(
    w: &[Q4Kx16],
    kb: usize,
    x: &[BlockQ8K],
    pairs: &[[i32; 4]],
    out: &mut [f32],
    ldo: usize,
) {
    let m = x.len() / kb;
    assert!(pairs.len() >= m * kb);
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn micro<const AA: usize>(
        w: &[Q4Kx16],
        (x, pairs): (&[BlockQ8K], &[[i32; 4]]),
        kb: usize,
        i: usize,
    ) -> [__m512; AA] {
        let nib = _mm512_set1_epi8(0x0F);
        let zero = _mm512_setzero_si512();
        let mut acc = [_mm512_setzero_ps(); AA];
        for (j, u) in w.iter().enumerate() {
            // The header (scales, minimums: five lines) now, the quants a line per load below:
            // a 2368-byte unit's 37 prefetches at once would overrun the line fill buffers.
            prefetch_lines(u, 0, 320);
            let a: [&BlockQ8K; AA] = std::array::from_fn(|t| &x[(i + t) * kb + j]);
            let dw = f16x16(&u.d);
            let sdy: [__m512; AA] = std::array::from_fn(|t| _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d)));
            for c in 0..4 {
                let mut lo_sum = [zero; AA];
                let mut hi_sum = [zero; AA];
                for q in 0..8 {
                    prefetch_lines(u, 320 + 64 * (8 * c + q), 64);
                    let v = load64(&u.qs[64 * (8 * c + q)..]);
                    let lo = _mm512_and_si512(v, nib);
                    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nib);
                    for t in 0..AA {
                        lo_sum[t] = _mm512_dpbusd_epi32(lo_sum[t], lo, quad(&a[t].qs, 64 * c + 4 * q));
                        hi_sum[t] = _mm512_dpbusd_epi32(hi_sum[t], hi, quad(&a[t].qs, 64 * c + 32 + 4 * q));
                    }
                }
                let scale = |s: usize| {
                    // SAFETY: `u.scales` holds 128 bytes and `16s + 16 ≤ 128`; unaligned load.
                    let b = unsafe { _mm_loadu_si128(u.scales[16 * s..][..16].as_ptr().cast()) };
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
                };
                let (sc_lo, sc_hi) = (scale(2 * c), scale(2 * c + 1));
                for t in 0..AA {
                    let v =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo_sum[t]), _mm512_mul_ps(sc_lo, sdy[t]), acc[t]);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi_sum[t]), _mm512_mul_ps(sc_hi, sdy[t]), v);
                }
            }
            // Σ_s min·Σy over the sub-blocks, two at a time, subtracted with dmin.
            let mins: [__m512i; 4] = std::array::from_fn(|p| {
                // SAFETY: `u.mins` holds 128 bytes and `32p + 32 ≤ 128`; unaligned load.
                let b = unsafe { _mm256_loadu_si256(u.mins[32 * p..][..32].as_ptr().cast()) };
                _mm512_cvtepu8_epi16(b)
            });
            let dmin = f16x16(&u.dmin);
            for t in 0..AA {
                let p = &pairs[(i + t) * kb + j];
                let mut msum = zero;
                for k in 0..4 {
                    msum = _mm512_dpwssd_epi32(msum, mins[k], _mm512_set1_epi32(p[k]));
                }
                let dmy = _mm512_mul_ps(dmin, _mm512_set1_ps(a[t].d));
                acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), dmy, acc[t]);
            }
        }
        acc
    }
    let act = (x, pairs);
    let call = |wg: &[Q4Kx16], i: usize| micro::<A>(wg, act, kb, i);
    let call1 = |wg: &[Q4Kx16], i: usize| micro::<1>(wg, act, kb, i);
    drive_fns(w, kb, m, out, ldo, call, call1);
}

/// Runs `tile` (A activation rows) and `one` (a single row) over every group of `w` (kb
/// units) and every activation row, storing row `i`'s 16 results of group `g` at
/// `out[i·ldo + 16g..]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn drive_fns<U>(
    w: &[U],
    kb: usize,
    m: usize,
    out: &mut [f32],
    ldo: usize,
    tile: impl Fn(&[U], usize) -> [__m512; A],
    one: impl Fn(&[U], usize) -> [__m512; 1],
) {
    for (g, wg) in w.chunks_exact(kb).enumerate() {
        let mut i = 0;
        while m - i >= A {
            let acc = tile(wg, i);
            for t in 0..A {
                store16(&mut out[(i + t) * ldo + ROWS * g..], acc[t]);
            }
            i += A;
        }
        while i < m {
            store16(&mut out[i * ldo + ROWS * g..], one(wg, i)[0]);
            i += 1;
        }
    }
}
