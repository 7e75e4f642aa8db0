//! The real all-MiniLM-L6-v2 (sentence-transformers) against PyTorch: tokenization equal to
//! Hugging Face's fast tokenizer, and sentence embeddings (masked mean pooling, L2 norm) with
//! cosine similarity > 0.9999 to the reference of scripts/gen_bert_fixtures.py (f32);
//! > 0.99995 in f16 and > 0.999 in bf16.
//!
//! The model comes from `WICK_MINILM_DIR`, else target/models/all-MiniLM-L6-v2 (installed by
//! scripts/get_minilm.sh). Without it the tests print a skip line, or fail when
//! `WICK_REQUIRE_MINILM=1` (as CI sets it).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use wick::DType;
use wick_models::source::{resolve_with, HubCache};
use wick_models::SentenceEmbedder;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<String>,
    input_ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The model directory, or `None` (after printing why) when the tests should skip.
fn model_dir(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("WICK_MINILM_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/models/all-MiniLM-L6-v2"),
    };
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    if std::env::var("WICK_REQUIRE_MINILM").is_ok_and(|v| v == "1") {
        panic!(
            "WICK_REQUIRE_MINILM=1 but all-MiniLM-L6-v2 is not in {} (run scripts/get_minilm.sh)",
            dir.display()
        );
    }
    println!("SKIPPED {test}: all-MiniLM-L6-v2 not found in {} (run scripts/get_minilm.sh)", dir.display());
    None
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn check(embedder: &SentenceEmbedder, r: &Reference, batch_size: usize, min_cos: f64, what: &str) {
    let got = embedder.embed(&r.sentences, batch_size).unwrap();
    assert_eq!(got.len(), r.sentences.len());
    for (i, (g, want)) in got.iter().zip(&r.embeddings).enumerate() {
        assert_eq!(g.len(), 384);
        let c = cosine(g, want);
        println!("{what} sentence {i}: cosine {c:.7}");
        assert!(c > min_cos, "{what}: sentence {i} {:?}: cosine {c} <= {min_cos}", r.sentences[i]);
        let norm: f64 = g.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{what}: not normalised ({norm})");
    }
}

#[test]
fn minilm_f32_embeddings_match_pytorch() {
    let Some(dir) = model_dir("minilm_f32_embeddings_match_pytorch") else { return };
    let r = reference();
    let embedder = SentenceEmbedder::load(&dir, DType::F32).unwrap();
    assert_eq!(embedder.recipe().max_seq_length, Some(256));
    // Tokenization is exactly Hugging Face's.
    for (s, want) in r.sentences.iter().zip(&r.input_ids) {
        assert_eq!(&embedder.tokenizer().encode(s, true).unwrap(), want, "{s:?}");
    }
    // All in one padded batch, and in batches of 2 (sorted by length, less padding).
    check(&embedder, &r, 32, 0.9999, "f32 batch 32");
    check(&embedder, &r, 2, 0.9999, "f32 batch 2");
}

#[test]
fn minilm_half_precision_embeddings_stay_close() {
    let Some(dir) = model_dir("minilm_half_precision_embeddings_stay_close") else { return };
    let r = reference();
    check(&SentenceEmbedder::load(&dir, DType::F16).unwrap(), &r, 32, 0.99995, "f16");
    check(&SentenceEmbedder::load(&dir, DType::BF16).unwrap(), &r, 32, 0.999, "bf16");
}

#[test]
fn minilm_loads_through_a_hub_cache_layout() {
    let Some(dir) = model_dir("minilm_loads_through_a_hub_cache_layout") else { return };
    let dir = std::fs::canonicalize(dir).unwrap();
    let root = std::env::temp_dir().join(format!("wick-minilm-hub-{}", std::process::id()));
    let repo = root.join("models--sentence-transformers--all-MiniLM-L6-v2");
    let snap = repo.join("snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling",
    ] {
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join(f), snap.join(f)).unwrap();
    }
    let found = resolve_with("sentence-transformers/all-MiniLM-L6-v2", Some(&HubCache::new(&root))).unwrap();
    let r = reference();
    check(&SentenceEmbedder::load(&found, DType::F32).unwrap(), &r, 32, 0.9999, "hub cache");
    std::fs::remove_dir_all(&root).unwrap();
}
