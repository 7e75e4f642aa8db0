//! [`VarMap`]: the trainable parameters of a model by name, created on first use through a
//! [`VarBuilder`], saved and restored as safetensors.

use crate::var_builder::{missing, Backend};
use crate::{Init, VarBuilder};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use wick::{DType, Device, Error, Result, Shape, Tensor, Var};

/// A thread-safe map from names to [`Var`]s; cloning shares the map.
///
/// ```
/// use wick::{DType, Device, Tensor};
/// use wick_nn::{linear, Module, VarMap};
/// let dev = Device::Cpu;
/// let vm = VarMap::new();
/// let lin = linear(3, 2, vm.var_builder(DType::F32, &dev).pp("fc"))?;
/// assert_eq!(vm.all_vars().len(), 2); // fc.weight, fc.bias
/// let y = lin.forward(&Tensor::ones((4, 3), DType::F32, &dev)?)?;
/// let grads = y.sum_all()?.backward()?;
/// assert!(grads.get(&vm.get_var("fc.weight").unwrap()).is_some());
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct VarMap {
    vars: Arc<Mutex<HashMap<String, Var>>>,
}

impl std::fmt::Debug for VarMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.named_vars().into_iter().map(|(n, _)| n).collect();
        f.debug_struct("VarMap").field("vars", &names).finish()
    }
}

impl VarMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Var>> {
        // A poisoned lock only means a panic elsewhere while held; the map is still whole.
        match self.vars.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A [`VarBuilder`] that creates missing parameters here, in `dtype` on `device`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder {
        VarBuilder::from_varmap(self, dtype, device)
    }

    /// Every variable, sorted by name.
    pub fn all_vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// Every `(name, variable)` pair, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut v: Vec<(String, Var)> = self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The variable `name`, if present.
    pub fn get_var(&self, name: &str) -> Option<Var> {
        self.lock().get(name).cloned()
    }

    /// Adds (or replaces) a variable.
    pub fn insert(&self, name: impl Into<String>, var: Var) {
        self.lock().insert(name.into(), var);
    }

    /// The variable `name`, created with `init` if absent; an existing one must have `shape`.
    pub fn get_or_init<S: Into<Shape>>(
        &self,
        shape: S,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> Result<Var> {
        let shape = shape.into();
        let mut map = self.lock();
        if let Some(v) = map.get(name) {
            if v.shape() != &shape {
                return Err(Error::ShapeMismatch {
                    op: "VarMap::get",
                    lhs: shape.clone(),
                    rhs: v.shape().clone(),
                    reason: format!(
                        "variable {name:?} exists with shape {:?}, asked for {shape:?}",
                        v.shape()
                    ),
                });
            }
            return Ok(v.clone());
        }
        let var = Var::from_tensor(&init.create(shape, dtype, device)?)?;
        map.insert(name.to_string(), var.clone());
        Ok(var)
    }

    /// Writes every variable to a safetensors file.
    pub fn save<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let named = self.named_vars();
        let tensors: Vec<(String, Tensor)> =
            named.iter().map(|(n, v)| (n.clone(), v.as_detached_tensor())).collect();
        wick::safetensors::save(tensors.iter().map(|(n, t)| (n.as_str(), t)), path)
    }

    /// Overwrites every variable in place with the tensor of the same name in a safetensors
    /// file (converted to the variable's dtype). A variable missing from the file, or a shape
    /// that differs, is an error naming the tensor; tensors of the file that no variable has
    /// are ignored. On error no variable has been changed.
    pub fn load<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let path = path.as_ref();
        let file = wick::safetensors::MmapedSafetensors::new(path)?;
        let names: Vec<String> = file.names().into_iter().map(String::from).collect();
        let named = self.named_vars();
        let mut updates = Vec::with_capacity(named.len());
        for (name, var) in &named {
            if !names.contains(name) {
                return Err(missing("safetensors", name, &names).context(path.display()));
            }
            let t = file.get(name)?;
            if t.shape() != var.shape() {
                return Err(Error::ShapeMismatch {
                    op: "VarMap::load",
                    lhs: var.shape().clone(),
                    rhs: t.shape().clone(),
                    reason: format!(
                        "tensor {name:?} in {}: the variable has shape {:?}, the file {:?}",
                        path.display(),
                        var.shape(),
                        t.shape()
                    ),
                });
            }
            updates.push((var, t.to_dtype(var.dtype())?.to_device(var.device())?));
        }
        for (var, t) in updates {
            var.set(&t)?;
        }
        Ok(())
    }
}

impl Backend for VarMap {
    fn get(&self, name: &str, shape: &Shape, init: &Init, dtype: DType, device: &Device) -> Result<Tensor> {
        Ok(self.get_or_init(shape, name, *init, dtype, device)?.as_tensor().clone())
    }
    fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }
    fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
    fn source(&self) -> &'static str {
        "VarMap"
    }
}

impl VarBuilder {
    /// A builder that gets parameters from `varmap`, creating missing ones with the requested
    /// [`Init`] (plain [`VarBuilder::get`] creates zeros).
    pub fn from_varmap(varmap: &VarMap, dtype: DType, device: &Device) -> Self {
        VarBuilder::from_backend(Arc::new(varmap.clone()), dtype, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_once_share_and_check_shapes() -> Result<()> {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = vm.var_builder(DType::F32, &dev);
        let a = vb.pp("l").get_with_init((2, 3), "w", Init::Const(2.0))?;
        let b = vb.pp("l").get_with_init((2, 3), "w", Init::Const(7.0))?;
        assert_eq!(a.id(), b.id());
        assert_eq!(b.to_vec2::<f32>()?, vec![vec![2.0; 3]; 2]);
        let e = vb.pp("l").get((3, 2), "w").unwrap_err().to_string();
        assert!(e.contains("l.w") && e.contains("[3, 2]") && e.contains("[2, 3]"), "{e}");
        assert!(vb.contains_tensor("l.w"));
        assert_eq!(vm.all_vars().len(), 1);
        Ok(())
    }

    #[test]
    fn save_then_load_restores_in_place() -> Result<()> {
        let dev = Device::Cpu;
        let path = std::env::temp_dir().join(format!("wick-nn-varmap-{}.safetensors", std::process::id()));
        let vm = VarMap::new();
        let vb = vm.var_builder(DType::F32, &dev);
        let w = vb.get_with_init((2, 2), "w", Init::Normal { mean: 0.0, std: 1.0 })?;
        vb.get_with_init(3, "b", Init::Const(1.5))?;
        let saved = w.to_vec2::<f32>()?;
        vm.save(&path)?;
        vm.get_var("w").unwrap().set(&Tensor::zeros((2, 2), DType::F32, &dev)?)?;
        assert_eq!(w.to_vec2::<f32>()?, vec![vec![0.0; 2]; 2]);
        vm.load(&path)?;
        // The tensor handed out earlier sees the loaded values: the var was updated in place.
        assert_eq!(w.to_vec2::<f32>()?, saved);
        // A var whose shape differs from the file, or is missing in it, is an error.
        let other = VarMap::new();
        other.var_builder(DType::F32, &dev).get((3, 3), "w")?;
        let e = other.load(&path).unwrap_err().to_string();
        assert!(e.contains("\"w\"") && e.contains("[3, 3]") && e.contains("[2, 2]"), "{e}");
        let other = VarMap::new();
        other.var_builder(DType::F32, &dev).get(3, "bb")?;
        let e = other.load(&path).unwrap_err().to_string();
        assert!(e.contains("bb") && e.contains("closest names: b"), "{e}");
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(())
    }
}
