//! `wick quantize`: safetensors weights (one file or a model directory) to a GGUF file with
//! the 2-D weight matrices in a ggml block format.
//!
//! A tensor is quantized when it is 2-D and its rows are whole blocks of the format; every
//! other tensor (norms, biases, embeddings of odd width, 1-D and 3-D+ tensors) is kept dense
//! in F32 (or F16 with `--dense-f16`).
//!
//! Llama-family models (a `config.json` next to the weights with `model_type` llama, mistral
//! or qwen2) are written the way llama.cpp's converter writes them, so llama.cpp loads the
//! file: llama.cpp tensor names, q/k rows in its rotary layout, `{arch}.*` hyper-parameters,
//! the tokenizer from `tokenizer.json` (see [`wick_models::gguf_export`] and
//! [`wick_models::tokenizer_gguf::metadata_from_hf`]), 1-D tensors always F32. Other inputs
//! keep the checkpoint's tensor names and only `general.*` metadata.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use wick::gguf::{self, GgmlDType, TensorData, Value};
use wick::safetensors::MmapedSafetensors;
use wick::{DType, Error, Result, Tensor};
use wick_models::gguf_export::{self, LlamaExport, TensorPlan};
use wick_models::tokenizer_gguf;

/// The formats `--type` accepts, by their lower-case ggml names.
const TYPES: [GgmlDType; 12] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q2_K,
    GgmlDType::Q3_K,
    GgmlDType::Q4_K,
    GgmlDType::Q5_K,
    GgmlDType::Q6_K,
    GgmlDType::IQ4_NL,
    GgmlDType::IQ4_XS,
];

/// The ggml type of a `--type` name (`q4_0`, `q4_k`, `iq4_xs`, …; case-insensitive).
pub fn parse_type(name: &str) -> Result<GgmlDType> {
    TYPES.into_iter().find(|t| t.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
        let known: Vec<String> = TYPES.iter().map(|t| t.name().to_lowercase()).collect();
        Error::invalid("quantize", format!("unknown type {name:?}; one of {}", known.join(", ")))
    })
}

/// llama.cpp's `general.file_type` (`llama_ftype`) of a model whose matrices are all `t`;
/// the K-quants map to their `_S` variants, the ones without mixed-precision layers.
fn file_type(t: GgmlDType) -> u32 {
    match t {
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q8_0 => 7,
        GgmlDType::Q5_0 => 8,
        GgmlDType::Q5_1 => 9,
        GgmlDType::Q2_K => 10,
        GgmlDType::Q3_K => 11,
        GgmlDType::Q4_K => 14,
        GgmlDType::Q5_K => 16,
        GgmlDType::Q6_K => 18,
        GgmlDType::IQ4_NL => 25,
        GgmlDType::IQ4_XS => 30,
        _ => 0,
    }
}

/// Whether a tensor of this shape is quantized to `t`.
pub fn quantizes(shape: &[usize], t: GgmlDType) -> bool {
    matches!(shape, &[n, k] if n > 0 && k > 0 && k % t.block_size() == 0)
}

/// Quantizes the rows of a row-major (n, k) matrix on all cores: rows are whole blocks, so
/// each thread's run of rows is a run of blocks.
fn quantize_matrix(x: &[f32], k: usize, t: GgmlDType) -> Result<Vec<u8>> {
    let n = x.len() / k;
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get()).min(n.max(1));
    let rows_per = n.div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = x
            .chunks(rows_per * k)
            .map(|chunk| s.spawn(move || wick::quantized::quantize_bytes(t, chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::invalid("quantize", "a worker thread panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(n * k / t.block_size() * t.type_size());
    for p in parts {
        out.extend_from_slice(&p?);
    }
    Ok(out)
}

/// The folder of the input's side files (config.json, tokenizer.json): the input itself
/// when it is a directory, else the folder of the file.
fn model_dir(input: &Path) -> Option<&Path> {
    if input.is_dir() {
        Some(input)
    } else {
        input.parent()
    }
}

/// What `general.*` keys can be read off the input: the architecture (`model_type` of a
/// `config.json` next to the weights) and a name (the directory or file stem).
fn general_metadata(input: &Path, t: GgmlDType) -> Vec<(String, Value)> {
    let mut md = vec![
        ("general.quantization_version".to_string(), Value::U32(2)),
        ("general.file_type".to_string(), Value::U32(file_type(t))),
    ];
    let arch = model_dir(input)
        .and_then(|d| std::fs::read_to_string(d.join("config.json")).ok())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|j| j.get("model_type").and_then(|v| v.as_str()).map(str::to_owned));
    if let Some(arch) = arch {
        md.push(("general.architecture".to_string(), Value::String(arch)));
    }
    let name = if input.is_dir() { input.file_name() } else { input.file_stem() };
    if let Some(name) = name.and_then(|n| n.to_str()).filter(|n| !n.is_empty()) {
        md.push(("general.name".to_string(), Value::String(name.to_owned())));
    }
    md
}

/// The metadata of a Llama-family model in llama.cpp's layout: `general.*`, the `{arch}.*`
/// hyper-parameters, and the tokenizer of `tokenizer.json` in `dir` (`"none"` when there is
/// none, or when it cannot be converted: then with a warning). Returns the metadata and a
/// word on the tokenizer for the summary line.
fn llama_metadata(export: &LlamaExport, dir: &Path, t: GgmlDType) -> Result<(Vec<(String, Value)>, String)> {
    let mut md = export.metadata()?;
    let here = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let name =
        here.canonicalize().ok().and_then(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_owned));
    md.insert(1, ("general.name".to_string(), Value::String(name.unwrap_or_else(|| "model".into()))));
    md.insert(2, ("general.file_type".to_string(), Value::U32(file_type(t))));
    md.insert(3, ("general.quantization_version".to_string(), Value::U32(2)));
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = if tok_path.is_file() {
        match tokenizer_gguf::metadata_from_hf(dir, export.config().vocab_size) {
            Ok(tok) => {
                if let Err(e) = tokenizer_gguf::check_round_trip(&tok, &tok_path) {
                    eprintln!(
                        "warning: the tokenizer written to the GGUF file differs from tokenizer.json: {e}"
                    );
                }
                Some(tok)
            }
            Err(e) => {
                eprintln!("warning: tokenizer not written (tokenizer.ggml.model = \"none\"): {e}");
                None
            }
        }
    } else {
        None
    };
    let word = match &tokenizer {
        Some(tok) => tok
            .iter()
            .find(|(k, _)| k == "tokenizer.ggml.model")
            .and_then(|(_, v)| v.to_string().ok())
            .unwrap_or("?")
            .to_string(),
        None => "none".to_string(),
    };
    match tokenizer {
        Some(tok) => md.extend(tok),
        // llama.cpp accepts a model without a vocabulary (`none`): the token count then
        // comes from `{arch}.vocab_size`.
        None => md.push(("tokenizer.ggml.model".to_string(), Value::from("none"))),
    }
    Ok((md, word))
}

/// What one tensor becomes.
enum Out {
    Blocks { shape: Vec<usize>, bytes: Vec<u8> },
    Dense(Tensor),
}

/// Quantizes `input` (a safetensors file, shard index or directory of shards) into the GGUF
/// file `output`; `dense` is the type of the tensors that stay dense (F32 or F16). Prints a
/// progress bar and the size reduction.
pub fn run(input: &Path, output: &Path, type_name: &str, dense: DType) -> Result<bool> {
    let t = parse_type(type_name)?;
    if !matches!(dense, DType::F32 | DType::F16) {
        return Err(Error::invalid("quantize", format!("dense tensors can be F32 or F16, not {dense:?}")));
    }
    let st = MmapedSafetensors::new(input)?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    let dir = model_dir(input);
    let config = dir.map(|d| d.join("config.json")).filter(|p| p.is_file());
    let llama = match &config {
        Some(c) => LlamaExport::from_config_file(c)?,
        None => None,
    };
    let plan: Vec<TensorPlan> = match &llama {
        Some(l) => {
            let shapes = names.iter().map(|n| Ok((n.clone(), st.info(n)?.1))).collect::<Result<Vec<_>>>()?;
            l.plan(&shapes)?
        }
        None => names.iter().map(|n| TensorPlan { source: n.clone(), name: n.clone() }).collect(),
    };
    let mut in_bytes = 0u64;
    let mut outs = Vec::with_capacity(plan.len());
    let bar = ProgressBar::new(plan.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tensors {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut quantized, mut kept) = (0usize, 0usize);
    for p in &plan {
        bar.set_message(p.source.clone());
        let x = st.get(&p.source)?;
        in_bytes += (x.elem_count() * x.dtype().size_in_bytes()) as u64;
        let x = match &llama {
            Some(l) => l.to_gguf_layout(&p.source, x)?,
            None => x,
        };
        let shape = x.dims().to_vec();
        let out = if quantizes(&shape, t) {
            let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            quantized += 1;
            Out::Blocks { bytes: quantize_matrix(&v, shape[1], t)?, shape }
        } else {
            kept += 1;
            match llama {
                Some(_) => Out::Dense(gguf_export::dense_for_gguf(&x, dense)?),
                None => Out::Dense(x.to_dtype(dense)?),
            }
        };
        outs.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let extra = match &llama {
        Some(l) => l.extra_tensors()?,
        None => Vec::new(),
    };
    let mut tensors: Vec<(&str, TensorData<'_>)> = plan
        .iter()
        .zip(&outs)
        .map(|(p, o)| {
            let data = match o {
                Out::Blocks { shape, bytes } => TensorData::Raw { dtype: t, shape: shape.clone(), bytes },
                Out::Dense(x) => TensorData::Dense(x),
            };
            (p.name.as_str(), data)
        })
        .collect();
    // rope_freqs goes right after token_embd, where llama.cpp's converter puts it.
    for (i, (name, x)) in extra.iter().enumerate() {
        tensors.insert((1 + i).min(tensors.len()), (name.as_str(), TensorData::Dense(x)));
    }
    let (metadata, layout) = match (&llama, dir) {
        (Some(l), Some(dir)) => {
            let (md, tok) = llama_metadata(l, dir, t)?;
            (md, format!("; llama.cpp layout (arch {}, tokenizer {tok})", l.arch()))
        }
        _ => (general_metadata(input, t), String::new()),
    };
    let metadata: Vec<(&str, Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    gguf::write(output, &metadata, &tensors)?;
    let out_bytes = std::fs::metadata(output).map_err(|e| Error::io(output, e))?.len();
    println!(
        "{}: {quantized} tensors in {}, {kept} kept dense{layout}; {:.1} MB -> {:.1} MB ({:.2}x smaller)",
        output.display(),
        t.name(),
        in_bytes as f64 / 1e6,
        out_bytes as f64 / 1e6,
        in_bytes as f64 / (out_bytes.max(1)) as f64
    );
    Ok(true)
}
