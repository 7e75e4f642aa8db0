//! What the AMX kernels share: detecting the tile unit, asking Linux for the tile state, and
//! loading a tile configuration.
//!
//! Rust's AMX intrinsics are not stable, so the kernels write their few tile instructions as
//! inline assembly. Linux hands a process the (8 KiB) tile state only on request, once
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); each thread then loads a tile configuration before its
//! first tile instruction and releases it after the last ([`TileConfig::load`],
//! [`release`]).

use std::arch::asm;
use std::sync::OnceLock;

/// The AMX multiply instructions a kernel needs beside the tile registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amx {
    /// `tdpbf16ps`.
    Bf16,
    /// `tdpbssd` and its signed/unsigned variants.
    Int8,
}

/// Whether this CPU has AMX-TILE and the instructions of `kind`, and the operating system
/// granted this process the tile state.
pub(crate) fn usable(kind: Amx) -> bool {
    // Detected once: kernels ask on every call, and `cpuid` leaves a virtual machine.
    static LEAF7_EDX: OnceLock<u32> = OnceLock::new();
    static GRANTED: OnceLock<bool> = OnceLock::new();
    let leaf = *LEAF7_EDX.get_or_init(cpuid_leaf7_edx);
    const AMX_BF16: u32 = 1 << 22;
    const AMX_TILE: u32 = 1 << 24;
    const AMX_INT8: u32 = 1 << 25;
    let bit = match kind {
        Amx::Bf16 => AMX_BF16,
        Amx::Int8 => AMX_INT8,
    };
    leaf & AMX_TILE != 0 && leaf & bit != 0 && *GRANTED.get_or_init(tile_state_granted)
}

#[allow(unused_unsafe)]
fn cpuid_leaf7_edx() -> u32 {
    // SAFETY: `cpuid` exists on every x86_64 CPU; leaf 7 sub-leaf 0 is always defined (zero
    // where unsupported).
    unsafe { std::arch::x86_64::__cpuid_count(7, 0) }.edx
}

/// Asks Linux for permission to use the AMX tile data state in this process.
fn tile_state_granted() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: this `arch_prctl` request only enlarges the set of extended states the kernel
    // saves for this process; it touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

/// A palette-1 tile configuration: for each of the 8 tile registers, its rows and bytes a row.
#[repr(C, align(64))]
pub(crate) struct TileConfig([u8; 64]);

impl TileConfig {
    /// The configuration with tile `t` of `shapes[t].0` rows of `shapes[t].1` bytes.
    ///
    /// # Panics
    /// If a tile has more than 16 rows or 64 bytes a row (palette 1's limits).
    pub(crate) fn new(shapes: [(u8, u16); 8]) -> Self {
        let mut cfg = [0u8; 64];
        cfg[0] = 1;
        for (t, (rows, bytes)) in shapes.into_iter().enumerate() {
            assert!(rows <= 16 && bytes <= 64, "AMX tile {t}: {rows} rows of {bytes} bytes");
            cfg[16 + 2 * t..18 + 2 * t].copy_from_slice(&bytes.to_le_bytes());
            cfg[48 + t] = rows;
        }
        TileConfig(cfg)
    }

    /// Loads this configuration on the calling thread, zeroing every tile register.
    ///
    /// # Safety
    /// [`usable`] must have returned true for the instructions the caller will run.
    pub(crate) unsafe fn load(&self) {
        // SAFETY: the CPU has AMX and this process holds the tile state (the caller's
        // contract); `new` only builds valid palette-1 layouts.
        unsafe { asm!("ldtilecfg [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) };
    }
}

/// Returns the calling thread's tile state to its initial configuration.
///
/// # Safety
/// [`usable`] must have returned true, and no tile may be in use by the caller.
pub(crate) unsafe fn release() {
    // SAFETY: the CPU has AMX (the caller's contract); this touches tile registers only.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}
