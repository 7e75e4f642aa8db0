//! BERT (Devlin et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
//! Language Understanding"), the encoder of Hugging Face's `BertModel`, and so of the
//! sentence-transformers models built on it (all-MiniLM-L6-v2, ...).
//!
//! The file reads top to bottom like the model: [`Config`] (Hugging Face `config.json`) →
//! [`BertEmbeddings`] (word + position + token type, LayerNorm) → [`BertLayer`] (self-attention
//! with an additive padding mask, output projection + residual + LayerNorm, feed-forward with
//! GELU, projection + residual + LayerNorm) → [`BertModel`], which returns the last hidden state.
//! Weights are read by their checkpoint names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.0.attention.self.query.weight`, ...), with or without the `bert.` prefix of
//! `BertForMaskedLM`-style checkpoints.
//!
//! Inside the model, activations are kept as 2-D `(batch · seq, hidden)` matrices so that every
//! projection is one matrix product; the query, key and value projections are one product
//! with their weights concatenated, and the heads are strided views of its output (no copy
//! before the attention products).

use serde::Deserialize;
use std::path::Path;
use wick::{DType, Error, Result, Tensor, D};
use wick_nn::{embedding, layer_norm, linear, Activation, Embedding, LayerNorm, Linear, Module, VarBuilder};

fn default_hidden_act() -> Activation {
    Activation::GeluErf
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_position_embedding_type() -> String {
    "absolute".to_string()
}

/// The hyper-parameters of a BERT encoder, as in a Hugging Face `config.json`
/// (`transformers.BertConfig`). Unknown keys are ignored.
///
/// `hidden_act` follows Hugging Face's names: `"gelu"` is the exact (erf) GELU.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Number of token ids.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`hidden_size` must be a multiple of it).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation (default `"gelu"`, the erf GELU).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: Activation,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Number of token types (segments), default 2.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon, default 1e-12.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token, default 0.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Only `"absolute"` (learned positions) is supported.
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
}

impl Config {
    /// Parses a `config.json` text; `what` names its source in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Config> {
        let cfg: Config = serde_json::from_str(text)
            .map_err(|e| Error::format("BERT config.json", format!("{what}: {e}")))?;
        cfg.validate().map_err(|e| e.context(what))?;
        Ok(cfg)
    }

    /// Reads and checks a `config.json` file.
    pub fn from_file<P: AsRef<Path>>(path: P) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Checks that the sizes are usable: non-zero, heads divide the width, products fit.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::format("BERT config.json", msg));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        if self.hidden_act == Activation::Swiglu {
            return bad("hidden_act \"swiglu\" halves the width and does not fit BERT".into());
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return bad(format!("layer_norm_eps {} must be finite and >= 0", self.layer_norm_eps));
        }
        // The largest weights must have an element count that fits in memory arithmetic.
        for (name, a, b) in [
            ("vocab_size x hidden_size", self.vocab_size, self.hidden_size),
            ("intermediate_size x hidden_size", self.intermediate_size, self.hidden_size),
            ("3 x hidden_size x hidden_size", self.hidden_size.saturating_mul(3), self.hidden_size),
        ] {
            if a.checked_mul(b).is_none_or(|n| n > isize::MAX as usize / 8) {
                return bad(format!("{name} overflows"));
            }
        }
        Ok(())
    }
}

/// A LayerNorm stored as `weight`/`bias`, or as `gamma`/`beta` in older BERT checkpoints.
fn bert_layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    if !vb.contains_tensor("weight") && vb.contains_tensor("gamma") {
        let w = vb.get(size, "gamma")?;
        let b = vb.get(size, "beta")?;
        return LayerNorm::new(w, Some(b), eps);
    }
    layer_norm(size, eps, vb)
}

/// Word, position and token-type embeddings, summed and normalised.
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl BertEmbeddings {
    /// Reads `word_embeddings`, `position_embeddings`, `token_type_embeddings` and `LayerNorm`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(BertEmbeddings {
            word: embedding(cfg.vocab_size, h, vb.pp("word_embeddings"))?,
            position: embedding(cfg.max_position_embeddings, h, vb.pp("position_embeddings"))?,
            token_type: embedding(cfg.type_vocab_size, h, vb.pp("token_type_embeddings"))?,
            norm: bert_layer_norm(h, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// `(batch, seq)` ids and token types → `(batch · seq, hidden)`. Positions are `0..seq` in
    /// every row (right padding, as Hugging Face does).
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: Option<&Tensor>) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let max_pos = self.position.embeddings().dims()[0];
        if t > max_pos {
            return Err(Error::invalid(
                "BertEmbeddings",
                format!("sequence of {t} tokens is longer than max_position_embeddings = {max_pos}"),
            ));
        }
        let h = self.word.hidden_size();
        let n = b.checked_mul(t).ok_or_else(|| Error::overflow("BertEmbeddings", "batch x seq"))?;
        let words = self.word.forward(&input_ids.flatten_all()?)?.reshape((b, t, h))?;
        let positions = self.position.embeddings().narrow(0, 0, t)?;
        let x = words.add(&positions)?;
        let x = match token_type_ids {
            Some(tt) => {
                if tt.dims() != [b, t] {
                    return Err(Error::shape_mismatch(
                        "BertEmbeddings",
                        input_ids.shape(),
                        tt.shape(),
                        "token_type_ids must have the shape of input_ids",
                    ));
                }
                x.add(&self.token_type.forward(&tt.flatten_all()?)?.reshape((b, t, h))?)?
            }
            // All type 0: one broadcast row.
            None => x.add(&self.token_type.embeddings().narrow(0, 0, 1)?)?,
        };
        self.norm.forward(&x.reshape((n, h))?)
    }
}

/// Multi-head self-attention with its output projection, residual and LayerNorm
/// (`attention.self.*` and `attention.output.*` in checkpoints).
#[derive(Debug, Clone)]
pub struct BertAttention {
    /// `[query; key; value]` in one `(3 · hidden, hidden)` projection; the query rows carry
    /// the `1 / sqrt(head_dim)` score scale.
    qkv: Linear,
    output: Linear,
    norm: LayerNorm,
    num_heads: usize,
    head_dim: usize,
}

impl BertAttention {
    /// Reads `self.{query,key,value}` and `output.{dense,LayerNorm}`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let head_dim = cfg.head_dim();
        let sv = vb.pp("self");
        // Scaling the query projection once here replaces scaling every score matrix; the
        // scale is applied in f32 before the weights are rounded to the model's dtype.
        let scale = 1.0 / (head_dim as f64).sqrt();
        let q32 = linear(h, h, sv.pp("query").with_dtype(DType::F32))?;
        let qw = q32.weight().affine(scale, 0.0)?.to_dtype(vb.dtype())?;
        let qb = q32.bias().map(|b| b.affine(scale, 0.0)?.to_dtype(vb.dtype())).transpose()?;
        let k = linear(h, h, sv.pp("key"))?;
        let v = linear(h, h, sv.pp("value"))?;
        let bias = match (qb, k.bias(), v.bias()) {
            (Some(q), Some(k), Some(v)) => Some(Tensor::cat(&[&q, k, v], 0)?),
            _ => None,
        };
        let qkv = Linear::new(Tensor::cat(&[&qw, k.weight(), v.weight()], 0)?, bias)?;
        let ov = vb.pp("output");
        Ok(BertAttention {
            qkv,
            output: linear(h, h, ov.pp("dense"))?,
            norm: bert_layer_norm(h, cfg.layer_norm_eps, ov.pp("LayerNorm"))?,
            num_heads: cfg.num_attention_heads,
            head_dim,
        })
    }

    /// `x`: `(batch · seq, hidden)`; `mask`: additive, broadcastable to
    /// `(batch, heads, seq, seq)`. Returns `LayerNorm(x + attention(x))`.
    pub fn forward(&self, x: &Tensor, batch: usize, seq: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let (nh, hd) = (self.num_heads, self.head_dim);
        // (b·t, 3h) → (b, t, 3, heads, d); q, k, v are strided views (b, heads, t, d).
        let qkv = self.qkv.forward(x)?.reshape((batch, seq, 3, nh, hd))?;
        let head = |i: usize| qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2);
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(m) => scores.add(m)?,
            None => scores,
        };
        let probs = scores.softmax(D::Minus1)?;
        // (b, heads, t, d) → (b, t, heads, d) → (b·t, h): the one copy of the attention.
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch * seq, nh * hd))?;
        self.norm.forward(&self.output.forward(&ctx)?.add(x)?)
    }
}

/// One encoder layer: attention, then the feed-forward block
/// (`intermediate.dense` + activation, `output.dense` + residual + `output.LayerNorm`).
#[derive(Debug, Clone)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: Linear,
    activation: Activation,
    output: Linear,
    norm: LayerNorm,
}

impl BertLayer {
    /// Reads `attention.*`, `intermediate.dense`, `output.dense`, `output.LayerNorm`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(BertLayer {
            attention: BertAttention::new(cfg, vb.pp("attention"))?,
            intermediate: linear(h, i, vb.pp("intermediate").pp("dense"))?,
            activation: cfg.hidden_act,
            output: linear(i, h, vb.pp("output").pp("dense"))?,
            norm: bert_layer_norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }

    /// `(batch · seq, hidden)` → same shape.
    pub fn forward(&self, x: &Tensor, batch: usize, seq: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let x = self.attention.forward(x, batch, seq, mask)?;
        let y = self.activation.forward(&self.intermediate.forward(&x)?)?;
        self.norm.forward(&self.output.forward(&y)?.add(&x)?)
    }
}

/// The BERT encoder without its pooler: embeddings and `num_hidden_layers` layers.
///
/// ```
/// use std::collections::HashMap;
/// use wick::{DType, Device, Tensor};
/// use wick_models::bert::{BertModel, Config};
/// use wick_nn::VarBuilder;
///
/// let cfg = Config::from_json(
///     r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
///        "intermediate_size": 16, "max_position_embeddings": 6}"#,
///     "inline config",
/// )?;
/// // Weights would come from `VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], ..)`;
/// // a VarMap-less builder over a map of tensors works the same way.
/// let dev = Device::Cpu;
/// let mut w = HashMap::new();
/// let mut put = |name: &str, shape: &[usize]| {
///     w.insert(name.to_string(), Tensor::randn(0f32, 0.5, shape.to_vec(), &dev).unwrap());
/// };
/// put("embeddings.word_embeddings.weight", &[10, 8]);
/// put("embeddings.position_embeddings.weight", &[6, 8]);
/// put("embeddings.token_type_embeddings.weight", &[2, 8]);
/// for p in ["embeddings.LayerNorm", "encoder.layer.0.attention.output.LayerNorm", "encoder.layer.0.output.LayerNorm"] {
///     put(&format!("{p}.weight"), &[8]);
///     put(&format!("{p}.bias"), &[8]);
/// }
/// for (p, o, i) in [("attention.self.query", 8, 8), ("attention.self.key", 8, 8), ("attention.self.value", 8, 8),
///                   ("attention.output.dense", 8, 8), ("intermediate.dense", 16, 8), ("output.dense", 8, 16)] {
///     put(&format!("encoder.layer.0.{p}.weight"), &[o, i]);
///     put(&format!("encoder.layer.0.{p}.bias"), &[o]);
/// }
/// let model = BertModel::new(&cfg, VarBuilder::from_tensors(w, DType::F32, &dev))?;
/// let ids = Tensor::new(&[[1u32, 5, 7, 2], [1, 4, 2, 0]], &dev)?;
/// let mask = Tensor::new(&[[1u32, 1, 1, 1], [1, 1, 1, 0]], &dev)?;
/// let hidden = model.forward(&ids, None, Some(&mask))?;
/// assert_eq!(hidden.dims(), &[2, 4, 8]);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
    hidden_size: usize,
    dtype: DType,
}

impl BertModel {
    /// Builds the model from `embeddings.*` and `encoder.layer.N.*` under `vb`, or under
    /// `vb.pp("bert")` when the checkpoint uses that prefix.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let vb = if !vb.contains_tensor("embeddings.word_embeddings.weight")
            && vb.contains_tensor("bert.embeddings.word_embeddings.weight")
        {
            vb.pp("bert")
        } else {
            vb
        };
        let embeddings = BertEmbeddings::new(cfg, vb.pp("embeddings"))?;
        let enc = vb.pp("encoder").pp("layer");
        let layers =
            (0..cfg.num_hidden_layers).map(|i| BertLayer::new(cfg, enc.pp(i))).collect::<Result<Vec<_>>>()?;
        Ok(BertModel { embeddings, layers, hidden_size: cfg.hidden_size, dtype: vb.dtype() })
    }

    /// Loads `config.json` and the weights of a model directory (see
    /// [`crate::source::ModelFiles`]) in `dtype` (F32, F16 or BF16).
    pub fn load<P: AsRef<Path>>(dir: P, dtype: DType) -> Result<(Config, BertModel)> {
        let files = crate::source::ModelFiles::in_dir(dir.as_ref())?;
        let cfg = Config::from_file(&files.config)?;
        let vb = files.var_builder(dtype)?;
        let model =
            BertModel::new(&cfg, vb).map_err(|e| e.context(format!("loading BERT from {}", files)))?;
        Ok((cfg, model))
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// The dtype the model computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The last hidden state `(batch, seq, hidden)` for integer `input_ids` `(batch, seq)`.
    ///
    /// `token_type_ids` (default all 0) has the shape of `input_ids`. `attention_mask`
    /// (default all 1), of the same shape and any dtype, marks real tokens with 1 and padding
    /// with 0; padded keys get `dtype::MIN` added to their scores, as in Hugging Face.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2().map_err(|_| Error::RankMismatch {
            op: "BertModel::forward",
            expected: 2,
            shape: input_ids.shape().clone(),
        })?;
        // One hop onto wick's pool for the whole pass instead of one per parallel op.
        wick::run_in_pool(|| {
            let mask = match attention_mask {
                Some(m) => self.additive_mask(m, b, t)?,
                None => None,
            };
            let mut x = self.embeddings.forward(input_ids, token_type_ids)?;
            for layer in &self.layers {
                x = layer.forward(&x, b, t, mask.as_ref())?;
            }
            x.reshape((b, t, self.hidden_size))
        })
    }

    /// `(batch, 1, 1, seq)` additive mask (0 for tokens, the dtype's lowest value for padding),
    /// or `None` when nothing is padded.
    fn additive_mask(&self, mask: &Tensor, b: usize, t: usize) -> Result<Option<Tensor>> {
        if mask.dims() != [b, t] {
            return Err(Error::shape_mismatch(
                "BertModel::forward",
                &wick::Shape::from((b, t)),
                mask.shape(),
                "attention_mask must have the shape of input_ids",
            ));
        }
        let keep = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if keep.iter().all(|&m| m != 0.0) {
            return Ok(None);
        }
        let lowest = match self.dtype {
            // The lowest finite f16 and bf16 values.
            DType::F16 => -65504.0,
            DType::BF16 => -3.3895313892515355e38,
            DType::F64 => f64::MIN,
            _ => f64::from(f32::MIN),
        };
        let add: Vec<f64> = keep.iter().map(|&m| if m != 0.0 { 0.0 } else { lowest }).collect();
        Ok(Some(Tensor::from_vec(add, (b, 1, 1, t), mask.device())?.to_dtype(self.dtype)?))
    }
}
