//! x86-64 vector primitives, one module per instruction set with the same names in each
//! (`F`, `LANES`, `splat`, `load`, `fmadd`, `exp`, ...), so that a kernel body written once
//! compiles for both.
//!
//! A family's `x86_64.rs` defines its kernels in a `macro_rules!` taking the `target_feature`
//! string and stamps them out per instruction set with [`stamp_isas!`]; the primitives are safe
//! `#[target_feature]` functions, inlined into those kernels. Only loads and stores through
//! pointers are `unsafe`, and they live here.

// The feature strings below must match `detect` in `kernels/mod.rs`.

/// Defines `mod avx2` and `mod avx512`, each with the primitives of that set in scope and the
/// family macro `$family!` expanded with its `target_feature` string.
macro_rules! stamp_isas {
    ($family:ident) => {
        pub(crate) mod avx2 {
            #[allow(unused_imports)]
            use $crate::cpu::kernels::x86::avx2::*;
            $family!("avx2,fma,f16c");
        }
        pub(crate) mod avx512 {
            #[allow(unused_imports)]
            use $crate::cpu::kernels::x86::avx512::*;
            $family!("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c");
        }
    };
}
pub(crate) use stamp_isas;

#[macro_use]
mod math;

pub(crate) mod amx;
pub(crate) mod avx2;
pub(crate) mod avx512;
