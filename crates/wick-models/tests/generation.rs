//! Text generation on the tiny llama fixture (scripts/gen_llm_fixtures.py) against
//! transformers: greedy `generate` ids, the decoded text, and the chat template rendered by
//! `apply_chat_template`.

use std::path::{Path, PathBuf};
use wick::DType;
use wick_models::chat::{ChatTemplate, Message};
use wick_models::generation::{self, GenerateOptions, StopReason, TokenOutputStream};
use wick_models::{llm, Tokenizer};
use wick_nn::SamplingConfig;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("generate.json")).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn greedy_ids_and_text_match_transformers_generate() {
    let want = expected();
    let tok = Tokenizer::from_file(dir().join("tokenizer.json")).unwrap();
    let prompt = tok.encode(want["prompt"].as_str().unwrap(), true).unwrap();
    assert_eq!(prompt, ids(&want["prompt_ids"]), "tokenizer ids differ from transformers'");
    let model = llm::load(&dir(), DType::F32).unwrap();
    let greedy = ids(&want["greedy_ids"]);
    let opts = GenerateOptions {
        max_new_tokens: greedy.len(),
        eos_token_ids: generation::eos_token_ids(&dir(), model.as_ref()).unwrap(),
        ..Default::default()
    };
    assert_eq!(opts.eos_token_ids, vec![2]);
    let mut streamed = String::new();
    let out = generation::generate_text(model.as_ref(), &tok, &prompt, &opts, |p| {
        streamed.push_str(p);
        Ok(())
    })
    .unwrap();
    assert_eq!(out.ids, greedy);
    assert_eq!(out.text, want["greedy_text"].as_str().unwrap());
    assert_eq!(streamed, out.text);
    assert_eq!(out.stop, StopReason::MaxTokens);
    assert_eq!(out.decode_steps, greedy.len() - 1);
    assert!(out.prefill_tokens_per_sec() > 0.0 && out.decode_tokens_per_sec() > 0.0);
}

#[test]
fn stop_strings_eos_and_seeded_sampling() {
    let want = expected();
    let text = want["greedy_text"].as_str().unwrap().to_string();
    let tok = Tokenizer::from_file(dir().join("tokenizer.json")).unwrap();
    let prompt = ids(&want["prompt_ids"]);
    let model = llm::load(&dir(), DType::F32).unwrap();
    // A stop string in the middle of the greedy text cuts it there.
    let at = text.find("wick").unwrap();
    let opts =
        GenerateOptions { max_new_tokens: 20, stop_strings: vec!["wick".into()], ..Default::default() };
    let mut streamed = String::new();
    let out = generation::generate_text(model.as_ref(), &tok, &prompt, &opts, |p| {
        streamed.push_str(p);
        Ok(())
    })
    .unwrap();
    assert_eq!(out.stop, StopReason::StopString);
    assert_eq!(out.text, &text[..at]);
    assert_eq!(streamed, out.text);
    // The 3rd greedy token as an EOS id ends the generation there.
    let greedy = ids(&want["greedy_ids"]);
    let opts = GenerateOptions { max_new_tokens: 20, eos_token_ids: vec![greedy[1]], ..Default::default() };
    let out = generation::generate_ids(model.as_ref(), &prompt, &opts, |_| Ok(true)).unwrap();
    assert_eq!(out.ids, &greedy[..2]);
    assert_eq!(out.stop, StopReason::Eos);
    // Sampling is reproducible for a seed.
    let sampling = SamplingConfig {
        temperature: Some(1.0),
        top_k: Some(20),
        top_p: Some(0.9),
        min_p: Some(0.01),
        repetition_penalty: Some(1.3),
    };
    let opts = GenerateOptions { max_new_tokens: 12, sampling, seed: 7, ..Default::default() };
    let a = generation::generate_ids(model.as_ref(), &prompt, &opts, |_| Ok(true)).unwrap();
    let b = generation::generate_ids(model.as_ref(), &prompt, &opts, |_| Ok(true)).unwrap();
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.ids.len(), 12);
    assert!(generation::generate_ids(model.as_ref(), &[], &opts, |_| Ok(true)).is_err());
    assert!(generation::generate_ids(model.as_ref(), &[999], &opts, |_| Ok(true)).is_err());
}

#[test]
fn token_stream_matches_full_decode() {
    // Metaspace pieces: the space before a word depends on its neighbours.
    let tok = Tokenizer::from_file(dir().join("tokenizer.json")).unwrap();
    let all = tok.encode("the quick brown fox jumps over the lazy dog", false).unwrap();
    let mut stream = TokenOutputStream::new(&tok);
    let mut text = String::new();
    for &id in &all {
        if let Some(p) = stream.next_token(id).unwrap() {
            text.push_str(&p);
        }
    }
    text.push_str(&stream.flush().unwrap().unwrap_or_default());
    assert_eq!(text, tok.decode(&all, true).unwrap());
}

#[test]
fn token_stream_holds_back_half_characters() {
    // Byte-fallback tokens: "é" is the two ids <0xC3> <0xA9>; nothing is emitted between them.
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":{"type":"ByteFallback"},
        "model":{"type":"WordLevel","vocab":{"a":0,"<0xC3>":1,"<0xA9>":2,"<unk>":3},"unk_token":"<unk>"}}"#;
    let path = std::env::temp_dir().join(format!("wick-bytefallback-{}.json", std::process::id()));
    std::fs::write(&path, json).unwrap();
    let tok = Tokenizer::from_file(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut stream = TokenOutputStream::new(&tok);
    let pieces: Vec<Option<String>> =
        [0, 1, 2, 0, 1].iter().map(|&i| stream.next_token(i).unwrap()).collect();
    assert_eq!(pieces, vec![Some("a".into()), None, Some("é".into()), Some("a".into()), None]);
    assert_eq!(stream.flush().unwrap(), Some("\u{FFFD}".into()));
}

#[test]
fn chat_template_renders_like_transformers() {
    let want = expected();
    let t = ChatTemplate::from_tokenizer_config(&dir().join("tokenizer_config.json")).unwrap().unwrap();
    let messages: Vec<Message> = serde_json::from_value(want["chat_messages"].clone()).unwrap();
    assert_eq!(t.render(&messages, true).unwrap(), want["chat_rendered"].as_str().unwrap());
    let e = t.render(&[Message::new("tool", "x")], true).unwrap_err().to_string();
    assert!(e.contains("unknown role tool"), "{e}");
}
