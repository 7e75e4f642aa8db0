//! Text generation with the byte-level demo model: prefill the prompt in one forward pass,
//! then one byte at a time through the KV caches, streaming complete UTF-8 text.

use super::model::CharLm;
use std::time::Instant;
use wick::{Device, Result, Tensor};
use wick_nn::{KvCache, LogitsProcessor};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Bytes to generate after the prompt.
    pub max_tokens: usize,
    /// Sampling temperature; 0 picks the most likely byte.
    pub temperature: f64,
    /// Nucleus sampling threshold, if any.
    pub top_p: Option<f64>,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Timings of one generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerateStats {
    /// Prompt bytes processed in the prefill.
    pub prompt_tokens: usize,
    /// Bytes generated.
    pub generated_tokens: usize,
    /// Seconds spent on the prefill.
    pub prefill_s: f64,
    /// Seconds spent generating.
    pub decode_s: f64,
}

/// Splits a byte stream into text, holding back an incomplete UTF-8 sequence at the end.
#[derive(Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds bytes and returns the text that is now complete (invalid bytes become U+FFFD).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            // An incomplete sequence at the end: wait for more bytes.
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still held back, lossily.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

/// Generates text after `prompt`, calling `on_text` with each complete piece.
pub fn generate(
    model: &CharLm,
    prompt: &str,
    opts: &GenerateOptions,
    mut on_text: impl FnMut(&str),
) -> Result<GenerateStats> {
    let ctx = model.config().context;
    let mut tokens: Vec<u32> = prompt.bytes().map(u32::from).collect();
    if tokens.is_empty() {
        tokens.push(u32::from(b'\n'));
    }
    let temperature = if opts.temperature > 0.0 { Some(opts.temperature) } else { None };
    let mut sampler = LogitsProcessor::new(opts.seed, temperature, opts.top_p);
    let mut caches = model.new_caches();
    let mut stream = Utf8Stream::default();

    let start = Instant::now();
    let window = &tokens[tokens.len().saturating_sub(ctx)..];
    let prompt_tokens = window.len();
    let mut logits = prefill(model, window, &mut caches)?;
    let prefill_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut generated = 0;
    while generated < opts.max_tokens {
        let next = sampler.sample(&logits)?;
        tokens.push(next);
        generated += 1;
        on_text(&stream.push(&[next as u8]));
        if generated == opts.max_tokens {
            break;
        }
        let pos = caches[0].current_len();
        logits = if pos < ctx {
            let ids = Tensor::new(&[[next]], &Device::Cpu)?;
            last_logits(&model.forward(&ids, pos, Some(&mut caches))?)?
        } else {
            // The context is full: start again from the most recent half of it.
            for c in caches.iter_mut() {
                c.reset();
            }
            prefill(model, &tokens[tokens.len() - ctx / 2..], &mut caches)?
        };
    }
    on_text(&stream.finish());
    Ok(GenerateStats {
        prompt_tokens,
        generated_tokens: generated,
        prefill_s,
        decode_s: start.elapsed().as_secs_f64(),
    })
}

fn prefill(model: &CharLm, tokens: &[u32], caches: &mut [KvCache]) -> Result<Tensor> {
    let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
    last_logits(&model.forward(&ids, 0, Some(caches))?)
}

/// The logits of the last position of `(1, t, vocab)`, as `(vocab,)`.
fn last_logits(logits: &Tensor) -> Result<Tensor> {
    let t = logits.dim(1)?;
    logits.narrow(1, t - 1, 1)?.squeeze(1)?.squeeze(0)?.contiguous()
}

#[cfg(test)]
mod tests {
    use super::Utf8Stream;

    #[test]
    fn utf8_stream_holds_back_split_characters() {
        let mut s = Utf8Stream::default();
        let bytes = "aé€😀".as_bytes();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&s.push(&[*b]));
        }
        out.push_str(&s.finish());
        assert_eq!(out, "aé€😀");
        let mut s = Utf8Stream::default();
        assert_eq!(s.push(&[b'x', 0xff, b'y']), "x\u{fffd}y");
        assert_eq!(s.push(&[0xe2, 0x82]), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }
}
