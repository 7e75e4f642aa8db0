//! `wick generate` end to end on the tiny llama fixture of wick-models
//! (scripts/gen_llm_fixtures.py): greedy output equals the text of transformers' greedy
//! `generate` ids, offline.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wick-models/tests/fixtures/llama")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("generate.json")).unwrap()).unwrap()
}

#[test]
fn greedy_generation_matches_transformers() {
    let want = expected();
    let n = want["greedy_ids"].as_array().unwrap().len();
    let out = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["generate", "--model"])
        .arg(fixture())
        .args(["--prompt", want["prompt"].as_str().unwrap(), "--max-tokens", &n.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end_matches('\n'), want["greedy_text"].as_str().unwrap());
    assert!(stderr.contains("prefill: 6 tokens") && stderr.contains("tok/s"), "{stderr}");
    assert!(stderr.contains(&format!("decode: {n} tokens")), "{stderr}");
}

#[test]
fn chat_sampling_and_dtypes_run() {
    for dtype in ["f32", "f16", "bf16"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(["generate", "--chat", "--system", "be brief", "--model"])
            .arg(fixture())
            .args(["--prompt", "the dog ran", "--max-tokens", "5", "--temperature", "0.8", "--top-k", "40"])
            .args(["--top-p", "0.95", "--min-p", "0.05", "--repeat-penalty", "1.1", "--seed", "3"])
            .args(["--dtype", dtype])
            .output()
            .unwrap();
        assert!(out.status.success(), "{dtype}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["generate", "--model", "/nonexistent/model", "--prompt", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model"));
}

fn gguf_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wick-models/tests/fixtures/gguf_llama").join(name)
}

/// The F32 GGUF of the same weights (tokenizer from its metadata: no tokenizer.json next to
/// it) generates the same greedy text; the Q8_0 file and `--quantize` at load run.
#[test]
fn gguf_models_and_quantize_at_load_run() {
    let want = expected();
    let n = want["greedy_ids"].as_array().unwrap().len();
    let run = |model: &Path, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(["generate", "--model"])
            .arg(model)
            .args(["--prompt", want["prompt"].as_str().unwrap(), "--max-tokens", &n.to_string()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{}: {stderr}", model.display());
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (text, stderr) = run(&gguf_fixture("llama-f32.gguf"), &[]);
    assert_eq!(text.trim_end_matches('\n'), want["greedy_text"].as_str().unwrap());
    assert!(stderr.contains("prefill: 6 tokens"), "{stderr}");
    run(&gguf_fixture("llama-q8_0.gguf"), &[]);
    // The chat template from the GGUF metadata (no tokenizer_config.json next to the file).
    run(&gguf_fixture("llama-f32.gguf"), &["--chat", "--system", "be brief"]);
    for t in ["q8_0", "q4_0"] {
        run(&fixture(), &["--quantize", t]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["generate", "--prompt", "x", "--quantize", "q9_9", "--model"])
        .arg(fixture())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("q9_9"));
}
