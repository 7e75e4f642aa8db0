//! The embedded demo model: it loads, it has learned English (held-out loss far below the
//! byte-frequency baseline), and `wick demo` streams text.

use std::process::Command;
use wick_cli::demo::{load_embedded, text_loss};

/// The last verses of the corpus (Revelation 22), inside the 5% the training held out.
const HELD_OUT: &str = include_str!("../demo/heldout_sample.txt");

fn unigram_loss(text: &[u8]) -> f64 {
    // The sample's own byte frequencies: a baseline that even knows the test text's letters.
    let mut counts = [0f64; 256];
    for &b in text {
        counts[b as usize] += 1.0;
    }
    let n = text.len() as f64;
    text.iter().map(|&b| -(counts[b as usize] / n).ln()).sum::<f64>() / n
}

#[test]
fn the_demo_model_beats_the_unigram_baseline_on_held_out_text() {
    let model = load_embedded().unwrap();
    let loss = text_loss(&model, HELD_OUT.as_bytes()).unwrap();
    let baseline = unigram_loss(HELD_OUT.as_bytes());
    assert!(loss < 0.6 * baseline, "held-out loss {loss:.3} nats/byte vs unigram {baseline:.3}");
}

#[test]
fn wick_demo_streams_english_like_text() {
    let out = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["demo", "--max-tokens", "200", "--seed", "7", "--prompt", "And the LORD said"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("And the LORD said"));
    assert!(text.len() >= 200, "{text}");
    // English-like: mostly letters and spaces, words of plausible length.
    let generated = &text["And the LORD said".len()..];
    let letters = generated.chars().filter(|c| c.is_ascii_alphabetic() || *c == ' ').count();
    assert!(letters as f64 > 0.85 * generated.chars().count() as f64, "{generated}");
    let words: Vec<&str> = generated.split_whitespace().collect();
    let mean = words.iter().map(|w| w.len()).sum::<usize>() as f64 / words.len().max(1) as f64;
    assert!((2.5..8.0).contains(&mean), "mean word length {mean}: {generated}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokens/s"), "{stderr}");
    // Same seed, same text.
    let again = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["demo", "--max-tokens", "200", "--seed", "7", "--prompt", "And the LORD said"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
}

#[test]
fn wick_demo_rejects_bad_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_wick")).args(["demo", "--temperature=-1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("temperature"), "{err}");
}
