//! The other direction of [`crate::gguf`]: a Hugging Face Llama-family checkpoint
//! (`config.json` + safetensors) laid out the way llama.cpp's converter lays it out, so that
//! llama.cpp (and wick's own GGUF loader, without the `config.json`) can run it.
//!
//! What changes (`model_type` → `general.architecture`: `llama` and `mistral` → `llama`,
//! `qwen2` → `qwen2`):
//!
//! - tensor names: [`gguf_name`] (`model.layers.N.self_attn.q_proj.weight` →
//!   `blk.N.attn_q.weight`, …); `rotary_emb.inv_freq` buffers of old checkpoints are dropped
//!   (llama.cpp computes them);
//! - for `llama`, the rows of each q and k head go from Hugging Face's half-split rotary layout
//!   (dims `i` and `i + d/2` form a pair) to the interleaved one (dims `2i`, `2i + 1`):
//!   [`interleave_rotary_rows`]. llama.cpp rotates `llama` models interleaved and `qwen2`
//!   models half-split, and so does [`crate::gguf`];
//! - hyper-parameters become `{arch}.*` metadata ([`LlamaExport::metadata`]); a Llama 3.1
//!   `rope_scaling` (type `llama3`) becomes the `rope_freqs.weight` tensor of per-frequency
//!   divisors that llama.cpp reads, a `linear` one `{arch}.rope.scaling.type`/`.factor`;
//! - 1-D tensors (norms, biases, `rope_freqs`) are F32, as llama.cpp's kernels need them.
//!
//! The tokenizer is converted by [`crate::tokenizer_gguf::metadata_from_hf`].
//!
//! ```
//! use wick_models::gguf_export::interleave_rotary_rows;
//! use wick::{Device, Tensor};
//! // one head of 4 rows: HF pairs rows (0, 2) and (1, 3); llama.cpp wants them adjacent
//! let w = Tensor::new(&[[0f32], [1.], [2.], [3.]], &Device::Cpu)?;
//! let g = interleave_rotary_rows(&w, 1)?;
//! assert_eq!(g.flatten_all()?.to_vec1::<f32>()?, vec![0., 2., 1., 3.]);
//! # Ok::<(), wick::Error>(())
//! ```

use crate::gguf::gguf_name;
use crate::llama::Config;
use std::path::Path;
use wick::gguf::Value;
use wick::{DType, Device, Error, Result, Tensor};

fn err(msg: impl Into<String>) -> Error {
    Error::invalid("llama to gguf", msg)
}

/// `model_type`s written with llama.cpp's names and metadata, and their architecture.
pub const MODEL_TYPES: [(&str, &str); 3] = [("llama", "llama"), ("mistral", "llama"), ("qwen2", "qwen2")];

/// Reorders the rows of a `(heads · d, …)` q or k projection (weight or bias) from the
/// half-split rotary layout to the interleaved one: within each head, row `2i` takes row `i`
/// and row `2i + 1` takes row `i + d/2`.
pub fn interleave_rotary_rows(x: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let rows = dims.first().copied().unwrap_or(0);
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return Err(err(format!("{rows} rows cannot be split into {heads} heads of an even width")));
    }
    let half = rows / heads / 2;
    let rest: usize = dims[1..].iter().product();
    x.reshape((heads, 2, half, rest))?.transpose(1, 2)?.contiguous()?.reshape(dims)
}

/// A Llama-family checkpoint on its way to llama.cpp's GGUF layout.
#[derive(Debug, Clone)]
pub struct LlamaExport {
    arch: &'static str,
    cfg: Config,
}

/// One tensor to write: where it comes from and what it is called in the GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorPlan {
    /// Checkpoint name.
    pub source: String,
    /// llama.cpp name.
    pub name: String,
}

impl LlamaExport {
    /// The export of the model whose `config.json` is `path`; `Ok(None)` when its
    /// `model_type` is not one of [`MODEL_TYPES`] (the caller keeps the checkpoint's layout).
    /// Errors name the file, and refuse configurations the GGUF side cannot express.
    pub fn from_config_file(path: &Path) -> Result<Option<Self>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format("config", format!("{}: {e}", path.display())))?;
        let model_type = json.get("model_type").and_then(|v| v.as_str()).unwrap_or_default();
        if !MODEL_TYPES.iter().any(|(m, _)| *m == model_type) {
            return Ok(None);
        }
        let cfg = Config::from_file(path)?;
        Self::new(cfg).map(Some).map_err(|e| e.context(path.display()))
    }

    /// The export of a parsed config (its `model_type` one of [`MODEL_TYPES`]).
    pub fn new(cfg: Config) -> Result<Self> {
        let model_type = cfg.model_type.as_deref().unwrap_or("llama");
        let arch = MODEL_TYPES
            .iter()
            .find(|(m, _)| *m == model_type)
            .map(|(_, a)| *a)
            .ok_or_else(|| err(format!("model_type {model_type:?} has no llama.cpp layout here")))?;
        if arch == "llama" && (cfg.attention_bias == Some(true) || cfg.mlp_bias) {
            // llama.cpp would read them, but wick's GGUF loader reads no biases for `llama`.
            return Err(err("attention_bias / mlp_bias are not supported for the llama architecture"));
        }
        if cfg.hidden_act != wick_nn::Activation::Silu {
            return Err(err(format!("hidden_act {:?}: llama.cpp's {arch} uses silu", cfg.hidden_act)));
        }
        let rope_type = cfg.rope().and_then(|r| r.rope_type.as_deref()).unwrap_or("default");
        if !matches!(rope_type, "default" | "linear" | "llama3") {
            return Err(err(format!(
                "rope scaling {rope_type:?} is not supported (default, linear, llama3)"
            )));
        }
        cfg.inv_freq()?;
        Ok(LlamaExport { arch, cfg })
    }

    /// `general.architecture`: `llama` or `qwen2`.
    pub fn arch(&self) -> &'static str {
        self.arch
    }

    /// The model's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The tensors to write, from the checkpoint's `(name, shape)`s, in llama.cpp's order
    /// (`token_embd`, `blk.0.*`, …, `output_norm`, `output`). Errors name a tensor with no
    /// llama.cpp name, an embedding whose shape disagrees with the config, or a missing one.
    pub fn plan(&self, tensors: &[(String, Vec<usize>)]) -> Result<Vec<TensorPlan>> {
        let (vocab, hidden) = (self.cfg.vocab_size, self.cfg.hidden_size);
        let mut plan = Vec::with_capacity(tensors.len());
        for (source, shape) in tensors {
            if source.ends_with("rotary_emb.inv_freq") {
                continue;
            }
            let name = gguf_name(source).ok_or_else(|| {
                Error::format_tensor("llama to gguf", source.as_str(), "has no llama.cpp name")
            })?;
            if matches!(name.as_str(), "token_embd.weight" | "output.weight") && shape != &[vocab, hidden] {
                return Err(Error::format_tensor(
                    "llama to gguf",
                    source.as_str(),
                    format!(
                        "has shape {shape:?}, config.json says [{vocab}, {hidden}] (vocab_size, hidden_size)"
                    ),
                ));
            }
            plan.push(TensorPlan { source: source.clone(), name });
        }
        if !plan.iter().any(|p| p.name == "token_embd.weight") {
            return Err(Error::format_tensor("llama to gguf", "model.embed_tokens.weight", "is missing"));
        }
        plan.sort_by_key(|p| order_key(&p.name));
        Ok(plan)
    }

    /// Checkpoint tensor `source` as llama.cpp stores it: for `llama`, q and k projections
    /// (weights and biases) with their rows interleaved per head; everything else as it is.
    pub fn to_gguf_layout(&self, source: &str, x: Tensor) -> Result<Tensor> {
        if self.arch != "llama" {
            return Ok(x);
        }
        let heads = if source.contains(".self_attn.q_proj.") {
            self.cfg.num_attention_heads
        } else if source.contains(".self_attn.k_proj.") {
            self.cfg.kv_heads()
        } else {
            return Ok(x);
        };
        let want = heads.checked_mul(self.cfg.head_dim()).ok_or_else(|| err("heads x head_dim overflows"))?;
        if x.dims().first() != Some(&want) {
            return Err(Error::format_tensor(
                "llama to gguf",
                source,
                format!(
                    "has shape {:?}, expected {want} rows ({heads} heads of {})",
                    x.dims(),
                    self.cfg.head_dim()
                ),
            ));
        }
        interleave_rotary_rows(&x, heads).map_err(|e| e.context(format!("tensor {source:?}")))
    }

    /// Tensors llama.cpp reads that the checkpoint does not have: `rope_freqs.weight` (F32,
    /// `head_dim / 2` divisors of the default inverse frequencies) for a `llama3` rope scaling.
    pub fn extra_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let rope_type = self.cfg.rope().and_then(|r| r.rope_type.as_deref()).unwrap_or("default");
        if rope_type != "llama3" {
            return Ok(Vec::new());
        }
        let d = self.cfg.head_dim();
        let base = self.cfg.rope_theta();
        let scaled = self.cfg.inv_freq()?;
        let divisors: Vec<f32> = scaled
            .iter()
            .enumerate()
            .map(|(i, s)| ((1.0 / base.powf((2 * i) as f64 / d as f64)) / s) as f32)
            .collect();
        let n = divisors.len();
        Ok(vec![("rope_freqs.weight".to_string(), Tensor::from_vec(divisors, n, &Device::Cpu)?)])
    }

    /// Whether llama.cpp needs a tensor of this shape in F32 whatever the dense type: 1-D
    /// tensors (norms, biases, `rope_freqs`).
    pub fn needs_f32(shape: &[usize]) -> bool {
        shape.len() < 2
    }

    /// `general.architecture` and the `{arch}.*` hyper-parameters llama.cpp reads.
    pub fn metadata(&self) -> Result<Vec<(String, Value)>> {
        let c = &self.cfg;
        let a = self.arch;
        let u32_of = |what: &str, v: usize| {
            u32::try_from(v).map_err(|_| err(format!("{what} = {v} does not fit the u32 GGUF key")))
        };
        let mut md = vec![
            ("general.architecture".to_string(), Value::from(a)),
            (format!("{a}.vocab_size"), Value::U32(u32_of("vocab_size", c.vocab_size)?)),
            (
                format!("{a}.context_length"),
                Value::U32(u32_of("max_position_embeddings", c.max_position_embeddings)?),
            ),
            (format!("{a}.embedding_length"), Value::U32(u32_of("hidden_size", c.hidden_size)?)),
            (format!("{a}.block_count"), Value::U32(u32_of("num_hidden_layers", c.num_hidden_layers)?)),
            (
                format!("{a}.feed_forward_length"),
                Value::U32(u32_of("intermediate_size", c.intermediate_size)?),
            ),
            (
                format!("{a}.attention.head_count"),
                Value::U32(u32_of("num_attention_heads", c.num_attention_heads)?),
            ),
            (
                format!("{a}.attention.head_count_kv"),
                Value::U32(u32_of("num_key_value_heads", c.kv_heads())?),
            ),
            (format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(c.rms_norm_eps as f32)),
            (format!("{a}.rope.freq_base"), Value::F32(c.rope_theta() as f32)),
            (format!("{a}.rope.dimension_count"), Value::U32(u32_of("head_dim", c.head_dim())?)),
        ];
        if c.head_dim() != c.hidden_size / c.num_attention_heads {
            let d = Value::U32(u32_of("head_dim", c.head_dim())?);
            md.push((format!("{a}.attention.key_length"), d.clone()));
            md.push((format!("{a}.attention.value_length"), d));
        }
        if let Some(r) = c.rope().filter(|r| r.rope_type.as_deref() == Some("linear")) {
            let factor = r.factor.ok_or_else(|| err("linear rope scaling without a factor"))?;
            md.push((format!("{a}.rope.scaling.type"), Value::from("linear")));
            md.push((format!("{a}.rope.scaling.factor"), Value::F32(factor as f32)));
        }
        Ok(md)
    }
}

/// Sorts `token_embd`, `rope_freqs`, the blocks by number, `output_norm`, `output`.
fn order_key(name: &str) -> (u8, usize, String) {
    match name {
        "token_embd.weight" => (0, 0, String::new()),
        "rope_freqs.weight" => (1, 0, String::new()),
        "output_norm.weight" => (3, 0, String::new()),
        "output.weight" => (4, 0, String::new()),
        _ => {
            let layer = name
                .strip_prefix("blk.")
                .and_then(|r| r.split_once('.'))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or(usize::MAX);
            (2, layer, name.to_string())
        }
    }
}

/// A dense tensor in the dtype llama.cpp needs for it: F32 for 1-D tensors, else `dense`.
pub fn dense_for_gguf(x: &Tensor, dense: DType) -> Result<Tensor> {
    let dtype = if LlamaExport::needs_f32(x.dims()) { DType::F32 } else { dense };
    x.to_dtype(dtype)
}
