//! safetensors files: load, memory-map (one file or several shards) and save.
//!
//! The format itself (header parsing and validation) is the `safetensors` crate's; this module
//! turns its views into wick tensors that borrow the mapped bytes whenever the dtype is native
//! and the data is aligned, so loading a model copies nothing.
//!
//! ```
//! use wick::{Device, Tensor};
//! let dir = std::env::temp_dir().join(format!("wick-doc-st-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).map_err(|e| wick::Error::io(&dir, e))?;
//! let path = dir.join("w.safetensors");
//! let w = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?;
//! wick::safetensors::save([("w", &w)], &path)?;
//! let st = wick::safetensors::MmapedSafetensors::new(&path)?;
//! let back = st.get("w")?;
//! assert!(back.is_borrowed()); // no copy: the tensor reads the mapped file
//! assert_eq!(back.to_vec2::<f32>()?, w.to_vec2::<f32>()?);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), wick::Error>(())
//! ```

use crate::cpu::SharedBytes;
use crate::{Context, DType, Device, Error, Result, Tensor};
use safetensors::tensor::{Dtype as StDtype, Metadata, TensorInfo};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FORMAT: &str = "safetensors";

fn st_error(e: safetensors::SafeTensorError) -> Error {
    Error::format(FORMAT, e.to_string())
}

/// wick's dtype for a stored dtype, and whether the data needs widening first.
fn map_dtype(dt: StDtype, name: &str) -> Result<(DType, Option<DType>)> {
    Ok(match dt {
        StDtype::BOOL | StDtype::U8 => (DType::U8, None),
        StDtype::U32 => (DType::U32, None),
        StDtype::I64 => (DType::I64, None),
        StDtype::BF16 => (DType::BF16, None),
        StDtype::F16 => (DType::F16, None),
        StDtype::F32 => (DType::F32, None),
        StDtype::F64 => (DType::F64, None),
        StDtype::I8 | StDtype::I16 | StDtype::I32 => (DType::I64, Some(DType::I64)),
        StDtype::U16 => (DType::U32, Some(DType::U32)),
        other => {
            return Err(Error::format_tensor(
                FORMAT,
                name,
                format!("dtype {other:?} is not supported (wick reads bool, u8, i8, i16, u16, i32, u32, i64, bf16, f16, f32, f64)"),
            ))
        }
    })
}

fn st_dtype(dt: DType) -> StDtype {
    match dt {
        DType::U8 => StDtype::U8,
        DType::U32 => StDtype::U32,
        DType::I64 => StDtype::I64,
        DType::BF16 => StDtype::BF16,
        DType::F16 => StDtype::F16,
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
    }
}

/// Widens small integer types element by element (little-endian).
fn widen_ints(bytes: &[u8], dt: StDtype, shape: &[usize], dev: &Device) -> Result<Tensor> {
    fn le<const N: usize>(c: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }
    match dt {
        StDtype::I8 => Tensor::from_vec(bytes.iter().map(|&b| b as i8 as i64).collect(), shape, dev),
        StDtype::I16 => Tensor::from_vec(
            bytes.chunks_exact(2).map(|c| i16::from_le_bytes(le(c)) as i64).collect(),
            shape,
            dev,
        ),
        StDtype::I32 => Tensor::from_vec(
            bytes.chunks_exact(4).map(|c| i32::from_le_bytes(le(c)) as i64).collect(),
            shape,
            dev,
        ),
        StDtype::U16 => Tensor::from_vec(
            bytes.chunks_exact(2).map(|c| u16::from_le_bytes(le(c)) as u32).collect(),
            shape,
            dev,
        ),
        other => Err(Error::format(FORMAT, format!("internal: {other:?} is not a widened type"))),
    }
}

/// Largest header wick accepts (the `safetensors` crate's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Checks the header's tensor entries one by one so that an error names the tensor and the
/// byte range at fault (the `safetensors` crate then validates the file as a whole).
fn validate_header(bytes: &[u8]) -> Result<()> {
    let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| {
        Error::format(
            FORMAT,
            format!("file too small: {} bytes, the header length alone needs 8", bytes.len()),
        )
    })?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER {
        return Err(Error::format(FORMAT, format!("header of {n} bytes is too large (limit {MAX_HEADER})")));
    }
    let end = 8usize.checked_add(n as usize).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        Error::format(
            FORMAT,
            format!("header length {n} runs past the end of the file ({} bytes)", bytes.len()),
        )
    })?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..end])
        .map_err(|e| Error::format(FORMAT, format!("invalid JSON in header: {e}")))?;
    let data_len = bytes.len() - end;
    let mut ranges: Vec<(usize, usize, &str)> = Vec::new();
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        let bad = |msg: String| Error::format_tensor(FORMAT, name.as_str(), msg);
        let info: TensorInfo =
            serde_json::from_value(entry.clone()).map_err(|e| bad(format!("malformed entry: {e}")))?;
        map_dtype(info.dtype, name)?;
        let count = info
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {:?} overflows the element count", info.shape)))?;
        let size = count
            .checked_mul(info.dtype.bitsize() / 8)
            .ok_or_else(|| bad(format!("shape {:?} overflows the byte size", info.shape)))?;
        let (a, b) = info.data_offsets;
        if a > b || b > data_len {
            return Err(bad(format!(
                "data offsets {a}..{b} lie outside the data section of {data_len} bytes"
            )));
        }
        if b - a != size {
            return Err(bad(format!(
                "data offsets {a}..{b} hold {} bytes but shape {:?} of {:?} needs {size}",
                b - a,
                info.shape,
                info.dtype
            )));
        }
        ranges.push((a, b, name));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(Error::format_tensor(
                FORMAT,
                w[1].2,
                format!(
                    "data bytes {}..{} overlap tensor {:?} at {}..{}",
                    w[1].0, w[1].1, w[0].2, w[0].0, w[0].1
                ),
            ));
        }
    }
    Ok(())
}

/// One parsed file: its bytes, where its data section starts, and its header.
struct Shard {
    path: PathBuf,
    bytes: SharedBytes,
    data_start: usize,
    metadata: Metadata,
}

impl Shard {
    fn parse(path: PathBuf, bytes: SharedBytes) -> Result<Self> {
        validate_header((*bytes).as_ref()).with_context(|| path.display().to_string())?;
        let (n, metadata) = safetensors::SafeTensors::read_metadata((*bytes).as_ref())
            .map_err(st_error)
            .with_context(|| path.display().to_string())?;
        let data_start = n.checked_add(8).ok_or_else(|| Error::format(FORMAT, "header length overflows"))?;
        Ok(Shard { path, bytes, data_start, metadata })
    }

    fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.metadata.info(name)
    }

    fn tensor(&self, name: &str, info: &TensorInfo) -> Result<Tensor> {
        let (dtype, widen) = map_dtype(info.dtype, name)?;
        let (start, end) = info.data_offsets;
        let abs = |x: usize| {
            x.checked_add(self.data_start)
                .ok_or_else(|| Error::format_tensor(FORMAT, name, "data offset overflows"))
        };
        let (a, b) = (abs(start)?, abs(end)?);
        let all = (*self.bytes).as_ref();
        if a > b || b > all.len() {
            return Err(Error::format_tensor(
                FORMAT,
                name,
                format!("data bytes {a}..{b} lie outside the file of {} bytes", all.len()),
            ));
        }
        if widen.is_some() {
            return widen_ints(&all[a..b], info.dtype, &info.shape, &Device::Cpu);
        }
        Tensor::from_shared_bytes(self.bytes.clone(), a, dtype, info.shape.as_slice())
            .map_err(|e| e.context(format!("tensor {name:?}")))
    }
}

/// One or several safetensors files, memory-mapped; tensors borrow the mapped bytes.
pub struct MmapedSafetensors {
    shards: Vec<Shard>,
    routing: HashMap<String, usize>,
}

fn map_file(path: &Path) -> Result<SharedBytes> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the file is opened read-only and wick never writes through the map. As with any
    // memory map, another process truncating or rewriting the file while it is mapped is
    // outside our control (it can fault the process); weight files are not expected to change
    // under a running model.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(Arc::new(map))
}

impl MmapedSafetensors {
    /// Maps one file, a shard index (`*.safetensors.index.json`), or a directory holding
    /// either `model.safetensors.index.json` or `*.safetensors` files.
    pub fn new<P: AsRef<Path>>(path: P) -> Result<Self> {
        let path = path.as_ref();
        if path.is_dir() {
            let index = path.join("model.safetensors.index.json");
            if index.exists() {
                return Self::from_index(&index);
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::format(
                    FORMAT,
                    format!("{}: no .safetensors file in this directory", path.display()),
                ));
            }
            return Self::multi(&files);
        }
        if path.to_string_lossy().ends_with(".index.json") {
            return Self::from_index(path);
        }
        Self::multi(&[path])
    }

    /// Maps several shard files; a tensor name may appear in only one of them.
    pub fn multi<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut shards = Vec::with_capacity(paths.len());
        let mut routing = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            let p = p.as_ref();
            let shard = Shard::parse(p.to_path_buf(), map_file(p)?)?;
            for name in shard.metadata.tensors().keys() {
                if let Some(j) = routing.insert(name.clone(), i) {
                    return Err(Error::format_tensor(
                        FORMAT,
                        name,
                        format!("appears in both {} and {}", shards_path(&shards, j), p.display()),
                    ));
                }
            }
            shards.push(shard);
        }
        Ok(MmapedSafetensors { shards, routing })
    }

    /// Maps the shards listed by a Hugging Face `model.safetensors.index.json`.
    pub fn from_index(index: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format("safetensors index", format!("{}: {e}", index.display())))?;
        let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| {
            Error::format("safetensors index", format!("{}: no \"weight_map\" object", index.display()))
        })?;
        let mut files: Vec<String> = Vec::new();
        for (name, v) in map {
            let f = v.as_str().ok_or_else(|| {
                Error::format(
                    "safetensors index",
                    format!("{}: entry {name:?} is not a file name", index.display()),
                )
            })?;
            if f.contains("..") || Path::new(f).is_absolute() {
                return Err(Error::format(
                    "safetensors index",
                    format!("{}: shard name {f:?} must stay inside the model directory", index.display()),
                ));
            }
            if !files.iter().any(|x| x == f) {
                files.push(f.to_string());
            }
        }
        files.sort();
        let dir = index.parent().unwrap_or(Path::new("."));
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        let st = Self::multi(&paths)?;
        for (name, v) in map {
            let expected = dir.join(v.as_str().unwrap_or_default());
            match st.routing.get(name) {
                Some(&i) if st.shards[i].path == expected => {}
                _ => {
                    return Err(Error::format_tensor(
                        "safetensors index",
                        name,
                        format!("listed in {} but not found in {}", index.display(), expected.display()),
                    ))
                }
            }
        }
        Ok(st)
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.routing.keys().map(|s| s.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// The stored dtype name (e.g. `"F32"`), shape and byte size of a tensor, without reading it.
    pub fn info(&self, name: &str) -> Result<(String, Vec<usize>, usize)> {
        let (_, info) = self.find(name)?;
        Ok((format!("{:?}", info.dtype), info.shape.clone(), info.data_offsets.1 - info.data_offsets.0))
    }

    fn find(&self, name: &str) -> Result<(&Shard, &TensorInfo)> {
        let i = self.routing.get(name).ok_or_else(|| {
            let mut close: Vec<&str> = self.names().into_iter().filter(|n| similar(n, name)).collect();
            close.truncate(5);
            Error::format_tensor(
                FORMAT,
                name,
                if close.is_empty() {
                    "no such tensor".to_string()
                } else {
                    format!("no such tensor; close names: {}", close.join(", "))
                },
            )
        })?;
        let shard = &self.shards[*i];
        let info =
            shard.info(name).ok_or_else(|| Error::format_tensor(FORMAT, name, "missing from its shard"))?;
        Ok((shard, info))
    }

    /// The tensor `name`, borrowing the mapped bytes when possible.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        let (shard, info) = self.find(name)?;
        shard.tensor(name, info).with_context(|| shard.path.display().to_string())
    }

    /// Every tensor by name.
    pub fn load_all(&self) -> Result<HashMap<String, Tensor>> {
        self.names().into_iter().map(|n| Ok((n.to_string(), self.get(n)?))).collect()
    }

    /// The `__metadata__` string map of all shards, merged.
    pub fn metadata(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for s in &self.shards {
            if let Some(m) = s.metadata.metadata() {
                out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    /// The shard files, in order.
    pub fn paths(&self) -> Vec<&Path> {
        self.shards.iter().map(|s| s.path.as_path()).collect()
    }
}

fn shards_path(shards: &[Shard], i: usize) -> String {
    shards.get(i).map(|s| s.path.display().to_string()).unwrap_or_default()
}

/// Names that differ by a little (edit distance ≤ 3 or one contains the other's last part).
pub(crate) fn similar(a: &str, b: &str) -> bool {
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    if a.len().abs_diff(b.len()) > 3 {
        return a.ends_with(&format!(".{}", last(b))) && last(b).len() > 3;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()] <= 3
}

/// Memory-maps `path` and returns every tensor, borrowing the mapped bytes.
pub fn load_mmap<P: AsRef<Path>>(path: P, device: &Device) -> Result<HashMap<String, Tensor>> {
    let all = MmapedSafetensors::new(path)?.load_all()?;
    all.into_iter().map(|(k, t)| Ok((k, t.to_device(device)?))).collect()
}

/// Reads `path` into memory once and returns every tensor (borrowing that one buffer).
pub fn load<P: AsRef<Path>>(path: P, device: &Device) -> Result<HashMap<String, Tensor>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let shard = Shard::parse(path.to_path_buf(), Arc::new(bytes))?;
    let mut out = HashMap::new();
    for (name, info) in shard.metadata.tensors() {
        let t = shard.tensor(&name, info).with_context(|| path.display().to_string())?;
        out.insert(name, t.to_device(device)?);
    }
    Ok(out)
}

/// Parses an in-memory safetensors image, copying each tensor out of `bytes`.
pub fn load_buffer(bytes: &[u8], device: &Device) -> Result<HashMap<String, Tensor>> {
    validate_header(bytes)?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(st_error)?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let (dtype, widen) = map_dtype(view.dtype(), &name)?;
        let t = if widen.is_some() {
            widen_ints(view.data(), view.dtype(), view.shape(), device)?
        } else {
            Tensor::from_raw_bytes(view.data(), dtype, view.shape(), device)
                .map_err(|e| e.context(format!("tensor {name:?}")))?
        };
        out.insert(name, t);
    }
    Ok(out)
}

struct SaveView {
    dtype: StDtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for SaveView {
    fn dtype(&self) -> StDtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Serializes named tensors (and optional `__metadata__`) to safetensors bytes.
pub fn serialize<'a, S: AsRef<str>, I: IntoIterator<Item = (S, &'a Tensor)>>(
    tensors: I,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut views = Vec::new();
    for (name, t) in tensors {
        views.push((
            name.as_ref().to_string(),
            SaveView { dtype: st_dtype(t.dtype()), shape: t.dims().to_vec(), data: t.to_le_bytes()? },
        ));
    }
    safetensors::tensor::serialize(views, metadata).map_err(st_error)
}

/// Writes named tensors to `path`.
pub fn save<'a, S: AsRef<str>, I: IntoIterator<Item = (S, &'a Tensor)>, P: AsRef<Path>>(
    tensors: I,
    path: P,
) -> Result<()> {
    save_with_metadata(tensors, None, path)
}

/// Writes named tensors and a `__metadata__` map to `path`.
pub fn save_with_metadata<'a, S: AsRef<str>, I: IntoIterator<Item = (S, &'a Tensor)>, P: AsRef<Path>>(
    tensors: I,
    metadata: Option<HashMap<String, String>>,
    path: P,
) -> Result<()> {
    let bytes = serialize(tensors, metadata)?;
    std::fs::write(path.as_ref(), bytes).map_err(|e| Error::io(path.as_ref(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names() {
        assert!(similar("encoder.layer.0.weight", "encoder.layer.0.wieght"));
        assert!(!similar("a", "encoder.layer.0.bias"));
    }
}
