//! Where a model's matrices come from, dense or quantized: [`QLinear`] (a linear layer over a
//! dense weight or a ggml-block [`QTensor`]) and [`Weights`], a [`VarBuilder`] plus the
//! quantized matrices of a GGUF file, or a format to quantize dense matrices to while loading.
//!
//! One model file serves every weight format: a model asks [`Weights::linear`] for its
//! projections and gets whatever the source holds. Quantized products run in f32 activations
//! ([`QTensor::matmul_t`] quantizes them per row into the format's dot type).
//!
//! ```
//! use wick::gguf::GgmlDType;
//! use wick::{DType, Device, Tensor};
//! use wick_models::weights::{QLinear, Weights};
//! use wick_nn::{Module, VarBuilder};
//! let dev = Device::Cpu;
//! let w = Tensor::randn(0f32, 1.0, (8, 64), &dev)?;
//! let vb = VarBuilder::from_tensors([("proj.weight".to_string(), w)].into(), DType::F32, &dev);
//! let dense = Weights::dense(vb.clone()).pp("proj").linear(64, 8, false)?;
//! let q8 = Weights::quantizing(vb, GgmlDType::Q8_0, None).pp("proj").linear(64, 8, false)?;
//! assert!(matches!(dense, QLinear::Dense(_)) && matches!(q8, QLinear::Quantized { .. }));
//! let x = Tensor::randn(0f32, 1.0, (2, 64), &dev)?;
//! let diff = dense.forward(&x)?.sub(&q8.forward(&x)?)?.abs()?.flatten_all()?.max(0)?;
//! assert!(diff.to_scalar::<f32>()? < 0.5);
//! # Ok::<(), wick::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wick::gguf::GgmlDType;
use wick::quantized::QTensor;
use wick::{DType, Error, Result, Tensor};
use wick_nn::{Embedding, Linear, Module, VarBuilder};

/// `y = x Wᵀ + b` over a dense [`Linear`] or a quantized `(out, in)` weight.
#[derive(Debug, Clone)]
pub enum QLinear {
    /// A dense weight: the layer computes in the input's dtype.
    Dense(Linear),
    /// A ggml-block weight (shared, e.g. a tied embedding) and an optional f32 bias; computed
    /// in f32 and returned in the input's dtype.
    Quantized {
        /// The `(out, in)` weight.
        weight: Arc<QTensor>,
        /// The `(out,)` bias, f32.
        bias: Option<Tensor>,
    },
}

impl QLinear {
    /// A quantized layer; checks the weight is 2-D and the bias matches its rows.
    pub fn quantized(weight: Arc<QTensor>, bias: Option<Tensor>) -> Result<Self> {
        let out = match weight.shape() {
            &[out, _] => out,
            s => return Err(Error::invalid("QLinear", format!("the weight must be 2-D, got {s:?}"))),
        };
        let bias = match bias {
            Some(b) if b.dims() != [out] => {
                return Err(Error::invalid("QLinear", format!("bias {:?} for {out} outputs", b.dims())))
            }
            Some(b) => Some(b.to_dtype(DType::F32)?),
            None => None,
        };
        Ok(QLinear::Quantized { weight, bias })
    }

    /// The ggml type of a quantized weight, `None` for a dense one.
    pub fn quantized_dtype(&self) -> Option<GgmlDType> {
        match self {
            QLinear::Dense(_) => None,
            QLinear::Quantized { weight, .. } => Some(weight.dtype()),
        }
    }
}

impl QLinear {
    /// Each layer of `layers` applied to the same `x`: one fused pass when all are quantized
    /// (the input quantized once; see `QTensor::matmul_t_many`), one by one otherwise.
    pub fn forward_many(layers: &[&QLinear], x: &Tensor) -> Result<Vec<Tensor>> {
        let weights: Option<Vec<&QTensor>> = layers
            .iter()
            .map(|l| match l {
                QLinear::Quantized { weight, .. } => Some(weight.as_ref()),
                QLinear::Dense(_) => None,
            })
            .collect();
        let Some(weights) = weights else {
            return layers.iter().map(|l| l.forward(x)).collect();
        };
        let ys = QTensor::matmul_t_many(&weights, x)?;
        layers
            .iter()
            .zip(ys)
            .map(|(l, y)| {
                let y = match l {
                    QLinear::Quantized { bias: Some(b), .. } => y.add(b)?,
                    _ => y,
                };
                if x.dtype() == DType::F32 {
                    Ok(y)
                } else {
                    y.to_dtype(x.dtype())
                }
            })
            .collect()
    }
}

impl Module for QLinear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            QLinear::Dense(l) => l.forward(x),
            QLinear::Quantized { weight, bias } => {
                let mut y = weight.matmul_t(x)?;
                if let Some(b) = bias {
                    y = y.add(b)?;
                }
                if x.dtype() == DType::F32 {
                    Ok(y)
                } else {
                    y.to_dtype(x.dtype())
                }
            }
        }
    }
}

/// Progress of quantizing while loading: `(matrices done, matrices expected, tensor name)`.
pub type ProgressFn = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

struct Quant {
    /// Quantized matrices by full (checkpoint) name, e.g. from a GGUF file.
    tensors: HashMap<String, Arc<QTensor>>,
    /// Dense 2-D matrices are quantized to this type while loading.
    quantize: Option<GgmlDType>,
    progress: Option<ProgressFn>,
    done: AtomicUsize,
    total: AtomicUsize,
}

/// A token embedding over a dense table or a quantized one (GGUF files store the token table
/// in a block format); a quantized table stays quantized and only the rows looked up are
/// dequantized, so it costs its file bytes in memory instead of four bytes per value.
#[derive(Debug, Clone)]
pub enum QEmbedding {
    /// A dense `(vocab, hidden)` table.
    Dense(Embedding),
    /// A quantized `(vocab, hidden)` table and the dtype looked-up rows are returned in.
    Quantized {
        /// The table.
        table: Arc<QTensor>,
        /// The dtype of the returned vectors.
        dtype: DType,
    },
}

impl Module for QEmbedding {
    /// Integer ids of any shape to vectors of shape `(.., hidden)`.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (table, dtype) = match self {
            QEmbedding::Dense(e) => return e.forward(ids),
            QEmbedding::Quantized { table, dtype } => (table, *dtype),
        };
        if ids.dtype().is_float() {
            return Err(Error::unsupported_dtype("QEmbedding", ids.dtype(), "ids must be u8, u32 or i64"));
        }
        let hidden = table.shape().get(1).copied().unwrap_or(0);
        let flat: Vec<i64> = ids.to_dtype(DType::I64)?.flatten_all()?.to_vec1::<i64>()?;
        let flat: Vec<u32> = flat
            .iter()
            .map(|&i| {
                u32::try_from(i).map_err(|_| {
                    Error::invalid(
                        "QEmbedding",
                        format!("id {i} is out of range for {} rows", table.shape()[0]),
                    )
                })
            })
            .collect::<Result<_>>()?;
        let mut shape = ids.dims().to_vec();
        shape.push(hidden);
        table.dequantize_rows(&flat)?.reshape(shape)?.to_dtype(dtype)
    }
}

/// A [`VarBuilder`] for dense tensors (norms, embeddings, biases, dense matrices) plus the
/// quantized side: matrices already quantized (GGUF), or a format to quantize to.
#[derive(Clone)]
pub struct Weights {
    vb: VarBuilder,
    quant: Arc<Quant>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("prefix", &self.vb.prefix())
            .field("quantized", &self.quant.tensors.len())
            .field("quantize", &self.quant.quantize)
            .finish()
    }
}

/// Whether a dense matrix of this shape can be quantized to `t` (rows of whole blocks).
pub fn quantizable(shape: &[usize], t: GgmlDType) -> bool {
    matches!(shape, &[n, k] if n > 0 && k > 0 && k % t.block_size() == 0)
}

impl Weights {
    pub(crate) fn with(
        vb: VarBuilder,
        tensors: HashMap<String, Arc<QTensor>>,
        quantize: Option<GgmlDType>,
        progress: Option<ProgressFn>,
    ) -> Self {
        let quant =
            Quant { tensors, quantize, progress, done: AtomicUsize::new(0), total: AtomicUsize::new(0) };
        Weights { vb, quant: Arc::new(quant) }
    }

    /// Every tensor dense, from `vb`.
    pub fn dense(vb: VarBuilder) -> Self {
        Self::with(vb, HashMap::new(), None, None)
    }

    /// Dense tensors from `vb`; 2-D matrices the model uses as linear weights are quantized to
    /// `t` as they are loaded (those whose rows are not whole blocks of `t` stay dense), and
    /// `progress` sees each one.
    pub fn quantizing(vb: VarBuilder, t: GgmlDType, progress: Option<ProgressFn>) -> Self {
        Self::with(vb, HashMap::new(), Some(t), progress)
    }

    /// Dense tensors from `vb`, and the quantized matrices in `tensors` (by full name) served
    /// in place of dense ones.
    pub fn with_quantized(vb: VarBuilder, tensors: HashMap<String, Arc<QTensor>>) -> Self {
        Self::with(vb, tensors, None, None)
    }

    /// One level deeper, as [`VarBuilder::pp`].
    pub fn pp<S: ToString>(&self, prefix: S) -> Self {
        Weights { vb: self.vb.pp(prefix), quant: self.quant.clone() }
    }

    /// The dense side at the current prefix.
    pub fn vb(&self) -> &VarBuilder {
        &self.vb
    }

    /// Whether `name` under the current prefix exists, dense or quantized.
    pub fn contains_tensor(&self, name: &str) -> bool {
        self.vb.contains_tensor(name) || self.quant.tensors.contains_key(&self.vb.path(name))
    }

    /// Tells the progress callback how many matrices the model will ask for.
    pub fn expect_linears(&self, n: usize) {
        self.quant.total.store(n, Ordering::Relaxed);
    }

    /// The linear layer at the current prefix: `weight` `(out, in)` and, when `bias`, a
    /// `bias` `(out,)`.
    pub fn linear(&self, in_dim: usize, out_dim: usize, bias: bool) -> Result<QLinear> {
        let b = if bias { Some(self.vb.get(out_dim, "bias")?) } else { None };
        let name = self.vb.path("weight");
        if let Some(q) = self.quant.tensors.get(&name) {
            if q.shape() != [out_dim, in_dim] {
                return Err(Error::invalid(
                    "Weights::linear",
                    format!(
                        "tensor {name:?}: the model expects shape [{out_dim}, {in_dim}], found {:?}",
                        q.shape()
                    ),
                ));
            }
            return QLinear::quantized(q.clone(), b);
        }
        let w = self.vb.get((out_dim, in_dim), "weight")?;
        self.from_dense(w, b, &name)
    }

    /// The token embedding at the current prefix (`weight`, `(vocab, hidden)`): quantized when
    /// the source holds it quantized, dense otherwise.
    pub fn embedding(&self, vocab: usize, hidden: usize) -> Result<QEmbedding> {
        let name = self.vb.path("weight");
        match self.quant.tensors.get(&name) {
            Some(q) if q.shape() != [vocab, hidden] => Err(Error::invalid(
                "Weights::embedding",
                format!(
                    "tensor {name:?}: the model expects shape [{vocab}, {hidden}], found {:?}",
                    q.shape()
                ),
            )),
            Some(q) => {
                let dtype = if self.vb.dtype().is_float() { self.vb.dtype() } else { DType::F32 };
                Ok(QEmbedding::Quantized { table: q.clone(), dtype })
            }
            None => Ok(QEmbedding::Dense(wick_nn::embedding(vocab, hidden, self.vb.clone())?)),
        }
    }

    /// A layer over the quantized tensor `name` (full name) when the source has one, e.g. a
    /// tied output projection reusing a quantized embedding.
    pub fn quantized_tensor(&self, name: &str) -> Option<Arc<QTensor>> {
        self.quant.tensors.get(name).cloned()
    }

    /// A layer over a dense weight the model built itself (e.g. split from a fused matrix),
    /// quantized when this source quantizes while loading. `name` is for progress and errors.
    pub fn from_dense(&self, w: Tensor, bias: Option<Tensor>, name: &str) -> Result<QLinear> {
        let Some(t) = self.quant.quantize else { return Ok(QLinear::Dense(Linear::new(w, bias)?)) };
        let layer = if quantizable(w.dims(), t) {
            let q = quantize_rows(&w, t).map_err(|e| e.context(format!("quantizing {name:?}")))?;
            QLinear::quantized(Arc::new(q), bias)?
        } else {
            QLinear::Dense(Linear::new(w, bias)?)
        };
        let done = self.quant.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(p) = &self.quant.progress {
            p(done, self.quant.total.load(Ordering::Relaxed).max(done), name);
        }
        Ok(layer)
    }
}

/// [`QTensor::quantize`] of an (n, k) matrix on all cores: each row is whole blocks, so a run
/// of rows quantizes on its own and the bytes are the same.
fn quantize_rows(w: &Tensor, t: GgmlDType) -> Result<QTensor> {
    let (n, k) = w.dims2()?;
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get()).min(n);
    if !t.is_quantized() || threads <= 1 {
        return QTensor::quantize(w, t);
    }
    let x = w.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let chunk = n
        .div_ceil(threads)
        .checked_mul(k)
        .ok_or_else(|| Error::overflow("quantize_rows", format!("{n}x{k} matrix")))?;
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            x.chunks(chunk).map(|c| s.spawn(move || wick::quantized::quantize_bytes(t, c))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Err(Error::invalid("quantize_rows", "a worker thread panicked")))
            })
            .collect()
    });
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(&p?);
    }
    QTensor::from_bytes(t, vec![n, k], &bytes)
}
