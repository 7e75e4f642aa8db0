//! Text generation with a [`CausalLm`]: the prompt is prefilled in one batched forward, then
//! tokens are produced one at a time from the key/value cache, chosen by a
//! [`LogitsProcessor`] (greedy, or sampled with temperature / top-k / top-p / min-p and a
//! repetition penalty), streamed to a callback, and stopped by an end-of-sequence id, a stop
//! string, the token budget or the model's context length.
//!
//! [`TokenOutputStream`] turns the stream of ids into text incrementally without ever
//! splitting a UTF-8 character or a multi-token grapheme: it re-decodes a short window of ids
//! and emits only the text that became complete.

use crate::llm::CausalLm;
use crate::tokenizer::Tokenizer;
use std::path::Path;
use std::time::Instant;
use wick::{Device, Error, Result, Tensor};
use wick_nn::{LogitsProcessor, SamplingConfig};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// How tokens are chosen (default: greedy).
    pub sampling: SamplingConfig,
    /// Seed of the sampler.
    pub seed: u64,
    /// Ids that end the generation (included in the returned ids, not in the text).
    pub eos_token_ids: Vec<u32>,
    /// Texts that end the generation (the text is cut before them).
    pub stop_strings: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 128,
            sampling: SamplingConfig::default(),
            seed: 299_792_458,
            eos_token_ids: Vec::new(),
            stop_strings: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence id was produced.
    Eos,
    /// A stop string appeared in the text.
    StopString,
    /// `max_new_tokens` were produced.
    MaxTokens,
    /// The model's context (or cache) is full.
    ContextFull,
    /// The callback asked to stop.
    Callback,
}

/// The result of a generation, with timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// New token ids (an end-of-sequence id included when it stopped the generation).
    pub ids: Vec<u32>,
    /// New text (empty from [`generate_ids`]).
    pub text: String,
    /// Why it stopped.
    pub stop: StopReason,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Seconds of the prefill forward (and the first token's sampling).
    pub prefill_secs: f64,
    /// Seconds of the one-token decode steps.
    pub decode_secs: f64,
    /// Decode steps run (new tokens after the first).
    pub decode_steps: usize,
}

impl Generation {
    /// Prompt tokens per second of prefill.
    pub fn prefill_tokens_per_sec(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_secs.max(f64::MIN_POSITIVE)
    }

    /// New tokens per second of decode.
    pub fn decode_tokens_per_sec(&self) -> f64 {
        self.decode_steps as f64 / self.decode_secs.max(f64::MIN_POSITIVE)
    }
}

/// End-of-sequence ids of a model directory: `generation_config.json`'s `eos_token_id` (one
/// id or a list) if present, else the model config's.
pub fn eos_token_ids(dir: &Path, model: &dyn CausalLm) -> Result<Vec<u32>> {
    #[derive(serde::Deserialize)]
    struct GenCfg {
        #[serde(default)]
        eos_token_id: crate::llm::TokenIds,
    }
    let p = dir.join("generation_config.json");
    if p.is_file() {
        let g: GenCfg = crate::llm::read_json(&p)?;
        let ids = g.eos_token_id.to_vec();
        if !ids.is_empty() {
            return Ok(ids);
        }
    }
    Ok(model.eos_token_ids())
}

/// Generates token ids after `prompt`: one prefill forward, then one forward per token.
/// `on_token(id)` sees each new id and returns `false` to stop early.
///
/// ```no_run
/// use wick_models::{generation, llm};
/// let model = llm::load("target/models/tinyllama".as_ref(), wick::DType::F32)?;
/// let opts = generation::GenerateOptions { max_new_tokens: 16, ..Default::default() };
/// let out = generation::generate_ids(model.as_ref(), &[1, 450, 4996], &opts, |_| Ok(true))?;
/// println!("{:?} at {:.1} tok/s", out.ids, out.decode_tokens_per_sec());
/// # Ok::<(), wick::Error>(())
/// ```
pub fn generate_ids(
    model: &dyn CausalLm,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_token: impl FnMut(u32) -> Result<bool>,
) -> Result<Generation> {
    const OP: &str = "generate";
    if prompt.is_empty() {
        return Err(Error::invalid(OP, "the prompt has no tokens"));
    }
    let vocab = model.vocab_size();
    if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
        return Err(Error::invalid(OP, format!("prompt token {bad} is outside the vocabulary of {vocab}")));
    }
    let mut lp = LogitsProcessor::from_config(opts.seed, opts.sampling)?;
    let mut cache = model.new_cache();
    let dev = Device::Cpu;
    let mut history = prompt.to_vec();
    let mut out = Generation {
        ids: Vec::new(),
        text: String::new(),
        stop: StopReason::MaxTokens,
        prompt_tokens: prompt.len(),
        prefill_secs: 0.0,
        decode_secs: 0.0,
        decode_steps: 0,
    };
    if opts.max_new_tokens == 0 {
        return Ok(out);
    }
    let start = Instant::now();
    let input = Tensor::from_slice(prompt, (1, prompt.len()), &dev)?;
    let mut logits = model.forward(&input, &mut cache, false)?.squeeze(0)?;
    let mut decode_start = None;
    loop {
        let next = lp.sample_with_history(&logits, &history)?;
        match decode_start {
            None => {
                out.prefill_secs = start.elapsed().as_secs_f64();
                decode_start = Some(Instant::now());
            }
            Some(_) => out.decode_steps += 1,
        }
        out.ids.push(next);
        history.push(next);
        let keep_going = on_token(next)?;
        out.stop = if opts.eos_token_ids.contains(&next) {
            StopReason::Eos
        } else if !keep_going {
            StopReason::Callback
        } else if out.ids.len() >= opts.max_new_tokens {
            StopReason::MaxTokens
        } else if cache.len() >= model.max_positions().min(cache.max_len()) {
            StopReason::ContextFull
        } else {
            let input = Tensor::from_slice(&[next], (1, 1), &dev)?;
            logits = model.forward(&input, &mut cache, false)?.squeeze(0)?;
            continue;
        };
        break;
    }
    out.decode_secs = decode_start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    Ok(out)
}

/// Generates text after `prompt` (already tokenized, special tokens included), streaming each
/// complete piece of text to `on_text` and stopping at an end-of-sequence id or at any of
/// `opts.stop_strings` (the text before it is kept).
///
/// ```no_run
/// use wick_models::{generation, llm, Tokenizer};
/// let dir = std::path::Path::new("target/models/tinyllama");
/// let model = llm::load(dir, wick::DType::F32)?;
/// let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
/// let opts = generation::GenerateOptions {
///     eos_token_ids: generation::eos_token_ids(dir, model.as_ref())?,
///     ..Default::default()
/// };
/// let prompt = tok.encode("Once upon a time", true)?;
/// let out = generation::generate_text(model.as_ref(), &tok, &prompt, &opts, |piece| {
///     print!("{piece}");
///     Ok(())
/// })?;
/// eprintln!("\n{:.1} tok/s", out.decode_tokens_per_sec());
/// # Ok::<(), wick::Error>(())
/// ```
pub fn generate_text(
    model: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_text: impl FnMut(&str) -> Result<()>,
) -> Result<Generation> {
    let mut stream = TokenOutputStream::new(tokenizer);
    let eos = opts.eos_token_ids.clone();
    let stops: Vec<&str> = opts.stop_strings.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let mut text = String::new(); // all new text
    let mut emitted = 0; // bytes of `text` handed to on_text
    let mut hit_stop = false;
    let mut gen = generate_ids(model, prompt, opts, |id| {
        if eos.contains(&id) {
            return Ok(true);
        }
        if let Some(piece) = stream.next_token(id)? {
            text.push_str(&piece);
        }
        let (end, stop) = match stops.iter().filter_map(|s| text.find(s)).min() {
            Some(at) => (at, true),
            None => (text.len() - held_back(&text, &stops), false),
        };
        if end > emitted {
            on_text(&text[emitted..end])?;
            emitted = end;
        }
        if stop {
            text.truncate(end);
            hit_stop = true;
        }
        Ok(!stop)
    })?;
    if hit_stop {
        gen.stop = StopReason::StopString;
    } else {
        if let Some(rest) = stream.flush()? {
            text.push_str(&rest);
        }
        if text.len() > emitted {
            on_text(&text[emitted..])?;
        }
    }
    gen.text = text;
    Ok(gen)
}

/// Bytes at the end of `text` that could be the start of a stop string (held back until the
/// next tokens tell).
fn held_back(text: &str, stops: &[&str]) -> usize {
    let mut held = 0;
    for s in stops {
        for (i, _) in s.char_indices().skip(1) {
            if text.ends_with(&s[..i]) {
                held = held.max(i);
            }
        }
    }
    held
}

/// Incremental detokenizer: feed ids one at a time and get the text each one completes.
///
/// Decoding ids one by one is wrong twice over: a byte-level BPE token may hold half of a
/// UTF-8 character, and SentencePiece-style decoders drop or add spaces depending on the
/// neighbouring tokens. So the stream decodes a window starting at the previous emitted
/// token and emits the difference, holding text back while it ends in U+FFFD (an incomplete
/// character).
///
/// ```no_run
/// use wick_models::{generation::TokenOutputStream, Tokenizer};
/// let tok = Tokenizer::from_file("target/models/tinyllama/tokenizer.json")?;
/// let mut stream = TokenOutputStream::new(&tok);
/// let mut text = String::new();
/// for id in [15043u32, 3186, 29991] {
///     if let Some(piece) = stream.next_token(id)? {
///         text.push_str(&piece);
///     }
/// }
/// text.push_str(&stream.flush()?.unwrap_or_default());
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug)]
pub struct TokenOutputStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    prev: usize,
    current: usize,
}

impl<'a> TokenOutputStream<'a> {
    /// An empty stream.
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        TokenOutputStream { tokenizer, ids: Vec::new(), prev: 0, current: 0 }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true)
    }

    /// Adds `id`; returns the text it completes, if any.
    pub fn next_token(&mut self, id: u32) -> Result<Option<String>> {
        let before = self.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let now = self.decode(&self.ids[self.prev..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') {
            if let Some(new) = now.strip_prefix(before.as_str()) {
                self.prev = self.current;
                self.current = self.ids.len();
                return Ok(Some(new.to_string()));
            }
        }
        Ok(None)
    }

    /// Text of the ids not yet emitted (e.g. an incomplete character at the end).
    pub fn flush(&mut self) -> Result<Option<String>> {
        let before = self.decode(&self.ids[self.prev..self.current])?;
        let now = self.decode(&self.ids[self.prev..])?;
        self.prev = self.current;
        self.current = self.ids.len();
        Ok(now.strip_prefix(before.as_str()).filter(|s| !s.is_empty()).map(String::from))
    }

    /// Every id so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}
