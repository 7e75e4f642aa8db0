//! Llama-family models and tokenizers from GGUF files (`wick_models::gguf`,
//! `Tokenizer::from_gguf`), on the tiny llama fixture (hidden 32, 2 layers, 4 heads, 2 kv
//! heads, vocab 128) written as llama.cpp lays it out by scripts/gen_gguf_llama_fixtures.py
//! (q/k rows permuted to the interleaved rotary layout; F32 and Q8_0 via the `gguf` package),
//! and on files written here with wick's GGUF writer (Q4_0, Q4_K, corrupt metadata).
//!
//! Error measure: max |a − b| / max |b| over the logits of every position of the prompt.
//!
//! Bounds, from the formats' rounding:
//! - F32 GGUF vs the safetensors model: 1e-5 (the same weights; the permuted rows and the
//!   interleaved rotation only reorder f32 sums).
//! - A quantized model vs the same model with its weights dequantized to f32 in wick: the
//!   weights are equal, so the only difference is that the quantized product rounds its
//!   activations to 8 bits per block (Q8_0 for Q4_0/Q8_0, Q8_K for Q4_K): each value moves by
//!   at most half a step, amax/127/2 = amax/254 of its block's largest value, a relative
//!   error of 1/254 per product (at the scale of its inputs' largest values). The logits sit
//!   behind 9 such products in sequence (per layer v→o and gate/up→down, 2 layers, then the
//!   output), so even with every product's error adding up in the same direction the error is
//!   about 9/254 ≈ 3.5e-2 of the largest logit. This is a first-order estimate, not a
//!   guarantee (RMSNorm and softmax can amplify); on these random models the measured errors
//!   are 60–95% of it (Q4_K, whose 256-value activation blocks have larger extremes, nearest),
//!   so it is checked, not loosened.
//! - Q8_0 vs the original f32 model: the weights are also rounded by at most amax/254 per
//!   block, doubling the per-product estimate: 9 · 2/254 ≈ 7.1e-2.
//! - Q4_0 vs the original f32 model: weights rounded by at most amax/16 (4 bits, 8 steps per
//!   side): 9 · (1/16 + 1/254) ≈ 0.60 — a loose worst case; measured values are printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wick::gguf::{self, GgmlDType, GgufFile, TensorData, Value};
use wick::quantized::QTensor;
use wick::{DType, Device, Tensor};
use wick_models::generation::{generate_ids, GenerateOptions};
use wick_models::llama::Llama;
use wick_models::llm::{self, CausalLm, LoadOptions};
use wick_models::weights::Weights;
use wick_models::Tokenizer;
use wick_nn::VarBuilder;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}
fn gguf_fixture(name: &str) -> PathBuf {
    fixtures().join("gguf_llama").join(name)
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("wick-gguf-llama-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PROMPT: [u32; 9] = [1, 33, 73, 82, 47, 33, 5, 17, 90];
/// Activation rounding of Q8_0 / Q8_K through 9 products (see the module doc).
const ACT_BOUND: f32 = 9.0 / 254.0;

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// max |a − b| / max |b|
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    assert!(a.iter().chain(b).all(|x| x.is_finite()), "non-finite logits");
    let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    err / b.iter().map(|y| y.abs()).fold(0f32, f32::max)
}

/// Logits of every prompt position, then of 3 cached one-token decode steps.
fn logits(model: &dyn CausalLm, prompt: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache();
    let ids = Tensor::from_slice(prompt, (1, prompt.len()), &Device::Cpu).unwrap();
    let mut out = flat(&model.forward(&ids, &mut cache, true).unwrap());
    for &t in &[7u32, 64, 3] {
        let id = Tensor::from_slice(&[t], (1, 1), &Device::Cpu).unwrap();
        out.extend(flat(&model.forward(&id, &mut cache, false).unwrap()));
    }
    out
}

fn greedy(model: &dyn CausalLm, n: usize) -> Vec<u32> {
    let opts = GenerateOptions { max_new_tokens: n, ..Default::default() };
    generate_ids(model, &PROMPT[..6], &opts, |_| Ok(true)).unwrap().ids
}

fn safetensors_model() -> Box<dyn CausalLm> {
    llm::load(&fixtures().join("llama"), DType::F32).unwrap()
}

/// The model of a GGUF file with every tensor dequantized to f32 (dense path only).
fn dequantized_model(path: &Path) -> Llama {
    let file = GgufFile::open(path).unwrap();
    let cfg = wick_models::gguf::config(&file).unwrap();
    let mut map = HashMap::new();
    for info in &file.content().tensor_infos {
        if let Some(name) = wick_models::gguf::checkpoint_name(&info.name) {
            map.insert(name, QTensor::from_gguf(&file, &info.name).unwrap().dequantize().unwrap());
        }
    }
    let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
    Llama::from_weights(&cfg, Weights::dense(vb)).unwrap()
}

fn load(path: &Path) -> Box<dyn CausalLm> {
    llm::load(path, DType::F32).unwrap()
}

/// Rewrites GGUF `src` into `dst` with `edit` applied to its metadata and `keep` choosing
/// tensors; 2-D tensors (other than those `skip` names) are quantized to `q` when their rows
/// are whole blocks.
fn rewrite(
    src: &Path,
    dst: &Path,
    q: Option<GgmlDType>,
    skip: &[&str],
    edit: impl FnOnce(&mut Vec<(String, Value)>),
    keep: impl Fn(&str) -> bool,
) {
    let file = GgufFile::open(src).unwrap();
    let mut md: Vec<(String, Value)> = file.content().metadata.clone();
    edit(&mut md);
    let names: Vec<String> =
        file.content().tensor_infos.iter().map(|t| t.name.clone()).filter(|n| keep(n)).collect();
    let dense: Vec<Tensor> =
        names.iter().map(|n| QTensor::from_gguf(&file, n).unwrap().dequantize().unwrap()).collect();
    let quant: Vec<Option<QTensor>> = names
        .iter()
        .zip(&dense)
        .map(|(n, t)| match q {
            Some(q) if !skip.contains(&n.as_str()) && t.rank() == 2 && t.dims()[1] % q.block_size() == 0 => {
                Some(QTensor::quantize(t, q).unwrap())
            }
            _ => None,
        })
        .collect();
    let tensors: Vec<(&str, TensorData)> = names
        .iter()
        .zip(dense.iter().zip(&quant))
        .map(|(n, (t, qt))| {
            let data = match qt {
                Some(qt) => {
                    TensorData::Raw { dtype: qt.dtype(), shape: qt.shape().to_vec(), bytes: qt.bytes() }
                }
                None => TensorData::Dense(t),
            };
            (n.as_str(), data)
        })
        .collect();
    let md: Vec<(&str, Value)> = md.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    gguf::write(dst, &md, &tensors).unwrap();
}

#[test]
fn f32_gguf_matches_the_safetensors_model() {
    let want = logits(safetensors_model().as_ref(), &PROMPT);
    let model = load(&gguf_fixture("llama-f32.gguf"));
    let err = rel_err(&logits(model.as_ref(), &PROMPT), &want);
    println!("F32 GGUF vs safetensors: {err:.2e}");
    assert!(err <= 1e-5, "{err}");
    assert_eq!(model.vocab_size(), 128);
    assert_eq!(model.eos_token_ids(), vec![2]);
    assert_eq!(greedy(model.as_ref(), 10), greedy(safetensors_model().as_ref(), 10));
}

#[test]
fn q8_0_gguf_within_its_bounds_and_greedy_tokens_match() {
    let path = gguf_fixture("llama-q8_0.gguf");
    let model = load(&path);
    let got = logits(model.as_ref(), &PROMPT);
    let deq = rel_err(&got, &logits(&dequantized_model(&path), &PROMPT));
    let f32 = rel_err(&got, &logits(safetensors_model().as_ref(), &PROMPT));
    println!(
        "Q8_0 vs dequantized: {deq:.2e} (bound {ACT_BOUND:.2e}); vs f32: {f32:.2e} (bound {:.2e})",
        2.0 * ACT_BOUND
    );
    assert!(deq <= ACT_BOUND, "{deq}");
    assert!(f32 <= 2.0 * ACT_BOUND, "{f32}");
    assert_eq!(greedy(model.as_ref(), 10), greedy(safetensors_model().as_ref(), 10));
}

#[test]
fn q4_0_gguf_within_its_bounds() {
    let tmp = TempDir::new("q4_0");
    let path = tmp.0.join("llama-q4_0.gguf");
    rewrite(&gguf_fixture("llama-f32.gguf"), &path, Some(GgmlDType::Q4_0), &[], |_| {}, |_| true);
    let model = load(&path);
    let got = logits(model.as_ref(), &PROMPT);
    let deq = rel_err(&got, &logits(&dequantized_model(&path), &PROMPT));
    let f32 = rel_err(&got, &logits(safetensors_model().as_ref(), &PROMPT));
    let w_bound = 9.0 * (1.0 / 16.0 + 1.0 / 254.0);
    println!(
        "Q4_0 vs dequantized: {deq:.2e} (bound {ACT_BOUND:.2e}); vs f32: {f32:.2e} (bound {w_bound:.2})"
    );
    assert!(deq <= ACT_BOUND, "{deq}");
    assert!(f32 <= w_bound, "{f32}");
}

/// A random Llama wide enough for 256-element K-quant blocks (hidden 256, MLP 512, 4 heads of
/// 64, 2 kv heads, 2 layers, vocab 96), in llama.cpp's names, every matrix in `q`.
fn write_wide_model(path: &Path, q: GgmlDType) {
    let dev = Device::Cpu;
    let (h, f, vocab, layers) = (256usize, 512usize, 96usize, 2usize);
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::from("llama")),
        ("llama.context_length", Value::U32(64)),
        ("llama.embedding_length", Value::U32(h as u32)),
        ("llama.block_count", Value::U32(layers as u32)),
        ("llama.feed_forward_length", Value::U32(f as u32)),
        ("llama.attention.head_count", Value::U32(4)),
        ("llama.attention.head_count_kv", Value::U32(2)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.dimension_count", Value::U32(64)),
    ];
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("token_embd.weight".into(), vec![vocab, h]), ("output_norm.weight".into(), vec![h])];
    for i in 0..layers {
        for (n, s) in [
            ("attn_norm", vec![h]),
            ("attn_q", vec![h, h]),
            ("attn_k", vec![128, h]),
            ("attn_v", vec![128, h]),
            ("attn_output", vec![h, h]),
            ("ffn_norm", vec![h]),
            ("ffn_gate", vec![f, h]),
            ("ffn_up", vec![f, h]),
            ("ffn_down", vec![h, f]),
        ] {
            shapes.push((format!("blk.{i}.{n}.weight"), s));
        }
    }
    // Deterministic pseudo-random weights (a 64-bit LCG, Box–Muller), so the measured
    // errors are the same on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let dense: Vec<Tensor> = shapes
        .iter()
        .map(|(_, s)| {
            let n: usize = s.iter().product();
            let v: Vec<f32> = if s.len() == 1 {
                (0..n).map(|_| (0.8 + 0.4 * uniform()) as f32).collect()
            } else {
                let std = 1.0 / (s[1] as f64).sqrt();
                (0..n)
                    .map(|_| {
                        let (u1, u2) = (uniform(), uniform());
                        (std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
                    })
                    .collect()
            };
            Tensor::from_vec(v, s.clone(), &dev).unwrap()
        })
        .collect();
    let quant: Vec<Option<QTensor>> =
        dense.iter().map(|t| (t.rank() == 2).then(|| QTensor::quantize(t, q).unwrap())).collect();
    let tensors: Vec<(&str, TensorData)> = shapes
        .iter()
        .zip(dense.iter().zip(&quant))
        .map(|((n, _), (t, qt))| {
            let data = match qt {
                Some(qt) => {
                    TensorData::Raw { dtype: qt.dtype(), shape: qt.shape().to_vec(), bytes: qt.bytes() }
                }
                None => TensorData::Dense(t),
            };
            (n.as_str(), data)
        })
        .collect();
    gguf::write(path, &md, &tensors).unwrap();
}

#[test]
fn q4_k_gguf_within_its_bound() {
    let tmp = TempDir::new("q4_k");
    let path = tmp.0.join("wide-q4_k.gguf");
    write_wide_model(&path, GgmlDType::Q4_K);
    let model = load(&path);
    assert_eq!(model.vocab_size(), 96);
    let prompt: Vec<u32> = PROMPT.iter().map(|&t| t % 96).collect();
    let deq = rel_err(&logits(model.as_ref(), &prompt), &logits(&dequantized_model(&path), &prompt));
    println!("Q4_K vs dequantized: {deq:.2e} (bound {ACT_BOUND:.2e})");
    assert!(deq <= ACT_BOUND, "{deq}");
}

#[test]
fn quantize_at_load_matches_quantizing_the_file_first() {
    let tmp = TempDir::new("at-load");
    // Quantizing while loading keeps the embedding table dense (it is a lookup, not a
    // product): so does this file.
    let file = tmp.0.join("llama-q8_0-dense-embd.gguf");
    rewrite(
        &gguf_fixture("llama-f32.gguf"),
        &file,
        Some(GgmlDType::Q8_0),
        &["token_embd.weight"],
        |_| {},
        |_| true,
    );
    let want = logits(load(&file).as_ref(), &PROMPT);
    let opts = LoadOptions { dtype: DType::F32, quantize: Some(GgmlDType::Q8_0), progress: None };
    // The same GGUF layout: the same bits.
    let from_f32_gguf = llm::load_with(&gguf_fixture("llama-f32.gguf"), &opts).unwrap();
    assert_eq!(logits(from_f32_gguf.as_ref(), &PROMPT), want);
    // From safetensors (half-split rows): the same values up to the order of f32 sums.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let progress: wick_models::weights::ProgressFn = std::sync::Arc::new(move |done, total, name: &str| {
        s.lock().unwrap().push((done, total, name.to_string()))
    });
    let opts = LoadOptions { progress: Some(progress), ..opts };
    let from_dir = llm::load_with(&fixtures().join("llama"), &opts).unwrap();
    let err = rel_err(&logits(from_dir.as_ref(), &PROMPT), &want);
    println!("--quantize q8_0 at load vs quantized file: {err:.2e}");
    assert!(err <= 1e-5, "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 15, "{seen:?}");
    assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((15, 15)));
    assert_eq!(seen[14].2, "lm_head.weight");
}

fn load_err(path: &Path) -> String {
    match llm::load(path, DType::F32) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn corrupt_or_missing_metadata_and_tensors_give_named_errors() {
    let tmp = TempDir::new("corrupt");
    let src = gguf_fixture("llama-f32.gguf");
    type Edit = Box<dyn FnOnce(&mut Vec<(String, Value)>)>;
    type Keep = Box<dyn Fn(&str) -> bool>;
    let cases: Vec<(&str, Edit, Keep, &str)> = vec![
        (
            "no-blocks",
            Box::new(|m| m.retain(|(k, _)| k != "llama.block_count")),
            Box::new(|_| true),
            "llama.block_count",
        ),
        (
            "bad-heads",
            Box::new(|m| {
                m.iter_mut()
                    .filter(|(k, _)| k == "llama.attention.head_count")
                    .for_each(|e| e.1 = Value::from("four"))
            }),
            Box::new(|_| true),
            "llama.attention.head_count",
        ),
        (
            "no-eps",
            Box::new(|m| m.retain(|(k, _)| k != "llama.attention.layer_norm_rms_epsilon")),
            Box::new(|_| true),
            "llama.attention.layer_norm_rms_epsilon",
        ),
        (
            "arch",
            Box::new(|m| {
                m.iter_mut()
                    .filter(|(k, _)| k == "general.architecture")
                    .for_each(|e| e.1 = Value::from("mamba"))
            }),
            Box::new(|_| true),
            "general.architecture \"mamba\"",
        ),
        (
            "heads-kv",
            Box::new(|m| {
                m.iter_mut()
                    .filter(|(k, _)| k == "llama.attention.head_count_kv")
                    .for_each(|e| e.1 = Value::U32(3))
            }),
            Box::new(|_| true),
            "3 kv heads",
        ),
        ("no-tensor", Box::new(|_| {}), Box::new(|n| n != "blk.1.ffn_down.weight"), "blk.1.ffn_down.weight"),
        ("no-embd", Box::new(|_| {}), Box::new(|n| n != "token_embd.weight"), "token_embd.weight"),
        (
            "width",
            Box::new(|m| {
                m.iter_mut().filter(|(k, _)| k == "llama.embedding_length").for_each(|e| e.1 = Value::U32(64))
            }),
            Box::new(|_| true),
            "token_embd.weight",
        ),
    ];
    for (tag, edit, keep, want) in cases {
        let path = tmp.0.join(format!("{tag}.gguf"));
        rewrite(&src, &path, None, &[], edit, keep);
        let e = load_err(&path);
        assert!(e.contains(want), "{tag}: {e}");
        assert!(e.contains(&format!("{tag}.gguf")), "{tag}: the error names no file: {e}");
    }
    // Not a GGUF file at all.
    let junk = tmp.0.join("junk.gguf");
    std::fs::write(&junk, b"not a gguf file").unwrap();
    let e = load_err(&junk);
    assert!(e.contains("junk.gguf") && e.contains("magic"), "{e}");
}

const TEXTS: [&str; 7] = [
    "the cat ran on the",
    "The dog sat.",
    "a  b   c",
    // (Not a leading space: SentencePiece, hence a GGUF "llama" vocabulary, puts its dummy
    // `▁` in front of it, this fixture's Metaspace pre-tokenizer does not; see the
    // sentencepiece test below for leading spaces.)
    "trailing space and  two ",
    "on the mat the cat sat the",
    "unknown ü char",
    "",
];

fn same_tokenizer(got: &Tokenizer, want: &Tokenizer) {
    for text in TEXTS {
        for special in [true, false] {
            let ids = want.encode(text, special).unwrap();
            assert_eq!(got.encode(text, special).unwrap(), ids, "{text:?} (special tokens: {special})");
            for skip in [true, false] {
                assert_eq!(got.decode(&ids, skip).unwrap(), want.decode(&ids, skip).unwrap(), "{text:?}");
            }
        }
    }
}

#[test]
fn sentencepiece_tokenizer_from_gguf_matches_tokenizer_json() {
    let got = Tokenizer::from_gguf(gguf_fixture("llama-f32.gguf")).unwrap();
    let want = Tokenizer::from_file(fixtures().join("llama/tokenizer.json")).unwrap();
    same_tokenizer(&got, &want);
    assert_eq!(got.encode("the cat ran on the", true).unwrap(), vec![1, 33, 73, 82, 47, 33]);
    assert_eq!(got.token_to_id("</s>"), Some(2));
}

#[test]
fn byte_level_bpe_tokenizer_from_gguf_matches_tokenizer_json() {
    let got = Tokenizer::from_gguf(gguf_fixture("gpt2-tokenizer.gguf")).unwrap();
    let want = Tokenizer::from_file(gguf_fixture("gpt2-tokenizer.json")).unwrap();
    same_tokenizer(&got, &want);
    for text in ["Café naïve — emoji 😀 ok", "fn main() { println!(\"hi\"); } 123 4567", "I'm sure they'll"]
    {
        let ids = want.encode(text, false).unwrap();
        assert_eq!(got.encode(text, false).unwrap(), ids, "{text:?}");
        assert_eq!(got.decode(&ids, false).unwrap(), text);
    }
}

#[test]
fn tokenizer_metadata_errors_are_named() {
    let tmp = TempDir::new("tok");
    let path = tmp.0.join("no-scores.gguf");
    rewrite(
        &gguf_fixture("llama-f32.gguf"),
        &path,
        None,
        &[],
        |m| m.retain(|(k, _)| k != "tokenizer.ggml.scores"),
        |_| false,
    );
    let e = Tokenizer::from_gguf(&path).unwrap_err().to_string();
    assert!(e.contains("tokenizer.ggml.scores") && e.contains("no-scores.gguf"), "{e}");
}

/// What `wick quantize` wrote before it wrote llama.cpp's layout for the Llama family: the
/// checkpoint's own tensor names, 2-D weights in blocks, the rest F32, no `llama.*` metadata;
/// the model's config.json next to the file.
#[test]
fn checkpoint_named_gguf_with_config_json_loads() {
    let tmp = TempDir::new("hf-names");
    let src = fixtures().join("llama");
    let st = wick::safetensors::MmapedSafetensors::new(src.join("model.safetensors")).unwrap();
    let names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    let dense: Vec<Tensor> = names.iter().map(|n| st.get(n).unwrap()).collect();
    // The embedding table stays dense, as quantizing while loading keeps it.
    let quant: Vec<Option<QTensor>> = names
        .iter()
        .zip(&dense)
        .map(|(n, t)| {
            (t.rank() == 2 && n != "model.embed_tokens.weight")
                .then(|| QTensor::quantize(t, GgmlDType::Q8_0).unwrap())
        })
        .collect();
    let tensors: Vec<(&str, TensorData)> = names
        .iter()
        .zip(dense.iter().zip(&quant))
        .map(|(n, (t, q))| match q {
            Some(q) => (
                n.as_str(),
                TensorData::Raw { dtype: q.dtype(), shape: q.shape().to_vec(), bytes: q.bytes() },
            ),
            None => (n.as_str(), TensorData::Dense(t)),
        })
        .collect();
    let path = tmp.0.join("model-q8_0.gguf");
    gguf::write(&path, &[("general.architecture", Value::from("llama"))], &tensors).unwrap();
    let e = load_err(&path);
    assert!(e.contains("config.json") && e.contains("model-q8_0.gguf"), "{e}");
    std::fs::copy(src.join("config.json"), tmp.0.join("config.json")).unwrap();
    let got = logits(load(&path).as_ref(), &PROMPT);
    let f32 = rel_err(&got, &logits(safetensors_model().as_ref(), &PROMPT));
    assert!(f32 <= 2.0 * ACT_BOUND, "{f32}");
    let opts = LoadOptions { dtype: DType::F32, quantize: Some(GgmlDType::Q8_0), progress: None };
    let at_load = llm::load_with(&src, &opts).unwrap();
    // The same blocks in the same layout: the same bits.
    assert_eq!(logits(at_load.as_ref(), &PROMPT), got);
}

/// Against sentencepiece itself: a BPE model with byte fallback (Llama's settings) trained by
/// the `sentencepiece` package, its pieces/scores/types in GGUF, its own encodings of texts
/// with repeated and leading spaces, newlines, tabs, accents and characters it never saw
/// (spelled as UTF-8 byte pieces).
#[test]
fn sentencepiece_tokenizer_from_gguf_matches_sentencepiece() {
    let got = Tokenizer::from_gguf(gguf_fixture("spm-tokenizer.gguf")).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gguf_fixture("spm-expected.json")).unwrap()).unwrap();
    let bos = want["bos_id"].as_u64().unwrap() as u32;
    for case in want["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> =
            case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(got.encode(text, false).unwrap(), ids, "{text:?}");
        let with_bos: Vec<u32> = std::iter::once(bos).chain(ids.iter().copied()).collect();
        assert_eq!(got.encode(text, true).unwrap(), with_bos, "{text:?}");
        assert_eq!(got.decode(&with_bos, true).unwrap(), case["decoded"].as_str().unwrap(), "{text:?}");
    }
}

/// Llama 3.1 rope scaling as llama.cpp stores it (`rope_freqs.weight` divisors) gives the
/// model of the llama3 fixture's `rope_scaling` (the same f32 weights: 1e-5).
#[test]
fn llama3_gguf_with_rope_freqs_matches_the_safetensors_model() {
    let want = logits(llm::load(&fixtures().join("llama3"), DType::F32).unwrap().as_ref(), &PROMPT);
    let err = rel_err(&logits(load(&gguf_fixture("llama3-f32.gguf")).as_ref(), &PROMPT), &want);
    println!("llama3 F32 GGUF (rope_freqs) vs safetensors: {err:.2e}");
    assert!(err <= 1e-5, "{err}");
}

/// Qwen2 (`qwen2` architecture: q/k/v biases, half-split rotation, rows not permuted) with its
/// matrices in F16, kept dense. F16 rounds each weight by at most 2⁻¹¹ of itself, so each
/// product by at most 2⁻¹¹ relative, 9 products: 9 · 2⁻¹¹ ≈ 4.4e-3 (as for the block formats,
/// a first-order estimate).
#[test]
fn qwen2_f16_gguf_matches_the_safetensors_model() {
    let want = logits(llm::load(&fixtures().join("qwen2"), DType::F32).unwrap().as_ref(), &PROMPT);
    let path = gguf_fixture("qwen2-f16.gguf");
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.tensor_info("blk.0.attn_q.weight").unwrap().dtype, GgmlDType::F16);
    let cfg = wick_models::gguf::config(&file).unwrap();
    assert!(!cfg.rope_interleaved && cfg.model_type.as_deref() == Some("qwen2"));
    let err = rel_err(&logits(load(&path).as_ref(), &PROMPT), &want);
    let bound = 9.0 * 2f32.powi(-11);
    println!("qwen2 F16 GGUF vs f32 safetensors: {err:.2e} (bound {bound:.1e})");
    assert!(err <= bound, "{err}");
}
