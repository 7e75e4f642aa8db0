//! AVX2 and AVX-512 variants (the loops live in `x86/math.rs`, shared with the fused kernels).

macro_rules! reduce {
    ($feat:literal) => {
        #[target_feature(enable = $feat)]
        pub(crate) fn sum(x: &[f32]) -> f32 {
            row_sum(x)
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn max(x: &[f32]) -> f32 {
            row_max(x)
        }

        #[target_feature(enable = $feat)]
        pub(crate) fn min(x: &[f32]) -> f32 {
            row_min(x)
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(reduce);
