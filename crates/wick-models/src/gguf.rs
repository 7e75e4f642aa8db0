//! Llama-family models from GGUF files (llama.cpp's format): metadata to [`Config`], tensor
//! names to the checkpoint names [`Llama`] asks for, quantized matrices served as
//! [`QLinear::Quantized`](crate::weights::QLinear) straight from the memory map.
//!
//! Architectures (`general.architecture`): `llama` (Llama 1/2/3, Mistral, TinyLlama, … as
//! llama.cpp converts them) and `qwen2`. Hyper-parameters come from `{arch}.embedding_length`,
//! `.block_count`, `.feed_forward_length`, `.attention.head_count`, `.attention.head_count_kv`,
//! `.attention.layer_norm_rms_epsilon`, `.context_length`, `.rope.freq_base`,
//! `.rope.dimension_count`, `.attention.key_length` and `.rope.scaling.*`; the vocabulary size
//! from the rows of `token_embd.weight`.
//!
//! Rotary layout: llama.cpp's converter permutes the rows of each q/k head of `llama`
//! models from Hugging Face's half-split layout back to Meta's original interleaved one
//! (dims `2i, 2i+1` form a rotary pair), and llama.cpp rotates `llama` models in that layout
//! and `qwen2` models (not permuted) in the half-split ("NeoX") one. wick does the same with
//! [`Config::rope_interleaved`], so the weights stay in the map as they are.
//!
//! Tensor names (`blk.N.*`):
//!
//! | GGUF | checkpoint |
//! |---|---|
//! | `token_embd` | `model.embed_tokens` |
//! | `blk.N.attn_norm` | `model.layers.N.input_layernorm` |
//! | `blk.N.attn_q`, `attn_k`, `attn_v`, `attn_output` | `model.layers.N.self_attn.{q,k,v,o}_proj` |
//! | `blk.N.ffn_norm` | `model.layers.N.post_attention_layernorm` |
//! | `blk.N.ffn_gate`, `ffn_up`, `ffn_down` | `model.layers.N.mlp.{gate,up,down}_proj` |
//! | `output_norm` | `model.norm` |
//! | `output` (absent: tied to `token_embd`) | `lm_head` |

use crate::llama::{Config, Llama, RopeScaling};
use crate::llm::{LoadOptions, TokenIds};
use crate::weights::Weights;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use wick::gguf::GgufFile;
use wick::quantized::QTensor;
use wick::{DType, Device, Error, Result};
use wick_nn::VarBuilder;

/// Per-layer tensors: llama.cpp's name under `blk.N.` and the checkpoint's under
/// `model.layers.N.`, one table for both directions ([`checkpoint_name`], [`gguf_name`]).
const LAYER_NAMES: [(&str, &str); 9] = [
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

/// Whole-model tensors: llama.cpp's name and the checkpoint's.
const MODEL_NAMES: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// Splits `{prefix}{layer}.{part}.{weight|bias}` into `(layer, part, suffix)`.
fn split_layer_name<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let (layer, rest) = rest.split_once('.')?;
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (part, suffix) = rest.rsplit_once('.')?;
    matches!(suffix, "weight" | "bias").then_some((layer, part, suffix))
}

/// The checkpoint name of a GGUF tensor name, `None` for tensors the model does not read
/// (`rope_freqs` is read separately).
pub fn checkpoint_name(gguf: &str) -> Option<String> {
    if let Some((_, hf)) = MODEL_NAMES.iter().find(|(g, _)| *g == gguf) {
        return Some(hf.to_string());
    }
    let (layer, part, suffix) = split_layer_name(gguf, "blk.")?;
    let (_, hf) = LAYER_NAMES.iter().find(|(g, _)| *g == part)?;
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The GGUF (llama.cpp) name of a checkpoint tensor name: the inverse of [`checkpoint_name`].
/// `None` for names outside the table.
///
/// ```
/// use wick_models::gguf::{checkpoint_name, gguf_name};
/// assert_eq!(gguf_name("model.layers.3.self_attn.q_proj.bias").as_deref(), Some("blk.3.attn_q.bias"));
/// assert_eq!(gguf_name("lm_head.weight").as_deref(), Some("output.weight"));
/// assert_eq!(checkpoint_name("blk.3.attn_q.bias").as_deref(), Some("model.layers.3.self_attn.q_proj.bias"));
/// assert_eq!(gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq"), None);
/// ```
pub fn gguf_name(checkpoint: &str) -> Option<String> {
    if let Some((g, _)) = MODEL_NAMES.iter().find(|(_, hf)| *hf == checkpoint) {
        return Some(g.to_string());
    }
    let (layer, part, suffix) = split_layer_name(checkpoint, "model.layers.")?;
    let (g, _) = LAYER_NAMES.iter().find(|(_, hf)| *hf == part)?;
    Some(format!("blk.{layer}.{g}.{suffix}"))
}

fn bad(what: String) -> Error {
    Error::format("gguf", what)
}

/// The architectures [`config`] reads.
pub const ARCHITECTURES: [&str; 2] = ["llama", "qwen2"];

/// The llama [`Config`] of a GGUF file's metadata; errors name the metadata key or tensor.
pub fn config(file: &GgufFile) -> Result<Config> {
    let c = file.content();
    let arch: &str = c.get("general.architecture")?;
    if !ARCHITECTURES.contains(&arch) {
        return Err(bad(format!(
            "general.architecture {arch:?} is not supported (supported: {})",
            ARCHITECTURES.join(", ")
        )));
    }
    let key = |k: &str| format!("{arch}.{k}");
    let need = |k: &str| -> Result<usize> {
        let v: usize = c.get(&key(k))?;
        if v == 0 {
            return Err(bad(format!("metadata key {:?} is 0", key(k))));
        }
        Ok(v)
    };
    let optional = |k: &str| -> Result<Option<usize>> {
        match c.value(&key(k)) {
            None => Ok(None),
            Some(_) => need(k).map(Some),
        }
    };
    let float = |k: &str| -> Result<Option<f64>> {
        match c.value(&key(k)) {
            None => Ok(None),
            Some(_) => {
                let v: f32 = c.get(&key(k))?;
                if !(v.is_finite() && v > 0.0) {
                    return Err(bad(format!("metadata key {:?} = {v} must be positive", key(k))));
                }
                Ok(Some(f64::from(v)))
            }
        }
    };
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let embd = file.tensor_info("token_embd.weight")?;
    let vocab_size = match embd.shape.as_slice() {
        &[v, h] if h == hidden && v > 0 => v,
        s => {
            return Err(bad(format!(
                "tensor \"token_embd.weight\" has shape {s:?}, expected [vocab, {hidden}] ({} = {hidden})",
                key("embedding_length")
            )))
        }
    };
    let head_dim = optional("attention.key_length")?;
    let rope_dim = optional("rope.dimension_count")?;
    let d = head_dim.unwrap_or(hidden / heads);
    if let Some(r) = rope_dim.filter(|&r| r != d) {
        return Err(bad(format!(
            "metadata key {:?} = {r}: partial rotary embeddings (head dim {d}) are not supported",
            key("rope.dimension_count")
        )));
    }
    let eps = float("attention.layer_norm_rms_epsilon")?.ok_or_else(|| {
        bad(format!("metadata key {:?} is missing", key("attention.layer_norm_rms_epsilon")))
    })?;
    let rope_scaling = match c.value(&key("rope.scaling.type")) {
        None => None,
        Some(_) => match c.get::<&str>(&key("rope.scaling.type"))? {
            "none" => None,
            "linear" => Some(RopeScaling {
                rope_type: Some("linear".into()),
                factor: float("rope.scaling.factor")?,
                ..RopeScaling::default()
            }),
            other => {
                return Err(bad(format!(
                    "metadata key {:?} = {other:?} is not supported (none, linear)",
                    key("rope.scaling.type")
                )))
            }
        },
    };
    let rope_freq_factors = match file.content().tensor_info("rope_freqs.weight") {
        None => None,
        Some(_) => {
            let t = file.tensor("rope_freqs.weight")?.to_dtype(DType::F64)?.flatten_all()?;
            Some(t.to_vec1::<f64>().map_err(|e| e.context("tensor \"rope_freqs.weight\""))?)
        }
    };
    let eos = match c.value("tokenizer.ggml.eos_token_id") {
        None => TokenIds::None,
        Some(_) => TokenIds::One(c.get::<u32>("tokenizer.ggml.eos_token_id")?),
    };
    let cfg = Config {
        model_type: Some(arch.to_string()),
        vocab_size,
        hidden_size: hidden,
        intermediate_size: need("feed_forward_length")?,
        num_hidden_layers: need("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: optional("attention.head_count_kv")?,
        head_dim,
        rms_norm_eps: eps,
        rope_theta: float("rope.freq_base")?,
        rope_scaling,
        rope_parameters: None,
        max_position_embeddings: need("context_length")?,
        tie_word_embeddings: Some(c.tensor_info("output.weight").is_none()),
        attention_bias: None,
        mlp_bias: false,
        hidden_act: wick_nn::Activation::Silu,
        sliding_window: None,
        use_sliding_window: None,
        max_window_layers: None,
        layer_types: None,
        eos_token_id: eos,
        rope_interleaved: arch == "llama",
        rope_freq_factors,
    };
    Ok(cfg)
}

/// Checks that every tensor the model reads is in the file, naming the first one missing.
fn check_tensors(file: &GgufFile, cfg: &Config) -> Result<()> {
    let c = file.content();
    let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".to_string()];
    for i in 0..cfg.num_hidden_layers {
        for (p, _) in LAYER_NAMES {
            names.push(format!("blk.{i}.{p}.weight"));
        }
        if cfg.model_type.as_deref() == Some("qwen2") {
            names.extend(["attn_q", "attn_k", "attn_v"].map(|p| format!("blk.{i}.{p}.bias")));
        }
    }
    match names.iter().find(|n| c.tensor_info(n).is_none()) {
        Some(n) => Err(Error::format_tensor("gguf", n.as_str(), "is missing (needed by the model)")),
        None => Ok(()),
    }
}

/// The model's weights in a GGUF file: dense tensors (and dequantized copies of quantized
/// norms) in a [`VarBuilder`] of `dtype`, quantized matrices and token tables as [`QTensor`]s
/// borrowing the file's memory map. Names are checkpoint names ([`checkpoint_name`]).
/// With `opts.quantize`, dense matrices are quantized while loading.
pub fn weights(file: &GgufFile, opts: &LoadOptions) -> Result<Weights> {
    weights_named(file, opts, checkpoint_name)
}

fn weights_named(
    file: &GgufFile,
    opts: &LoadOptions,
    rename: impl Fn(&str) -> Option<String>,
) -> Result<Weights> {
    let mut dense = HashMap::new();
    let mut quantized = HashMap::new();
    for info in &file.content().tensor_infos {
        let Some(name) = rename(&info.name) else { continue };
        let ctx = |e: Error| e.context(format!("gguf tensor {:?}", info.name));
        if info.dtype.is_quantized() {
            let q = QTensor::from_gguf(file, &info.name)?;
            // Projections stay quantized, and so does the token table (looked up row by row
            // through `Weights::embedding`: a dense copy would cost 4 bytes a value and the
            // load time to make it); anything else read as a plain tensor (a norm) gets a
            // dequantized copy too. (Phi-3's fused matrices are split as dense tensors.)
            let fused = name.ends_with("qkv_proj.weight") || name.ends_with("gate_up_proj.weight");
            let matrix = (name.ends_with("_proj.weight") && !fused)
                || name == "lm_head.weight"
                || name == "model.embed_tokens.weight";
            if !matrix {
                dense.insert(name.clone(), q.dequantize().map_err(ctx)?);
            }
            quantized.insert(name, Arc::new(q));
        } else {
            dense.insert(name, file.tensor(&info.name).map_err(ctx)?);
        }
    }
    let vb = VarBuilder::from_tensors(dense, opts.dtype, &Device::Cpu);
    Ok(Weights::with(vb, quantized, opts.quantize, opts.progress.clone()))
}

/// Loads a Llama-family model from the GGUF file `path` in `dtype` (of activations and dense
/// weights; quantized matrices compute in f32). Errors name the file.
///
/// ```no_run
/// use wick_models::llm::CausalLm;
/// let model = wick_models::gguf::load_llama("tinyllama-q4_0.gguf".as_ref(), wick::DType::F32)?;
/// let mut cache = model.new_cache();
/// let ids = wick::Tensor::new(&[[1u32, 15043]], &wick::Device::Cpu)?;
/// let logits = model.forward(&ids, &mut cache, false)?;
/// # Ok::<(), wick::Error>(())
/// ```
pub fn load_llama(path: &Path, dtype: DType) -> Result<Llama> {
    load_llama_with(path, &LoadOptions { dtype, quantize: None, progress: None })
}

/// [`load_llama`] with options: `opts.quantize` quantizes the file's dense matrices (F32, F16,
/// BF16) while loading; matrices already quantized are kept as they are.
///
/// A file with checkpoint tensor names (`model.layers.N.*`, as `wick quantize` wrote them before
/// it wrote llama.cpp's layout for this family) takes its configuration from the `config.json`
/// next to it.
pub fn load_llama_with(path: &Path, opts: &LoadOptions) -> Result<Llama> {
    let file = GgufFile::open(path)?;
    let load = || {
        if file.content().tensor_info("model.embed_tokens.weight").is_none() {
            return from_file(&file, opts);
        }
        let cfg_path = path.parent().unwrap_or(Path::new(".")).join("config.json");
        if !cfg_path.is_file() {
            return Err(bad(format!(
                "the tensors have checkpoint names (model.layers.N.*, as older `wick quantize` wrote them) \
                 and no llama.* metadata: the model's config.json must sit next to the file ({} is missing)",
                cfg_path.display()
            )));
        }
        let cfg = Config::from_file(&cfg_path)?;
        Llama::from_weights(&cfg, weights_named(&file, opts, |n| Some(n.to_string()))?)
    };
    load().map_err(|e| e.context(path.display()))
}

/// [`load_llama_with`] from an open file.
pub fn from_file(file: &GgufFile, opts: &LoadOptions) -> Result<Llama> {
    let cfg = config(file)?;
    check_tensors(file, &cfg)?;
    Llama::from_weights(&cfg, weights(file, opts)?)
}
