//! `wick quantize` on Llama-family model directories writes llama.cpp's GGUF layout: checked
//! by loading the output through wick's GGUF path with no config.json next to it, against
//! the safetensors model quantized while loading, and against the GGUF files
//! scripts/gen_gguf_llama_fixtures.py wrote with llama.cpp's own `gguf` package (an independent
//! implementation of the names, metadata and q/k row permutation).
//!
//! Fixtures: crates/wick-models/tests/fixtures/{llama,llama3,qwen2} (hidden 32, 2 layers, 4
//! heads of 8, 2 kv heads, vocab 128) and a wider random Llama written here (hidden 256, so
//! that the 256-element K-quant blocks fit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use wick::gguf::{GgmlDType, GgufFile, Value};
use wick::quantized::QTensor;
use wick::safetensors::MmapedSafetensors;
use wick::{DType, Device, Tensor};
use wick_models::llama::{Config, Llama};
use wick_models::llm::{self, CausalLm};
use wick_models::weights::Weights;
use wick_models::Tokenizer;
use wick_nn::VarBuilder;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wick-models/tests/fixtures")
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("wick-quantize-llama-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("model")).unwrap();
        std::fs::create_dir_all(p.join("out")).unwrap();
        TempDir(p)
    }
    /// The model directory (weights, config.json, tokenizer files).
    fn model(&self) -> PathBuf {
        self.0.join("model")
    }
    /// Where the GGUF files go: nothing else is there.
    fn out(&self, name: &str) -> PathBuf {
        self.0.join("out").join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the files of fixture `family` that a Hugging Face model directory has.
fn copy_fixture(family: &str, to: &Path, tokenizer: bool) {
    let mut files = vec!["config.json", "model.safetensors"];
    if tokenizer {
        files.extend(["tokenizer.json", "tokenizer_config.json"]);
    }
    for f in files {
        std::fs::copy(fixtures().join(family).join(f), to.join(f)).unwrap();
    }
}

fn quantize(input: &Path, out: &Path, ty: &str, extra: &[&str]) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_wick"))
        .arg("quantize")
        .arg(input)
        .arg(out)
        .args(["--type", ty])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{ty}: {stderr}");
    stderr
}

const PROMPT: [u32; 9] = [1, 33, 73, 82, 47, 33, 5, 17, 90];

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Logits of every prompt position, then of 3 cached one-token decode steps.
fn logits(model: &dyn CausalLm, prompt: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache();
    let ids = Tensor::from_slice(prompt, (1, prompt.len()), &Device::Cpu).unwrap();
    let mut out = flat(&model.forward(&ids, &mut cache, true).unwrap());
    for &t in &[7u32, 64, 3] {
        let id = Tensor::from_slice(&[t % model.vocab_size() as u32], (1, 1), &Device::Cpu).unwrap();
        out.extend(flat(&model.forward(&id, &mut cache, false).unwrap()));
    }
    out
}

/// max |a − b| / max |b|
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    assert!(a.iter().chain(b).all(|x| x.is_finite()), "non-finite logits");
    let err = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    err / b.iter().map(|y| y.abs()).fold(0f32, f32::max)
}

/// llama.cpp's q/k row order for rotating in the interleaved layout, written out here
/// independently of `wick quantize`: within each head of `d` rows, row `t·d/2 + j` moves to
/// `2j + t` (the rows of a `(heads, 2, d/2, in)` view transposed to `(heads, d/2, 2, in)`).
fn permute_for_interleaved_rope(w: &Tensor, heads: usize) -> Tensor {
    let (n, k) = w.dims2().unwrap();
    let d = n / heads;
    w.reshape((heads, 2, d / 2, k))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((n, k))
        .unwrap()
}

/// The safetensors model in `dir` and its config, laid out the way the GGUF file `gguf` holds
/// it when that is a `llama` file: q/k rows in llama.cpp's order, rotated interleaved, with
/// the file's `rope_freqs` divisors (f32) in place of the config's llama3 scaling.
fn as_in_gguf(dir: &Path, gguf: &GgufFile) -> (HashMap<String, Tensor>, Config) {
    let st = MmapedSafetensors::new(dir.join("model.safetensors")).unwrap();
    let mut map: HashMap<String, Tensor> = st.load_all().unwrap();
    let mut cfg = Config::from_file(&dir.join("config.json")).unwrap();
    if gguf.content().get::<&str>("general.architecture").unwrap() == "llama" {
        for (proj, heads) in [("q_proj", cfg.num_attention_heads), ("k_proj", cfg.kv_heads())] {
            for i in 0..cfg.num_hidden_layers {
                let name = format!("model.layers.{i}.self_attn.{proj}.weight");
                let w = permute_for_interleaved_rope(&map[&name], heads);
                map.insert(name, w);
            }
        }
        cfg.rope_interleaved = true;
        if gguf.content().tensor_info("rope_freqs.weight").is_some() {
            let f = flat(&gguf.tensor("rope_freqs.weight").unwrap());
            cfg.rope_freq_factors = Some(f.iter().map(|&x| x as f64).collect());
        }
    }
    (map, cfg)
}

/// The safetensors model in `dir`, laid out as in the GGUF file `gguf` ([`as_in_gguf`]), with
/// its matrices quantized to `t` while loading, the way `LoadOptions { quantize: Some(t) }`
/// does, except for one thing the file does differently on purpose: `wick quantize` (like
/// llama.cpp) stores the embedding table in `t` too, and the GGUF loader looks tokens up in its
/// dequantized copy, so here the table is replaced by its quantize → dequantize round trip.
/// (Quantizing while loading keeps the table dense: it is a lookup, not a product. On the
/// 32-wide llama fixture that alone moves the logits by 3.5e-2 at Q8_0.) A tied output
/// projection is the quantized original table in both: here an explicit `lm_head` copy of
/// it, quantized while loading.
///
/// Both models then hold the same blocks and run the same operations in the same order, so
/// their logits are bit-identical. (Against the half-split original the q·k sums run in
/// another order; a last-bit difference can move an activation across a rounding boundary of
/// its 8-bit quantization, and on a 256-wide Q4_K model one such decode step measured 1.4e-2.
/// That the layouts compute the same model is checked dense, where nothing is rounded to 8
/// bits: `interleaved_layout_computes_the_half_split_model`.)
fn quantized_while_loading(dir: &Path, t: GgmlDType, gguf: &GgufFile) -> Llama {
    let (mut map, mut cfg) = as_in_gguf(dir, gguf);
    let embd = map["model.embed_tokens.weight"].to_dtype(DType::F32).unwrap();
    if cfg.tie_word_embeddings == Some(true) {
        map.insert("lm_head.weight".into(), embd.clone());
        cfg.tie_word_embeddings = Some(false);
    }
    if embd.dims()[1].is_multiple_of(t.block_size()) {
        let round_trip = QTensor::quantize(&embd, t).unwrap().dequantize().unwrap();
        map.insert("model.embed_tokens.weight".into(), round_trip);
    }
    let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
    Llama::from_weights(&cfg, Weights::quantizing(vb, t, None)).unwrap()
}

/// Every tensor of a GGUF file has a llama.cpp name, and the metadata llama.cpp requires of
/// the architecture is there with the config's values.
fn check_llama_cpp_metadata(path: &Path, arch: &str, cfg: &serde_json::Value) {
    let file = GgufFile::open(path).unwrap();
    let c = file.content();
    assert_eq!(c.get::<&str>("general.architecture").unwrap(), arch);
    assert_eq!(c.get::<u32>("general.quantization_version").unwrap(), 2);
    assert!(c.value("general.file_type").is_some() && c.value("general.name").is_some());
    let u = |k: &str| c.get::<u32>(&format!("{arch}.{k}")).unwrap() as u64;
    let want = |k: &str| cfg[k].as_u64().unwrap();
    assert_eq!(u("context_length"), want("max_position_embeddings"));
    assert_eq!(u("embedding_length"), want("hidden_size"));
    assert_eq!(u("block_count"), want("num_hidden_layers"));
    assert_eq!(u("feed_forward_length"), want("intermediate_size"));
    assert_eq!(u("attention.head_count"), want("num_attention_heads"));
    assert_eq!(u("attention.head_count_kv"), want("num_key_value_heads"));
    assert_eq!(u("vocab_size"), want("vocab_size"));
    assert_eq!(u("rope.dimension_count"), want("hidden_size") / want("num_attention_heads"));
    let eps = c.get::<f32>(&format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap();
    assert_eq!(eps, cfg["rms_norm_eps"].as_f64().unwrap() as f32);
    let theta = cfg.get("rope_theta").or(cfg["rope_parameters"].get("rope_theta")).unwrap();
    assert_eq!(c.get::<f32>(&format!("{arch}.rope.freq_base")).unwrap(), theta.as_f64().unwrap() as f32);
    assert!(c.value("tokenizer.ggml.model").is_some(), "llama.cpp needs tokenizer.ggml.model");
    for t in &c.tensor_infos {
        assert!(
            t.name == "rope_freqs.weight" || wick_models::gguf::checkpoint_name(&t.name).is_some(),
            "{} is not a llama.cpp name",
            t.name
        );
        if t.shape.len() == 1 {
            assert_eq!(t.dtype, GgmlDType::F32, "{}: llama.cpp needs 1-D tensors in F32", t.name);
        }
    }
}

fn read_config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

/// The same quantized blocks (q/k rows are permuted whole, and a block never spans two rows)
/// and the same operations: bit-identical logits.
#[test]
fn quantized_gguf_without_config_matches_quantizing_while_loading() {
    for (family, arch, ty, t) in [
        ("llama", "llama", "q4_0", GgmlDType::Q4_0),
        ("llama", "llama", "q8_0", GgmlDType::Q8_0),
        ("qwen2", "qwen2", "q4_0", GgmlDType::Q4_0),
        ("qwen2", "qwen2", "q8_0", GgmlDType::Q8_0),
    ] {
        let tmp = TempDir::new(&format!("{family}-{ty}"));
        copy_fixture(family, &tmp.model(), false);
        let out = tmp.out(&format!("{family}-{ty}.gguf"));
        quantize(&tmp.model(), &out, ty, &[]);
        check_llama_cpp_metadata(&out, arch, &read_config(&tmp.model()));
        let file = GgufFile::open(&out).unwrap();
        assert_eq!(file.tensor_info("blk.1.ffn_down.weight").unwrap().dtype, t);
        assert_eq!(file.tensor_info("token_embd.weight").unwrap().dtype, t);
        let got = logits(llm::load(&out, DType::F32).unwrap().as_ref(), &PROMPT);
        let want = logits(&quantized_while_loading(&tmp.model(), t, &file), &PROMPT);
        assert_eq!(got, want, "{family} {ty}: not bit-identical");
    }
}

/// A random Llama 256 wide (4 heads of 64, 2 kv heads, MLP 512, 2 layers, vocab 96, Llama 3.1
/// rope scaling) in safetensors with its config.json, so that K-quant blocks fit; `tied`: no
/// `lm_head`, the embedding table serves as the output projection.
fn write_wide_model(dir: &Path, tied: bool) {
    let dev = Device::Cpu;
    let (h, f, vocab, layers, kv) = (256usize, 512usize, 96usize, 2usize, 128usize);
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("model.embed_tokens.weight".into(), vec![vocab, h]), ("model.norm.weight".into(), vec![h])];
    if !tied {
        shapes.push(("lm_head.weight".into(), vec![vocab, h]));
    }
    for i in 0..layers {
        for (n, s) in [
            ("input_layernorm", vec![h]),
            ("self_attn.q_proj", vec![h, h]),
            ("self_attn.k_proj", vec![kv, h]),
            ("self_attn.v_proj", vec![kv, h]),
            ("self_attn.o_proj", vec![h, h]),
            ("post_attention_layernorm", vec![h]),
            ("mlp.gate_proj", vec![f, h]),
            ("mlp.up_proj", vec![f, h]),
            ("mlp.down_proj", vec![h, f]),
        ] {
            shapes.push((format!("model.layers.{i}.{n}.weight"), s));
        }
    }
    // Deterministic pseudo-random weights (a 64-bit LCG), the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let weights: HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(n, s)| {
            let count: usize = s.iter().product();
            let v: Vec<f32> = if s.len() == 1 {
                (0..count).map(|_| (0.8 + 0.4 * uniform()) as f32).collect()
            } else {
                let scale = (3.0 / s[1] as f64).sqrt();
                (0..count).map(|_| (scale * (2.0 * uniform() - 1.0)) as f32).collect()
            };
            (n, Tensor::from_vec(v, s, &dev).unwrap())
        })
        .collect();
    wick::safetensors::save(&weights, dir.join("model.safetensors")).unwrap();
    let cfg = serde_json::json!({
        "model_type": "llama", "hidden_size": h, "intermediate_size": f, "num_hidden_layers": layers,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "tie_word_embeddings": tied, "hidden_act": "silu",
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    });
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
}

/// K-quants, head_dim 64, tied and untied embeddings, and llama3 rope scaling (`rope_freqs`,
/// the config's divisors within f32 rounding): bit-identical logits, as above.
#[test]
fn wide_llama_k_quants_match_quantizing_while_loading() {
    for (ty, t, tied) in
        [("q4_k", GgmlDType::Q4_K, false), ("q6_k", GgmlDType::Q6_K, false), ("q4_k", GgmlDType::Q4_K, true)]
    {
        let tmp = TempDir::new(&format!("wide-{ty}-{tied}"));
        write_wide_model(&tmp.model(), tied);
        let out = tmp.out("wide.gguf");
        quantize(&tmp.model().join("model.safetensors"), &out, ty, &[]);
        check_llama_cpp_metadata(&out, "llama", &read_config(&tmp.model()));
        let file = GgufFile::open(&out).unwrap();
        assert_eq!(file.content().tensor_info("output.weight").is_none(), tied, "tied: no output tensor");
        assert_eq!(file.tensor_info("rope_freqs.weight").unwrap().shape, vec![32]);
        assert_eq!(file.tensor_info("blk.0.attn_q.weight").unwrap().dtype, t);
        let cfg = Config::from_file(&tmp.model().join("config.json")).unwrap();
        let scaled = cfg.inv_freq().unwrap();
        let plain = Config { rope_scaling: None, rope_parameters: None, ..cfg }.inv_freq().unwrap();
        let divisors: Vec<f32> = plain.iter().zip(&scaled).map(|(p, s)| (p / s) as f32).collect();
        let in_file = flat(&file.tensor("rope_freqs.weight").unwrap());
        assert!(rel_err(&in_file, &divisors) <= 1e-6, "rope_freqs {in_file:?} vs {divisors:?}");
        let prompt: Vec<u32> = PROMPT.iter().map(|&i| i % 96).collect();
        let got = logits(llm::load(&out, DType::F32).unwrap().as_ref(), &prompt);
        let want = logits(&quantized_while_loading(&tmp.model(), t, &file), &prompt);
        assert_eq!(got, want, "wide llama {ty} (tied: {tied}): not bit-identical");
    }
}

/// What the comparisons above take as given: the model in llama.cpp's layout (q/k rows
/// permuted, rotated interleaved, llama3 scaling as f32 `rope_freqs` divisors) is the Hugging
/// Face model. Dense f32 on the 256-wide random Llama (head_dim 64), so only the order of the
/// q·k sums and the f32 rounding of the divisors differ: bound 1e-5 of the largest logit.
#[test]
fn interleaved_layout_computes_the_half_split_model() {
    let tmp = TempDir::new("layout");
    write_wide_model(&tmp.model(), false);
    let out = tmp.out("wide.gguf");
    quantize(&tmp.model().join("model.safetensors"), &out, "q4_k", &[]);
    let file = GgufFile::open(&out).unwrap();
    let dense = |(map, cfg): (HashMap<String, Tensor>, Config)| {
        let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
        Llama::from_weights(&cfg, Weights::dense(vb)).unwrap()
    };
    let (map, cfg) = as_in_gguf(&tmp.model(), &file);
    assert!(cfg.rope_interleaved && cfg.rope_freq_factors.is_some());
    let half_split = Config::from_file(&tmp.model().join("config.json")).unwrap();
    assert!(!half_split.rope_interleaved && half_split.rope_freq_factors.is_none());
    let prompt: Vec<u32> = PROMPT.iter().map(|&i| i % 96).collect();
    let got = logits(&dense((map.clone(), cfg)), &prompt);
    let original = MmapedSafetensors::new(tmp.model().join("model.safetensors")).unwrap().load_all().unwrap();
    assert_ne!(
        map["model.layers.0.self_attn.q_proj.weight"].to_vec2::<f32>().unwrap(),
        original["model.layers.0.self_attn.q_proj.weight"].to_vec2::<f32>().unwrap()
    );
    let want = logits(&dense((original, half_split)), &prompt);
    let err = rel_err(&got, &want);
    println!("interleaved (llama.cpp layout) vs half-split, dense: {err:.2e}");
    assert!(err <= 1e-5, "{err}");
}

/// Q4_K blocks are 256 wide, so on the 32-wide fixtures nothing is quantized and the file
/// holds the model's own f32 (or, with --dense-f16, f16 matrices): exactly what
/// scripts/gen_gguf_llama_fixtures.py wrote with llama.cpp's `gguf` package. Same tensor
/// names, shapes, types and bytes (the q/k permutation included), the same `llama.*` /
/// `qwen2.*` metadata, and (llama3) `rope_freqs` within f32 rounding of transformers' factors.
#[test]
fn unquantized_output_equals_the_gguf_package_fixtures() {
    for (family, fixture, extra) in [
        ("llama", "llama-f32.gguf", &[][..]),
        ("llama3", "llama3-f32.gguf", &[][..]),
        ("qwen2", "qwen2-f16.gguf", &["--dense-f16"][..]),
    ] {
        let tmp = TempDir::new(&format!("ref-{family}"));
        copy_fixture(family, &tmp.model(), false);
        let out = tmp.out("x.gguf");
        quantize(&tmp.model(), &out, "q4_k", extra);
        let got = GgufFile::open(&out).unwrap();
        let want = GgufFile::open(fixtures().join("gguf_llama").join(fixture)).unwrap();
        let names = |f: &GgufFile| {
            let mut v: Vec<String> = f.content().tensor_infos.iter().map(|t| t.name.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&got), names(&want), "{family}");
        for info in &want.content().tensor_infos {
            let g = got.tensor_info(&info.name).unwrap();
            assert_eq!((&g.shape, g.dtype), (&info.shape, info.dtype), "{family} {}", info.name);
            let (_, _, gb) = got.qtensor_bytes(&info.name).unwrap();
            let (_, _, wb) = want.qtensor_bytes(&info.name).unwrap();
            if info.name == "rope_freqs.weight" {
                let (gv, wv) =
                    (flat(&got.tensor(&info.name).unwrap()), flat(&want.tensor(&info.name).unwrap()));
                assert!(rel_err(&gv, &wv) <= 1e-6, "{family} rope_freqs: {gv:?} vs {wv:?}");
            } else {
                assert_eq!(gb, wb, "{family} {}: different bytes", info.name);
            }
        }
        let arch: &str = want.content().get("general.architecture").unwrap();
        assert_eq!(got.content().get::<&str>("general.architecture").unwrap(), arch);
        for (k, v) in &want.content().metadata {
            if k.starts_with(&format!("{arch}.")) {
                assert_eq!(got.content().value(k), Some(v), "{family}: {k}");
            }
        }
    }
}

const TEXTS: [&str; 6] =
    ["the cat ran on the", "The dog sat.", "a  b   c", "on the mat the cat sat the", "unknown ü char", ""];

/// The tokenizer written from tokenizer.json reads back (through wick's GGUF tokenizer) as the
/// same tokenizer: same ids with and without special tokens, same decoded text; the special
/// ids and chat template of tokenizer_config.json ride along. Greedy generation from the GGUF
/// file alone (no tokenizer.json or config.json next to it) equals generation from the
/// gguf-package Q8_0 fixture, and `--chat` finds the template in the file.
#[test]
fn tokenizer_round_trips_and_generate_runs_from_the_gguf_alone() {
    let tmp = TempDir::new("tok");
    copy_fixture("llama", &tmp.model(), true);
    let out = tmp.out("llama-q8_0.gguf");
    let stderr = quantize(&tmp.model(), &out, "q8_0", &[]);
    assert!(!stderr.contains("warning"), "{stderr}");
    let file = GgufFile::open(&out).unwrap();
    let c = file.content();
    assert_eq!(c.get::<&str>("tokenizer.ggml.model").unwrap(), "llama");
    assert_eq!(c.get::<&[String]>("tokenizer.ggml.tokens").unwrap().len(), 128);
    for (k, id) in [("bos", 1u32), ("eos", 2), ("unknown", 3), ("padding", 0)] {
        assert_eq!(c.get::<u32>(&format!("tokenizer.ggml.{k}_token_id")).unwrap(), id, "{k}");
    }
    assert!(c.get::<bool>("tokenizer.ggml.add_bos_token").unwrap());
    let tok_cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.model().join("tokenizer_config.json")).unwrap())
            .unwrap();
    assert_eq!(c.get::<&str>("tokenizer.chat_template").unwrap(), tok_cfg["chat_template"].as_str().unwrap());
    // The same token list and types as the gguf-package fixture (scores are free up to their
    // order: only the ranking of merges matters).
    let ref_file = GgufFile::open(fixtures().join("gguf_llama/llama-f32.gguf")).unwrap();
    let rc = ref_file.content();
    assert_eq!(
        c.get::<&[i32]>("tokenizer.ggml.token_type").unwrap(),
        rc.get::<&[i32]>("tokenizer.ggml.token_type").unwrap()
    );
    let (tokens, ref_tokens) = (
        c.get::<&[String]>("tokenizer.ggml.tokens").unwrap(),
        rc.get::<&[String]>("tokenizer.ggml.tokens").unwrap(),
    );
    assert_eq!(tokens[..101], ref_tokens[..101]);

    let got = Tokenizer::from_gguf(&out).unwrap();
    let want = Tokenizer::from_file(tmp.model().join("tokenizer.json")).unwrap();
    for text in TEXTS {
        for special in [true, false] {
            let ids = want.encode(text, special).unwrap();
            assert_eq!(got.encode(text, special).unwrap(), ids, "{text:?} (special tokens: {special})");
            assert_eq!(got.decode(&ids, true).unwrap(), want.decode(&ids, true).unwrap(), "{text:?}");
        }
    }

    let generate = |model: &Path, extra: &[&str]| {
        let run = Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(["generate", "--model"])
            .arg(model)
            .args(["--prompt", "the cat ran on the", "--max-tokens", "8"])
            .args(extra)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        String::from_utf8(run.stdout).unwrap()
    };
    // The gguf-package fixture: the same Q8_0 blocks (wick's and gguf's Q8_0 quantizers agree
    // byte for byte) and its own tokenizer metadata.
    let reference = fixtures().join("gguf_llama/llama-q8_0.gguf");
    assert_eq!(generate(&out, &[]), generate(&reference, &[]));
    let chat = generate(&out, &["--chat"]);
    assert!(!chat.is_empty());
}

/// A byte-level BPE tokenizer (`gpt2`): with GPT-2's built-in split pattern (`pre` = `gpt-2`)
/// and with Qwen2's split pattern (`pre` = `qwen2`); written through the library function and
/// read back as the same tokenizer.
#[test]
fn byte_level_tokenizer_round_trips() {
    let src = fixtures().join("gguf_llama/gpt2-tokenizer.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    let qwen2_split = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let mut qwen = doc.clone();
    qwen["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": qwen2_split}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]});
    for (pre, doc) in [("gpt-2", doc), ("qwen2", qwen)] {
        let tmp = TempDir::new(&format!("bpe-{pre}"));
        let path = tmp.model().join("tokenizer.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let rows = 400;
        let md = wick_models::tokenizer_gguf::metadata_from_hf(&tmp.model(), rows).unwrap();
        let get = |k: &str| md.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("tokenizer.ggml.model"), Some(Value::from("gpt2")));
        assert_eq!(get("tokenizer.ggml.pre"), Some(Value::from(pre)));
        wick_models::tokenizer_gguf::check_round_trip(&md, &path).unwrap();
        let content = wick::gguf::Content {
            version: 3,
            metadata: md,
            tensor_infos: Vec::new(),
            alignment: 32,
            data_offset: 0,
        };
        let got = Tokenizer::from_gguf_content(&content, &path).unwrap();
        let want = Tokenizer::from_file(&path).unwrap();
        for text in TEXTS.iter().chain(&["Café naïve — emoji 😀 ok", "I'm sure they'll 123 4567"]) {
            let ids = want.encode(text, false).unwrap();
            assert_eq!(got.encode(text, false).unwrap(), ids, "{pre}: {text:?}");
            assert_eq!(got.decode(&ids, false).unwrap(), *text, "{pre}");
        }
        assert_eq!(got.vocab_size(), rows, "padded to the embedding rows");
    }
}

/// No tokenizer.json: `tokenizer.ggml.model = "none"` (llama.cpp then takes the vocabulary
/// size from `llama.vocab_size`); wick loads the model, `bench model` runs, and asking for the
/// tokenizer names what is missing.
#[test]
fn without_tokenizer_the_model_loads_and_benches() {
    let tmp = TempDir::new("none");
    copy_fixture("llama", &tmp.model(), false);
    let out = tmp.out("llama-q4_0.gguf");
    quantize(&tmp.model(), &out, "q4_0", &[]);
    let file = GgufFile::open(&out).unwrap();
    assert_eq!(file.content().get::<&str>("tokenizer.ggml.model").unwrap(), "none");
    assert_eq!(file.content().get::<u32>("llama.vocab_size").unwrap(), 128);
    assert_eq!(llm::load(&out, DType::F32).unwrap().vocab_size(), 128);
    let e = Tokenizer::from_gguf(&out).unwrap_err().to_string();
    assert!(e.contains("no tokenizer") && e.contains("llama-q4_0.gguf"), "{e}");
    let bench = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["bench", "model", "--model"])
        .arg(&out)
        .args(["--runs", "1", "--seq", "4", "--decode-tokens", "2"])
        .output()
        .unwrap();
    assert!(bench.status.success(), "{}", String::from_utf8_lossy(&bench.stderr));
    assert!(String::from_utf8_lossy(&bench.stdout).contains("decode_tok_s"));
    let gen = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["generate", "--model"])
        .arg(&out)
        .args(["--prompt", "hi"])
        .output()
        .unwrap();
    assert!(!gen.status.success());
    assert!(String::from_utf8_lossy(&gen.stderr).contains("no tokenizer"));
}

/// A llama-typed config.json with a tensor llama.cpp has no name for is refused, naming it.
#[test]
fn unknown_tensor_in_a_llama_checkpoint_is_named() {
    let tmp = TempDir::new("unknown");
    copy_fixture("llama", &tmp.model(), false);
    let st = MmapedSafetensors::new(tmp.model().join("model.safetensors")).unwrap();
    let mut map = st.load_all().unwrap();
    drop(st);
    map.insert(
        "model.extra_adapter.weight".into(),
        Tensor::zeros((4, 32), DType::F32, &Device::Cpu).unwrap(),
    );
    wick::safetensors::save(&map, tmp.model().join("model.safetensors")).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_wick"))
        .arg("quantize")
        .arg(tmp.model())
        .arg(tmp.out("x.gguf"))
        .args(["--type", "q8_0"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("model.extra_adapter.weight") && stderr.contains("llama.cpp name"), "{stderr}");
    assert!(!tmp.out("x.gguf").exists());
}
