//! Llama-family decoders as in Hugging Face `transformers` (`LlamaForCausalLM` and the models
//! that share its shape), one implementation with config switches:
//!
//! - Llama 2 / 3 / 3.1+ (`rope_scaling` type `"llama3"` or `"linear"`), TinyLlama, …
//! - Mistral: `sliding_window` (a query sees at most the last `sliding_window` keys);
//! - Qwen2: biases on the q/k/v projections (`model_type` `"qwen2"`), optional sliding window
//!   on layers `>= max_window_layers`;
//! - Phi-3: fused `qkv_proj` and `gate_up_proj` weights, split at load time.
//!
//! Embeddings → N × [x + attn(rms_norm(x)); x + mlp(rms_norm(x))] → rms_norm → lm_head, with
//! rotary positions in the half-split (`rotate_half`) layout, grouped-query attention and a
//! key/value cache.

use crate::llm::{self, Cache, CausalLm, TokenIds};
use crate::weights::{QEmbedding, QLinear, Weights};
use std::path::Path;
use wick::{DType, Error, Result, Tensor};
use wick_nn::{rms_norm, Activation, Module, RmsNorm, VarBuilder};
use wick_nn::{RopeLayout, RotaryEmbedding};

/// `rope_scaling` / `rope_parameters` of `config.json`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct RopeScaling {
    /// `"default"`, `"linear"` or `"llama3"` (older files say `type`).
    #[serde(alias = "type")]
    pub rope_type: Option<String>,
    /// Frequency divisor.
    pub factor: Option<f64>,
    /// Llama 3: wavelengths above `original_max_position_embeddings / low_freq_factor` are scaled.
    pub low_freq_factor: Option<f64>,
    /// Llama 3: wavelengths below `original_max_position_embeddings / high_freq_factor` are kept.
    pub high_freq_factor: Option<f64>,
    /// Llama 3: the context length of pre-training.
    pub original_max_position_embeddings: Option<f64>,
    /// transformers ≥ 5 keeps the base here.
    pub rope_theta: Option<f64>,
    /// transformers ≥ 5 (Phi-3): fraction of each head that is rotated.
    pub partial_rotary_factor: Option<f64>,
}

/// A Llama-family `config.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Config {
    /// `"llama"`, `"mistral"`, `"qwen2"` or `"phi3"`.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to the query heads.
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base (older files; newer keep it in `rope_parameters`).
    pub rope_theta: Option<f64>,
    /// Rotary scaling (older files).
    pub rope_scaling: Option<RopeScaling>,
    /// Rotary parameters (transformers ≥ 5).
    pub rope_parameters: Option<RopeScaling>,
    /// Longest sequence.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Whether `lm_head` reuses the embedding matrix.
    pub tie_word_embeddings: Option<bool>,
    /// Biases on the attention projections (Qwen2 has q/k/v biases without this key).
    pub attention_bias: Option<bool>,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// MLP activation (SiLU for every model here).
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Mistral / Qwen2 sliding-window length.
    pub sliding_window: Option<usize>,
    /// Qwen2: whether `sliding_window` is used at all.
    pub use_sliding_window: Option<bool>,
    /// Qwen2: layers below this index use full attention.
    pub max_window_layers: Option<usize>,
    /// transformers ≥ 5: `"sliding_attention"` or `"full_attention"` per layer.
    pub layer_types: Option<Vec<String>>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: TokenIds,
    /// Whether the q/k projections put rotary pairs side by side (`x[2i], x[2i+1]`), as in
    /// GGUF files of llama.cpp's `llama` architecture (its converter permutes the rows of
    /// Hugging Face's half-split layout); never set by `config.json`.
    #[serde(skip)]
    pub rope_interleaved: bool,
    /// Per-frequency divisors of the rotary inverse frequencies (GGUF `rope_freqs.weight`,
    /// how llama.cpp stores Llama 3.1 rope scaling); never set by `config.json`.
    #[serde(skip)]
    pub rope_freq_factors: Option<Vec<f64>>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    2048
}
fn default_act() -> Activation {
    Activation::Silu
}

impl Config {
    /// Reads `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        let cfg: Config = llm::read_json(path)?;
        cfg.validate().map_err(|e| e.context(format!("{}", path.display())))?;
        Ok(cfg)
    }

    fn model_type(&self) -> &str {
        self.model_type.as_deref().unwrap_or("llama")
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    pub(crate) fn rope(&self) -> Option<&RopeScaling> {
        self.rope_parameters.as_ref().or(self.rope_scaling.as_ref())
    }

    /// The rotary base.
    pub fn rope_theta(&self) -> f64 {
        self.rope_theta.or(self.rope_parameters.as_ref().and_then(|r| r.rope_theta)).unwrap_or(10_000.0)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("llama::Config", m));
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        if h == 0 || kv == 0 || !h.is_multiple_of(kv) {
            return bad(format!("{h} attention heads are not a multiple of {kv} kv heads"));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(h) {
            return bad(format!("hidden_size {} is not a multiple of {h} heads", self.hidden_size));
        }
        if self.head_dim() == 0 || !self.head_dim().is_multiple_of(2) {
            return bad(format!("head_dim {} must be even and positive", self.head_dim()));
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 || self.max_position_embeddings == 0 {
            return bad("vocab_size, num_hidden_layers and max_position_embeddings must be positive".into());
        }
        if let Some(p) = self.rope().and_then(|r| r.partial_rotary_factor).filter(|&p| p != 1.0) {
            return bad(format!("partial_rotary_factor {p} is not supported"));
        }
        let theta = self.rope_theta();
        if !(theta.is_finite() && theta > 0.0) {
            return bad(format!("rope_theta {theta} must be positive"));
        }
        Ok(())
    }

    /// Whether layer `i` uses the sliding window, and its length.
    fn window(&self, i: usize) -> Option<usize> {
        let w = self.sliding_window?;
        if let Some(types) = &self.layer_types {
            return (types.get(i).map(String::as_str) == Some("sliding_attention")).then_some(w);
        }
        match self.model_type() {
            "qwen2" => (self.use_sliding_window == Some(true) && i >= self.max_window_layers.unwrap_or(0))
                .then_some(w),
            _ => Some(w),
        }
    }

    /// Inverse frequencies of the rotary embedding, with `rope_scaling` applied.
    pub fn inv_freq(&self) -> Result<Vec<f64>> {
        let d = self.head_dim();
        let base = self.rope_theta();
        let inv: Vec<f64> = (0..d / 2).map(|i| 1.0 / base.powf((2 * i) as f64 / d as f64)).collect();
        if let Some(f) = &self.rope_freq_factors {
            if f.len() != inv.len() || f.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return Err(Error::invalid(
                    "llama::Config",
                    format!(
                        "{} rope frequency factors for head_dim {d}: need {} positive ones",
                        f.len(),
                        d / 2
                    ),
                ));
            }
            return Ok(inv.iter().zip(f).map(|(x, f)| x / f).collect());
        }
        let Some(rs) = self.rope() else { return Ok(inv) };
        let need = |v: Option<f64>, what: &str| {
            v.filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
                Error::invalid("llama::Config", format!("rope scaling needs a positive {what}"))
            })
        };
        match rs.rope_type.as_deref().unwrap_or("default") {
            "default" => Ok(inv),
            "linear" => {
                let f = need(rs.factor, "factor")?;
                Ok(inv.into_iter().map(|x| x / f).collect())
            }
            "llama3" => {
                // Llama 3.1 (transformers `_compute_llama3_parameters`): long wavelengths are
                // slowed by `factor`, short ones kept, the band between interpolated.
                let factor = need(rs.factor, "factor")?;
                let low = need(rs.low_freq_factor, "low_freq_factor")?;
                let high = need(rs.high_freq_factor, "high_freq_factor")?;
                let old = need(rs.original_max_position_embeddings, "original_max_position_embeddings")?;
                if high <= low {
                    return Err(Error::invalid(
                        "llama::Config",
                        "high_freq_factor must exceed low_freq_factor",
                    ));
                }
                let (low_wl, high_wl) = (old / low, old / high);
                Ok(inv
                    .into_iter()
                    .map(|f| {
                        let wl = 2.0 * std::f64::consts::PI / f;
                        if wl < high_wl {
                            f
                        } else if wl > low_wl {
                            f / factor
                        } else {
                            let s = (old / wl - low) / (high - low);
                            (1.0 - s) * f / factor + s * f
                        }
                    })
                    .collect())
            }
            other => Err(Error::invalid(
                "llama::Config",
                format!("rope scaling type {other:?} is not supported (default, linear, llama3)"),
            )),
        }
    }
}

/// Self-attention with rotary positions and grouped-query heads.
#[derive(Debug, Clone)]
struct Attention {
    q: QLinear,
    k: QLinear,
    v: QLinear,
    o: QLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    window: Option<usize>,
}

impl Attention {
    fn new(cfg: &Config, layer: usize, w: Weights) -> Result<Self> {
        let (h, kv, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        let (hd, kvd) = (h * d, kv * d);
        let qwen2 = cfg.model_type() == "qwen2";
        let qkv_bias = cfg.attention_bias.unwrap_or(qwen2);
        let o_bias = cfg.attention_bias.unwrap_or(false) && !qwen2;
        let (q, k, v) = if cfg.model_type() == "phi3" {
            let qkv = w.vb().get((hd + 2 * kvd, cfg.hidden_size), "qkv_proj.weight")?;
            let name = w.vb().path("qkv_proj.weight");
            (
                w.from_dense(qkv.narrow(0, 0, hd)?, None, &name)?,
                w.from_dense(qkv.narrow(0, hd, kvd)?, None, &name)?,
                w.from_dense(qkv.narrow(0, hd + kvd, kvd)?, None, &name)?,
            )
        } else {
            (
                w.pp("q_proj").linear(cfg.hidden_size, hd, qkv_bias)?,
                w.pp("k_proj").linear(cfg.hidden_size, kvd, qkv_bias)?,
                w.pp("v_proj").linear(cfg.hidden_size, kvd, qkv_bias)?,
            )
        };
        let o = w.pp("o_proj").linear(hd, cfg.hidden_size, o_bias)?;
        Ok(Attention { q, k, v, o, heads: h, kv_heads: kv, head_dim: d, window: cfg.window(layer) })
    }

    fn forward(&self, x: &Tensor, rope: &RotaryEmbedding, cache: &mut wick_nn::KvCache) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let offset = cache.current_len();
        let qkv = QLinear::forward_many(&[&self.q, &self.k, &self.v], x)?;
        let q = llm::split_heads(&qkv[0], b, t, self.heads, self.head_dim)?;
        let k = llm::split_heads(&qkv[1], b, t, self.kv_heads, self.head_dim)?;
        let v = llm::split_heads(&qkv[2], b, t, self.kv_heads, self.head_dim)?;
        let (q, k) = rope.apply(&q, &k, offset)?;
        let (k, v) = cache.append(&k, &v)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let y = llm::causal_attention(&q, &k, &v, scale, self.window, None)?;
        self.o.forward(&llm::merge_heads(&y)?)
    }
}

/// SwiGLU feed-forward: `down(act(gate(x)) · up(x))`.
#[derive(Debug, Clone)]
struct Mlp {
    gate: QLinear,
    up: QLinear,
    down: QLinear,
    act: Activation,
}

impl Mlp {
    fn new(cfg: &Config, w: Weights) -> Result<Self> {
        let (h, f, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        let (gate, up) = if cfg.model_type() == "phi3" {
            let gu = w.vb().get((2 * f, h), "gate_up_proj.weight")?;
            let name = w.vb().path("gate_up_proj.weight");
            (w.from_dense(gu.narrow(0, 0, f)?, None, &name)?, w.from_dense(gu.narrow(0, f, f)?, None, &name)?)
        } else {
            (w.pp("gate_proj").linear(h, f, bias)?, w.pp("up_proj").linear(h, f, bias)?)
        };
        let down = w.pp("down_proj").linear(f, h, bias)?;
        Ok(Mlp { gate, up, down, act: cfg.hidden_act })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gu = QLinear::forward_many(&[&self.gate, &self.up], x)?;
        self.down.forward(&self.act.forward(&gu[0])?.mul(&gu[1])?)
    }
}

/// One pre-norm decoder layer.
#[derive(Debug, Clone)]
struct Layer {
    input_norm: RmsNorm,
    attn: Attention,
    post_attention_norm: RmsNorm,
    mlp: Mlp,
}

impl Layer {
    fn new(cfg: &Config, i: usize, w: Weights) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Layer {
            input_norm: rms_norm(h, eps, w.vb().pp("input_layernorm"))?,
            attn: Attention::new(cfg, i, w.pp("self_attn"))?,
            post_attention_norm: rms_norm(h, eps, w.vb().pp("post_attention_layernorm"))?,
            mlp: Mlp::new(cfg, w.pp("mlp"))?,
        })
    }

    fn forward(&self, x: &Tensor, rope: &RotaryEmbedding, cache: &mut wick_nn::KvCache) -> Result<Tensor> {
        let x = x.add(&self.attn.forward(&self.input_norm.forward(x)?, rope, cache)?)?;
        x.add(&self.mlp.forward(&self.post_attention_norm.forward(&x)?)?)
    }
}

/// A Llama-family causal language model (`*ForCausalLM` checkpoint names: `model.embed_tokens`,
/// `model.layers.N.*`, `model.norm`, `lm_head`).
///
/// ```no_run
/// use wick_models::llama::{Config, Llama};
/// use wick_models::llm::CausalLm;
/// let dir = std::path::Path::new("target/models/tinyllama");
/// let cfg = Config::from_file(&dir.join("config.json"))?;
/// let vb = wick_nn::VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], wick::DType::F32, &wick::Device::Cpu)?;
/// let model = Llama::new(&cfg, vb)?;
/// let mut cache = model.new_cache();
/// let prompt = wick::Tensor::new(&[[1u32, 450, 4996]], &wick::Device::Cpu)?;
/// let logits = model.forward(&prompt, &mut cache, false)?; // prefill: (1, vocab)
/// let next = wick::Tensor::new(&[[17354u32]], &wick::Device::Cpu)?;
/// let logits = model.forward(&next, &mut cache, false)?; // one decode step at position 3
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Llama {
    embed: QEmbedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: QLinear,
    rope: RotaryEmbedding,
    cfg: Config,
}

impl Llama {
    /// Builds the model from a `VarBuilder` at the checkpoint's root, every weight dense.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Self::from_weights(cfg, Weights::dense(vb))
    }

    /// Builds the model from weights that may be quantized (a GGUF file, or dense weights
    /// quantized while loading): see [`crate::weights`].
    pub fn from_weights(cfg: &Config, w: Weights) -> Result<Self> {
        cfg.validate()?;
        let vb = w.vb().clone();
        let m = w.pp("model");
        // A missing `tie_word_embeddings` means tied only when the checkpoint has no lm_head.
        let tied = cfg.tie_word_embeddings.unwrap_or(!w.contains_tensor("lm_head.weight"));
        w.expect_linears(7 * cfg.num_hidden_layers + 1);
        let embed = m.pp("embed_tokens").embedding(cfg.vocab_size, cfg.hidden_size)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, i, m.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let norm = rms_norm(cfg.hidden_size, cfg.rms_norm_eps, m.vb().pp("norm"))?;
        let lm_head = if tied {
            let name = m.vb().path("embed_tokens.weight");
            match &embed {
                // A quantized embedding table (GGUF) serves the output projection as it is.
                QEmbedding::Quantized { table, .. } => QLinear::quantized(table.clone(), None)?,
                QEmbedding::Dense(e) => w.from_dense(e.embeddings().clone(), None, &name)?,
            }
        } else {
            w.pp("lm_head").linear(cfg.hidden_size, cfg.vocab_size, false)?
        };
        let dtype = if vb.dtype().is_float() { vb.dtype() } else { DType::F32 };
        let layout = if cfg.rope_interleaved { RopeLayout::Interleaved } else { RopeLayout::HalfSplit };
        let rope = RotaryEmbedding::from_inv_freq(
            &cfg.inv_freq()?,
            cfg.max_position_embeddings,
            layout,
            dtype,
            vb.device(),
        )?;
        Ok(Llama { embed, layers, norm, lm_head, rope, cfg: cfg.clone() })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

impl CausalLm for Llama {
    fn forward(&self, input_ids: &Tensor, cache: &mut Cache, all_positions: bool) -> Result<Tensor> {
        // One hop onto wick's pool for the whole pass instead of one per parallel op.
        wick::run_in_pool(|| {
            llm::check_input("Llama::forward", input_ids, cache, self.cfg.max_position_embeddings)?;
            let mut x = self.embed.forward(input_ids)?;
            for (i, layer) in self.layers.iter().enumerate() {
                x = layer.forward(&x, &self.rope, cache.layer(i)?)?;
            }
            let x = self.norm.forward(&llm::last_unless_all(&x, all_positions)?)?;
            llm::finish_logits(self.lm_head.forward(&x)?, all_positions)
        })
    }

    fn new_cache(&self) -> Cache {
        Cache::new(self.cfg.num_hidden_layers, self.cfg.max_position_embeddings)
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn eos_token_ids(&self) -> Vec<u32> {
        self.cfg.eos_token_id.to_vec()
    }

    fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }
}
