//! Batched matrix products: our packed f32 kernel on AVX2, the dot-product kernel for
//! `x @ W.t()` with few rows, the row-streaming kernel for f32 products of a few rows by a
//! row-major right operand, the AVX-512 BF16 and AMX kernels, and the `gemm` crate for the
//! rest.

use super::kernels::{gemm_f32, mat::Mat, vecmat};
use super::CpuStorage;
use crate::{Error, Layout, Result};
use gemm::Parallelism;
use half::{bf16, f16};

/// The sizes of a (batched) matrix product `[.., m, k] @ [.., k, n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulDims {
    /// Rows of the left operand and of the result.
    pub m: usize,
    /// Columns of the right operand and of the result.
    pub n: usize,
    /// The contracted dim.
    pub k: usize,
}

/// Products smaller than this many multiply-adds run on one thread each.
const SMALL_GEMM: usize = 1 << 18;

/// Element types `gemm` multiplies natively.
pub(crate) trait GemmElement: Copy + Send + Sync + 'static + Default {
    const ZERO: Self;
    const ONE: Self;

    /// `c = a @ b` for row-major `a: [m, k]`, `b: [k, n]`, `c: [m, n]` through a kernel of
    /// ours where it beats `gemm` on this CPU; false (nothing written) where there is none.
    fn own_kernel(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        parallel: bool,
    ) -> bool {
        let _ = (m, n, k, a, b, c, parallel);
        false
    }
}
impl GemmElement for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn own_kernel(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], parallel: bool) -> bool {
        use super::kernels::as_uninit;
        if !gemm_f32::suits(m) {
            return false;
        }
        // SAFETY: `gemm_f32` writes only f32 values.
        let c = unsafe { as_uninit(c) };
        gemm_f32::gemm_f32(
            Mat { data: a, rs: k, cs: 1 },
            Mat { data: b, rs: n, cs: 1 },
            m,
            n,
            k,
            c,
            parallel,
        );
        true
    }
}
impl GemmElement for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmElement for f16 {
    const ZERO: Self = f16::ZERO;
    const ONE: Self = f16::ONE;
}

/// Elements of a `batches × m × n` result, or an overflow error.
fn output_len(batches: usize, m: usize, n: usize) -> Result<usize> {
    batches
        .checked_mul(m)
        .and_then(|x| x.checked_mul(n))
        .ok_or_else(|| Error::overflow("matmul", "output size"))
}

/// Whether a batch of products of `work` multiply-adds each runs one product per task (many
/// small ones, or attention heads: at least two per thread) rather than each product split
/// over the threads, which makes the threads meet once per product (bf16 bmm 12×128×64×128:
/// 670 µs split, 130 µs one per task).
fn one_product_per_task(batches: usize, work: usize) -> bool {
    batches > 1 && (work < SMALL_GEMM || batches >= 2 * crate::device::num_threads())
}

/// Offsets of each batch's matrix in storage, from the batch dims of a (broadcast) layout.
fn batch_offsets(l: &Layout) -> Vec<usize> {
    let r = l.dims().len();
    let batch =
        Layout::new(l.dims()[..r - 2].to_vec().into(), l.stride()[..r - 2].to_vec(), l.start_offset());
    batch.strided_index().collect()
}

/// A fresh `batches × mn` output, each batch's block written by `run(b, block, parallel)`
/// straight into uninitialized memory (a zeroing pass over a large output costs as much as a
/// memory-bound op): one product per task when [`one_product_per_task`] says so (shared by the
/// spinning team inside a forward pass, rayon elsewhere), else one after another, each told
/// it may use every thread.
///
/// # Safety
/// `run` must write every element of the block it is given.
unsafe fn fill_batches<T: Copy + Send + Sync>(
    batches: usize,
    mn: usize,
    work: usize,
    run: impl Fn(usize, &mut [std::mem::MaybeUninit<T>], bool) + Sync,
) -> Vec<T> {
    let len = batches * mn;
    let mut out: Vec<T> = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    let spare = &mut out.spare_capacity_mut()[..len];
    super::huge_pages::advise(spare);
    if one_product_per_task(batches, work) {
        let tasks: Vec<(usize, &mut [std::mem::MaybeUninit<T>])> = spare.chunks_mut(mn).enumerate().collect();
        super::kernels::team::for_each(tasks, |(b, dst)| run(b, dst, false));
    } else {
        crate::device::install(|| {
            for (b, dst) in spare.chunks_mut(mn).enumerate() {
                run(b, dst, true);
            }
        });
    }
    // SAFETY: the caller's `run` wrote every element of each batch's block; a panic in it
    // would have unwound past this line.
    unsafe { out.set_len(len) };
    out
}

fn gemm_batched<T: GemmElement>(
    lhs: &[T],
    ll: &Layout,
    rhs: &[T],
    rl: &Layout,
    d: MatmulDims,
) -> Result<Vec<T>> {
    let MatmulDims { m, n, k } = d;
    let r = ll.dims().len();
    let lo = batch_offsets(ll);
    let ro = batch_offsets(rl);
    let batches = lo.len();
    let out_len = output_len(batches, m, n)?;
    if out_len == 0 || k == 0 {
        return Ok(vec![T::ZERO; out_len]);
    }
    let (lrs, lcs) = (ll.stride()[r - 2] as isize, ll.stride()[r - 1] as isize);
    let (rrs, rcs) = (rl.stride()[r - 2] as isize, rl.stride()[r - 1] as isize);
    // Bounds: every element either layout can address lies inside its slice.
    if ll.max_offset_exclusive() > lhs.len() || rl.max_offset_exclusive() > rhs.len() {
        return Err(Error::invalid("matmul", "layout exceeds its storage"));
    }
    let work = m * n * k;
    let threads = crate::device::num_threads();
    let run = |b: usize, dst: &mut [std::mem::MaybeUninit<T>], parallel: bool| {
        let par = if !parallel || work < SMALL_GEMM || threads == 1 {
            Parallelism::None
        } else {
            Parallelism::Rayon(threads)
        };
        // SAFETY: `dst` holds exactly m*n elements written with row stride n and column
        // stride 1; the lhs/rhs pointers plus any in-range (row, col) times their strides stay
        // inside their slices, as checked against `max_offset_exclusive` above (broadcast
        // batch dims have stride 0 and are covered by the same bound).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr().cast::<T>(),
                1,
                n as isize,
                false,
                lhs.as_ptr().add(lo[b]),
                lcs,
                lrs,
                rhs.as_ptr().add(ro[b]),
                rcs,
                rrs,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                par,
            )
        }
    };
    // SAFETY: `gemm` (k > 0, told not to read the destination) writes every element.
    Ok(unsafe { fill_batches(batches, m * n, work, run) })
}

/// What a product on one of our packed kernels needs of its operands' layouts, checked
/// against their storage: each matrix's offset per batch, the `(row, col)` strides, and the
/// output's length.
struct Operands {
    lo: Vec<usize>,
    ro: Vec<usize>,
    ls: (usize, usize),
    rs: (usize, usize),
    out_len: usize,
}

fn operands(ll: &Layout, lhs_len: usize, rl: &Layout, rhs_len: usize, d: MatmulDims) -> Result<Operands> {
    if ll.max_offset_exclusive() > lhs_len || rl.max_offset_exclusive() > rhs_len {
        return Err(Error::invalid("matmul", "layout exceeds its storage"));
    }
    let r = ll.dims().len();
    let (lo, ro) = (batch_offsets(ll), batch_offsets(rl));
    let out_len = output_len(lo.len(), d.m, d.n)?;
    let ls = (ll.stride()[r - 2], ll.stride()[r - 1]);
    let rs = (rl.stride()[r - 2], rl.stride()[r - 1]);
    Ok(Operands { lo, ro, ls, rs, out_len })
}

/// An f32 product kernel of ours: `c = a · b` for strided `a: m × k`, `b: k × n` into a
/// row-major `c` it writes in full, split over the threads when told `parallel`.
type F32Product = fn(Mat<f32>, Mat<f32>, usize, usize, usize, &mut [std::mem::MaybeUninit<f32>], bool);

/// f32 products on one of our kernels (the packed `kernels::gemm_f32`, the row-streaming
/// `kernels::vecmat`), straight from the operands' strides, written once into fresh memory.
fn f32_batched(
    lhs: &[f32],
    ll: &Layout,
    rhs: &[f32],
    rl: &Layout,
    d: MatmulDims,
    product: F32Product,
) -> Result<Vec<f32>> {
    use std::mem::MaybeUninit;
    let MatmulDims { m, n, k } = d;
    let Operands { lo, ro, ls: (lrs, lcs), rs: (rrs, rcs), .. } = operands(ll, lhs.len(), rl, rhs.len(), d)?;
    let run = |bi: usize, dst: &mut [MaybeUninit<f32>], parallel: bool| {
        let a = Mat { data: &lhs[lo[bi]..], rs: lrs, cs: lcs };
        let b = Mat { data: &rhs[ro[bi]..], rs: rrs, cs: rcs };
        product(a, b, m, n, k, dst, parallel);
    };
    // SAFETY: an `F32Product` writes every element of its `m × n` output.
    Ok(unsafe { fill_batches(lo.len(), m * n, m * n * k.max(1), run) })
}

/// bf16 products on the AVX-512 BF16 kernel (`kernels::gemm_bf16`), straight from the
/// operands' strides (no widened copies), rounded once to bf16 at the end.
fn gemm_bf16_batched(
    lhs: &[bf16],
    ll: &Layout,
    rhs: &[bf16],
    rl: &Layout,
    d: MatmulDims,
) -> Result<Vec<bf16>> {
    use super::kernels::{convert, gemm_bf16, team};
    let MatmulDims { m, n, k } = d;
    let Operands { lo, ro, ls: (lrs, lcs), rs: (rrs, rcs), out_len } =
        operands(ll, lhs.len(), rl, rhs.len(), d)?;
    if out_len == 0 {
        return Ok(Vec::new());
    }
    let (a, b): (&[u16], &[u16]) = (bytemuck::cast_slice(lhs), bytemuck::cast_slice(rhs));
    let run = |bi: usize, dst: &mut [f32], parallel: bool| {
        let a = gemm_bf16::Mat { data: &a[lo[bi]..], rs: lrs, cs: lcs };
        let b = gemm_bf16::Mat { data: &b[ro[bi]..], rs: rrs, cs: rcs };
        gemm_bf16::gemm_bf16(a, b, m, n, k, dst, parallel);
    };
    // The f32 sums go to this thread's kept scratch (a fresh zeroed buffer per call cost a
    // page fault per 4 KiB: 256³ ran 194 µs against PyTorch's 75), and only the bf16 result
    // is new memory, written once by the rounding pass.
    super::scratch::with(out_len, |sums: &mut [f32]| {
        if one_product_per_task(lo.len(), m * n * k.max(1)) {
            let tasks: Vec<(usize, &mut [f32])> = sums.chunks_mut(m * n).enumerate().collect();
            team::for_each(tasks, |(bi, dst)| run(bi, dst, false));
        } else {
            for (bi, dst) in sums.chunks_mut(m * n).enumerate() {
                run(bi, dst, true);
            }
        }
        let contiguous = Layout::contiguous(out_len);
        // SAFETY: the conversion writes every element of its output.
        Ok(unsafe { super::copy::map_slices_uninit(sums, &contiguous, convert::f32_to_bf16_uninit) })
    })
}

/// The shortest contracted dim [`matmul_nt`] takes for more than [`NT_ALWAYS_ROWS`] rows.
const NT_MIN_K: usize = 256;
/// Up to this many rows (decoding a few tokens) [`matmul_nt`] takes any `k`.
const NT_ALWAYS_ROWS: usize = 4;
/// Up to this many rows [`matmul_nt`] takes f32 and f16 weights (a short sentence, a
/// prompt); more go to `gemm`.
const NT_FEW_ROWS: usize = 128;

/// `lhs @ rhs` through the dot-product kernel (`kernels::gemm_nt`) when the rows of `lhs` and
/// the columns of `rhs` are both contiguous along `k` — `rhs` a transposed row-major matrix,
/// as in `x @ W.t()` and `q @ k.t()` — for f32, f16 and bf16; `None` for other layouts.
fn matmul_nt(
    lhs: &CpuStorage,
    ll: &Layout,
    rhs: &CpuStorage,
    rl: &Layout,
    d: MatmulDims,
) -> Result<Option<CpuStorage>> {
    use super::kernels::convert;
    use super::kernels::gemm_nt::{bf16_pairs_available, gemm_nt_batched, Lhs, Rows};
    let MatmulDims { m, n, k } = d;
    let r = ll.dims().len();
    let (lrs, lcs) = (ll.stride()[r - 2], ll.stride()[r - 1]);
    let (rrs, rcs) = (rl.stride()[r - 2], rl.stride()[r - 1]);
    // Each output ends in one horizontal sum, which a short k cannot amortize: attention
    // scores over 32–64-wide heads go to `gemm` unless there are only a few query rows
    // (MiniLM 32×128 forward: 1.07 s with this kernel for its q·kᵀ, 0.85 s without).
    // Past [`NT_FEW_ROWS`] rows the `gemm` crate's packed kernel wins, where the packing has
    // enough rows to pay for itself (2 threads, 4096×384×1536: Zen 3 42 ms through `gemm`,
    // 77 ms here; Sapphire Rapids 22 against 69–81 ms); below, packing `b` costs more than
    // the product (Zen 3, 16×384×1536: 206–225 µs here, 282–312 µs through `gemm`; Sapphire
    // Rapids 192–210 against 330–350 µs). bf16 weights stay here at any row count, since
    // `gemm` would need them widened to an f32 copy on every call (62–68 ms that way, 55–59 ms
    // here on 128×2048×5632), unless the AMX tile unit takes the product.
    let bf16_rows = matches!(rhs, CpuStorage::BF16(_));
    if bf16_rows && super::kernels::gemm_bf16::tile_unit_takes(m) {
        return Ok(None);
    }
    let long_enough = m <= NT_ALWAYS_ROWS || (k >= NT_MIN_K && (bf16_rows || m <= NT_FEW_ROWS));
    if m == 0 || n == 0 || k < 2 || !long_enough || lcs != 1 || rrs != 1 || (n > 1 && rcs < k) {
        return Ok(None);
    }
    if ll.max_offset_exclusive() > lhs.len() || rl.max_offset_exclusive() > rhs.len() {
        return Err(Error::invalid("matmul", "layout exceeds its storage"));
    }
    let (lo, ro) = (batch_offsets(ll), batch_offsets(rl));
    lo.len().checked_mul(m * n).ok_or_else(|| Error::overflow("matmul", "output size"))?;
    // Narrow lhs rows are widened to one contiguous f32 block per batch (they are few next to
    // the weights, which stay narrow).
    let widen = |f: &dyn Fn(usize, &mut [f32])| -> (Vec<f32>, Vec<usize>) {
        let mut a = vec![0f32; lo.len() * m * k];
        for (rows, &at) in a.chunks_mut(m * k).zip(&lo) {
            for (i, row) in rows.chunks_mut(k).enumerate() {
                f(at + i * lrs, row);
            }
        }
        (a, (0..lo.len()).map(|b| b * m * k).collect())
    };
    Ok(Some(match (lhs, rhs) {
        (CpuStorage::F32(a), CpuStorage::F32(w)) => {
            CpuStorage::F32(gemm_nt_batched(Lhs::F32(a), &lo, lrs, m, k, Rows::F32(w), &ro, rcs, n).into())
        }
        (CpuStorage::F16(a), CpuStorage::F16(w)) => {
            let (x, at) = widen(&|at, row| convert::f16_to_f32(&a[at..at + k], row));
            let out = gemm_nt_batched(Lhs::F32(&x), &at, k, m, k, Rows::F16(w), &ro, rcs, n);
            let mut o = vec![f16::ZERO; out.len()];
            convert::f32_to_f16(&out, &mut o);
            CpuStorage::F16(o.into())
        }
        (CpuStorage::BF16(a), CpuStorage::BF16(w)) => {
            let out = if bf16_pairs_available() {
                gemm_nt_batched(Lhs::BF16(a), &lo, lrs, m, k, Rows::BF16(w), &ro, rcs, n)
            } else {
                let (x, at) = widen(&|at, row| convert::bf16_to_f32(&a[at..at + k], row));
                gemm_nt_batched(Lhs::F32(&x), &at, k, m, k, Rows::BF16(w), &ro, rcs, n)
            };
            let mut o = vec![bf16::ZERO; out.len()];
            convert::f32_to_bf16(&out, &mut o);
            CpuStorage::BF16(o.into())
        }
        _ => return Ok(None),
    }))
}

/// `lhs @ rhs` for layouts already broadcast to the same batch dims; output row-major.
pub(crate) fn matmul(
    lhs: &CpuStorage,
    ll: &Layout,
    rhs: &CpuStorage,
    rl: &Layout,
    d: MatmulDims,
) -> Result<CpuStorage> {
    if let Some(out) = matmul_nt(lhs, ll, rhs, rl, d)? {
        return Ok(out);
    }
    let rcs = rl.stride()[rl.dims().len() - 1];
    Ok(match (lhs, rhs) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) if vecmat::suits(d.m, rcs) => {
            CpuStorage::F32(f32_batched(a, ll, b, rl, d, vecmat::vecmat)?.into())
        }
        (CpuStorage::F32(a), CpuStorage::F32(b)) if gemm_f32::suits(d.m) => {
            CpuStorage::F32(f32_batched(a, ll, b, rl, d, gemm_f32::gemm_f32)?.into())
        }
        (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(gemm_batched(a, ll, b, rl, d)?.into()),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(gemm_batched(a, ll, b, rl, d)?.into()),
        (CpuStorage::F16(a), CpuStorage::F16(b)) => CpuStorage::F16(gemm_batched(a, ll, b, rl, d)?.into()),
        (CpuStorage::BF16(a), CpuStorage::BF16(b)) if super::kernels::gemm_bf16::available() => {
            CpuStorage::BF16(gemm_bf16_batched(a, ll, b, rl, d)?.into())
        }
        (CpuStorage::BF16(a), CpuStorage::BF16(b)) => {
            // Without AVX-512 BF16, bf16 multiplies in f32 (exact products, f32 accumulation) and rounds once.
            // The widening and the final rounding run through the SIMD conversion kernels
            // (per-element `half` calls made a 4096² weight's widening cost 20 ms).
            use super::copy::map_slices_uninit;
            use super::kernels::convert;
            // SAFETY (this and the next two): the conversions write every element of their output.
            let a32 = unsafe { map_slices_uninit(a, ll, convert::bf16_to_f32_uninit) };
            // SAFETY: as above.
            let b32 = unsafe { map_slices_uninit(b, rl, convert::bf16_to_f32_uninit) };
            let (lc, rc) = (Layout::contiguous(ll.shape()), Layout::contiguous(rl.shape()));
            // Broadcast batch dims were materialised by the gather; that is fine for bf16.
            let out = if gemm_f32::suits(d.m) {
                f32_batched(&a32, &lc, &b32, &rc, d, gemm_f32::gemm_f32)?
            } else {
                gemm_batched(&a32, &lc, &b32, &rc, d)?
            };
            let contiguous = Layout::contiguous(out.len());
            // SAFETY: as above.
            CpuStorage::BF16(
                unsafe { map_slices_uninit(&out, &contiguous, convert::f32_to_bf16_uninit) }.into(),
            )
        }
        (a, b) if a.dtype() != b.dtype() => {
            return Err(Error::DTypeMismatch { op: "matmul", lhs: a.dtype(), rhs: b.dtype() })
        }
        (a, _) => {
            return Err(Error::unsupported_dtype("matmul", a.dtype(), "matmul needs bf16, f16, f32 or f64"))
        }
    })
}

/// `c = a @ b` for row-major contiguous `a: [m, k]`, `b: [k, n]`, `c: [m, n]`.
pub(crate) fn gemm_contiguous<T: GemmElement>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &mut [T]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_contiguous: slices too short");
    if m * n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(T::ZERO);
        return;
    }
    let threads = crate::device::num_threads();
    if T::own_kernel(m, n, k, a, b, c, threads > 1) {
        return;
    }
    let par =
        if m * n * k < SMALL_GEMM || threads == 1 { Parallelism::None } else { Parallelism::Rayon(threads) };
    crate::device::install(|| {
        // SAFETY: the assert above guarantees every row-major index of the three matrices is
        // inside its slice.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                par,
            )
        }
    });
}
