//! `wick generate`: text generation with a decoder LLM (Llama, Mistral, Qwen2, Phi-3, GPT-2)
//! from a local Hugging Face model directory, a hub id in the local cache, or a GGUF file
//! (llama.cpp's format: Llama and Qwen2, any block format, with the tokenizer from its
//! metadata unless a tokenizer.json sits next to it). `--quantize` quantizes the weight
//! matrices of a Llama-family model while loading. Streams the text to standard output; ends
//! with a line of prefill and decode speeds on standard error.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use wick::{DType, Error, Result};
use wick_models::chat::{ChatTemplate, Message};
use wick_models::generation::{self, GenerateOptions};
use wick_models::{llm, source, Tokenizer};
use wick_nn::SamplingConfig;

/// Dtypes the weights and activations can use.
#[derive(Clone, Copy, ValueEnum)]
pub enum GenDType {
    /// 32-bit float.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

/// Arguments of `wick generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Model directory (config.json, safetensors weights, tokenizer.json), a hub id found in
    /// the local Hugging Face cache, or a GGUF file.
    #[arg(long)]
    pub model: String,
    /// The prompt.
    #[arg(long)]
    pub prompt: String,
    /// Most new tokens.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 (the default) is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this total probability.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Keep only the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep tokens at least this fraction as likely as the most likely one.
    #[arg(long)]
    pub min_p: Option<f64>,
    /// Repetition penalty (> 1 discourages repeats).
    #[arg(long)]
    pub repeat_penalty: Option<f64>,
    /// Sampler seed.
    #[arg(long, default_value_t = 299_792_458)]
    pub seed: u64,
    /// Wrap the prompt as a user message in the model's chat template (tokenizer_config.json).
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat.
    #[arg(long)]
    pub system: Option<String>,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Dtype of weights and activations.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: GenDType,
    /// Quantize the weight matrices while loading (q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k,
    /// q4_k, q5_k, q6_k, iq4_nl, iq4_xs); they then compute in f32 activations.
    #[arg(long)]
    pub quantize: Option<String>,
}

/// The tokenizer of a model: `tokenizer.json` in its directory (next to a GGUF file), else
/// the vocabulary in a GGUF file's metadata.
fn tokenizer_for(path: &Path) -> Result<Tokenizer> {
    let gguf = path.is_file();
    let dir = if gguf { path.parent().unwrap_or(Path::new(".")) } else { path };
    let tok_path = dir.join("tokenizer.json");
    if tok_path.is_file() {
        return Tokenizer::from_file(&tok_path);
    }
    if gguf {
        return Tokenizer::from_gguf(path);
    }
    Err(Error::invalid("generate", format!("{} has no tokenizer.json", dir.display())))
}

/// A progress bar on standard error for quantizing while loading.
fn progress_bar() -> (ProgressBar, wick_models::weights::ProgressFn) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("quantizing {bar:40} {pos}/{len} matrices {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let f: wick_models::weights::ProgressFn = Arc::new(move |done, total, name: &str| {
        b.set_length(total as u64);
        b.set_position(done as u64);
        b.set_message(name.to_string());
    });
    (bar, f)
}

/// Runs `wick generate`.
pub fn run(args: GenerateArgs) -> Result<bool> {
    let dir = source::resolve(&args.model)?;
    let dtype = match args.dtype {
        GenDType::F32 => DType::F32,
        GenDType::F16 => DType::F16,
        GenDType::Bf16 => DType::BF16,
    };
    let tokenizer = tokenizer_for(&dir)?;
    let quantize = args.quantize.as_deref().map(crate::quantize::parse_type).transpose()?;
    let (bar, progress) = progress_bar();
    let opts = llm::LoadOptions { dtype, quantize, progress: quantize.map(|_| progress) };
    let model = llm::load_with(&dir, &opts);
    bar.finish_and_clear();
    let model = model?;
    // Side files (tokenizer_config.json, generation_config.json) live next to a GGUF file.
    let side = if dir.is_file() { dir.parent().unwrap_or(Path::new(".")).to_path_buf() } else { dir.clone() };
    let prompt_ids = if args.chat {
        let cfg = side.join("tokenizer_config.json");
        let template = if cfg.is_file() {
            ChatTemplate::from_tokenizer_config(&cfg)?
        } else if dir.is_file() {
            // A GGUF file carries its template in its metadata.
            ChatTemplate::from_gguf(&wick::gguf::GgufFile::open(&dir)?)
                .map_err(|e| e.context(dir.display()))?
        } else {
            None
        };
        let template = template.ok_or_else(|| {
            Error::invalid("generate", format!("--chat: no chat template ({} has none)", cfg.display()))
        })?;
        let mut messages = Vec::new();
        if let Some(s) = &args.system {
            messages.push(Message::new("system", s));
        }
        messages.push(Message::new("user", &args.prompt));
        // The rendered template carries its own special tokens (transformers encodes it
        // with add_special_tokens=False).
        tokenizer.encode(&template.render(&messages, true)?, false)?
    } else {
        tokenizer.encode(&args.prompt, true)?
    };
    let opts = GenerateOptions {
        max_new_tokens: args.max_tokens,
        sampling: SamplingConfig {
            temperature: Some(args.temperature),
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repetition_penalty: args.repeat_penalty,
        },
        seed: args.seed,
        eos_token_ids: generation::eos_token_ids(&side, model.as_ref())?,
        stop_strings: args.stop.clone(),
    };
    let mut stdout = std::io::stdout().lock();
    let out = generation::generate_text(model.as_ref(), &tokenizer, &prompt_ids, &opts, |piece| {
        stdout
            .write_all(piece.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| Error::invalid("stdout", e.to_string()))
    })?;
    writeln!(stdout).map_err(|e| Error::invalid("stdout", e.to_string()))?;
    eprintln!(
        "prefill: {} tokens, {:.1} tok/s | decode: {} tokens, {:.1} tok/s | stop: {:?}",
        out.prompt_tokens,
        out.prefill_tokens_per_sec(),
        out.ids.len(),
        out.decode_tokens_per_sec(),
        out.stop
    );
    Ok(true)
}
