//! The AMX path of [`super::gemm_bf16`]: on CPUs with the AMX tile unit (Sapphire Rapids and
//! later Xeons), `tdpbf16ps` multiplies a 16 × 32 bf16 tile by a 32 × 16 one into 16 × 16
//! f32 sums in one instruction, 16 times the work of a `vdpbf16ps`.
//! The tile instructions are inline assembly (see [`amx`]).
//!
//! Layouts: `a` is copied row-major with `k` padded by zeros to whole 32-element steps (a tile
//! row is 16 k-pairs of one row of `a`); `b` is packed into the k-pair panels the
//! `vdpbf16ps` kernel uses ([`BPair`]: for each k-pair, 32 columns of two elements, 128
//! bytes), whose two 64-byte halves are exactly the rows of two `b` tiles. A task holds 2 × 2
//! output tiles (32 × 32 f32) in tile registers over all of `k`, so `c` is written once.
//!
//! Numerics as the `vdpbf16ps` kernel: products of bf16 values are exact in f32, sums are in
//! f32 in the unit's own order, and subnormals are flushed to zero.

use super::{pack_b, BPair, Mat, NR};
use crate::cpu::kernels::mat::Out;
use crate::cpu::kernels::x86::amx::{self, Amx, TileConfig};
use rayon::prelude::*;
use std::arch::asm;

/// Rows of an `a` tile and of an output tile.
const TM: usize = 16;
/// Columns of an output tile.
const TN: usize = 16;
/// Elements of `k` per tile step: one `a` tile row is 32 bf16 (64 bytes).
const TK: usize = 32;
/// Rows of `a` per task: two `a` tiles.
const ROWS: usize = 2 * TM;
/// Column panels (of [`NR`] = two output tiles) per task: their packed `b` (128 KiB each for
/// `k` = 2048) stays in L2 while the task's row blocks pass over it.
const TASK_PANELS: usize = 8;
/// Row blocks (of [`ROWS`]) per task.
const TASK_ROW_BLOCKS: usize = 8;
/// Fewest rows of `a` this path takes: below, a 32-row block is mostly padding.
pub(super) const MIN_ROWS: usize = 16;

/// Whether the AMX path can run: the CPU has AMX-TILE and AMX-BF16, the operating system
/// granted this process the tile state, and the `vdpbf16ps` kernel's packer (AVX-512 BF16)
/// is available.
pub(super) fn usable() -> bool {
    super::available() && amx::usable(Amx::Bf16)
}

/// The tile configuration every task loads: tiles 0–7 all 16 rows of 64 bytes (0–3 the
/// output tiles, 4–5 `a`, 6–7 `b`).
fn tile_config() -> TileConfig {
    TileConfig::new([(TM as u8, 64); 8])
}

/// `c[i·n + j] = Σ_t a(i, t) · b(t, j)` for `i < m`, `j < n`, `t < k` (row-major `c`, every
/// element written) on the AMX unit; split over wick's threads when `parallel`.
///
/// # Panics
/// If [`usable`] is false, or an operand or `c` is shorter than its shape.
pub(super) fn gemm(a: Mat, b: Mat, m: usize, n: usize, k: usize, c: &mut [f32], parallel: bool) {
    assert!(usable(), "gemm_bf16: AMX is not usable here");
    assert!(
        super::super::mat::product_fits(a, b, m, n, k, c.len()),
        "gemm_bf16: operands shorter than their shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    let k_pad = k.next_multiple_of(TK).max(TK);
    let (kp, kp_pad) = (k.div_ceil(2), k_pad / 2);
    let (m_pad, np) = (m.next_multiple_of(ROWS), n.div_ceil(NR));
    let blocks = m_pad / ROWS;
    let parallel = parallel && crate::device::num_threads() > 1;
    // Tasks of up to `tr` row blocks × `tp` panels, narrowed (panels first) until there are
    // enough of them to keep every thread busy.
    let threads = if parallel { crate::device::num_threads() } else { 1 };
    let (tr, tp) = super::task_shape(blocks, np, (TASK_ROW_BLOCKS, TASK_PANELS), 2 * threads);
    // With one task's worth of row blocks, every panel of `b` is used by one task only, so
    // each task packs its panels itself into a buffer that stays in L2 (`x @ W.t()` with
    // 128 rows: packing all of a 2048×5632 `b` first wrote and re-read 23 MB); with more,
    // `b` is packed once up front and shared.
    let pack_in_tasks = blocks <= tr;
    // Zeroed: the padding rows and the `k` tail of both operands must be zeros (0 × NaN
    // garbage would reach real sums).
    let mut apack = vec![0u16; m_pad * k_pad];
    let mut bpack = vec![[0u16; 2 * NR]; if pack_in_tasks { 0 } else { np * kp_pad }];
    let pack_row = |(i, dst): (usize, &mut [u16])| {
        if i >= m {
            return;
        }
        if a.cs == 1 {
            dst[..k].copy_from_slice(&a.data[i * a.rs..][..k]);
        } else {
            for (t, d) in dst[..k].iter_mut().enumerate() {
                *d = a.at(i, t);
            }
        }
    };
    let pack_panel =
        |(jp, dst): (usize, &mut [BPair])| pack_b(b, jp * NR, NR.min(n - jp * NR), 0, k, &mut dst[..kp]);
    if parallel {
        crate::device::install(|| {
            apack.par_chunks_mut(k_pad).enumerate().for_each(pack_row);
            bpack.par_chunks_mut(kp_pad).enumerate().for_each(pack_panel);
        });
    } else {
        apack.chunks_mut(k_pad).enumerate().for_each(pack_row);
        bpack.chunks_mut(kp_pad).enumerate().for_each(pack_panel);
    }
    let tasks: Vec<(usize, usize)> =
        (0..blocks).step_by(tr).flat_map(|r| (0..np).step_by(tp).map(move |q| (r, q))).collect();
    let out = Out { ptr: c.as_mut_ptr(), ld: n };
    let (ap, bp) = (&apack, &bpack);
    let run_task = |&(r0, q0): &(usize, usize)| {
        // Zeroed once: `pack_panel` rewrites the first `kp` pairs of each panel, and the pairs
        // up to `kp_pad` must stay zero.
        let mut own = vec![[0u16; 2 * NR]; if pack_in_tasks { kp_pad } else { 0 }];
        // SAFETY: the CPU has AMX-BF16 and this process holds the tile state (`usable`,
        // asserted above).
        unsafe { tile_config().load() };
        for jp in q0..(q0 + tp).min(np) {
            let (j, cols) = (jp * NR, NR.min(n - jp * NR));
            let panel = if pack_in_tasks {
                pack_panel((jp, &mut own));
                &own[..]
            } else {
                &bp[jp * kp_pad..][..kp_pad]
            };
            for rb in r0..(r0 + tr).min(blocks) {
                let i0 = rb * ROWS;
                let rows = ROWS.min(m - i0);
                let a_block = &ap[i0 * k_pad..][..ROWS * k_pad];
                let mut block = [0f32; ROWS * NR];
                // SAFETY: AMX is usable (asserted above) and this thread loaded the
                // configuration.
                unsafe { two_by_two_tiles(a_block, k_pad, panel, &mut block) };
                for r in 0..rows {
                    // SAFETY: row `i0 + r < m` and columns `j..j + cols ≤ n` of `c`, which is
                    // long enough (asserted above); tasks cover disjoint (row block, panel)
                    // rectangles, so no two threads write one element, and `c` is borrowed
                    // mutably for the whole call.
                    unsafe {
                        std::ptr::copy_nonoverlapping(block[r * NR..].as_ptr(), out.at(i0 + r, j), cols);
                    }
                }
            }
        }
        // SAFETY: AMX is usable (asserted above) and no tile is in use any more.
        unsafe { amx::release() };
    };
    if parallel {
        crate::device::install(|| tasks.par_iter().for_each(run_task));
    } else {
        tasks.iter().for_each(run_task);
    }
}

/// `block` (32 × 32 f32, row-major) = the 32 rows of `a_block` (row-major, `k_pad` bf16 each,
/// a multiple of 32) times the packed panel (`k_pad / 2` k-pairs of 32 columns), as 2 × 2
/// output tiles kept in tile registers over all of `k`.
///
/// # Safety
/// The CPU must have AMX-TILE and AMX-BF16, and this thread must have loaded
/// [`tile_config`].
unsafe fn two_by_two_tiles(a_block: &[u16], k_pad: usize, panel: &[BPair], block: &mut [f32; ROWS * NR]) {
    assert!(
        k_pad.is_multiple_of(TK) && a_block.len() >= ROWS * k_pad && panel.len() >= k_pad / 2,
        "amx tiles: operands shorter than {k_pad} steps"
    );
    // SAFETY (all blocks below): the CPU has AMX-TILE and AMX-BF16 and this thread loaded
    // the configuration (16 rows of 64 bytes per tile), as the caller guarantees; the zeroing
    // touches tile registers only.
    unsafe {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
    }
    let (a_stride, b_stride) = (k_pad * 2, std::mem::size_of::<BPair>());
    for s in 0..k_pad / TK {
        // Each `a` tile reads 16 rows of 64 bytes from `a0`/`a1` at stride `a_stride`: rows
        // `0..16` and `16..32` of the block, elements `32s..32s + 32` (inside, asserted above).
        // Each `b` tile reads 16 k-pairs (`16s..16s + 16 ≤ k_pad / 2`) of 64 bytes at stride
        // 128: the first or second half of each `BPair`.
        let a0 = a_block[s * TK..].as_ptr();
        let a1 = a_block[TM * k_pad + s * TK..].as_ptr();
        let b0 = panel[s * TK / 2..].as_ptr().cast::<u8>();
        // SAFETY: as above; the loads stay inside `a_block` and `panel`.
        unsafe {
            asm!(
                "tileloadd tmm4, [{a0} + {sa}*1]",
                "tileloadd tmm5, [{a1} + {sa}*1]",
                "tileloadd tmm6, [{b0} + {sb}*1]",
                "tileloadd tmm7, [{b1} + {sb}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0,
                a1 = in(reg) a1,
                b0 = in(reg) b0,
                b1 = in(reg) b0.wrapping_add(64),
                sa = in(reg) a_stride,
                sb = in(reg) b_stride,
                options(nostack, readonly),
            );
        }
    }
    let p = block.as_mut_ptr();
    // SAFETY: as above; each store writes 16 rows of 64 bytes at stride 128 bytes into one
    // quarter of `block` (32 rows of 32 f32).
    unsafe {
        asm!(
            "tilestored [{t0} + {s}*1], tmm0",
            "tilestored [{t1} + {s}*1], tmm1",
            "tilestored [{t2} + {s}*1], tmm2",
            "tilestored [{t3} + {s}*1], tmm3",
            t0 = in(reg) p,
            t1 = in(reg) p.add(TN),
            t2 = in(reg) p.add(TM * NR),
            t3 = in(reg) p.add(TM * NR + TN),
            s = in(reg) NR * 4,
            options(nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::check_product_layouts;
    use half::bf16;

    #[test]
    fn amx_products_match_a_plain_loop_for_every_layout_and_edge() {
        if !usable() {
            eprintln!("skipped: no usable AMX-BF16 on this CPU");
            return;
        }
        // Partial row blocks and panels, odd k, k shorter than one step and across many,
        // both operands transposed, padded strides, products large enough for parallel
        // tasks, and more row blocks than one task holds (`b` packed up front).
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (16, 16, 32),
            (17, 33, 31),
            (32, 32, 64),
            (40, 130, 301),
            (13, 33, 2),
            (100, 300, 64),
            (130, 97, 600),
            (300, 70, 45),
        ];
        let bits = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x).to_bits()).collect::<Vec<_>>();
        check_product_layouts(
            "gemm_bf16 amx",
            17,
            &shapes,
            bits,
            |x| bf16::from_bits(x).to_f32(),
            |a, b, m, n, k| {
                let mut got = vec![f32::NAN; m * n];
                gemm(a, b, m, n, k, &mut got, true);
                got
            },
        );
    }
}
