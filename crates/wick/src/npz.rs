//! NumPy `.npz` archives: a zip of `.npy` members, as written by `numpy.savez` (stored) and
//! `numpy.savez_compressed` (deflate).
//!
//! Members are named without their `.npy` suffix, in archive order. Members that are not
//! `.npy` files (and directories) are skipped. Each member's npy header is read first; the
//! zip's declared size must match what the header describes, and exactly that many data
//! bytes are then decompressed, so a member that inflates past its header (a zip bomb) is
//! refused after reading at most one extra byte. At most [`MAX_MEMBERS`] members are read.
//!
//! ```
//! use wick::{Device, Tensor};
//! let a = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?;
//! let b = Tensor::arange(0i64, 4, &Device::Cpu)?;
//! let bytes = wick::npz::write_bytes(&[("a", &a), ("b", &b)], true)?;
//! let back = wick::npz::read_bytes(&bytes)?;
//! assert_eq!(back[0].0, "a");
//! assert_eq!(back[1].1.to_vec1::<i64>()?, vec![0, 1, 2, 3]);
//! # Ok::<(), wick::Error>(())
//! ```

use crate::npy::{self, NpyHeader};
use crate::{Error, Result, Tensor};
use std::collections::HashSet;
use std::io::{Cursor, Read, Seek, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const FORMAT: &str = "npz";

/// The most members an archive may have.
pub const MAX_MEMBERS: usize = 65_536;

/// Bytes preallocated for a member before any of it has been read: larger members grow
/// their buffer as data actually arrives, so a lying size field costs no memory.
const MAX_PREALLOC: usize = 64 << 20;

/// Reads every `.npy` member of an `.npz` file, in archive order.
///
/// ```no_run
/// for (name, t) in wick::npz::read("arrays.npz")? {
///     println!("{name}: {:?}", t.dims());
/// }
/// # Ok::<(), wick::Error>(())
/// ```
pub fn read<P: AsRef<Path>>(path: P) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_archive(std::io::BufReader::new(f), MAX_MEMBERS).map_err(|e| e.context(path.display()))
}

/// Reads every `.npy` member of an in-memory `.npz` image, in archive order.
pub fn read_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    read_archive(Cursor::new(bytes), MAX_MEMBERS)
}

/// Maps a zip error to a format error.
pub(crate) fn zip_error(format: &'static str, e: zip::result::ZipError) -> Error {
    Error::format(format, format!("not a valid zip archive: {e}"))
}

/// Reads exactly `len` bytes of a zip member, then checks that the member ends there (which
/// also makes the zip crate verify the CRC). At most `prealloc` bytes are reserved up front.
pub(crate) fn read_member_exact<R: Read>(
    member: &mut R,
    len: usize,
    prealloc: usize,
    format: &'static str,
    name: &str,
) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| Error::format(format, format!("member {name:?}: {e}"));
    let mut data = Vec::with_capacity(len.min(prealloc));
    let want = u64::try_from(len).unwrap_or(u64::MAX);
    let got = member.by_ref().take(want).read_to_end(&mut data).map_err(io)?;
    if got != len {
        return Err(Error::format(
            format,
            format!("member {name:?} is truncated: {got} data bytes, {len} expected"),
        ));
    }
    let mut probe = [0u8; 1];
    if member.read(&mut probe).map_err(io)? != 0 {
        return Err(Error::format(
            format,
            format!("member {name:?} is larger than declared ({len} data bytes expected)"),
        ));
    }
    Ok(data)
}

fn read_archive<R: Read + Seek>(reader: R, max_members: usize) -> Result<Vec<(String, Tensor)>> {
    let mut zip = ZipArchive::new(reader).map_err(|e| zip_error(FORMAT, e))?;
    if zip.len() > max_members {
        return Err(Error::format(
            FORMAT,
            format!("archive has {} members, more than the limit of {max_members}", zip.len()),
        ));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(|e| zip_error(FORMAT, e))?;
        if member.is_dir() {
            continue;
        }
        let file_name = member.name().map_err(|e| zip_error(FORMAT, e))?.into_owned();
        let Some(key) = file_name.strip_suffix(".npy").map(str::to_string) else {
            continue;
        };
        let header: NpyHeader =
            npy::read_header(&mut member).map_err(|e| e.context(format!("npz member {file_name:?}")))?;
        let need = header.data_offset.checked_add(header.data_len).map(|n| n as u64);
        if need != Some(member.size()) {
            return Err(Error::format_tensor(
                FORMAT,
                &key,
                format!(
                    "the zip declares {} bytes for member {file_name:?} but its npy header describes {} \
                     (shape {:?} of {})",
                    member.size(),
                    need.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                    header.shape,
                    header.descr
                ),
            ));
        }
        let data = read_member_exact(&mut member, header.data_len, MAX_PREALLOC, FORMAT, &file_name)?;
        let t =
            npy::decode_owned(&header, data).map_err(|e| e.context(format!("npz member {file_name:?}")))?;
        if !seen.insert(key.clone()) {
            return Err(Error::format_tensor(FORMAT, key, "duplicate member name"));
        }
        out.push((key, t));
    }
    Ok(out)
}

/// An in-memory `.npz` image of `tensors` (member `name.npy` per tensor); deflate-compressed
/// like `numpy.savez_compressed` when `compressed`, stored like `numpy.savez` otherwise.
pub fn write_bytes(tensors: &[(&str, &Tensor)], compressed: bool) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let method = if compressed { CompressionMethod::Deflated } else { CompressionMethod::Stored };
    let mut seen = HashSet::new();
    for (name, t) in tensors {
        if !seen.insert(*name) {
            return Err(Error::invalid("npz::write", format!("duplicate tensor name {name:?}")));
        }
        let bytes = npy::write_npy_bytes(t).map_err(|e| e.context(format!("npz member {name:?}")))?;
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        let werr = |e: zip::result::ZipError| Error::invalid("npz::write", format!("{name:?}: {e}"));
        zip.start_file(format!("{name}.npy"), opts).map_err(werr)?;
        zip.write_all(&bytes).map_err(|e| Error::invalid("npz::write", format!("{name:?}: {e}")))?;
    }
    let cursor = zip.finish().map_err(|e| Error::invalid("npz::write", e.to_string()))?;
    Ok(cursor.into_inner())
}

/// Writes `tensors` as an uncompressed `.npz` file, like `numpy.savez`.
///
/// ```
/// use wick::{Device, Tensor};
/// let path = std::env::temp_dir().join(format!("wick-doc-{}.npz", std::process::id()));
/// let t = Tensor::new(&[1f64, 2.], &Device::Cpu)?;
/// wick::npz::write(&path, &[("x", &t)])?;
/// assert_eq!(wick::npz::read(&path)?[0].1.to_vec1::<f64>()?, vec![1., 2.]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), wick::Error>(())
/// ```
pub fn write<P: AsRef<Path>>(path: P, tensors: &[(&str, &Tensor)]) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, write_bytes(tensors, false)?).map_err(|e| Error::io(path, e))
}

/// Writes `tensors` as a deflate-compressed `.npz` file, like `numpy.savez_compressed`.
pub fn write_compressed<P: AsRef<Path>>(path: P, tensors: &[(&str, &Tensor)]) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, write_bytes(tensors, true)?).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    #[test]
    fn member_limit_and_duplicates() {
        let t = Tensor::new(&[1u8], &Device::Cpu).unwrap();
        let bytes = write_bytes(&[("a", &t), ("b", &t), ("c", &t)], false).unwrap();
        let e = read_archive(Cursor::new(&bytes), 2).unwrap_err().to_string();
        assert!(e.contains("more than the limit of 2"), "{e}");
        assert_eq!(read_archive(Cursor::new(&bytes), 3).unwrap().len(), 3);
        assert!(write_bytes(&[("a", &t), ("a", &t)], false).is_err());
    }

    #[test]
    fn read_member_exact_detects_both_directions() {
        let data = [1u8, 2, 3, 4];
        assert_eq!(read_member_exact(&mut &data[..], 4, 1, "x", "m").unwrap(), data);
        let e = read_member_exact(&mut &data[..], 3, 1, "x", "m").unwrap_err().to_string();
        assert!(e.contains("larger than declared"), "{e}");
        let e = read_member_exact(&mut &data[..], 5, usize::MAX, "x", "m").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
