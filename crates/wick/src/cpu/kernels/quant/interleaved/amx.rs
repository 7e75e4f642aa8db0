//! AMX-INT8 kernels over interleaved units (see `quantized::interleaved`), for products with
//! many activation rows (prompt processing).
//!
//! A unit's 64-byte chunks are already the rows of AMX `b` tiles: tile row `c` holds, for each
//! of the 16 weight rows, four consecutive levels of a 32-level block (Q8_0 as stored, Q4_0
//! and Q4_K once their nibbles are split into bytes). The `a` tile is 16 activation rows'
//! quants of the same block. One `tdpbssd` (Q4_0 and Q8_0 levels made signed, so the sums
//! need no offset correction) or `tdpbsud` (Q4_K's unsigned levels) gives the integer dot of every pair of the 16 × 16 rows for one block; its sums are stored and
//! scaled into f32 accumulators with AVX-512, in the same operations and order as the scalar
//! twins, so results are bit-identical to them.
//!
//! Each group's `b` tiles are copied (split) into a 64-byte aligned scratch and the
//! activations packed one 512-byte `a` tile per (16 rows, block), so every tile load reads
//! whole, sequential cache lines. The k loop runs in steps of [`K_STEP`] blocks whose `b`
//! tiles stay in L1 while every activation tile passes over them, and the tile products of
//! the next blocks run while a block's sums are scaled.

// Kernels index several parallel arrays (activation rows, their scales and sums) by the
// same counter.
#![allow(clippy::needless_range_loop)]

use super::avx512::f16x16;
use crate::cpu::kernels::x86::amx::{self, Amx, TileConfig};
use crate::quantized::interleaved::{Q4Kx16, Q4_0x16, Q8_0x16, ROWS};
use crate::quantized::{BlockQ8K, BlockQ8_0};
use std::arch::asm;
use std::arch::x86_64::*;

/// Fewest activation rows the AMX kernels are used for: with fewer, most of each 16-row tile
/// is padding and the VNNI kernels are faster.
pub(crate) const MIN_ROWS: usize = 8;

/// 32-level blocks per step of the k loop: the step's `b` tiles (16 KiB) stay in L1 while
/// every activation tile passes over them.
const K_STEP: usize = 32;

/// One tile's bytes: a `b` tile (8 rows of 64: 32 levels of 16 weight rows) or an `a` tile
/// (16 rows of 32: 32 quants of 16 activation rows), aligned to a cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Tile([u8; 512]);

/// 16 × 16 i32 sums as a tile stores them.
#[repr(C, align(64))]
struct Sums([i32; 256]);

/// Whether this CPU and operating system run the AMX-INT8 kernels.
pub(crate) fn usable() -> bool {
    amx::usable(Amx::Int8)
}

/// Tiles 0–3: 16 × 16 i32 sums (one per block in flight); 4 and 5: `a` tiles; 6 and 7:
/// `b` tiles.
fn tile_config() -> TileConfig {
    TileConfig::new([(16, 64), (16, 64), (16, 64), (16, 64), (16, 32), (16, 32), (8, 64), (8, 64)])
}

/// Blocks whose tile products are under way while the oldest one's sums are scaled: the
/// tile unit's latency (load, multiply, store) is several times its throughput.
const IN_FLIGHT: usize = 4;

/// Runs `body` between loading the tile configuration and releasing it.
///
/// # Safety
/// AMX-INT8 must be usable.
unsafe fn with_tiles(body: impl FnOnce()) {
    // SAFETY: AMX-INT8 is usable (the caller's contract).
    unsafe { tile_config().load() };
    body();
    // SAFETY: as above; no tile is in use any more.
    unsafe { amx::release() };
}

/// The integer sums of the 16 activation rows of `a` × the 16 weight rows of `b` over one
/// block (`tdpbssd` if `signed`, else `tdpbsud`), in tile set `P` (0 to 3: sums tile `P`,
/// `a` tile `4 + P % 2`, `b` tile `6 + P % 2`, so that [`IN_FLIGHT`] blocks are under way),
/// stored in `sums`: `sums[16r + c]` = Σ_e a(r, e) · b(e, c).
///
/// # Safety
/// AMX-INT8 must be usable and this thread must have loaded [`tile_config`].
#[inline(always)]
unsafe fn block_sums<const P: usize>(signed: bool, a: &Tile, b: &Tile, sums: &mut Sums) {
    macro_rules! tiles {
        ($op:literal, $c:literal, $a:literal, $b:literal) => {
            // SAFETY: the caller guarantees the tile state and the configuration; the loads
            // read the 512 bytes of `a` (16 rows of 32) and of `b` (8 rows of 64), the store
            // writes the 1 KiB of `sums` (16 rows of 64).
            unsafe {
                asm!(
                    concat!("tilezero tmm", $c),
                    concat!("tileloadd tmm", $a, ", [{a} + {sa}*1]"),
                    concat!("tileloadd tmm", $b, ", [{b} + {sb}*1]"),
                    concat!($op, " tmm", $c, ", tmm", $a, ", tmm", $b),
                    concat!("tilestored [{c} + {sc}*1], tmm", $c),
                    a = in(reg) a.0.as_ptr(),
                    sa = in(reg) 32usize,
                    b = in(reg) b.0.as_ptr(),
                    sb = in(reg) 64usize,
                    c = in(reg) sums.0.as_mut_ptr(),
                    sc = in(reg) 64usize,
                    options(nostack),
                )
            }
        };
    }
    match (P, signed) {
        (0, true) => tiles!("tdpbssd", "0", "4", "6"),
        (1, true) => tiles!("tdpbssd", "1", "5", "7"),
        (2, true) => tiles!("tdpbssd", "2", "4", "6"),
        (_, true) => tiles!("tdpbssd", "3", "5", "7"),
        (0, false) => tiles!("tdpbsud", "0", "4", "6"),
        (1, false) => tiles!("tdpbsud", "1", "5", "7"),
        (2, false) => tiles!("tdpbsud", "2", "4", "6"),
        (_, false) => tiles!("tdpbsud", "3", "5", "7"),
    }
}

/// 64 bytes at `src` split into their low nibbles (to `lo`) and high nibbles (to `hi`),
/// each minus `bias`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn split_nibbles(src: &[u8], lo: &mut [u8], hi: &mut [u8], bias: i8) {
    assert!(src.len() >= 64 && lo.len() >= 64 && hi.len() >= 64);
    let (nib, bias) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(bias));
    // SAFETY: each slice holds at least 64 bytes (asserted above); loads and stores are
    // unaligned.
    unsafe {
        let v = _mm512_loadu_si512(src.as_ptr().cast());
        let l = _mm512_sub_epi8(_mm512_and_si512(v, nib), bias);
        let h = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16::<4>(v), nib), bias);
        _mm512_storeu_si512(lo.as_mut_ptr().cast(), l);
        _mm512_storeu_si512(hi.as_mut_ptr().cast(), h);
    }
}

/// 64 bytes at `src` with the top bit of each flipped (levels stored +128 back to signed).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn flip_signs(src: &[u8], dst: &mut [u8]) {
    assert!(src.len() >= 64 && dst.len() >= 64);
    // SAFETY: each slice holds at least 64 bytes (asserted above); the load and store are
    // unaligned.
    unsafe {
        let v = _mm512_loadu_si512(src.as_ptr().cast());
        _mm512_storeu_si512(dst.as_mut_ptr().cast(), _mm512_xor_si512(v, _mm512_set1_epi8(i8::MIN)));
    }
}

/// The `b` tiles of a format's units, one per 32-level block.
trait TileUnit: Sized {
    /// 32-level blocks a unit holds.
    const BLOCKS: usize;
    /// Whether the `b` tiles hold signed levels (`tdpbssd`) or unsigned ones (`tdpbsud`).
    const SIGNED: bool;
    /// The unit's `BLOCKS` `b` tiles, block order.
    fn b_tiles(&self, dst: &mut [Tile]);
}

impl TileUnit for Q8_0x16 {
    const BLOCKS: usize = 1;
    const SIGNED: bool = true;
    fn b_tiles(&self, dst: &mut [Tile]) {
        for c in 0..8 {
            // SAFETY: the AMX kernels, the only callers, are compiled with AVX-512 F/BW.
            unsafe { flip_signs(&self.qs[64 * c..], &mut dst[0].0[64 * c..]) };
        }
    }
}

impl TileUnit for Q4_0x16 {
    const BLOCKS: usize = 1;
    const SIGNED: bool = true;
    /// Chunk `c`'s low nibbles are levels `4c..4c + 4` (tile row `c`), its high nibbles levels
    /// `16 + 4c..` (row `4 + c`), each minus 8.
    fn b_tiles(&self, dst: &mut [Tile]) {
        let (lo, hi) = dst[0].0.split_at_mut(256);
        for c in 0..4 {
            // SAFETY: as for Q8_0.
            unsafe { split_nibbles(&self.qs[64 * c..], &mut lo[64 * c..], &mut hi[64 * c..], 8) };
        }
    }
}

impl TileUnit for Q4Kx16 {
    const BLOCKS: usize = 8;
    const SIGNED: bool = false;
    /// Chunk `8c + q`'s low nibbles are levels `4q..4q + 4` of sub-block `2c` (tile row `q`),
    /// its high nibbles the same of sub-block `2c + 1`.
    fn b_tiles(&self, dst: &mut [Tile]) {
        for c in 0..4 {
            let (lo, hi) = dst[2 * c..].split_at_mut(1);
            let (lo, hi) = (&mut lo[0], &mut hi[0]);
            for q in 0..8 {
                // SAFETY: as for Q8_0.
                unsafe {
                    split_nibbles(&self.qs[64 * (8 * c + q)..], &mut lo.0[64 * q..], &mut hi.0[64 * q..], 0)
                };
            }
        }
    }
}

/// The activations of a product laid out for the tiles: for tile `t` (rows `16t..16t + 16`)
/// and 32-level block `j`, at `[t·blocks + j]`, the 16 rows' quants as one `a` tile. Rows past
/// the last are zeros (their sums are never stored).
fn pack_a<Q>(x: &[Q], per_row: usize, quants: impl Fn(&Q) -> &[i8]) -> (Vec<Tile>, usize) {
    let m = x.len() / per_row;
    let blocks = per_row * (quants(&x[0]).len() / 32);
    let tiles = m.div_ceil(ROWS);
    let mut a = vec![Tile([0; 512]); tiles * blocks];
    for (i, row) in x.chunks_exact(per_row).enumerate() {
        let (t, r) = (i / ROWS, i % ROWS);
        for (j, q) in row.iter().flat_map(|b| quants(b).chunks_exact(32)).enumerate() {
            a[t * blocks + j].0[32 * r..32 * r + 32].copy_from_slice(bytemuck::cast_slice(q));
        }
    }
    (a, tiles)
}

/// The product loop shared by every format: for each group of `units_per_row` units, its
/// `b` tiles against every activation tile of `a` (`tiles` of them), with
/// `scale(t, unit, j, acc, sums)` folding block `j`'s integer sums of tile `t` into its 16
/// accumulators (block `j` of the row is block `j % U::BLOCKS` of unit `unit`), and
/// `finish(t, unit, n, acc)` run after the last block of each unit (the row's `n`th). Writes rows `< m` of each tile
/// into `out` (rows of `ldo`).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn run<U: TileUnit>(
    w: &[U],
    units_per_row: usize,
    a: &[Tile],
    tiles: usize,
    m: usize,
    out: &mut [f32],
    ldo: usize,
    scale: impl Fn(usize, &U, usize, &mut [__m512; ROWS], &Sums),
    finish: impl Fn(usize, &U, usize, &mut [__m512; ROWS]),
) {
    let blocks = units_per_row * U::BLOCKS;
    assert!(a.len() >= tiles * blocks && m <= tiles * ROWS, "amx: activation tiles missing");
    let mut b = vec![Tile([0; 512]); blocks];
    let mut acc_tiles = vec![[_mm512_setzero_ps(); ROWS]; tiles];
    let mut sums: [Sums; IN_FLIGHT] = std::array::from_fn(|_| Sums([0; 256]));
    let step = K_STEP.next_multiple_of(U::BLOCKS);
    for (g, wg) in w.chunks_exact(units_per_row).enumerate() {
        for (u, dst) in wg.iter().zip(b.chunks_exact_mut(U::BLOCKS)) {
            u.b_tiles(dst);
        }
        for j0 in (0..blocks).step_by(step) {
            let j1 = (j0 + step).min(blocks);
            for (t, acc_tile) in acc_tiles.iter_mut().enumerate() {
                // A local copy: the tile instructions may write memory as far as the
                // compiler knows, so accumulators behind a reference would be stored and
                // reloaded around each of them.
                let mut acc = if j0 == 0 { [_mm512_setzero_ps(); ROWS] } else { *acc_tile };
                // Block `j` starts while block `j − 3` is scaled into `acc` (in block order,
                // as the twins sum).
                let lag = IN_FLIGHT - 1;
                for j in j0..j1 + lag {
                    if j < j1 {
                        let (at, bt, set) = (&a[t * blocks + j], &b[j], j % IN_FLIGHT);
                        if let Some(next) = a.get(t * blocks + j + IN_FLIGHT) {
                            for line in 0..8 {
                                _mm_prefetch::<_MM_HINT_T0>(next.0[64 * line..].as_ptr().cast());
                            }
                        }
                        // SAFETY: AMX-INT8 is usable and the configuration loaded (the
                        // callers run this inside `with_tiles`).
                        unsafe {
                            match set {
                                0 => block_sums::<0>(U::SIGNED, at, bt, &mut sums[0]),
                                1 => block_sums::<1>(U::SIGNED, at, bt, &mut sums[1]),
                                2 => block_sums::<2>(U::SIGNED, at, bt, &mut sums[2]),
                                _ => block_sums::<3>(U::SIGNED, at, bt, &mut sums[3]),
                            }
                        }
                    }
                    if j >= j0 + lag {
                        let jb = j - lag;
                        let unit = &wg[jb / U::BLOCKS];
                        scale(t, unit, jb, &mut acc, &sums[jb % IN_FLIGHT]);
                        if (jb + 1).is_multiple_of(U::BLOCKS) {
                            finish(t, unit, jb / U::BLOCKS, &mut acc);
                        }
                    }
                }
                *acc_tile = acc;
            }
        }
        for (t, acc) in acc_tiles.iter().enumerate() {
            let i0 = t * ROWS;
            for r in 0..ROWS.min(m - i0) {
                let o = &mut out[(i0 + r) * ldo + ROWS * g..][..ROWS];
                // SAFETY: `o` is 16 floats.
                unsafe { _mm512_storeu_ps(o.as_mut_ptr(), acc[r]) };
            }
        }
    }
}

/// Row `r` of `sums` (16 i32).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn sums_row(sums: &Sums, r: usize) -> __m512i {
    let row = &sums.0[16 * r..16 * r + 16];
    // SAFETY: `row` is 16 i32; the load is unaligned.
    unsafe { _mm512_loadu_si512(row.as_ptr().cast()) }
}

/// Calls `$body` with `$r` bound to each of 0..16 as a constant, so accumulator arrays stay
/// in registers.
macro_rules! each_row {
    ($r:ident => $body:block) => {
        each_row!(@ $r $body 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@ $r:ident $body:block $($n:literal)*) => {
        $({
            let $r: usize = $n;
            $body
        })*
    };
}

/// Q4_0 / Q8_0 units (signed `b` tiles, scales `d`) × Q8_0 rows, inside [`with_tiles`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
fn gemm_legacy<U: TileUnit>(
    w: &[U],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    out: &mut [f32],
    ldo: usize,
    d: impl Fn(&U) -> &[half::f16; ROWS],
) {
    if kb == 0 || x.is_empty() {
        return;
    }
    let m = x.len() / kb;
    assert!(xd.len() >= m * kb, "amx q8_0 rows: scales missing");
    let (a, tiles) = pack_a(&x[..m * kb], kb, |b| &b.qs);
    // Each (tile, block)'s 16 row scales.
    let mut dx = vec![[0f32; ROWS]; tiles * kb];
    for i in 0..m {
        for j in 0..kb {
            dx[(i / ROWS) * kb + j][i % ROWS] = xd[i * kb + j];
        }
    }
    let scale = |t: usize, u: &U, j: usize, acc: &mut [__m512; ROWS], sums: &Sums| {
        let (d_x, dw) = (&dx[t * kb + j], f16x16(d(u)));
        each_row!(r => {
            let s = _mm512_cvtepi32_ps(sums_row(sums, r));
            acc[r] = _mm512_fmadd_ps(s, _mm512_mul_ps(dw, _mm512_set1_ps(d_x[r])), acc[r]);
        });
    };
    run(w, kb, &a, tiles, m, out, ldo, scale, |_, _, _, _| {});
}

/// Q8_0 units × Q8_0 rows (see [`super::gemm_q8_0x16`]).
///
/// # Safety
/// AMX-INT8 must be usable ([`usable`]) and the CPU must have AVX-512 F/BW/VL and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) unsafe fn gemm_q8_0x16(
    w: &[Q8_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    _xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    // SAFETY: AMX-INT8 is usable (the caller's contract).
    unsafe { with_tiles(|| gemm_legacy(w, kb, x, xd, out, ldo, |u| &u.d)) };
}

/// Q4_0 units × Q8_0 rows (see [`super::gemm_q4_0x16`]).
///
/// # Safety
/// As [`gemm_q8_0x16`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) unsafe fn gemm_q4_0x16(
    w: &[Q4_0x16],
    kb: usize,
    x: &[BlockQ8_0],
    xd: &[f32],
    _xs: &[i32],
    out: &mut [f32],
    ldo: usize,
) {
    // SAFETY: AMX-INT8 is usable (the caller's contract).
    unsafe { with_tiles(|| gemm_legacy(w, kb, x, xd, out, ldo, |u| &u.d)) };
}

/// Q4_K units × Q8_K rows (see [`super::gemm_q4kx16`]): sub-block `s` of a super-block adds
/// its sums times the weight rows' 6-bit scales times `d · d_x`; each super-block ends with
/// the minimums' term, `−dmin · d_x · Σ_s min_s · Σ(sub-block s of the row)`.
///
/// # Safety
/// As [`gemm_q8_0x16`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
pub(crate) unsafe fn gemm_q4kx16(
    w: &[Q4Kx16],
    kb: usize,
    x: &[BlockQ8K],
    pairs: &[[i32; 4]],
    out: &mut [f32],
    ldo: usize,
) {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c")]
    fn body(w: &[Q4Kx16], kb: usize, x: &[BlockQ8K], pairs: &[[i32; 4]], out: &mut [f32], ldo: usize) {
        if kb == 0 || x.is_empty() {
            return;
        }
        let m = x.len() / kb;
        assert!(pairs.len() >= m * kb, "amx q8_k rows: sums missing");
        let (a, tiles) = pack_a(&x[..m * kb], kb, |b| &b.qs);
        // Each (tile, super-block)'s 16 row scales `d_x` and paired 32-sums.
        let mut dx = vec![[0f32; ROWS]; tiles * kb];
        let mut row_pairs = vec![[[0i32; 4]; ROWS]; tiles * kb];
        for i in 0..m {
            for j in 0..kb {
                let (at, from) = ((i / ROWS) * kb + j, i * kb + j);
                dx[at][i % ROWS] = x[from].d;
                row_pairs[at][i % ROWS] = pairs[from];
            }
        }
        let scale = |t: usize, u: &Q4Kx16, j: usize, acc: &mut [__m512; ROWS], sums: &Sums| {
            let (at, s) = (t * kb + j / 8, j % 8);
            // SAFETY: the 16 scale bytes of sub-block `s` are readable.
            let sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(unsafe {
                _mm_loadu_si128(u.scales[16 * s..16 * s + 16].as_ptr().cast())
            }));
            let (dw, d) = (f16x16(&u.d), &dx[at]);
            each_row!(r => {
                let scale = _mm512_mul_ps(sc, _mm512_mul_ps(dw, _mm512_set1_ps(d[r])));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_row(sums, r)), scale, acc[r]);
            });
        };
        let finish = |t: usize, u: &Q4Kx16, j: usize, acc: &mut [__m512; ROWS]| {
            let at = t * kb + j;
            // Lane `r` of `mins[p]`: the minimums of sub-blocks `2p`, `2p + 1` of row `r` as
            // two i16, the operand `vpdpwssd` pairs with the activation's paired sums.
            let mins: [__m512i; 4] = std::array::from_fn(|p| {
                // SAFETY: bytes `32p..32p + 32` of `mins` (128 bytes) are readable.
                _mm512_cvtepu8_epi16(unsafe {
                    _mm256_loadu_si256(u.mins[32 * p..32 * p + 32].as_ptr().cast())
                })
            });
            let (dmin, d, prs) = (f16x16(&u.dmin), &dx[at], &row_pairs[at]);
            let sign = _mm512_set1_epi32(i32::MIN);
            each_row!(r => {
                let mut msum = _mm512_setzero_si512();
                for p in 0..4 {
                    msum = _mm512_dpwssd_epi32(msum, mins[p], _mm512_set1_epi32(prs[r][p]));
                }
                // −(msum as f32), as the twin: a sign flip, exact.
                let neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_cvtepi32_ps(msum)), sign));
                acc[r] = _mm512_fmadd_ps(neg, _mm512_mul_ps(dmin, _mm512_set1_ps(d[r])), acc[r]);
            });
        };
        run(w, kb, &a, tiles, m, out, ldo, scale, finish);
    }
    // SAFETY: AMX-INT8 is usable (the caller's contract).
    unsafe { with_tiles(|| body(w, kb, x, pairs, out, ldo)) };
}
