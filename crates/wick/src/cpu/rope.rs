//! Fused rotary position embedding (Su et al., 2021, "RoFormer") over `[b, h, t, d]` rows.
//!
//! Two layouts of the rotated pairs: *half-split* (Hugging Face Llama's `rotate_half`: pair
//! `(i, i + d/2)`) and *interleaved* (GPT-J / Meta's original: pair `(2i, 2i + 1)`). `cos` and
//! `sin` are `[t, d/2]` tables, one row per position. Each `[t, d]` plane of the input is one
//! piece of work; planes are split across wick's pool once the input is large. f16 and bf16
//! planes are widened to f32, rotated and rounded back once; f64 is computed in f64.

use super::kernels::{collect_pieces, convert, fill_default};
use super::{contiguous_cow, CpuStorage, PARALLEL_THRESHOLD};
use crate::{Layout, Result};
use std::ops::{Add, Mul, Sub};

/// Rotates one `[t, d]` plane `x` into `out` with the `[t, d/2]` tables `cos`, `sin`.
fn rotate_plane<T>(x: &[T], out: &mut [T], cos: &[T], sin: &[T], d: usize, interleaved: bool)
where
    T: Copy + Mul<Output = T> + Add<Output = T> + Sub<Output = T>,
{
    let half = d / 2;
    for ((xr, or), (c, s)) in
        x.chunks_exact(d).zip(out.chunks_exact_mut(d)).zip(cos.chunks_exact(half).zip(sin.chunks_exact(half)))
    {
        if interleaved {
            for (i, (&c, &s)) in c.iter().zip(s).enumerate() {
                let (a, b) = (xr[2 * i], xr[2 * i + 1]);
                or[2 * i] = a * c - b * s;
                or[2 * i + 1] = a * s + b * c;
            }
        } else {
            let (x1, x2) = xr.split_at(half);
            let (o1, o2) = or.split_at_mut(half);
            for i in 0..half {
                let (a, b, c, s) = (x1[i], x2[i], c[i], s[i]);
                o1[i] = a * c - b * s;
                o2[i] = b * c + a * s;
            }
        }
    }
}

/// Runs [`rotate_plane`] over every `[t, d]` plane of `src`, in parallel when large.
fn map_planes<T, K>(src: &[T], plane: usize, kernel: K) -> Vec<T>
where
    T: Copy + Send + Sync + Default,
    K: Fn(&[T], &mut [T]) + Sync + Send,
{
    let parallel = src.len() >= PARALLEL_THRESHOLD && src.len() > plane;
    // SAFETY: `fill_default` initializes every element before the kernel sees it.
    unsafe { collect_pieces(src, plane, PARALLEL_THRESHOLD / 4, parallel, |s, d| kernel(s, fill_default(d))) }
}

/// The f32 conversions of a half-precision type: planes are widened, rotated in f32 and
/// rounded back once.
struct Half<H> {
    widen: fn(&[H], &mut [f32]),
    narrow: fn(&[f32], &mut [H]),
}

impl<H: Copy + Default + Send + Sync> Half<H> {
    fn table(&self, v: &[H], l: &Layout) -> Vec<f32> {
        let src = contiguous_cow(v, l);
        let mut out = vec![0f32; src.len()];
        (self.widen)(&src, &mut out);
        out
    }

    fn planes(
        &self,
        x: (&[H], &Layout),
        cos: (&[H], &Layout),
        sin: (&[H], &Layout),
        plane: usize,
        d: usize,
        interleaved: bool,
    ) -> Vec<H> {
        let (c, s) = (self.table(cos.0, cos.1), self.table(sin.0, sin.1));
        let src = contiguous_cow(x.0, x.1);
        map_planes(&src, plane, |x, out| {
            let mut xf = vec![0f32; x.len()];
            let mut of = vec![0f32; x.len()];
            (self.widen)(x, &mut xf);
            rotate_plane(&xf, &mut of, &c, &s, d, interleaved);
            (self.narrow)(&of, out);
        })
    }
}

/// Rotary embedding of `x` (`[b, h, t, d]` in `l`) with `[t, d/2]` tables; `None` when the
/// dtypes differ, are not float, or the shapes do not fit (the caller then composes the op).
pub(crate) fn rope(
    x: &CpuStorage,
    l: &Layout,
    cos: (&CpuStorage, &Layout),
    sin: (&CpuStorage, &Layout),
    interleaved: bool,
) -> Result<Option<CpuStorage>> {
    let dims = l.dims();
    if dims.len() != 4 {
        return Ok(None);
    }
    let (t, d) = (dims[2], dims[3]);
    if d == 0 || !d.is_multiple_of(2) || t == 0 || cos.1.dims() != [t, d / 2] || sin.1.dims() != [t, d / 2] {
        return Ok(None);
    }
    let plane = t * d;
    Ok(Some(match (x, cos.0, sin.0) {
        (CpuStorage::F32(v), CpuStorage::F32(c), CpuStorage::F32(s)) => {
            let (c, s) = (contiguous_cow(c, cos.1), contiguous_cow(s, sin.1));
            let src = contiguous_cow(v, l);
            CpuStorage::F32(map_planes(&src, plane, |x, o| rotate_plane(x, o, &c, &s, d, interleaved)).into())
        }
        (CpuStorage::F64(v), CpuStorage::F64(c), CpuStorage::F64(s)) => {
            let (c, s) = (contiguous_cow(c, cos.1), contiguous_cow(s, sin.1));
            let src = contiguous_cow(v, l);
            CpuStorage::F64(map_planes(&src, plane, |x, o| rotate_plane(x, o, &c, &s, d, interleaved)).into())
        }
        (CpuStorage::BF16(v), CpuStorage::BF16(c), CpuStorage::BF16(s)) => {
            let half = Half { widen: convert::bf16_to_f32, narrow: convert::f32_to_bf16 };
            CpuStorage::BF16(half.planes((v, l), (c, cos.1), (s, sin.1), plane, d, interleaved).into())
        }
        (CpuStorage::F16(v), CpuStorage::F16(c), CpuStorage::F16(s)) => {
            let half = Half { widen: convert::f16_to_f32, narrow: convert::f32_to_f16 };
            CpuStorage::F16(half.planes((v, l), (c, cos.1), (s, sin.1), plane, d, interleaved).into())
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, one element at a time.
    fn reference(x: &[f64], cos: &[f64], sin: &[f64], t: usize, d: usize, interleaved: bool) -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        let h = d / 2;
        for (r, (xr, or)) in x.chunks(d).zip(out.chunks_mut(d)).enumerate() {
            let p = r % t;
            for i in 0..h {
                let (c, s) = (cos[p * h + i], sin[p * h + i]);
                let (ia, ib) = if interleaved { (2 * i, 2 * i + 1) } else { (i, i + h) };
                or[ia] = xr[ia] * c - xr[ib] * s;
                or[ib] = xr[ib] * c + xr[ia] * s;
            }
        }
        out
    }

    #[test]
    fn planes_match_reference_serial_and_parallel() {
        // The second case is past PARALLEL_THRESHOLD, so it runs on the pool.
        for &(b, h, t, d) in &[(1usize, 2usize, 3usize, 4usize), (2, 8, 64, 64)] {
            let n = b * h * t * d;
            let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
            let cos: Vec<f64> = (0..t * d / 2).map(|i| (i as f64 * 0.37).cos()).collect();
            let sin: Vec<f64> = (0..t * d / 2).map(|i| (i as f64 * 0.37).sin()).collect();
            for interleaved in [false, true] {
                let want = reference(&x, &cos, &sin, t, d, interleaved);
                let l = Layout::contiguous((b, h, t, d));
                let cl = Layout::contiguous((t, d / 2));
                let xs = CpuStorage::F64(x.clone().into());
                let (cs, ss) = (CpuStorage::F64(cos.clone().into()), CpuStorage::F64(sin.clone().into()));
                let got = rope(&xs, &l, (&cs, &cl), (&ss, &cl), interleaved).unwrap().unwrap();
                assert_eq!(got.as_slice::<f64>().unwrap(), want.as_slice());
                let xs = CpuStorage::F32(x.iter().map(|&v| v as f32).collect::<Vec<_>>().into());
                let cs = CpuStorage::F32(cos.iter().map(|&v| v as f32).collect::<Vec<_>>().into());
                let ss = CpuStorage::F32(sin.iter().map(|&v| v as f32).collect::<Vec<_>>().into());
                let got = rope(&xs, &l, (&cs, &cl), (&ss, &cl), interleaved).unwrap().unwrap();
                for (g, w) in got.as_slice::<f32>().unwrap().iter().zip(&want) {
                    assert!((*g as f64 - w).abs() <= 1e-6 * (1.0 + w.abs()), "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn unfit_shapes_or_dtypes_answer_none() {
        let x = CpuStorage::F32(vec![0f32; 12].into());
        let c = CpuStorage::F32(vec![0f32; 6].into());
        let bad = Layout::contiguous((2, 2));
        let l = Layout::contiguous((1, 1, 3, 4));
        assert!(rope(&x, &l, (&c, &bad), (&c, &bad), false).unwrap().is_none());
        let ci = CpuStorage::U32(vec![0u32; 6].into());
        let good = Layout::contiguous((3, 2));
        let x3 = Layout::contiguous((1, 1, 3, 4));
        assert!(rope(&x, &x3, (&ci, &good), (&ci, &good), false).unwrap().is_none());
    }
}
