//! Sentence embeddings the sentence-transformers way (Reimers & Gurevych, 2019,
//! "Sentence-BERT"): tokenize, run a BERT encoder, pool the token vectors over the attention
//! mask (mean by default, or the `[CLS]` token, or max), L2-normalise.
//!
//! The recipe comes from the model directory when it has sentence-transformers files:
//! `modules.json` (which modules run; a `Normalize` module turns normalisation on),
//! `1_Pooling/config.json` (the pooling mode) and `sentence_bert_config.json`
//! (`max_seq_length`). Without them: mean pooling, normalised, truncation at
//! `max_position_embeddings`.

use crate::bert::{BertModel, Config};
use crate::source::ModelFiles;
use crate::tokenizer::Tokenizer;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use wick::{DType, Device, Error, Result, Tensor};

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the real (unmasked) tokens.
    Mean,
    /// The first token (`[CLS]`).
    Cls,
    /// Per-feature maximum over the real tokens.
    Max,
    /// Sum over the real tokens divided by `sqrt(count)`.
    MeanSqrtLen,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            "mean_sqrt_len" => Ok(Pooling::MeanSqrtLen),
            other => Err(Error::invalid(
                "Pooling",
                format!("unknown pooling {other:?} (mean, cls, max, mean_sqrt_len)"),
            )),
        }
    }
}

/// Pools `hidden` `(batch, seq, dim)` over `mask` `(batch, seq)` (1 = token, 0 = padding)
/// into `(batch, dim)` f32 vectors, as sentence-transformers' `Pooling` module does.
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    let (b, t, _) = hidden.dims3()?;
    if mask.dims() != [b, t] {
        return Err(Error::shape_mismatch("pool", hidden.shape(), mask.shape(), "mask must be (batch, seq)"));
    }
    let h = hidden.to_dtype(DType::F32)?;
    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, t, 1)
    match pooling {
        Pooling::Cls => h.narrow(1, 0, 1)?.squeeze(1),
        Pooling::Mean => h.mul(&m)?.sum(1)?.div(&m.sum(1)?.clamp(1e-9f32, f32::MAX)?),
        Pooling::MeanSqrtLen => h.mul(&m)?.sum(1)?.div(&m.sum(1)?.clamp(1e-9f32, f32::MAX)?.sqrt()?),
        Pooling::Max => {
            // Padding positions become -1e9 before the max, as sentence-transformers does.
            let keep = m.ne(0f32)?;
            let low = Tensor::full(-1e9f32, (), h.device())?;
            keep.where_cond(&h, &low)?.max(1)
        }
    }
}

/// Divides each row of `(batch, dim)` by its L2 norm (at least 1e-12, as
/// `torch.nn.functional.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    x.div(&norm)
}

#[derive(Deserialize)]
struct StModule {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize, Default)]
struct StPoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct StBertConfig {
    max_seq_length: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &'static str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(what, format!("{}: {e}", path.display())))
}

/// The pooling of a `1_Pooling/config.json`-style file.
fn pooling_from_file(path: &Path) -> Result<Pooling> {
    let c: StPoolingConfig = read_json(path, "sentence-transformers pooling config")?;
    if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
        return Err(Error::format(
            "sentence-transformers pooling config",
            format!("{}: weighted-mean and last-token pooling are not supported", path.display()),
        ));
    }
    let modes: Vec<Pooling> = [
        (c.pooling_mode_mean_tokens, Pooling::Mean),
        (c.pooling_mode_cls_token, Pooling::Cls),
        (c.pooling_mode_max_tokens, Pooling::Max),
        (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    match modes.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::format(
            "sentence-transformers pooling config",
            format!("{}: no pooling mode is enabled", path.display()),
        )),
        _ => Err(Error::format(
            "sentence-transformers pooling config",
            format!("{}: several pooling modes at once (concatenated) are not supported", path.display()),
        )),
    }
}

/// What a model directory says about pooling and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    /// The pooling mode.
    pub pooling: Pooling,
    /// Whether vectors are L2-normalised.
    pub normalize: bool,
    /// `max_seq_length` of `sentence_bert_config.json`, if given.
    pub max_seq_length: Option<usize>,
}

impl Recipe {
    /// Reads `modules.json`, the pooling config and `sentence_bert_config.json` of `dir`
    /// where present (see the module docs for the defaults).
    pub fn from_dir(dir: &Path) -> Result<Recipe> {
        let mut recipe = Recipe { pooling: Pooling::Mean, normalize: true, max_seq_length: None };
        let modules_file = dir.join("modules.json");
        if modules_file.is_file() {
            let modules: Vec<StModule> = read_json(&modules_file, "sentence-transformers modules.json")?;
            recipe.normalize = false;
            for m in &modules {
                let kind = m.kind.rsplit('.').next().unwrap_or("");
                match kind {
                    "Transformer" => {}
                    "Normalize" => recipe.normalize = true,
                    "Pooling" => {
                        if m.path.contains("..") || Path::new(&m.path).is_absolute() {
                            return Err(Error::format(
                                "sentence-transformers modules.json",
                                format!(
                                    "{}: module path {:?} leaves the model",
                                    modules_file.display(),
                                    m.path
                                ),
                            ));
                        }
                        recipe.pooling = pooling_from_file(&dir.join(&m.path).join("config.json"))?;
                    }
                    other => {
                        return Err(Error::format(
                            "sentence-transformers modules.json",
                            format!(
                                "{}: module {:?} of type {other:?} is not supported (only Transformer, \
                                 Pooling, Normalize)",
                                modules_file.display(),
                                m.path
                            ),
                        ))
                    }
                }
            }
        } else {
            let pooling_file = dir.join("1_Pooling").join("config.json");
            if pooling_file.is_file() {
                recipe.pooling = pooling_from_file(&pooling_file)?;
            }
        }
        let st = dir.join("sentence_bert_config.json");
        if st.is_file() {
            recipe.max_seq_length =
                read_json::<StBertConfig>(&st, "sentence_bert_config.json")?.max_seq_length;
        }
        Ok(recipe)
    }
}

/// Choices for [`SentenceEmbedder::load_with`]; `None` keeps what the model directory says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedOptions {
    /// Dtype of the weights and activations (F32, F16 or BF16).
    pub dtype: DType,
    /// Overrides the pooling mode.
    pub pooling: Option<Pooling>,
    /// Overrides normalisation.
    pub normalize: Option<bool>,
    /// Overrides the maximum tokens per text (capped at `max_position_embeddings`).
    pub max_length: Option<usize>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions { dtype: DType::F32, pooling: None, normalize: None, max_length: None }
    }
}

/// Text in, vectors out: a BERT sentence-transformers model with its tokenizer and recipe.
///
/// ```no_run
/// use wick_models::SentenceEmbedder;
/// // A directory with config.json, model.safetensors and tokenizer.json (scripts/get_minilm.sh),
/// // or a hub id already in the local Hugging Face cache.
/// let dir = wick_models::source::resolve("target/models/all-MiniLM-L6-v2")?;
/// let embedder = SentenceEmbedder::load(&dir, wick::DType::F32)?;
/// let v = embedder.embed(&["A man is eating food.", "A man is eating pasta."], 32)?;
/// let cos: f32 = v[0].iter().zip(&v[1]).map(|(a, b)| a * b).sum();
/// assert!(cos > 0.5);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug)]
pub struct SentenceEmbedder {
    model: BertModel,
    config: Config,
    tokenizer: Tokenizer,
    recipe: Recipe,
    max_length: usize,
    dir: PathBuf,
}

impl SentenceEmbedder {
    /// Loads `dir` (config.json, weights, tokenizer.json) with the directory's recipe.
    pub fn load<P: AsRef<Path>>(dir: P, dtype: DType) -> Result<Self> {
        Self::load_with(dir, EmbedOptions { dtype, ..EmbedOptions::default() })
    }

    /// Loads `dir` with `options`.
    pub fn load_with<P: AsRef<Path>>(dir: P, options: EmbedOptions) -> Result<Self> {
        let dir = dir.as_ref();
        if !matches!(options.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::unsupported_dtype("SentenceEmbedder", options.dtype, "use f32, f16 or bf16"));
        }
        let files = ModelFiles::in_dir(dir)?;
        let tok_path = files.tokenizer.clone().ok_or_else(|| {
            Error::invalid("SentenceEmbedder", format!("{} has no tokenizer.json", dir.display()))
        })?;
        let tokenizer = Tokenizer::from_file(&tok_path)?;
        let mut recipe = Recipe::from_dir(dir)?;
        if let Some(p) = options.pooling {
            recipe.pooling = p;
        }
        if let Some(n) = options.normalize {
            recipe.normalize = n;
        }
        let (config, model) = BertModel::load(dir, options.dtype)?;
        let max_length = options
            .max_length
            .or(recipe.max_seq_length)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        if max_length < 2 {
            return Err(Error::invalid("SentenceEmbedder", format!("max_length {max_length} is too short")));
        }
        Ok(SentenceEmbedder { model, config, tokenizer, recipe, max_length, dir: dir.to_path_buf() })
    }

    /// Length of the vectors.
    pub fn dim(&self) -> usize {
        self.model.hidden_size()
    }

    /// The encoder.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The model's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Pooling, normalisation and length in use.
    pub fn recipe(&self) -> Recipe {
        Recipe { max_seq_length: Some(self.max_length), ..self.recipe }
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One vector per text, in order. Texts are sorted by length and run `batch_size` at a
    /// time so each batch pads little; each is truncated to the maximum length.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        if batch_size == 0 {
            return Err(Error::invalid("SentenceEmbedder::embed", "batch_size must be positive"));
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Token counts first (cheap next to the model), to group texts of similar length.
        let all = self.tokenizer.encode_batch(texts, Some(self.max_length))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(all.lengths[i]));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_ref()).collect();
            let vectors = self.embed_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One vector per text, all texts in one padded batch.
    pub fn embed_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let batch = self.tokenizer.encode_batch(texts, Some(self.max_length))?;
        if batch.seq_len == 0 {
            return Err(Error::invalid("SentenceEmbedder::embed", "the tokenizer produced no tokens"));
        }
        let (ids, types, mask) = batch.tensors(&Device::Cpu)?;
        self.embed_ids(&ids, &types, &mask)
    }

    /// Vectors for already tokenized `(batch, seq)` ids, token types and mask.
    pub fn embed_ids(&self, ids: &Tensor, token_types: &Tensor, mask: &Tensor) -> Result<Vec<Vec<f32>>> {
        let hidden = self.model.forward(ids, Some(token_types), Some(mask))?;
        let pooled = pool(&hidden, mask, self.recipe.pooling)?;
        let pooled = if self.recipe.normalize { l2_normalize(&pooled)? } else { pooled };
        pooled.to_vec2::<f32>()
    }
}
