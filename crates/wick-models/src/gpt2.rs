//! GPT-2 (Radford et al., 2019) as in Hugging Face `transformers.GPT2LMHeadModel`: learned
//! absolute positions, pre-norm LayerNorm blocks, multi-head attention with a fused `c_attn`
//! projection, a GELU (tanh approximation, `gelu_new`) MLP, and an LM head tied to the token
//! embeddings.
//!
//! The checkpoint stores its projections as `Conv1D` weights of shape `(in, out)` — the
//! transpose of `nn.Linear`'s — so they are transposed (as views) when loaded.

use crate::llm::{self, Cache, CausalLm, TokenIds};
use std::path::Path;
use wick::{Error, Result, Tensor};
use wick_nn::{layer_norm, Activation, Embedding, LayerNorm, Linear, Module, VarBuilder};

/// A GPT-2 `config.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Layers.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Longest sequence (learned positions).
    pub n_positions: usize,
    /// MLP width; defaults to `4 · n_embd`.
    pub n_inner: Option<usize>,
    /// MLP activation.
    #[serde(default = "default_act")]
    pub activation_function: Activation,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Whether scores are divided by `sqrt(head_dim)`.
    #[serde(default = "yes")]
    pub scale_attn_weights: bool,
    /// Scores also divided by `layer + 1` (not supported).
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: TokenIds,
}

fn default_act() -> Activation {
    Activation::GeluTanh
}
fn default_eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}

impl Config {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        let cfg: Config = llm::read_json(path)?;
        let bad = |m: String| Err(Error::invalid("gpt2::Config", format!("{}: {m}", path.display())));
        if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
            return bad(format!("n_embd {} is not a multiple of n_head {}", cfg.n_embd, cfg.n_head));
        }
        if cfg.vocab_size == 0 || cfg.n_layer == 0 || cfg.n_positions == 0 {
            return bad("vocab_size, n_layer and n_positions must be positive".into());
        }
        if cfg.scale_attn_by_inverse_layer_idx {
            return bad("scale_attn_by_inverse_layer_idx is not supported".into());
        }
        Ok(cfg)
    }
}

/// A `Conv1D` layer (`weight` `(in, out)`) as a [`Linear`] over the transposed view.
fn conv1d_linear(inp: usize, out: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get((inp, out), "weight")?;
    let b = vb.get(out, "bias")?;
    Linear::new(w.t()?, Some(b))
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
    act: Activation,
    heads: usize,
    scale: f64,
}

impl Block {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (e, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let inner = cfg.n_inner.unwrap_or(4 * e);
        let head_dim = e / cfg.n_head;
        Ok(Block {
            ln_1: layer_norm(e, eps, vb.pp("ln_1"))?,
            c_attn: conv1d_linear(e, 3 * e, vb.pp("attn.c_attn"))?,
            attn_proj: conv1d_linear(e, e, vb.pp("attn.c_proj"))?,
            ln_2: layer_norm(e, eps, vb.pp("ln_2"))?,
            c_fc: conv1d_linear(e, inner, vb.pp("mlp.c_fc"))?,
            mlp_proj: conv1d_linear(inner, e, vb.pp("mlp.c_proj"))?,
            act: cfg.activation_function,
            heads: cfg.n_head,
            scale: if cfg.scale_attn_weights { 1.0 / (head_dim as f64).sqrt() } else { 1.0 },
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut wick_nn::KvCache) -> Result<Tensor> {
        let (b, t, e) = x.dims3()?;
        let d = e / self.heads;
        let qkv = self.c_attn.forward(&self.ln_1.forward(x)?)?;
        let q = llm::split_heads(&qkv.narrow(2, 0, e)?, b, t, self.heads, d)?;
        let k = llm::split_heads(&qkv.narrow(2, e, e)?, b, t, self.heads, d)?;
        let v = llm::split_heads(&qkv.narrow(2, 2 * e, e)?, b, t, self.heads, d)?;
        let (k, v) = cache.append(&k, &v)?;
        let y = llm::causal_attention(&q, &k, &v, self.scale, None, None)?;
        let x = x.add(&self.attn_proj.forward(&llm::merge_heads(&y)?)?)?;
        let h = self.act.forward(&self.c_fc.forward(&self.ln_2.forward(&x)?)?)?;
        x.add(&self.mlp_proj.forward(&h)?)
    }
}

/// GPT-2 with its tied LM head (checkpoint names `transformer.wte`, `transformer.wpe`,
/// `transformer.h.N.*`, `transformer.ln_f`; `lm_head.weight` is the same matrix as `wte`).
///
/// ```no_run
/// use wick_models::gpt2::{Config, Gpt2};
/// use wick_models::llm::CausalLm;
/// let dir = std::path::Path::new("target/models/gpt2");
/// let cfg = Config::from_file(&dir.join("config.json"))?;
/// let vb = wick_nn::VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], wick::DType::F32, &wick::Device::Cpu)?;
/// let model = Gpt2::new(&cfg, vb)?;
/// let mut cache = model.new_cache();
/// let logits = model.forward(&wick::Tensor::new(&[[464u32, 2068]], &wick::Device::Cpu)?, &mut cache, false)?;
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Gpt2 {
    wte: Embedding,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    cfg: Config,
}

impl Gpt2 {
    /// Builds the model from a `VarBuilder` at the checkpoint's root (a `transformer.` prefix
    /// or none, as in the original OpenAI upload).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let t = if vb.contains_tensor("transformer.wte.weight") { vb.pp("transformer") } else { vb };
        let wte = Embedding::new(t.get((cfg.vocab_size, cfg.n_embd), "wte.weight")?)?;
        let wpe = t.get((cfg.n_positions, cfg.n_embd), "wpe.weight")?;
        let blocks =
            (0..cfg.n_layer).map(|i| Block::new(cfg, t.pp(format!("h.{i}")))).collect::<Result<Vec<_>>>()?;
        let ln_f = layer_norm(cfg.n_embd, cfg.layer_norm_epsilon, t.pp("ln_f"))?;
        let lm_head = Linear::new(wte.embeddings().clone(), None)?;
        Ok(Gpt2 { wte, wpe, blocks, ln_f, lm_head, cfg: cfg.clone() })
    }
}

impl CausalLm for Gpt2 {
    fn forward(&self, input_ids: &Tensor, cache: &mut Cache, all_positions: bool) -> Result<Tensor> {
        // One hop onto wick's pool for the whole pass instead of one per parallel op.
        wick::run_in_pool(|| {
            let (_, t) = llm::check_input("Gpt2::forward", input_ids, cache, self.cfg.n_positions)?;
            let pos = self.wpe.narrow(0, cache.len(), t)?;
            let mut x = self.wte.forward(input_ids)?.add(&pos)?;
            for (i, block) in self.blocks.iter().enumerate() {
                x = block.forward(&x, cache.layer(i)?)?;
            }
            let x = self.ln_f.forward(&llm::last_unless_all(&x, all_positions)?)?;
            llm::finish_logits(self.lm_head.forward(&x)?, all_positions)
        })
    }

    fn new_cache(&self) -> Cache {
        Cache::new(self.cfg.n_layer, self.cfg.n_positions)
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn eos_token_ids(&self) -> Vec<u32> {
        self.cfg.eos_token_id.to_vec()
    }

    fn max_positions(&self) -> usize {
        self.cfg.n_positions
    }
}
