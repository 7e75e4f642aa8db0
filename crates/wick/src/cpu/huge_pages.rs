//! Huge-page advice for large fresh buffers.
//!
//! A buffer of many MiB comes from the kernel as untouched memory, and its first write takes
//! one page fault per 4 KiB page: for a 64 MiB output that is 16384 faults, which cost more
//! than the copy that fills it. Where transparent huge pages are on in `madvise` mode (the
//! usual default), asking for them before the first write makes that one fault per 2 MiB.
//! The advice changes how the memory is backed, never what it holds; where the kernel has
//! huge pages off, or on another OS, this does nothing.

/// Buffers smaller than this are left alone (they are mostly recycled heap memory).
const MIN_BYTES: usize = 4 << 20;
/// The x86_64 and aarch64 huge-page size.
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// Advises huge pages for the whole 2 MiB-aligned pages inside `buf`, if it is large (`T` may
/// be a `MaybeUninit`: call it before the first write).
pub(crate) fn advise<T>(buf: &mut [T]) {
    let bytes = std::mem::size_of_val(buf);
    if bytes < MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = buf.as_mut_ptr() as usize;
        let begin = start.next_multiple_of(HUGE);
        let end = (start + bytes) / HUGE * HUGE;
        if end > begin {
            // SAFETY: [begin, end) lies inside `buf`, memory this process owns and holds a
            // unique borrow of; MADV_HUGEPAGE only changes how the kernel backs those pages
            // (contents are kept), and on failure nothing changes, so the result is ignored.
            unsafe { libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_keeps_what_a_buffer_holds() {
        // Written before the advice (pages already backed) and after it (fresh pages).
        let n = (3 * MIN_BYTES) / 4 + 12345;
        let mut before: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        advise(&mut before);
        assert!(before.iter().enumerate().all(|(i, &x)| x == i as f32 * 0.5));
        let mut after: Vec<u32> = Vec::with_capacity(n);
        advise(after.spare_capacity_mut());
        after.extend((0..n as u32).map(|i| i.wrapping_mul(2654435761)));
        assert!(after.iter().enumerate().all(|(i, &x)| x == (i as u32).wrapping_mul(2654435761)));
    }
}
