//! `wick generate`: text generation with a decoder LLM (Llama, Mistral, Qwen2, Phi-3, GPT-2)
//! from a local Hugging Face model directory or a hub id in the local cache. Streams the text
//! to standard output; ends with a line of prefill and decode speeds on standard error.

use clap::{Args, ValueEnum};
use std::io::Write;
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
    /// Model directory (config.json, safetensors weights, tokenizer.json) or a hub id found in
    /// the local Hugging Face cache.
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
}

/// Runs `wick generate`.
pub fn run(args: GenerateArgs) -> Result<bool> {
    let dir = source::resolve(&args.model)?;
    let dtype = match args.dtype {
        GenDType::F32 => DType::F32,
        GenDType::F16 => DType::F16,
        GenDType::Bf16 => DType::BF16,
    };
    let tok_path = dir.join("tokenizer.json");
    if !tok_path.is_file() {
        return Err(Error::invalid("generate", format!("{} has no tokenizer.json", dir.display())));
    }
    let tokenizer = Tokenizer::from_file(&tok_path)?;
    let model = llm::load(&dir, dtype)?;
    let prompt_ids = if args.chat {
        let cfg = dir.join("tokenizer_config.json");
        let template = if cfg.is_file() { ChatTemplate::from_tokenizer_config(&cfg)? } else { None };
        let template = template.ok_or_else(|| {
            Error::invalid("generate", format!("--chat: {} has no chat_template", cfg.display()))
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
        eos_token_ids: generation::eos_token_ids(&dir, model.as_ref())?,
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
