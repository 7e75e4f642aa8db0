//! AVX2 and AVX-512 variants: the lane-wise math of `x86/math.rs` mapped over the slice.

macro_rules! activation {
    ($feat:literal) => {
        use $crate::cpu::kernels::activation::Activation;

        #[target_feature(enable = $feat)]
        pub(crate) fn apply(act: Activation, x: &[f32], out: &mut [std::mem::MaybeUninit<f32>]) {
            match act {
                Activation::Exp => map(x, out, |v| exp(v)),
                Activation::Sigmoid => map(x, out, |v| sigmoid(v)),
                Activation::Silu => map(x, out, |v| silu(v)),
                Activation::Gelu => map(x, out, |v| gelu(v)),
                Activation::GeluErf => map(x, out, |v| gelu_erf(v)),
                Activation::Tanh => map(x, out, |v| tanh(v)),
                Activation::Erf => map(x, out, |v| erf(v)),
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(activation);
