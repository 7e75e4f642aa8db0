//! Sorting along the last dim.

use super::{contiguous_cow, CpuElement, CpuStorage, Map1Any};
use crate::dtype::WithDType;
use crate::{Layout, Result};
use std::cmp::Ordering;

struct ArgSort(bool);

/// Orders NaN after every number, so ascending sorts put NaN last (as PyTorch does).
fn nan_last<T: WithDType>(a: T, b: T) -> Ordering {
    match (a.is_nan_(), b.is_nan_()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl Map1Any for ArgSort {
    fn f<T: CpuElement>(&self, v: &[T], l: &Layout) -> Result<CpuStorage> {
        let x = contiguous_cow(v, l);
        let n = l.dims().last().copied().unwrap_or(1);
        let mut out = Vec::with_capacity(x.len());
        if n == 0 {
            return Ok(CpuStorage::U32(out.into()));
        }
        let mut idx: Vec<u32> = Vec::with_capacity(n);
        for row in x.chunks_exact(n) {
            idx.clear();
            idx.extend(0..n as u32);
            // Stable: equal values keep their original order.
            if self.0 {
                idx.sort_by(|&a, &b| nan_last(row[a as usize], row[b as usize]));
            } else {
                idx.sort_by(|&a, &b| nan_last(row[b as usize], row[a as usize]));
            }
            out.extend_from_slice(&idx);
        }
        Ok(CpuStorage::U32(out.into()))
    }
}

/// Indices (U32) that sort each row of the last dim.
pub(crate) fn arg_sort_last_dim(s: &CpuStorage, l: &Layout, ascending: bool) -> Result<CpuStorage> {
    ArgSort(ascending).map(s, l)
}
