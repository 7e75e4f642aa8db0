//! `wick embed`: sentence embeddings with a BERT sentence-transformers model, and
//! `wick bench model`: the model's forward pass timed (JSON lines).

use clap::{Args, ValueEnum};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;
use wick::{DType, Device, Error, Result, Tensor};
use wick_models::{source, EmbedOptions, Pooling, SentenceEmbedder};

/// Output formats of `wick embed`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// A JSON array with one array of numbers per input, one input per line.
    Json,
    /// A NumPy `.npy` file of shape (inputs, dim), f32.
    Npy,
}

/// Dtypes a model can run in.
#[derive(Clone, Copy, ValueEnum)]
pub enum DTypeArg {
    /// 32-bit float.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

impl DTypeArg {
    pub(crate) fn dtype(self) -> DType {
        match self {
            DTypeArg::F32 => DType::F32,
            DTypeArg::F16 => DType::F16,
            DTypeArg::Bf16 => DType::BF16,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            DTypeArg::F32 => "f32",
            DTypeArg::F16 => "f16",
            DTypeArg::Bf16 => "bf16",
        }
    }
}

/// Pooling modes (default: what the model directory says, else mean).
#[derive(Clone, Copy, ValueEnum)]
pub enum PoolingArg {
    /// Mean over real tokens.
    Mean,
    /// The [CLS] token.
    Cls,
    /// Per-feature maximum over real tokens.
    Max,
}

#[derive(Args)]
pub struct EmbedArgs {
    /// Model directory (config.json, model.safetensors, tokenizer.json) or a Hugging Face hub id
    /// `org/name[@revision]` already in the local hub cache.
    #[arg(long)]
    model: String,
    /// Texts to embed; without any, one text per line of standard input.
    texts: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Dtype of the weights and activations.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: DTypeArg,
    /// Pooling mode (default: from the model's modules.json / 1_Pooling, else mean).
    #[arg(long, value_enum)]
    pooling: Option<PoolingArg>,
    /// Do not L2-normalise the vectors.
    #[arg(long)]
    no_normalize: bool,
    /// Truncate texts to this many tokens (default: the model's max_seq_length).
    #[arg(long)]
    max_length: Option<usize>,
}

pub fn run(args: EmbedArgs) -> Result<bool> {
    let texts = if args.texts.is_empty() {
        let mut lines = Vec::new();
        for line in std::io::stdin().lock().lines() {
            lines.push(line.map_err(|e| Error::io("<stdin>", e))?);
        }
        lines
    } else {
        args.texts
    };
    let dir = source::resolve(&args.model)?;
    let options = EmbedOptions {
        dtype: args.dtype.dtype(),
        pooling: args.pooling.map(|p| match p {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::Cls => Pooling::Cls,
            PoolingArg::Max => Pooling::Max,
        }),
        normalize: args.no_normalize.then_some(false),
        max_length: args.max_length,
    };
    let embedder = SentenceEmbedder::load_with(&dir, options)?;
    let vectors = embedder.embed(&texts, args.batch_size)?;
    let bytes = match args.format {
        Format::Json => {
            let mut s = String::from("[");
            for (i, v) in vectors.iter().enumerate() {
                s.push_str(if i == 0 { "\n" } else { ",\n" });
                s.push_str(&serde_json::to_string(v).map_err(|e| Error::invalid("embed", e.to_string()))?);
            }
            s.push_str("\n]\n");
            s.into_bytes()
        }
        Format::Npy => {
            let dim = embedder.dim();
            let flat: Vec<f32> = vectors.into_iter().flatten().collect();
            let rows = flat.len() / dim.max(1);
            wick::npy::write_npy_bytes(&Tensor::from_vec(flat, (rows, dim), &Device::Cpu)?)?
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, &bytes).map_err(|e| Error::io(path, e))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).and_then(|_| out.flush()).map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    Ok(true)
}

#[derive(Args)]
pub struct BenchModelArgs {
    /// Model directory or hub id: a BERT encoder (forward of a batch) or a decoder LLM
    /// (prefill, then decode).
    #[arg(long)]
    pub model: String,
    /// Sequences per forward pass (default 32 for encoders, 1 for decoders).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tokens per sequence (decoders: the prompt that is prefilled).
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Decoders: tokens generated one at a time after the prefill.
    #[arg(long, default_value_t = 32)]
    pub decode_tokens: usize,
    /// Timed runs (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Dtype of the weights and activations.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: DTypeArg,
}

/// Times the model's workload, printing one JSON line (times in ms): encoders go to
/// [`bench_encoder`], decoder LLMs (a `model_type` that `wick_models::llm::load` knows) to
/// `bench_llm`. scripts/compare_models.py and scripts/compare_llm.py run the same in PyTorch.
pub fn bench_model(args: BenchModelArgs) -> Result<bool> {
    let dir = source::resolve(&args.model)?;
    if crate::bench_llm::is_decoder(&dir)? {
        crate::bench_llm::bench(&dir, &args)
    } else {
        bench_encoder(&dir, &args)
    }
}

/// Times `BertModel::forward` on a `(batch, seq)` block of token ids with a full attention
/// mask.
fn bench_encoder(dir: &std::path::Path, args: &BenchModelArgs) -> Result<bool> {
    let batch = args.batch.unwrap_or(32);
    let t0 = Instant::now();
    let (cfg, model) = wick_models::bert::BertModel::load(dir, args.dtype.dtype())?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let n = batch.checked_mul(args.seq).ok_or_else(|| Error::overflow("bench model", "batch x seq"))?;
    if n == 0 || args.runs == 0 {
        return Err(Error::invalid("bench model", "batch, seq and runs must be positive"));
    }
    // The same ids scripts/compare_models.py makes: (i * 7919) % (vocab - 1000) + 1000.
    let vocab = cfg.vocab_size.max(1001);
    let ids: Vec<u32> = (0..n).map(|i| ((i * 7919) % (vocab - 1000) + 1000) as u32).collect();
    let ids = Tensor::from_vec(ids, (batch, args.seq), &Device::Cpu)?;
    let mask = Tensor::ones((batch, args.seq), DType::U32, &Device::Cpu)?;
    let types = Tensor::zeros((batch, args.seq), DType::U32, &Device::Cpu)?;
    let forward = || model.forward(&ids, Some(&types), Some(&mask));
    std::hint::black_box(forward()?);
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let t = Instant::now();
        std::hint::black_box(forward()?);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "bench": "model",
            "model": dir.display().to_string(),
            "batch": batch,
            "seq": args.seq,
            "dtype": args.dtype.name(),
            "threads": wick::num_threads(),
            "runs": args.runs,
            "median_ms": times[times.len() / 2],
            "min_ms": times[0],
            "load_ms": load_ms,
        })
    );
    Ok(true)
}
