//! Portable twins: one dot product per output, f32 accumulation in index order.

use half::{bf16, f16};

macro_rules! scalar_nt {
    ($name:ident, $t:ty, $widen:expr) => {
        /// `c[i·ldc + j] += Σ_t a[i·lda + t] · b[j·ldb + t]` for `i < m`, `j < n`, `t < k`.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name(
            a: &[f32],
            lda: usize,
            m: usize,
            k: usize,
            b: &[$t],
            ldb: usize,
            n: usize,
            c: &mut [f32],
            ldc: usize,
        ) {
            let widen = $widen;
            for i in 0..m {
                let x = &a[i * lda..][..k];
                for j in 0..n {
                    let w = &b[j * ldb..][..k];
                    let dot = x.iter().zip(w).fold(0f32, |s, (&x, &w)| s + x * widen(w));
                    c[i * ldc + j] += dot;
                }
            }
        }
    };
}

scalar_nt!(nt_f32, f32, |w: f32| w);
scalar_nt!(nt_f16, u16, |w: u16| f16::from_bits(w).to_f32());
scalar_nt!(nt_bf16, u16, |w: u16| bf16::from_bits(w).to_f32());
