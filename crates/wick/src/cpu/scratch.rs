//! Per-thread working buffers kept between calls: an op that needs a large temporary (an
//! im2col matrix, the f32 sums of a bf16 product) takes this thread's buffer, grows it if
//! needed, and gives it back, so repeated calls reuse pages already faulted in instead of
//! paying a page fault and a cleared page per 4 KiB of a fresh allocation.

use std::cell::RefCell;
use std::thread::LocalKey;

/// The largest buffer a thread keeps after a call; larger ones are freed.
const KEPT_BYTES: usize = 32 << 20;

/// Element types with a per-thread scratch buffer.
pub(crate) trait Scratch: Copy + Default + 'static {
    /// This thread's buffer of this element type.
    fn key() -> &'static LocalKey<RefCell<Vec<Self>>>;
}

impl Scratch for f32 {
    fn key() -> &'static LocalKey<RefCell<Vec<f32>>> {
        thread_local!(static BUF: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) });
        &BUF
    }
}

impl Scratch for f64 {
    fn key() -> &'static LocalKey<RefCell<Vec<f64>>> {
        thread_local!(static BUF: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) });
        &BUF
    }
}

/// Runs `f` on `len` elements of this thread's scratch of `T` (contents unspecified: what an
/// earlier call left, or zeros). A nested call while the buffer is out gets a fresh one.
pub(crate) fn with<T: Scratch, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let key = T::key();
    let mut buf = key.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if buf.len() < len {
        buf.reserve_exact(len - buf.len());
        super::huge_pages::advise(buf.spare_capacity_mut());
        buf.resize(len, T::default());
    }
    let r = f(&mut buf[..len]);
    if std::mem::size_of_val(buf.as_slice()) <= KEPT_BYTES {
        key.with(|b| *b.borrow_mut() = buf);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_reused_grown_and_independent_when_nested() {
        super::with::<f32, _>(10, |b| b.fill(7.0));
        // The same thread gets its buffer back, with what the last call left in it.
        super::with::<f32, _>(4, |b| assert_eq!(b, &[7.0; 4]));
        super::with::<f32, _>(20, |outer| {
            assert_eq!(outer.len(), 20);
            outer.fill(1.0);
            super::with::<f32, _>(5, |inner| {
                inner.fill(2.0);
                assert_eq!(inner.len(), 5);
            });
            assert!(outer.iter().all(|&x| x == 1.0), "a nested call must not share the buffer");
        });
        super::with::<f64, _>(3, |b| assert_eq!(b.len(), 3));
    }
}
