//! What every decoder-only language model here shares: the [`CausalLm`] trait the generation
//! loop drives, the per-layer key/value [`Cache`], causal (optionally sliding-window,
//! soft-capped) attention with grouped-query heads, and [`load`], which reads a Hugging Face
//! model directory and picks the implementation from `config.json`'s `model_type`.

use crate::source::ModelFiles;
use std::path::Path;
use wick::{DType, Error, Result, Tensor, D};
use wick_nn::KvCache;

/// A decoder-only language model.
pub trait CausalLm: Send + Sync {
    /// Logits for `input_ids` `(batch, seq)` (`U32`) whose first token sits at position
    /// `cache.len()`; keys and values of the new positions are appended to `cache`. Returns
    /// `(batch, vocab)` f32 logits of the last position, or `(batch, seq, vocab)` for every
    /// position when `all_positions`.
    fn forward(&self, input_ids: &Tensor, cache: &mut Cache, all_positions: bool) -> Result<Tensor>;
    /// An empty cache sized for this model.
    fn new_cache(&self) -> Cache;
    /// Vocabulary size (the logits' last dim).
    fn vocab_size(&self) -> usize;
    /// End-of-sequence ids from `config.json` (may be empty).
    fn eos_token_ids(&self) -> Vec<u32>;
    /// The longest sequence the model accepts (`max_position_embeddings` / `n_positions`).
    fn max_positions(&self) -> usize;
}

/// Keys and values of the positions seen so far, one [`KvCache`] per layer, each
/// `(batch, kv_heads, seq, head_dim)`.
#[derive(Debug, Clone)]
pub struct Cache {
    layers: Vec<KvCache>,
    max_len: usize,
}

impl Cache {
    /// An empty cache of `layers` layers holding up to `max_len` positions.
    pub fn new(layers: usize, max_len: usize) -> Self {
        Cache { layers: (0..layers).map(|_| KvCache::new(2, max_len)).collect(), max_len }
    }

    /// Positions cached so far (the position of the next token).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, KvCache::current_len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most positions it holds.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forgets every position.
    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(KvCache::reset);
    }

    /// The cache of layer `i`.
    pub(crate) fn layer(&mut self, i: usize) -> Result<&mut KvCache> {
        let n = self.layers.len();
        self.layers
            .get_mut(i)
            .ok_or_else(|| Error::invalid("Cache", format!("layer {i} of a cache of {n} layers")))
    }
}

/// Checks `input_ids` is a non-empty `(batch, seq)` id matrix that fits after the cached
/// positions; returns `(batch, seq)`.
pub(crate) fn check_input(
    op: &'static str,
    ids: &Tensor,
    cache: &Cache,
    max_pos: usize,
) -> Result<(usize, usize)> {
    let (b, t) =
        ids.dims2().map_err(|_| Error::RankMismatch { op, expected: 2, shape: ids.shape().clone() })?;
    if ids.dtype().is_float() {
        return Err(Error::unsupported_dtype(op, ids.dtype(), "input_ids must be integer ids"));
    }
    if b == 0 || t == 0 {
        return Err(Error::invalid(op, format!("empty input_ids {:?}", ids.shape())));
    }
    let end = cache.len().checked_add(t).filter(|&e| e <= max_pos.min(cache.max_len()));
    if end.is_none() {
        return Err(Error::invalid(
            op,
            format!(
                "{} cached + {t} new positions exceed the model's {max_pos} positions (cache {})",
                cache.len(),
                cache.max_len()
            ),
        ));
    }
    Ok((b, t))
}

/// Additive mask `(tq, tk)` for queries at positions `tk - tq ..tk`: a query at `p` sees keys
/// `j <= p` and, with a `window`, only `p - j < window` (Mistral / Gemma 2 sliding window).
/// `None` when nothing is masked (a single query without a window in reach).
fn mask(tq: usize, tk: usize, window: Option<usize>, dtype: DType, like: &Tensor) -> Result<Option<Tensor>> {
    let offset = tk - tq;
    let window = window.filter(|&w| w < tk);
    if tq == 1 && window.is_none() {
        return Ok(None);
    }
    let mut m = Vec::with_capacity(tq.checked_mul(tk).ok_or_else(|| Error::overflow("mask", "tq x tk"))?);
    for i in 0..tq {
        let p = i + offset;
        for j in 0..tk {
            let visible = j <= p && window.is_none_or(|w| p - j < w);
            m.push(if visible { 0f32 } else { f32::NEG_INFINITY });
        }
    }
    Ok(Some(Tensor::from_vec(m, (tq, tk), like.device())?.to_dtype(dtype)?))
}

/// Causal attention of `q` `(b, hq, tq, d)` over `k`, `v` `(b, hkv, tk, d)` (the cache
/// included: the queries are the last `tq` positions), with `hq` a multiple of `hkv` (grouped
/// query attention), scores scaled by `scale`, optionally soft-capped as
/// `cap · tanh(s / cap)` (Gemma 2) and limited to a sliding `window`. Returns `(b, hq, tq, d)`.
pub(crate) fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    window: Option<usize>,
    softcap: Option<f64>,
) -> Result<Tensor> {
    let (b, hq, tq, d) = q.dims4()?;
    let (_, hkv, tk, dv) = v.dims4()?;
    if hkv == 0 || !hq.is_multiple_of(hkv) || tq > tk {
        return Err(Error::shape_mismatch("causal_attention", q.shape(), k.shape(), "heads or lengths"));
    }
    let group = hq / hkv;
    // Query head h reads kv head h / group: fold the group into the rows of one matmul.
    let q = q.affine(scale, 0.0)?.contiguous()?.reshape((b, hkv, group * tq, d))?;
    let mut s = q.matmul(&k.t()?)?.reshape((b, hq, tq, tk))?;
    if let Some(cap) = softcap {
        s = s.affine(1.0 / cap, 0.0)?.tanh()?.affine(cap, 0.0)?;
    }
    if let Some(m) = mask(tq, tk, window, s.dtype(), &s)? {
        s = s.add(&m)?;
    }
    let p = s.softmax(D::Minus1)?;
    p.reshape((b, hkv, group * tq, tk))?.matmul(v)?.reshape((b, hq, tq, dv))
}

/// `(b, t, heads · d)` → `(b, heads, t, d)`, contiguous.
pub(crate) fn split_heads(x: &Tensor, b: usize, t: usize, heads: usize, d: usize) -> Result<Tensor> {
    x.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()
}

/// `(b, heads, t, d)` → `(b, t, heads · d)`.
pub(crate) fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    x.transpose(1, 2)?.contiguous()?.reshape((b, t, h * d))
}

/// The last position of `(b, t, h)` as `(b, 1, h)` unless `all`.
pub(crate) fn last_unless_all(x: &Tensor, all: bool) -> Result<Tensor> {
    let t = x.dims()[1];
    if all {
        Ok(x.clone())
    } else {
        x.narrow(1, t - 1, 1)
    }
}

/// Logits `(b, t, v)` as f32, squeezed to `(b, v)` unless `all`.
pub(crate) fn finish_logits(logits: Tensor, all: bool) -> Result<Tensor> {
    let logits = logits.to_dtype(DType::F32)?;
    if all {
        Ok(logits)
    } else {
        logits.squeeze(1)
    }
}

/// Reads and parses a JSON file, naming it in errors.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format("config", format!("{}: {e}", path.display())))
}

/// `eos_token_id` as found in configs: one id or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// No id.
    #[default]
    None,
    /// One id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::None => Vec::new(),
            TokenIds::One(i) => vec![*i],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

#[derive(serde::Deserialize)]
struct ModelType {
    #[serde(default)]
    model_type: Option<String>,
}

/// Loads the causal LM of a Hugging Face model directory in `dtype`, choosing the
/// implementation from `config.json`'s `model_type` (llama, mistral, qwen2, phi3, gpt2,
/// gemma, gemma2).
///
/// ```no_run
/// use wick_models::llm;
/// let model = llm::load("target/models/tinyllama".as_ref(), wick::DType::F32)?;
/// let mut cache = model.new_cache();
/// let ids = wick::Tensor::new(&[[1u32, 15043, 3186]], &wick::Device::Cpu)?;
/// let logits = model.forward(&ids, &mut cache, false)?; // (1, vocab)
/// assert_eq!(logits.dims(), &[1, model.vocab_size()]);
/// # Ok::<(), wick::Error>(())
/// ```
///
/// `dir` may also be a GGUF file (llama.cpp's format; architectures `llama` and `qwen2`, any
/// block format): see [`crate::gguf`].
pub fn load(dir: &Path, dtype: DType) -> Result<Box<dyn CausalLm>> {
    load_with(dir, &LoadOptions { dtype, quantize: None, progress: None })
}

/// How [`load_with`] loads a model.
#[derive(Clone)]
pub struct LoadOptions {
    /// Dtype of activations and dense weights (quantized matrices compute in f32).
    pub dtype: DType,
    /// Quantize the dense weight matrices to this ggml format while loading (Llama family).
    pub quantize: Option<wick::gguf::GgmlDType>,
    /// Sees each matrix quantized: `(done, expected, name)`.
    pub progress: Option<crate::weights::ProgressFn>,
}

/// [`load`] with options: a model directory or GGUF file, optionally quantized while loading.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Box<dyn CausalLm>> {
    use crate::weights::Weights;
    if path.is_file() {
        return Ok(Box::new(crate::gguf::load_llama_with(path, opts)?));
    }
    let dir = path;
    let files = ModelFiles::in_dir(dir)?;
    let mt: ModelType = read_json(&files.config)?;
    let model_type = mt.model_type.unwrap_or_default();
    let vb = files.var_builder(opts.dtype)?;
    let llama = matches!(model_type.as_str(), "llama" | "mistral" | "qwen2" | "phi3");
    if let (Some(t), false) = (opts.quantize, llama) {
        return Err(Error::invalid(
            "llm::load",
            format!(
                "{}: quantizing {t} while loading is supported for the Llama family, not {model_type:?}",
                dir.display()
            ),
        ));
    }
    Ok(match model_type.as_str() {
        "llama" | "mistral" | "qwen2" | "phi3" => {
            let w = match opts.quantize {
                Some(t) => Weights::quantizing(vb, t, opts.progress.clone()),
                None => Weights::dense(vb),
            };
            Box::new(crate::llama::Llama::from_weights(&crate::llama::Config::from_file(&files.config)?, w)?)
        }
        "gpt2" => Box::new(crate::gpt2::Gpt2::new(&crate::gpt2::Config::from_file(&files.config)?, vb)?),
        "gemma" | "gemma2" => {
            Box::new(crate::gemma::Gemma::new(&crate::gemma::Config::from_file(&files.config)?, vb)?)
        }
        other => {
            return Err(Error::invalid(
                "llm::load",
                format!(
                "{}: model_type {other:?} is not supported (supported: llama, mistral, qwen2, phi3, gpt2, gemma, gemma2)",
                files.config.display()
            ),
            ))
        }
    })
}
