//! f32 ↔ bf16 and f32 ↔ f16 conversions, bit-exact with the `half` crate: round to nearest
//! even; bf16 NaNs keep their top payload bits and get the quiet bit (as `half` does, both
//! ways); f16 uses the F16C `vcvtps2ph`/`vcvtph2ps` instructions, the ones `half` itself uses
//! where the CPU has them.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::{dispatch, Isa};
use half::{bf16, f16};
use std::mem::MaybeUninit;

/// The bits of a half-type slice (both are `repr(transparent)` over `u16`).
fn bits<T: bytemuck::Pod>(v: &[T]) -> &[u16] {
    bytemuck::cast_slice(v)
}

/// The bit slots of a half-type output.
fn bits_mut<T: bytemuck::Pod>(v: &mut [MaybeUninit<T>]) -> &mut [MaybeUninit<u16>] {
    const { assert!(size_of::<T>() == 2 && align_of::<T>() == 2) };
    // SAFETY: `T` is two bytes aligned as `u16` (checked above), so the memory holds as many
    // `u16` slots; `T` is `Pod`, so whatever bits are written there form a valid `T`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) }
}

macro_rules! conversion {
    ($(#[$doc:meta])* $name:ident, $uninit:ident, $with:ident, $from:ty => $to:ty, $x:ident => $xb:expr, $out:ident => $ob:expr) => {
        $(#[$doc])*
        pub(crate) fn $name(x: &[$from], out: &mut [$to]) {
            $with(Isa::selected(), x, out)
        }

        /// The same, into memory that may be uninitialized.
        pub(crate) fn $uninit($x: &[$from], $out: &mut [MaybeUninit<$to>]) {
            let (x, out) = ($xb, $ob);
            let isa = Isa::selected();
            dispatch!(isa, $name(x, out))
        }

        /// The same with a given instruction set.
        pub(crate) fn $with(isa: Isa, $x: &[$from], out: &mut [$to]) {
            // SAFETY: the kernels write only values of the output type.
            let $out = unsafe { super::as_uninit(out) };
            let (x, out) = ($xb, $ob);
            dispatch!(isa, $name(x, out))
        }
    };
}

conversion!(
    /// `out[i] = bf16::from_f32(x[i])` for `i < min(x.len(), out.len())`.
    f32_to_bf16, f32_to_bf16_uninit, f32_to_bf16_with, f32 => bf16, x => x, out => bits_mut(out)
);
conversion!(
    /// `out[i] = x[i].to_f32()`.
    bf16_to_f32, bf16_to_f32_uninit, bf16_to_f32_with, bf16 => f32, x => bits(x), out => out
);
conversion!(
    /// `out[i] = f16::from_f32(x[i])`.
    f32_to_f16, f32_to_f16_uninit, f32_to_f16_with, f32 => f16, x => x, out => bits_mut(out)
);
conversion!(
    /// `out[i] = x[i].to_f32()`.
    f16_to_f32, f16_to_f32_uninit, f16_to_f32_with, f16 => f32, x => bits(x), out => out
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::kernels::testing::{each_isa, inputs, lengths, specials};

    /// f32 inputs: every 65537th bit pattern (all exponents, signs and mantissa ranges, NaN
    /// payloads included), the specials, the rounding ties of both formats, then random
    /// values at every test length.
    fn f32_sweep() -> Vec<Vec<f32>> {
        let mut pats: Vec<f32> = (0..=u32::MAX / 65537).map(|k| f32::from_bits(k * 65537)).collect();
        pats.extend(specials());
        for base in [0x3F80_0000u32, 0x0000_1234, 0x7F7F_0000, 0x3880_0000, 0x3300_0000] {
            // Exactly halfway for bf16 (bit 15 alone) and f16 (bit 12 alone), even and odd.
            for off in [0x8000, 0x1_8000, 0x7FFF, 0x8001, 0x1000, 0x3000, 0x0FFF, 0x1001] {
                pats.push(f32::from_bits(base + off));
                pats.push(-f32::from_bits(base + off));
            }
        }
        pats.push(65520.0); // rounds to f16 inf
        pats.push(65519.99);
        pats.push(5.9604645e-8); // f16 smallest subnormal
        pats.push(2.9802322e-8); // half of it: ties to 0
        let mut v = vec![pats];
        v.extend(lengths().into_iter().map(|n| inputs(n, n as u64 + 11, 1e3)));
        v
    }

    /// Runs every instruction set's `$kernel` on `$inputs` and demands `$same(got, want)` per
    /// element against the `half` crate's `$reference`.
    macro_rules! convert_test {
        ($name:ident, $inputs:expr, $kernel:ident, $zero:expr, $reference:expr, $same:expr) => {
            #[test]
            fn $name() {
                each_isa(stringify!($name), |isa| {
                    for x in $inputs {
                        let mut out = vec![$zero; x.len()];
                        $kernel(isa, &x, &mut out);
                        for (&xi, &got) in x.iter().zip(&out) {
                            let want = $reference(xi);
                            assert!(
                                $same(got, want),
                                "{} {}({xi:?}): {got:?} vs half {want:?}",
                                isa.name(),
                                stringify!($name)
                            );
                        }
                    }
                });
            }
        };
    }

    // Bit-exact, NaN payloads included.
    convert_test!(
        f32_to_bf16_is_bit_exact,
        f32_sweep(),
        f32_to_bf16_with,
        bf16::ZERO,
        bf16::from_f32,
        |g: bf16, w: bf16| g.to_bits() == w.to_bits()
    );
    // Bit-exact for every number; NaN stays NaN (the payload follows the instruction).
    convert_test!(
        f32_to_f16_is_bit_exact,
        f32_sweep(),
        f32_to_f16_with,
        f16::ZERO,
        f16::from_f32,
        |g: f16, w: f16| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())
    );

    fn all_u16<T>(from_bits: fn(u16) -> T) -> Vec<Vec<T>> {
        let all: Vec<T> = (0..=u16::MAX).map(from_bits).collect();
        let mut v = vec![all];
        v.extend(
            lengths()
                .into_iter()
                .map(|n| (0..n).map(|i| from_bits((i as u16).wrapping_mul(40503))).collect()),
        );
        v
    }

    // Every bf16 and f16 pattern widens bit-exactly (NaN-ness only for f16 NaNs).
    convert_test!(
        bf16_to_f32_is_bit_exact,
        all_u16(bf16::from_bits),
        bf16_to_f32_with,
        0.0f32,
        bf16::to_f32,
        |g: f32, w: f32| g.to_bits() == w.to_bits()
    );
    convert_test!(
        f16_to_f32_is_bit_exact,
        all_u16(f16::from_bits),
        f16_to_f32_with,
        0.0f32,
        f16::to_f32,
        |g: f32, w: f32| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())
    );
}
