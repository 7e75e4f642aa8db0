//! SIMD kernels over plain slices, chosen at run time.
//!
//! Every kernel family lives in its own folder: `mod.rs` holds the safe slice API, which
//! dispatches once per call on [`Isa::selected`]; `scalar.rs` holds the portable twin, which is
//! both the fallback on other CPUs and the reference the SIMD variants are tested against;
//! `x86_64.rs` holds the AVX2 and AVX-512 variants, written once over the vector primitives of
//! [`x86`] and stamped out per instruction set.
//!
//! The instruction set is detected once (`is_x86_feature_detected!`) and cached; nothing needs
//! `-C target-cpu=native`. `WICK_ISA=scalar|avx2|avx512` caps the choice, so tests and
//! benchmarks can force every path on one machine; asking for more than the CPU has gets the
//! best it has.
//!
//! Kernels see slices only: layouts, dtypes and threads are the business of `cpu/`.

pub(crate) mod activation;
pub(crate) mod arith;
pub(crate) mod convert;
pub(crate) mod gemm_bf16;
pub(crate) mod gemm_f32;
pub(crate) mod gemm_nt;
pub(crate) mod mat;
pub(crate) mod norm;
pub(crate) mod quant;
pub(crate) mod quantize;
pub(crate) mod reduce;
pub(crate) mod scalar_math;
pub(crate) mod softmax;
pub(crate) mod team;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod transpose;
pub(crate) mod vecmat;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use std::sync::OnceLock;

/// An instruction-set level a kernel variant is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// Portable Rust, no explicit SIMD.
    Scalar,
    /// AVX2 + FMA + F16C (Haswell, Zen 1 and later): 8 f32 lanes.
    Avx2,
    /// AVX-512 F/BW/VL/DQ (Skylake-X, Ice Lake, Zen 4 and later): 16 f32 lanes.
    Avx512,
}

/// What the CPU offers, detected once.
#[derive(Debug, Clone, Copy)]
struct Features {
    avx2: bool,
    avx512: bool,
    avx512bf16: bool,
}

fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Features {
    // These lists must match the `target_feature` strings in `x86/mod.rs`.
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    let avx512bf16 = avx512 && is_x86_feature_detected!("avx512bf16");
    Features { avx2, avx512, avx512bf16 }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Features {
    Features { avx2: false, avx512: false, avx512bf16: false }
}

impl Isa {
    /// Every level, lowest first.
    pub(crate) const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The name `WICK_ISA` accepts.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run this level's kernels.
    pub(crate) fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => features().avx2,
            Isa::Avx512 => features().avx512,
        }
    }

    /// This level if the CPU has it, else the best level below it that it has.
    pub(crate) fn resolve(self) -> Isa {
        Isa::ALL.into_iter().rev().find(|i| *i <= self && i.available()).unwrap_or(Isa::Scalar)
    }

    /// The level every kernel call uses: the best the CPU has, capped by `WICK_ISA`.
    pub(crate) fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let cap = std::env::var("WICK_ISA")
                .ok()
                .and_then(|v| Isa::ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(v.trim())))
                .unwrap_or(Isa::Avx512);
            cap.resolve()
        })
    }
}

/// `out` seen as slots a kernel writes into: the kernels with uninitialized outputs take
/// `&mut [MaybeUninit<U>]`, and callers holding initialized memory pass it through here.
///
/// # Safety
/// Only initialized values may be written through the result, so that `out` stays
/// initialized when the borrow ends.
pub(crate) unsafe fn as_uninit<U>(out: &mut [U]) -> &mut [std::mem::MaybeUninit<U>] {
    // SAFETY: `MaybeUninit<U>` has the layout of `U`; the caller keeps the contents valid.
    unsafe { &mut *(out as *mut [U] as *mut [std::mem::MaybeUninit<U>]) }
}

/// `out` as initialized memory once every element has been written.
///
/// # Safety
/// Every element of `out` must have been written.
pub(crate) unsafe fn assume_written<U>(out: &mut [std::mem::MaybeUninit<U>]) -> &mut [U] {
    // SAFETY: the caller wrote every element; `MaybeUninit<U>` has the layout of `U`.
    unsafe { &mut *(out as *mut [std::mem::MaybeUninit<U>] as *mut [U]) }
}

/// Writes NaN into the slots of `out` from `from` on: what the row kernels leave there when
/// `out` is not whole rows, so that they write every element.
pub(crate) fn fill_nan_from(out: &mut [std::mem::MaybeUninit<f32>], from: usize) {
    for e in out.iter_mut().skip(from) {
        e.write(f32::NAN);
    }
}

/// Writes `U::default()` into every slot of `out` and returns it as initialized memory: for
/// kernels that take `&mut [U]`, run inside [`collect_pieces`].
pub(crate) fn fill_default<U: Copy + Default>(out: &mut [std::mem::MaybeUninit<U>]) -> &mut [U] {
    for e in out.iter_mut() {
        e.write(U::default());
    }
    // SAFETY: every element was written just above.
    unsafe { assume_written(out) }
}

/// Runs `kernel` over `src` a piece of `piece` elements at a time (the last may be shorter),
/// writing straight into a new vector's uninitialized memory, and returns it. No zeroing
/// pass: for memory-bound kernels that alone costs ~30% of their time. A kernel that takes
/// initialized memory goes through [`fill_default`], which zeroes a piece just before the
/// kernel writes it, while it is in cache. With `parallel`, tasks of about `task` elements
/// (rounded down to whole pieces) run on wick's pool.
///
/// # Safety
/// `kernel(s, d)` must write every element of `d` (which is as long as `s`).
pub(crate) unsafe fn collect_pieces<T, U>(
    src: &[T],
    piece: usize,
    task: usize,
    parallel: bool,
    kernel: impl Fn(&[T], &mut [std::mem::MaybeUninit<U>]) + Sync + Send,
) -> Vec<U>
where
    T: Copy + Sync,
    U: Copy + Send + Sync,
{
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let n = src.len();
    let piece = piece.max(1);
    let task = task.max(piece) / piece * piece;
    let mut out: Vec<U> = Vec::with_capacity(n);
    let body = |(dst, src): (&mut [MaybeUninit<U>], &[T])| {
        for (d, s) in dst.chunks_mut(piece).zip(src.chunks(piece)) {
            kernel(s, d);
        }
    };
    let spare = &mut out.spare_capacity_mut()[..n];
    super::huge_pages::advise(spare);
    if parallel {
        crate::device::install(|| spare.par_chunks_mut(task).zip(src.par_chunks(task)).for_each(body));
    } else {
        body((spare, src));
    }
    // SAFETY: `spare` and `src` both have `n` elements and are cut into the same tasks and
    // pieces, and the caller's kernel wrote every element of each piece. A panic in `kernel`
    // unwinds past this line, leaving the length at 0.
    unsafe { out.set_len(n) };
    out
}

/// A new vector of `rows` rows of `width` elements, row `k` a copy of `row(k)` (which must
/// be `width` long), written straight into uninitialized memory — no zeroing pass first
/// (an embedding lookup's output is as large as the rows it copies). With `parallel`, tasks
/// of at least `task` elements run on wick's pool.
pub(crate) fn gather_rows<'a, U>(
    rows: usize,
    width: usize,
    task: usize,
    parallel: bool,
    row: impl Fn(usize) -> &'a [U] + Sync + Send,
) -> crate::Result<Vec<U>>
where
    U: Copy + Send + Sync + 'a,
{
    use rayon::prelude::*;
    let n = rows
        .checked_mul(width)
        .ok_or_else(|| crate::Error::overflow("gather_rows", format!("{rows} rows of {width}")))?;
    let mut out: Vec<U> = Vec::with_capacity(n);
    if let Some(rows_per_task) = task.checked_div(width) {
        let body = |(k, dst): (usize, &mut [std::mem::MaybeUninit<U>])| {
            let src = row(k);
            assert_eq!(src.len(), width, "gather_rows: row {k} has the wrong length");
            dst.write_copy_of_slice(src);
        };
        let spare = &mut out.spare_capacity_mut()[..n];
        if parallel {
            crate::device::install(|| {
                spare.par_chunks_mut(width).enumerate().with_min_len(rows_per_task.max(1)).for_each(body)
            });
        } else {
            spare.chunks_mut(width).enumerate().for_each(body);
        }
    }
    // SAFETY: `spare` is `rows` chunks of `width` elements and every chunk was written in
    // full above (its source is asserted `width` long); a panic unwinds past this line,
    // leaving the length at 0.
    unsafe { out.set_len(n) };
    Ok(out)
}

/// Whether the CPU has the AVX-512 BF16 extension (`vcvtne2ps2bf16`, `vdpbf16ps`).
///
/// Detected for the bf16 dot products to come; the conversions below do not use it, since
/// `vcvtneps2bf16` flushes subnormal inputs to zero and so differs from `half::bf16::from_f32`.
#[allow(dead_code)]
pub(crate) fn has_avx512bf16() -> bool {
    features().avx512bf16
}

/// Calls the variant of kernel `$f` for an [`Isa`] (resolved against the CPU first): used in a
/// family's `mod.rs`, whose `scalar` and `x86_64` modules hold the variants.
macro_rules! dispatch {
    ($isa:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $isa.resolve() {
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::kernels::Isa::Avx512 => {
                // SAFETY: `resolve` yields Avx512 only when the CPU has every feature the
                // avx512 variants are compiled with (see `detect` and `x86/mod.rs`).
                unsafe { x86_64::avx512::$f($($arg),*) }
            }
            #[cfg(target_arch = "x86_64")]
            $crate::cpu::kernels::Isa::Avx2 => {
                // SAFETY: `resolve` yields Avx2 only when the CPU has AVX2, FMA and F16C, the
                // features the avx2 variants are compiled with.
                unsafe { x86_64::avx2::$f($($arg),*) }
            }
            _ => scalar::$f($($arg),*),
        }
    };
}
pub(crate) use dispatch;
