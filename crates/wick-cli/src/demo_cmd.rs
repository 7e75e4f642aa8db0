//! `wick demo`: text from the small language model that ships inside the binary.

use std::io::Write;
use wick::Result;
use wick_cli::demo::{generate, load_embedded, GenerateOptions};

/// Streams a continuation of `prompt` to stdout, then a line of speeds to stderr.
pub fn run(prompt: &str, opts: &GenerateOptions) -> Result<bool> {
    let model = load_embedded()?;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{prompt}");
    let stats = generate(&model, prompt, opts, |text| {
        let _ = write!(out, "{text}");
        let _ = out.flush();
    })?;
    let _ = writeln!(out);
    eprintln!(
        "[{} prompt bytes in {:.1} ms; {} bytes generated at {:.1} tokens/s]",
        stats.prompt_tokens,
        stats.prefill_s * 1e3,
        stats.generated_tokens,
        stats.generated_tokens as f64 / stats.decode_s.max(1e-9)
    );
    Ok(true)
}
