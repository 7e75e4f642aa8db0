//! [`VarBuilder`]: hands a model its weights by name, from safetensors (memory-mapped, one or
//! several shards), NumPy `.npz`, PyTorch `.pth`, a training [`VarMap`](crate::VarMap) or a
//! plain map of tensors.
//!
//! Names are dotted paths as in PyTorch checkpoints: `vb.pp("encoder").pp("layer.0")` then
//! `vb.get((768, 768), "query.weight")` reads `encoder.layer.0.query.weight`, checks its shape
//! and converts it to the builder's dtype and device.

use crate::Init;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use wick::safetensors::MmapedSafetensors;
use wick::{DType, Device, Error, Result, Shape, Tensor};

/// Where a [`VarBuilder`] finds (or, for a `VarMap`, creates) its tensors.
pub(crate) trait Backend: Send + Sync {
    /// The tensor called `name` (full path), of any dtype. `shape` and `init` are hints: a
    /// backend that creates tensors uses them; the others ignore them.
    fn get(&self, name: &str, shape: &Shape, init: &Init, dtype: DType, device: &Device) -> Result<Tensor>;
    /// Whether `name` exists.
    fn contains(&self, name: &str) -> bool;
    /// Every name, for "did you mean" suggestions.
    fn names(&self) -> Vec<String>;
    /// What the tensors come from, for error messages (`"safetensors"`, `"npz"`, ...).
    fn source(&self) -> &'static str;
}

/// The error for a tensor that is not there: its full path and up to three close names.
pub(crate) fn missing(source: &'static str, name: &str, names: &[String]) -> Error {
    let mut scored: Vec<(usize, &String)> = names.iter().map(|n| (edit_distance(n, name), n)).collect();
    scored.sort();
    let close: Vec<&str> =
        scored.iter().take(3).filter(|(d, _)| *d <= name.len().max(4) / 2).map(|(_, n)| n.as_str()).collect();
    let msg = if close.is_empty() {
        "no such tensor".to_string()
    } else {
        format!("no such tensor; closest names: {}", close.join(", "))
    };
    Error::format_tensor(source, name, msg)
}

/// Levenshtein distance between two names, over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
    prev[b.len()]
}

struct Safetensors(MmapedSafetensors);

impl Backend for Safetensors {
    fn get(&self, name: &str, _: &Shape, _: &Init, _: DType, _: &Device) -> Result<Tensor> {
        if !self.contains(name) {
            return Err(missing("safetensors", name, &self.names()));
        }
        self.0.get(name)
    }
    fn contains(&self, name: &str) -> bool {
        self.0.info(name).is_ok()
    }
    fn names(&self) -> Vec<String> {
        self.0.names().into_iter().map(String::from).collect()
    }
    fn source(&self) -> &'static str {
        "safetensors"
    }
}

/// Tensors held in memory (from npz, pth, or given by the caller).
struct TensorMap {
    map: HashMap<String, Tensor>,
    source: &'static str,
}

impl Backend for TensorMap {
    fn get(&self, name: &str, _: &Shape, _: &Init, _: DType, _: &Device) -> Result<Tensor> {
        self.map.get(name).cloned().ok_or_else(|| missing(self.source, name, &self.names()))
    }
    fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
    fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }
    fn source(&self) -> &'static str {
        self.source
    }
}

/// Hands out named weights under a prefix, converted to one dtype and device.
///
/// Cloning is cheap (the source is shared); [`VarBuilder::pp`] returns a builder one level
/// deeper.
///
/// ```
/// use std::collections::HashMap;
/// use wick::{DType, Device, Tensor};
/// use wick_nn::VarBuilder;
/// let dev = Device::Cpu;
/// let mut map = HashMap::new();
/// map.insert("encoder.proj.weight".to_string(), Tensor::ones((2, 3), DType::F64, &dev)?);
/// let vb = VarBuilder::from_tensors(map, DType::F32, &dev);
/// let w = vb.pp("encoder").pp("proj").get((2, 3), "weight")?;
/// assert_eq!(w.dtype(), DType::F32);
/// let err = vb.pp("encoder").get((2, 3), "proj.wieght").unwrap_err().to_string();
/// assert!(err.contains("encoder.proj.wieght") && err.contains("encoder.proj.weight"));
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Clone)]
pub struct VarBuilder {
    backend: Arc<dyn Backend>,
    path: Vec<String>,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for VarBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VarBuilder")
            .field("source", &self.backend.source())
            .field("prefix", &self.prefix())
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .finish()
    }
}

impl VarBuilder {
    pub(crate) fn from_backend(backend: Arc<dyn Backend>, dtype: DType, device: &Device) -> Self {
        VarBuilder { backend, path: Vec::new(), dtype, device: *device }
    }

    /// Memory-maps safetensors files (e.g. the shards of one checkpoint); a name may appear
    /// in only one shard. Tensors borrow the mapped bytes until they must be converted.
    pub fn from_mmaped_safetensors<P: AsRef<Path>>(
        paths: &[P],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::invalid("VarBuilder::from_mmaped_safetensors", "no file given"));
        }
        let st = MmapedSafetensors::multi(paths)?;
        Ok(Self::from_backend(Arc::new(Safetensors(st)), dtype, device))
    }

    /// Reads every array of a NumPy `.npz` archive.
    pub fn from_npz<P: AsRef<Path>>(path: P, dtype: DType, device: &Device) -> Result<Self> {
        let map = wick::npz::read(path)?.into_iter().collect();
        Ok(Self::from_backend(Arc::new(TensorMap { map, source: "npz" }), dtype, device))
    }

    /// Reads every tensor of a PyTorch `.pth` / `.bin` state dict (safe unpickler, no code runs).
    pub fn from_pth<P: AsRef<Path>>(path: P, dtype: DType, device: &Device) -> Result<Self> {
        let map = wick::pth::read(path)?.into_iter().collect();
        Ok(Self::from_backend(Arc::new(TensorMap { map, source: "pth" }), dtype, device))
    }

    /// Serves the tensors of a map, by name.
    pub fn from_tensors(map: HashMap<String, Tensor>, dtype: DType, device: &Device) -> Self {
        Self::from_backend(Arc::new(TensorMap { map, source: "tensor map" }), dtype, device)
    }

    /// A builder one level deeper: names are looked up under `prefix.`.
    pub fn pp<S: ToString>(&self, prefix: S) -> Self {
        let mut path = self.path.clone();
        path.push(prefix.to_string());
        VarBuilder { backend: self.backend.clone(), path, dtype: self.dtype, device: self.device }
    }

    /// Same as [`VarBuilder::pp`].
    pub fn push_prefix<S: ToString>(&self, prefix: S) -> Self {
        self.pp(prefix)
    }

    /// The same source and prefix with another dtype.
    pub fn with_dtype(&self, dtype: DType) -> Self {
        VarBuilder { dtype, ..self.clone() }
    }

    /// The current prefix, dotted (empty at the root).
    pub fn prefix(&self) -> String {
        self.path.join(".")
    }

    /// The full path of `name` under the current prefix.
    pub fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix())
        }
    }

    /// The dtype tensors are converted to.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device tensors are moved to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether `name` exists under the current prefix.
    pub fn contains_tensor(&self, name: &str) -> bool {
        self.backend.contains(&self.path(name))
    }

    /// The tensor `name` under the current prefix, which must have `shape`; converted to the
    /// builder's dtype and device. Backed by a `VarMap`, a missing tensor is created as zeros
    /// (use [`VarBuilder::get_with_init`] to choose).
    pub fn get<S: Into<Shape>>(&self, shape: S, name: &str) -> Result<Tensor> {
        self.get_with_init(shape, name, Init::Const(0.0))
    }

    /// Like [`VarBuilder::get`]; backed by a `VarMap`, a missing tensor is created with `init`.
    pub fn get_with_init<S: Into<Shape>>(&self, shape: S, name: &str, init: Init) -> Result<Tensor> {
        let shape = shape.into();
        let full = self.path(name);
        let t = self.backend.get(&full, &shape, &init, self.dtype, &self.device)?;
        if t.shape() != &shape {
            return Err(Error::ShapeMismatch {
                op: "VarBuilder::get",
                lhs: shape.clone(),
                rhs: t.shape().clone(),
                reason: format!(
                    "tensor {full:?} in the {}: the model expects shape {shape:?}, found {:?}",
                    self.backend.source(),
                    t.shape()
                ),
            });
        }
        self.convert(t, &full)
    }

    /// The tensor `name` under the current prefix, of whatever shape it has.
    pub fn get_unchecked(&self, name: &str) -> Result<Tensor> {
        let full = self.path(name);
        if !self.backend.contains(&full) {
            return Err(missing(self.backend.source(), &full, &self.backend.names()));
        }
        let t = self.backend.get(&full, &Shape::from(()), &Init::Const(0.0), self.dtype, &self.device)?;
        self.convert(t, &full)
    }

    fn convert(&self, t: Tensor, full: &str) -> Result<Tensor> {
        let t = if t.dtype() == self.dtype { Ok(t) } else { t.to_dtype(self.dtype) };
        let t = t.map_err(|e| e.context(format!("converting tensor {full:?}")))?;
        if t.device() == &self.device {
            Ok(t)
        } else {
            t.to_device(&self.device)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let mut m = HashMap::new();
        for name in ["encoder.layer.0.attention.query.weight", "encoder.layer.0.attention.key.weight"] {
            m.insert(name.to_string(), Tensor::arange(0f32, 6., &dev).unwrap().reshape((2, 3)).unwrap());
        }
        m.insert("pooler.dense.bias".into(), Tensor::new(&[1f64, 2.], &dev).unwrap());
        m
    }

    #[test]
    fn prefixes_and_conversion() -> Result<()> {
        let vb = VarBuilder::from_tensors(map(), DType::F64, &Device::Cpu);
        let att = vb.pp("encoder.layer.0").pp("attention");
        assert_eq!(att.prefix(), "encoder.layer.0.attention");
        let q = att.get((2, 3), "query.weight")?;
        assert_eq!(q.dtype(), DType::F64);
        assert_eq!(q.to_vec2::<f64>()?, vec![vec![0., 1., 2.], vec![3., 4., 5.]]);
        assert!(att.contains_tensor("key.weight") && !att.contains_tensor("value.weight"));
        assert_eq!(vb.push_prefix("pooler").get_unchecked("dense.bias")?.dims(), &[2]);
        let f16 = vb.with_dtype(DType::F16).pp("pooler.dense").get(2, "bias")?;
        assert_eq!(f16.dtype(), DType::F16);
        Ok(())
    }

    #[test]
    fn missing_tensor_names_full_path_and_close_names() {
        let vb = VarBuilder::from_tensors(map(), DType::F32, &Device::Cpu);
        let e = vb.pp("encoder.layer.0.attention").get((2, 3), "valeu.weight").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("\"encoder.layer.0.attention.valeu.weight\""), "{s}");
        assert!(s.contains("encoder.layer.0.attention.key.weight"), "{s}");
        assert!(!s.contains("pooler"), "{s}");
        let e = vb.get_unchecked("totally.different").unwrap_err().to_string();
        assert!(e.contains("no such tensor") && !e.contains("closest"), "{e}");
    }

    #[test]
    fn shape_mismatch_names_path_and_shapes() {
        let vb = VarBuilder::from_tensors(map(), DType::F32, &Device::Cpu);
        let e = vb.pp("pooler").get((3,), "dense.bias").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("pooler.dense.bias") && s.contains("[3]") && s.contains("[2]"), "{s}");
        assert!(matches!(e, Error::ShapeMismatch { .. }));
    }

    #[test]
    fn safetensors_npz_and_pth_sources() -> Result<()> {
        let dev = Device::Cpu;
        let dir = std::env::temp_dir().join(format!("wick-nn-vb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let a = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
        let b = Tensor::new(&[5f32, 6.], &dev)?;
        let (s1, s2) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
        wick::safetensors::save([("lin.weight", &a)], &s1)?;
        wick::safetensors::save([("lin.bias", &b)], &s2)?;
        let vb = VarBuilder::from_mmaped_safetensors(&[&s1, &s2], DType::F64, &dev)?;
        let lin = vb.pp("lin");
        assert_eq!(lin.get((2, 2), "weight")?.to_vec2::<f64>()?, vec![vec![1., 2.], vec![3., 4.]]);
        assert_eq!(lin.get(2, "bias")?.to_vec1::<f64>()?, vec![5., 6.]);
        let e = lin.get(2, "bais").unwrap_err().to_string();
        assert!(e.contains("lin.bais") && e.contains("lin.bias"), "{e}");
        let npz = dir.join("w.npz");
        wick::npz::write(&npz, &[("lin.weight", &a)])?;
        let vb = VarBuilder::from_npz(&npz, DType::F32, &dev)?;
        assert_eq!(vb.pp("lin").get((2, 2), "weight")?.to_vec2::<f32>()?, a.to_vec2::<f32>()?);
        assert!(VarBuilder::from_pth(dir.join("missing.pth"), DType::F32, &dev).is_err());
        assert!(VarBuilder::from_mmaped_safetensors::<&Path>(&[], DType::F32, &dev).is_err());
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(())
    }

    /// A PyTorch `Sequential(Linear(3, 4), ReLU, BatchNorm1d(4), Linear(4, 2))` state dict
    /// (wick's pth fixture) drives the layers; checked against a scalar loop over its tensors.
    #[test]
    fn pth_state_dict_builds_layers() -> Result<()> {
        use crate::{batch_norm, linear, BatchNormConfig, Module, ModuleT};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wick/tests/fixtures/files/pth/sequential.pth");
        let dev = Device::Cpu;
        let vb = VarBuilder::from_pth(path, DType::F64, &dev)?;
        let (l0, bn, l3) = (
            linear(3, 4, vb.pp("0"))?,
            batch_norm(4, BatchNormConfig::default(), vb.pp("2"))?,
            linear(4, 2, vb.pp("3"))?,
        );
        let x = Tensor::new(&[[0.5f64, -1.0, 2.0], [1.5, 0.25, -0.75]], &dev)?;
        let y = l3.forward(&bn.forward_t(&l0.forward(&x)?.relu()?, false)?)?.to_vec2::<f64>()?;
        let raw: HashMap<String, Tensor> = wick::pth::read(path)?.into_iter().collect();
        let v =
            |n: &str| raw[n].to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let (w0, b0, w3, b3) = (v("0.weight"), v("0.bias"), v("3.weight"), v("3.bias"));
        let (g, b, m, var) = (v("2.weight"), v("2.bias"), v("2.running_mean"), v("2.running_var"));
        for (row, yr) in x.to_vec2::<f64>()?.iter().zip(&y) {
            let h: Vec<f64> = (0..4)
                .map(|o| {
                    let a = (b0[o] + (0..3).map(|i| w0[o * 3 + i] * row[i]).sum::<f64>()).max(0.0);
                    (a - m[o]) / (var[o] + 1e-5).sqrt() * g[o] + b[o]
                })
                .collect();
            for o in 0..2 {
                let want = b3[o] + (0..4).map(|i| w3[o * 4 + i] * h[i]).sum::<f64>();
                assert!((yr[o] - want).abs() < 1e-6 * (1.0 + want.abs()), "{} vs {want}", yr[o]);
            }
        }
        let e = vb.pp("2").get(4, "running_men").unwrap_err().to_string();
        assert!(e.contains("pth") && e.contains("2.running_men") && e.contains("2.running_mean"), "{e}");
        Ok(())
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
