//! Parity of the decoder LLMs (`wick_models::llm::load`: llama.rs, gpt2.rs, gemma.rs) with Hugging Face
//! `transformers` on tiny random models (fixtures by scripts/gen_llm_fixtures.py: hidden 32,
//! 2 layers, 4 heads, 2 kv heads, vocab 128, a batch of 2 × 9 tokens).
//!
//! What is compared, as max |wick − transformers| relative to max |reference logits|:
//! - every position of one full forward (f32: 1e-4);
//! - a cached decode — prefill 5 tokens in one forward, then 3 one-token steps — against
//!   transformers' own cached decode (f32: 1e-4), and wick's decode against wick's full
//!   forward (1e-5: the same arithmetic in another order);
//! - f16 weights and activations: 1e-2; bf16: 5e-2 (8-bit mantissa, ~4e-3 per rounding,
//!   compounded through 2 layers and a 128-way head).

use std::path::{Path, PathBuf};
use wick::{DType, Device, Tensor};
use wick_models::llm::{self, CausalLm};

fn dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(family)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// max |a − b| / max |b|
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (flat(a), flat(b));
    assert!(a.iter().all(|x| x.is_finite()), "non-finite logits");
    let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    err / b.iter().map(|y| y.abs()).fold(0f32, f32::max)
}

struct Reference {
    ids: Tensor,
    logits: Tensor,
    decode: Tensor,
}

fn reference(family: &str) -> Reference {
    let r = wick::safetensors::load(dir(family).join("reference.safetensors"), &Device::Cpu).unwrap();
    Reference {
        ids: r["input_ids"].to_dtype(DType::U32).unwrap(),
        logits: r["logits"].clone(),
        decode: r["decode_logits"].clone(),
    }
}

/// Prefill `prefill` tokens, then one token at a time up to `end`; all logits `(b, end, v)`.
fn cached_decode(model: &dyn CausalLm, ids: &Tensor, prefill: usize, end: usize) -> Tensor {
    let mut cache = model.new_cache();
    let mut parts = vec![model.forward(&ids.narrow(1, 0, prefill).unwrap(), &mut cache, true).unwrap()];
    for i in prefill..end {
        let step = model.forward(&ids.narrow(1, i, 1).unwrap(), &mut cache, false).unwrap();
        parts.push(step.unsqueeze(1).unwrap());
    }
    assert_eq!(cache.len(), end);
    Tensor::cat(&parts, 1).unwrap()
}

fn check_family(family: &str) {
    let r = reference(family);
    let (_, seq) = r.ids.dims2().unwrap();
    let model = llm::load(&dir(family), DType::F32).unwrap();
    let mut cache = model.new_cache();
    let full = model.forward(&r.ids, &mut cache, true).unwrap();
    let e = rel_err(&full, &r.logits);
    assert!(e <= 1e-4, "{family} f32 full-sequence logits: relative error {e}");

    let last = model.forward(&r.ids, &mut model.new_cache(), false).unwrap();
    let want_last = r.logits.narrow(1, seq - 1, 1).unwrap().squeeze(1).unwrap();
    assert!(rel_err(&last, &want_last) <= 1e-4, "{family}: last-position logits");

    let decode = cached_decode(model.as_ref(), &r.ids, 5, seq - 1);
    let e = rel_err(&decode, &r.decode);
    assert!(e <= 1e-4, "{family} f32 cached decode vs transformers: relative error {e}");
    let e = rel_err(&decode, &full.narrow(1, 0, seq - 1).unwrap());
    assert!(e <= 1e-5, "{family} f32 cached decode vs full forward: relative error {e}");

    for (dtype, tol) in [(DType::F16, 1e-2), (DType::BF16, 5e-2)] {
        let model = llm::load(&dir(family), dtype).unwrap();
        let full = model.forward(&r.ids, &mut model.new_cache(), true).unwrap();
        let e = rel_err(&full, &r.logits);
        assert!(e <= tol, "{family} {dtype:?} full-sequence logits: relative error {e} > {tol}");
        let decode = cached_decode(model.as_ref(), &r.ids, 5, seq - 1);
        let e = rel_err(&decode, &r.decode);
        assert!(e <= tol, "{family} {dtype:?} cached decode: relative error {e} > {tol}");
    }
}

#[test]
fn llama() {
    check_family("llama");
}

#[test]
fn llama3_rope_scaling() {
    check_family("llama3");
}

#[test]
fn mistral_sliding_window_shorter_than_sequence() {
    check_family("mistral");
}

#[test]
fn qwen2_qkv_bias() {
    check_family("qwen2");
}

#[test]
fn phi3_fused_projections() {
    check_family("phi3");
}

#[test]
fn gpt2_conv1d_weights_learned_positions() {
    check_family("gpt2");
}

#[test]
fn gemma_norm_offset_embedding_scale_geglu() {
    check_family("gemma");
}

#[test]
fn gemma2_softcapping_alternating_sliding_window_sandwich_norms() {
    check_family("gemma2");
}

#[test]
fn cache_overflow_and_bad_input_are_errors() {
    let model = llm::load(&dir("llama"), DType::F32).unwrap();
    let mut cache = model.new_cache();
    let long = Tensor::zeros((1, model.max_positions() + 1), DType::U32, &Device::Cpu).unwrap();
    let e = model.forward(&long, &mut cache, false).unwrap_err().to_string();
    assert!(e.contains("exceed"), "{e}");
    let floats = Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(model.forward(&floats, &mut cache, false).is_err());
    let oov = Tensor::new(&[[500u32]], &Device::Cpu).unwrap();
    assert!(model.forward(&oov, &mut cache, false).is_err());
}
