//! `wick bench model` for decoder LLMs: load time, time to the first token, prefill and decode
//! throughput and peak memory, as one JSON line. scripts/compare_llm.py runs the same workload
//! in PyTorch (`transformers`) and prints the ratios.

use crate::embed::BenchModelArgs;
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use wick::{Device, Error, Result, Tensor, D};
use wick_models::llm::{self, CausalLm};

/// Whether `dir` holds a decoder LLM rather than an encoder: a GGUF file, or a directory with
/// anything but a BERT config (`llm::load` then names an unsupported `model_type`).
pub fn is_decoder(dir: &Path) -> Result<bool> {
    if dir.is_file() {
        return Ok(true);
    }
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format("config", format!("{}: {e}", config.display())))?;
    Ok(v.get("model_type").and_then(|t| t.as_str()) != Some("bert"))
}

/// The prompt ids scripts/compare_llm.py uses too: `(i · 7919) mod vocab`.
pub fn prompt_ids(batch: usize, seq: usize, vocab: usize) -> Result<Tensor> {
    let n = batch.checked_mul(seq).ok_or_else(|| Error::overflow("bench model", "batch x seq"))?;
    let ids: Vec<u32> = (0..n).map(|i| ((i * 7919) % vocab.max(1)) as u32).collect();
    Tensor::from_vec(ids, (batch, seq), &Device::Cpu)
}

/// Greedy next tokens `(batch, 1)` from last-position logits `(batch, vocab)`.
fn next_tokens(logits: &Tensor) -> Result<Tensor> {
    logits.argmax(D::Minus1)?.unsqueeze(1)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Bytes of the weight files in `dir`, or of the file `dir` (what a decode step reads once).
fn weight_bytes(dir: &Path) -> u64 {
    if dir.is_file() {
        return dir.metadata().map_or(0, |m| m.len());
    }
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn bench(dir: &Path, args: &BenchModelArgs) -> Result<bool> {
    let batch = args.batch.unwrap_or(1);
    if batch == 0 || args.seq == 0 || args.runs == 0 {
        return Err(Error::invalid("bench model", "batch, seq and runs must be positive"));
    }
    let t0 = Instant::now();
    let model = llm::load(dir, args.dtype.dtype())?;
    let load_ms = ms(t0);
    let first = next_tokens(&model.forward(
        &Tensor::new(&[[1u32]], &Device::Cpu)?,
        &mut model.new_cache(),
        false,
    )?)?;
    std::hint::black_box(first);
    let first_token_ms = ms(t0);

    let ids = prompt_ids(batch, args.seq, model.vocab_size())?;
    let prefill = |model: &dyn CausalLm| -> Result<(Tensor, llm::Cache)> {
        let mut cache = model.new_cache();
        let next = next_tokens(&model.forward(&ids, &mut cache, false)?)?;
        Ok((next, cache))
    };
    prefill(model.as_ref())?;
    let mut prefill_ms = Vec::with_capacity(args.runs);
    let mut last = None;
    for _ in 0..args.runs {
        let t = Instant::now();
        last = Some(prefill(model.as_ref())?);
        prefill_ms.push(ms(t));
    }
    let (mut next, mut cache) = last.ok_or_else(|| Error::invalid("bench model", "no prefill run"))?;
    let mut decode_ms = Vec::with_capacity(args.decode_tokens);
    for _ in 0..args.decode_tokens {
        let t = Instant::now();
        next = next_tokens(&model.forward(&next, &mut cache, false)?)?;
        decode_ms.push(ms(t));
    }
    let (rss, peak) = crate::bench::rss_mib().unwrap_or((f64::NAN, f64::NAN));
    let (prefill_med, decode_med) = (median(prefill_ms.clone()), median(decode_ms.clone()));
    let tokens = (batch * args.seq) as f64;
    println!(
        "{}",
        json!({
            "bench": "llm",
            "model": dir.display().to_string(),
            "batch": batch,
            "seq": args.seq,
            "decode_tokens": args.decode_tokens,
            "dtype": args.dtype.name(),
            "threads": wick::num_threads(),
            "load_ms": load_ms,
            "first_token_ms": first_token_ms,
            "prefill_ms": prefill_med,
            "prefill_tok_s": tokens / prefill_med * 1e3,
            "decode_ms": decode_med,
            "decode_tok_s": batch as f64 / decode_med * 1e3,
            "prefill_runs_ms": prefill_ms,
            "weight_bytes": weight_bytes(dir),
            "rss_mib": rss,
            "peak_rss_mib": peak,
        })
    );
    Ok(true)
}
