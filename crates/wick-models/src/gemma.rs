//! Gemma and Gemma 2 decoders as in Hugging Face `transformers` (`GemmaForCausalLM`,
//! `Gemma2ForCausalLM`). The Llama skeleton with these differences:
//!
//! - token embeddings are multiplied by `sqrt(hidden_size)` (rounded to the model's dtype);
//! - RMSNorm scales by `1 + weight` and computes in f32 whatever the model's dtype;
//! - the MLP is GeGLU with the tanh GELU (`hidden_activation`);
//! - the output head is tied to the embeddings;
//! - Gemma 2 only: attention scores are scaled by `query_pre_attn_scalar^-½` and soft-capped
//!   (`cap · tanh(s / cap)`, `attn_logit_softcapping`), every other layer attends through a
//!   sliding window (layer 0 first), each sub-block has a norm after it as well as before, and
//!   the logits are soft-capped (`final_logit_softcapping`).

use crate::llm::{self, Cache, CausalLm, TokenIds};
use std::path::Path;
use wick::{DType, Error, Result, Tensor};
use wick_nn::{embedding, linear_b, Activation, Embedding, Linear, Module, VarBuilder};
use wick_nn::{RopeLayout, RotaryEmbedding};

/// A Gemma / Gemma 2 `config.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Config {
    /// `"gemma"` or `"gemma2"`.
    pub model_type: String,
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
    /// Key/value heads.
    pub num_key_value_heads: Option<usize>,
    /// Per-head width (256 in the released models).
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base (older files; newer keep it in `rope_parameters`).
    pub rope_theta: Option<f64>,
    /// Rotary parameters (transformers ≥ 5).
    pub rope_parameters: Option<crate::llama::RopeScaling>,
    /// Longest sequence.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// The MLP's activation; Gemma means the tanh GELU whatever older files say in `hidden_act`.
    pub hidden_activation: Option<Activation>,
    /// Biases on the attention projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Gemma 2: scores are scaled by this to the power −½ instead of `head_dim`.
    pub query_pre_attn_scalar: Option<f64>,
    /// Gemma 2: soft cap of the attention scores.
    pub attn_logit_softcapping: Option<f64>,
    /// Gemma 2: soft cap of the output logits.
    pub final_logit_softcapping: Option<f64>,
    /// Gemma 2: sliding-window length of the local layers.
    pub sliding_window: Option<usize>,
    /// `"sliding_attention"` or `"full_attention"` per layer (transformers ≥ 4.5x).
    pub layer_types: Option<Vec<String>>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: TokenIds,
}

fn default_head_dim() -> usize {
    256
}
fn default_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    8192
}

impl Config {
    /// Reads `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        let cfg: Config = llm::read_json(path)?;
        cfg.validate().map_err(|e| e.context(format!("{}", path.display())))?;
        Ok(cfg)
    }

    fn is_gemma2(&self) -> bool {
        self.model_type == "gemma2"
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// The rotary base.
    pub fn rope_theta(&self) -> f64 {
        self.rope_theta.or(self.rope_parameters.as_ref().and_then(|r| r.rope_theta)).unwrap_or(10_000.0)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("gemma::Config", m));
        if !matches!(self.model_type.as_str(), "gemma" | "gemma2") {
            return bad(format!("model_type {:?} is not gemma or gemma2", self.model_type));
        }
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        if h == 0 || kv == 0 || !h.is_multiple_of(kv) {
            return bad(format!("{h} attention heads are not a multiple of {kv} kv heads"));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return bad(format!("head_dim {} must be even and positive", self.head_dim));
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 || self.max_position_embeddings == 0 {
            return bad("vocab_size, num_hidden_layers and max_position_embeddings must be positive".into());
        }
        if let Some(t) = self.rope_parameters.as_ref().and_then(|r| r.rope_type.as_deref()) {
            if t != "default" {
                return bad(format!("rope type {t:?} is not supported for Gemma (default only)"));
            }
        }
        let positive = |v: Option<f64>| v.is_none_or(|x| x.is_finite() && x > 0.0);
        if !positive(self.query_pre_attn_scalar)
            || !positive(self.attn_logit_softcapping)
            || !positive(self.final_logit_softcapping)
            || !positive(Some(self.rope_theta()))
        {
            return bad("query_pre_attn_scalar, soft caps and rope_theta must be positive".into());
        }
        Ok(())
    }

    /// The sliding window of layer `i`, if it has one (Gemma 2: even layers unless
    /// `layer_types` says otherwise).
    fn window(&self, i: usize) -> Option<usize> {
        if !self.is_gemma2() {
            return None;
        }
        let w = self.sliding_window?;
        let sliding = match &self.layer_types {
            Some(types) => types.get(i).map(String::as_str) == Some("sliding_attention"),
            None => i.is_multiple_of(2),
        };
        sliding.then_some(w)
    }
}

/// Gemma's RMSNorm: `x / rms(x) · (1 + w)` computed in f32 and rounded once to `x`'s dtype,
/// as transformers does.
#[derive(Debug, Clone)]
struct GemmaRmsNorm {
    scale: Tensor,
    eps: f64,
}

impl GemmaRmsNorm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let w = vb.get(size, "weight")?.to_dtype(DType::F32)?;
        Ok(GemmaRmsNorm { scale: w.affine(1.0, 1.0)?, eps })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        wick::ops::rms_norm(&x.to_dtype(DType::F32)?, &self.scale, self.eps)?.to_dtype(dtype)
    }
}

/// `cap · tanh(x / cap)`.
fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    x.affine(1.0 / cap, 0.0)?.tanh()?.affine(cap, 0.0)
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f64,
    softcap: Option<f64>,
    window: Option<usize>,
}

impl Attention {
    fn new(cfg: &Config, layer: usize, vb: VarBuilder) -> Result<Self> {
        let (h, kv, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim);
        let bias = cfg.attention_bias;
        let gemma2 = cfg.is_gemma2();
        let scalar = if gemma2 { cfg.query_pre_attn_scalar.unwrap_or(d as f64) } else { d as f64 };
        Ok(Attention {
            q: linear_b(cfg.hidden_size, h * d, bias, vb.pp("q_proj"))?,
            k: linear_b(cfg.hidden_size, kv * d, bias, vb.pp("k_proj"))?,
            v: linear_b(cfg.hidden_size, kv * d, bias, vb.pp("v_proj"))?,
            o: linear_b(h * d, cfg.hidden_size, bias, vb.pp("o_proj"))?,
            heads: h,
            kv_heads: kv,
            head_dim: d,
            scale: 1.0 / scalar.sqrt(),
            softcap: cfg.attn_logit_softcapping.filter(|_| gemma2),
            window: cfg.window(layer),
        })
    }

    fn forward(&self, x: &Tensor, rope: &RotaryEmbedding, cache: &mut wick_nn::KvCache) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let offset = cache.current_len();
        let q = llm::split_heads(&self.q.forward(x)?, b, t, self.heads, self.head_dim)?;
        let k = llm::split_heads(&self.k.forward(x)?, b, t, self.kv_heads, self.head_dim)?;
        let v = llm::split_heads(&self.v.forward(x)?, b, t, self.kv_heads, self.head_dim)?;
        let (q, k) = rope.apply(&q, &k, offset)?;
        let (k, v) = cache.append(&k, &v)?;
        let y = llm::causal_attention(&q, &k, &v, self.scale, self.window, self.softcap)?;
        self.o.forward(&llm::merge_heads(&y)?)
    }
}

/// GeGLU feed-forward: `down(gelu_tanh(gate(x)) · up(x))`.
#[derive(Debug, Clone)]
struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
    act: Activation,
}

impl Mlp {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (h, f) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Mlp {
            gate: linear_b(h, f, false, vb.pp("gate_proj"))?,
            up: linear_b(h, f, false, vb.pp("up_proj"))?,
            down: linear_b(f, h, false, vb.pp("down_proj"))?,
            act: cfg.hidden_activation.unwrap_or(Activation::GeluTanh),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let g = self.act.forward(&self.gate.forward(x)?)?;
        self.down.forward(&g.mul(&self.up.forward(x)?)?)
    }
}

/// One decoder layer; Gemma 2 adds a norm after each sub-block.
#[derive(Debug, Clone)]
struct Layer {
    input_norm: GemmaRmsNorm,
    attn: Attention,
    /// Gemma: before the MLP. Gemma 2: after attention.
    post_attention_norm: GemmaRmsNorm,
    /// Gemma 2 only: before and after the MLP.
    ffn_norms: Option<(GemmaRmsNorm, GemmaRmsNorm)>,
    mlp: Mlp,
}

impl Layer {
    fn new(cfg: &Config, i: usize, vb: VarBuilder) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        let ffn_norms = if cfg.is_gemma2() {
            Some((
                GemmaRmsNorm::new(h, eps, vb.pp("pre_feedforward_layernorm"))?,
                GemmaRmsNorm::new(h, eps, vb.pp("post_feedforward_layernorm"))?,
            ))
        } else {
            None
        };
        Ok(Layer {
            input_norm: GemmaRmsNorm::new(h, eps, vb.pp("input_layernorm"))?,
            attn: Attention::new(cfg, i, vb.pp("self_attn"))?,
            post_attention_norm: GemmaRmsNorm::new(h, eps, vb.pp("post_attention_layernorm"))?,
            ffn_norms,
            mlp: Mlp::new(cfg, vb.pp("mlp"))?,
        })
    }

    fn forward(&self, x: &Tensor, rope: &RotaryEmbedding, cache: &mut wick_nn::KvCache) -> Result<Tensor> {
        let a = self.attn.forward(&self.input_norm.forward(x)?, rope, cache)?;
        match &self.ffn_norms {
            None => {
                let x = x.add(&a)?;
                x.add(&self.mlp.forward(&self.post_attention_norm.forward(&x)?)?)
            }
            Some((pre, post)) => {
                let x = x.add(&self.post_attention_norm.forward(&a)?)?;
                x.add(&post.forward(&self.mlp.forward(&pre.forward(&x)?)?)?)
            }
        }
    }
}

/// A Gemma or Gemma 2 causal language model (checkpoint names `model.embed_tokens`,
/// `model.layers.N.*`, `model.norm`; the head is the embedding matrix).
///
/// ```no_run
/// use wick_models::llm::CausalLm;
/// let model = wick_models::llm::load("target/models/gemma-2-2b".as_ref(), wick::DType::BF16)?;
/// let logits = model.forward(&wick::Tensor::new(&[[2u32, 651]], &wick::Device::Cpu)?, &mut model.new_cache(), false)?;
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Gemma {
    embed: Embedding,
    embed_scale: f64,
    layers: Vec<Layer>,
    norm: GemmaRmsNorm,
    lm_head: Linear,
    rope: RotaryEmbedding,
    cfg: Config,
}

impl Gemma {
    /// Builds the model from a `VarBuilder` at the checkpoint's root.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let m = vb.pp("model");
        let embed = embedding(cfg.vocab_size, cfg.hidden_size, m.pp("embed_tokens"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, i, m.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let norm = GemmaRmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, m.pp("norm"))?;
        let lm_head = if vb.contains_tensor("lm_head.weight") {
            linear_b(cfg.hidden_size, cfg.vocab_size, false, vb.pp("lm_head"))?
        } else {
            Linear::new(embed.embeddings().clone(), None)?
        };
        let dtype = if vb.dtype().is_float() { vb.dtype() } else { DType::F32 };
        // transformers multiplies by the normalizer as a tensor of the hidden dtype.
        let embed_scale = Tensor::new(&[(cfg.hidden_size as f32).sqrt()], vb.device())?
            .to_dtype(dtype)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?[0];
        let d = cfg.head_dim;
        let base = cfg.rope_theta();
        let inv_freq: Vec<f64> = (0..d / 2).map(|i| 1.0 / base.powf((2 * i) as f64 / d as f64)).collect();
        let rope = RotaryEmbedding::from_inv_freq(
            &inv_freq,
            cfg.max_position_embeddings,
            RopeLayout::HalfSplit,
            dtype,
            vb.device(),
        )?;
        Ok(Gemma { embed, embed_scale, layers, norm, lm_head, rope, cfg: cfg.clone() })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

impl CausalLm for Gemma {
    fn forward(&self, input_ids: &Tensor, cache: &mut Cache, all_positions: bool) -> Result<Tensor> {
        // One hop onto wick's pool for the whole pass instead of one per parallel op.
        wick::run_in_pool(|| {
            llm::check_input("Gemma::forward", input_ids, cache, self.cfg.max_position_embeddings)?;
            let mut x = self.embed.forward(input_ids)?.affine(self.embed_scale, 0.0)?;
            for (i, layer) in self.layers.iter().enumerate() {
                x = layer.forward(&x, &self.rope, cache.layer(i)?)?;
            }
            let x = self.norm.forward(&llm::last_unless_all(&x, all_positions)?)?;
            let mut logits = self.lm_head.forward(&x)?;
            if let Some(cap) = self.cfg.final_logit_softcapping.filter(|_| self.cfg.is_gemma2()) {
                logits = softcap(&logits, cap)?;
            }
            llm::finish_logits(logits, all_positions)
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
