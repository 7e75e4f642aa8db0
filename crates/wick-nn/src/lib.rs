//! # wick-nn
//!
//! Neural-network building blocks on top of [`wick`]: the [`Module`] trait, layers
//! ([`Linear`], [`Embedding`], [`LayerNorm`], [`RmsNorm`], [`GroupNorm`], [`BatchNorm`],
//! convolutions, [`Activation`], [`Dropout`]), rotary embeddings, attention with grouped-query
//! heads and a [`KvCache`], weight loading by name ([`VarBuilder`]), training parameters
//! ([`VarMap`], [`init`]), losses ([`loss`]), optimizers ([`optim`]) and token sampling
//! ([`LogitsProcessor`]).
//!
//! ```
//! use std::collections::HashMap;
//! use wick::{DType, Device, Tensor};
//! use wick_nn::{layer_norm, linear, Activation, Module, VarBuilder};
//!
//! // A checkpoint's tensors, here built in memory (from_mmaped_safetensors reads files).
//! let dev = Device::Cpu;
//! let mut weights = HashMap::new();
//! weights.insert("mlp.fc.weight".to_string(), Tensor::randn(0f32, 0.1, (8, 4), &dev)?);
//! weights.insert("mlp.fc.bias".to_string(), Tensor::zeros(8, DType::F32, &dev)?);
//! weights.insert("mlp.norm.weight".to_string(), Tensor::ones(8, DType::F32, &dev)?);
//! weights.insert("mlp.norm.bias".to_string(), Tensor::zeros(8, DType::F32, &dev)?);
//! let vb = VarBuilder::from_tensors(weights, DType::F32, &dev);
//!
//! let fc = linear(4, 8, vb.pp("mlp.fc"))?;
//! let norm = layer_norm(8, 1e-5, vb.pp("mlp.norm"))?;
//! let x = Tensor::randn(0f32, 1.0, (2, 3, 4), &dev)?; // (batch, seq, features)
//! let y = norm.forward(&Activation::GeluErf.forward(&fc.forward(&x)?)?)?;
//! assert_eq!(y.dims(), &[2, 3, 8]);
//! # Ok::<(), wick::Error>(())
//! ```
#![warn(missing_docs)]

mod activation;
mod attention;
mod batch_norm;
mod conv;
mod embedding;
pub mod init;
mod kv_cache;
mod linear;
pub mod loss;
mod norm;
pub mod optim;
mod rotary;
pub mod sampling;
mod var_builder;
mod var_map;

pub use activation::{Activation, Dropout};
pub use attention::{causal_mask, scaled_dot_product_attention};
pub use batch_norm::{batch_norm, BatchNorm, BatchNormConfig};
pub use conv::{
    conv1d, conv2d, conv_transpose1d, conv_transpose2d, Conv1d, Conv2d, ConvConfig, ConvTranspose1d,
    ConvTranspose2d, ConvTransposeConfig,
};
pub use embedding::{embedding, Embedding};
pub use init::Init;
pub use kv_cache::KvCache;
pub use linear::{linear, linear_b, linear_no_bias, Linear};
pub use norm::{group_norm, layer_norm, layer_norm_no_bias, rms_norm, GroupNorm, LayerNorm, RmsNorm};
pub use optim::{AdamW, CosineWithWarmup, Optimizer, ParamsAdamW, ParamsSgd, Sgd};
pub use rotary::{RopeLayout, RotaryEmbedding};
pub use sampling::{LogitsProcessor, SamplingConfig};
pub use var_builder::VarBuilder;
pub use var_map::VarMap;

use wick::{Result, Tensor};

/// A layer or model: a function of one tensor.
pub trait Module {
    /// Applies the module.
    fn forward(&self, xs: &Tensor) -> Result<Tensor>;
}

/// A module whose behaviour depends on training vs inference (e.g. [`Dropout`],
/// [`BatchNorm`]). Every [`Module`] is a `ModuleT` that ignores the flag.
pub trait ModuleT {
    /// Applies the module; `train` selects training behaviour.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor>;
}

impl<M: Module> ModuleT for M {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        self.forward(xs)
    }
}

impl<M: Module + ?Sized> Module for &M {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        (**self).forward(xs)
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        (**self).forward(xs)
    }
}

/// A sequence of modules applied in order.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{Activation, Module, Sequential};
/// let seq = Sequential::new().add(Activation::Relu).add(Activation::Tanh);
/// let y = seq.forward(&Tensor::new(&[-1f32, 0.5], &Device::Cpu)?)?;
/// assert!((y.to_vec1::<f32>()?[1] - 0.5f32.tanh()).abs() < 1e-6);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module + Send + Sync>>,
}

impl Sequential {
    /// An empty sequence (the identity).
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a module.
    #[allow(clippy::should_implement_trait)]
    pub fn add<M: Module + Send + Sync + 'static>(mut self, m: M) -> Self {
        self.layers.push(Box::new(m));
        self
    }
    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut x = xs.clone();
        for l in &self.layers {
            x = l.forward(&x)?;
        }
        Ok(x)
    }
}
