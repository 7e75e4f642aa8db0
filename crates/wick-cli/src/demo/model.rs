//! A small byte-level GPT (Radford et al., 2018): learned token and position embeddings,
//! pre-norm transformer blocks (causal self-attention, GELU MLP), a final norm and a linear
//! head over the 256 byte values. Trained by `examples/train_char_lm.rs`, run by `wick demo`.

use wick::{Error, Result, Tensor};
use wick_nn::{
    embedding, init::Init, layer_norm, linear, scaled_dot_product_attention, Activation, Embedding, KvCache,
    LayerNorm, Linear, Module, VarBuilder,
};

/// The model's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharLmConfig {
    /// Vocabulary (256: one token per byte).
    pub vocab: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// Width of the MLP's hidden layer.
    pub d_ff: usize,
    /// Longest sequence the position table covers.
    pub context: usize,
}

impl CharLmConfig {
    /// The demo model's configuration.
    pub fn demo() -> Self {
        CharLmConfig { vocab: 256, d_model: 192, n_layers: 4, n_heads: 6, d_ff: 768, context: 128 }
    }

    /// The configuration as JSON (what `config.json` holds).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "vocab": self.vocab, "d_model": self.d_model, "n_layers": self.n_layers,
            "n_heads": self.n_heads, "d_ff": self.d_ff, "context": self.context,
        })
        .to_string()
    }

    /// Parses `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Format {
            format: "json",
            tensor: None,
            msg: format!("char-lm config: {e}"),
        })?;
        let field = |name: &str| -> Result<usize> {
            v.get(name).and_then(|x| x.as_u64()).map(|x| x as usize).ok_or_else(|| Error::Format {
                format: "json",
                tensor: None,
                msg: format!("char-lm config: `{name}` is missing or not a non-negative integer"),
            })
        };
        let cfg = CharLmConfig {
            vocab: field("vocab")?,
            d_model: field("d_model")?,
            n_layers: field("n_layers")?,
            n_heads: field("n_heads")?,
            d_ff: field("d_ff")?,
            context: field("context")?,
        };
        if cfg.n_heads == 0 || !cfg.d_model.is_multiple_of(cfg.n_heads) || cfg.vocab == 0 || cfg.context == 0
        {
            return Err(Error::invalid("char-lm config", format!("inconsistent sizes: {cfg:?}")));
        }
        Ok(cfg)
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        let (d, f) = (self.d_model, self.d_ff);
        let block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d);
        self.vocab * d + self.context * d + self.n_layers * block + 2 * d + (d * self.vocab + self.vocab)
    }
}

struct Block {
    ln1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    n_heads: usize,
}

impl Block {
    fn new(cfg: &CharLmConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Block {
            ln1: layer_norm(d, 1e-5, vb.pp("ln1"))?,
            qkv: linear(d, 3 * d, vb.pp("attn.qkv"))?,
            proj: linear(d, d, vb.pp("attn.proj"))?,
            ln2: layer_norm(d, 1e-5, vb.pp("ln2"))?,
            fc1: linear(d, cfg.d_ff, vb.pp("mlp.fc1"))?,
            fc2: linear(cfg.d_ff, d, vb.pp("mlp.fc2"))?,
            n_heads: cfg.n_heads,
        })
    }

    fn forward(&self, x: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let (h, hd) = (self.n_heads, d / self.n_heads);
        let qkv = self.qkv.forward(&self.ln1.forward(x)?)?;
        let heads = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?.reshape((b, t, h, hd))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
        let (k, v) = match cache {
            Some(c) => c.append(&k, &v)?,
            None => (k, v),
        };
        let att = scaled_dot_product_attention(&q, &k, &v, None, true, None)?;
        let att = att.transpose(1, 2)?.reshape((b, t, d))?;
        let x = x.add(&self.proj.forward(&att)?)?;
        let m =
            self.fc2.forward(&Activation::GeluTanh.forward(&self.fc1.forward(&self.ln2.forward(&x)?)?)?)?;
        x.add(&m)
    }
}

/// The byte-level language model.
pub struct CharLm {
    cfg: CharLmConfig,
    tok: Embedding,
    pos: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
}

impl CharLm {
    /// Builds the model from weights named like the checkpoint (`tok.weight`, `pos`,
    /// `blocks.{i}.attn.qkv.weight`, ...); with a `VarMap`-backed builder, creates them.
    pub fn new(cfg: CharLmConfig, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..cfg.n_layers)
            .map(|i| Block::new(&cfg, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<_>>()?;
        Ok(CharLm {
            tok: embedding(cfg.vocab, cfg.d_model, vb.pp("tok"))?,
            pos: vb.get_with_init(
                (cfg.context, cfg.d_model),
                "pos",
                Init::Normal { mean: 0.0, std: 0.02 },
            )?,
            blocks,
            ln_f: layer_norm(cfg.d_model, 1e-5, vb.pp("ln_f"))?,
            head: linear(cfg.d_model, cfg.vocab, vb.pp("head"))?,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CharLmConfig {
        &self.cfg
    }

    /// Logits `(b, t, vocab)` for byte ids `(b, t)` (U32) at positions `offset..offset + t`.
    /// With `caches` (one per block), keys and values are appended to them, so later calls
    /// see the earlier positions.
    pub fn forward(&self, ids: &Tensor, offset: usize, caches: Option<&mut [KvCache]>) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if offset + t > self.cfg.context {
            return Err(Error::invalid(
                "CharLm::forward",
                format!("positions {offset}..{} exceed the context of {}", offset + t, self.cfg.context),
            ));
        }
        let mut x = self.tok.forward(ids)?.add(&self.pos.narrow(0, offset, t)?)?;
        match caches {
            Some(caches) => {
                if caches.len() != self.blocks.len() {
                    return Err(Error::invalid("CharLm::forward", "one KV cache per block is needed"));
                }
                for (block, cache) in self.blocks.iter().zip(caches.iter_mut()) {
                    x = block.forward(&x, Some(cache))?;
                }
            }
            None => {
                for block in &self.blocks {
                    x = block.forward(&x, None)?;
                }
            }
        }
        self.head.forward(&self.ln_f.forward(&x)?)
    }

    /// Fresh KV caches, one per block, sized to the context.
    pub fn new_caches(&self) -> Vec<KvCache> {
        (0..self.blocks.len()).map(|_| KvCache::new(2, self.cfg.context)).collect()
    }
}
