//! `wick quantize`: safetensors weights (one file or a model directory) to a GGUF file with
//! the 2-D weight matrices in a ggml block format.
//!
//! A tensor is quantized when it is 2-D and its rows are whole blocks of the format; every
//! other tensor (norms, biases, embeddings of odd width, 1-D and 3-D+ tensors) is kept dense
//! in F32 (or F16 with `--dense-f16`). Tensor names are kept as in the input.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use wick::gguf::{self, GgmlDType, TensorData, Value};
use wick::safetensors::MmapedSafetensors;
use wick::{DType, Error, Result, Tensor};

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

/// What `general.*` keys can be read off the input: the architecture (`model_type` of a
/// `config.json` next to the weights) and a name (the directory or file stem).
fn general_metadata(input: &Path, t: GgmlDType) -> Vec<(&'static str, Value)> {
    let dir = if input.is_dir() { Some(input) } else { input.parent() };
    let mut md = vec![
        ("general.quantization_version", Value::U32(2)),
        ("general.file_type", Value::U32(file_type(t))),
    ];
    let arch = dir
        .and_then(|d| std::fs::read_to_string(d.join("config.json")).ok())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|j| j.get("model_type").and_then(|v| v.as_str()).map(str::to_owned));
    if let Some(arch) = arch {
        md.push(("general.architecture", Value::String(arch)));
    }
    let name = if input.is_dir() { input.file_name() } else { input.file_stem() };
    if let Some(name) = name.and_then(|n| n.to_str()).filter(|n| !n.is_empty()) {
        md.push(("general.name", Value::String(name.to_owned())));
    }
    md
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
    let mut in_bytes = 0u64;
    let mut outs = Vec::with_capacity(names.len());
    let bar = ProgressBar::new(names.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tensors {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut quantized, mut kept) = (0usize, 0usize);
    for name in &names {
        bar.set_message(name.clone());
        let x = st.get(name)?;
        in_bytes += (x.elem_count() * x.dtype().size_in_bytes()) as u64;
        let shape = x.dims().to_vec();
        let out = if quantizes(&shape, t) {
            let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            quantized += 1;
            Out::Blocks { bytes: quantize_matrix(&v, shape[1], t)?, shape }
        } else {
            kept += 1;
            Out::Dense(x.to_dtype(dense)?)
        };
        outs.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let tensors: Vec<(&str, TensorData<'_>)> = names
        .iter()
        .zip(&outs)
        .map(|(name, o)| {
            let data = match o {
                Out::Blocks { shape, bytes } => TensorData::Raw { dtype: t, shape: shape.clone(), bytes },
                Out::Dense(x) => TensorData::Dense(x),
            };
            (name.as_str(), data)
        })
        .collect();
    let metadata = general_metadata(input, t);
    gguf::write(output, &metadata, &tensors)?;
    let out_bytes = std::fs::metadata(output).map_err(|e| Error::io(output, e))?.len();
    println!(
        "{}: {quantized} tensors in {}, {kept} kept {dense:?}; {:.1} MB -> {:.1} MB ({:.2}x smaller)",
        output.display(),
        t.name(),
        in_bytes as f64 / 1e6,
        out_bytes as f64 / 1e6,
        in_bytes as f64 / (out_bytes.max(1)) as f64
    );
    Ok(true)
}
