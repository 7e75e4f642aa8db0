//! The operand and output types of the packed GEMM kernels: a strided view of a matrix
//! inside a slice, and an output matrix that parallel tasks write disjoint tiles of.

/// A matrix with element `(r, c)` at `data[r·rs + c·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<T: Copy> Mat<'_, T> {
    pub(crate) fn at(&self, r: usize, c: usize) -> T {
        self.data[r * self.rs + c * self.cs]
    }

    /// Whether every element of a `rows × cols` matrix lies inside `data`.
    pub(crate) fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1)
                .checked_mul(self.rs)
                .zip((cols - 1).checked_mul(self.cs))
                .and_then(|(r, c)| r.checked_add(c))
                .is_some_and(|last| last < self.data.len())
    }
}

/// Whether `a` holds an `m × k` matrix, `b` a `k × n` one, and `c_len` elements an `m × n`
/// output: the check every product kernel makes before it reads.
pub(crate) fn product_fits<T: Copy>(
    a: Mat<T>,
    b: Mat<T>,
    m: usize,
    n: usize,
    k: usize,
    c_len: usize,
) -> bool {
    a.covers(m, k) && b.covers(k, n) && m.checked_mul(n).is_some_and(|mn| c_len >= mn)
}

/// The output matrix shared by parallel tasks, each of which writes a disjoint tile of it.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub ptr: *mut f32,
    pub ld: usize,
}
// SAFETY: tasks given an `Out` write disjoint tiles only (see `gemm_bf16` and
// `gemm_f32`), so sharing the pointer between threads creates no data race.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// Where element `(i, j)` goes (a method, so closures capture the whole `Send` struct).
    ///
    /// # Safety
    /// `(i, j)` must lie inside the matrix.
    pub(crate) unsafe fn at(&self, i: usize, j: usize) -> *mut f32 {
        // SAFETY: forwarded from the caller.
        unsafe { self.ptr.add(i * self.ld + j) }
    }
}
