//! A `tokenizers` tokenizer built from the vocabulary a GGUF file carries in its metadata
//! (`tokenizer.ggml.*`, as llama.cpp's converter writes it), for models shipped as a single
//! GGUF file without `tokenizer.json`.
//!
//! - `tokenizer.ggml.model = "llama"`: SentencePiece BPE. `tokens`, `scores`, `token_type`
//!   (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). SentencePiece merges
//!   the adjacent pair whose joined piece has the highest score; that is BPE whose merge list
//!   holds every split `(a, b)` of every normal piece `a + b`, ranked by the score of `a + b`
//!   (the Hugging Face conversion of Llama tokenizers does the same). Spaces become `▁`, one
//!   is prepended when `tokenizer.ggml.add_space_prefix` (default true); pieces `<0xNN>` are
//!   the byte fallback of text the vocabulary cannot spell. Checked against the
//!   `sentencepiece` package's own encodings.
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE with `tokens` and `merges` (`"a b"`
//!   strings), pre-tokenized by `tokenizer.ggml.pre`'s split pattern (GPT-2's by default;
//!   `llama-bpe` for Llama 3, `qwen2`).
//!
//! `bos_token_id` is added in front of every encoding when `tokenizer.ggml.add_bos_token`
//! (default true for `llama`, false for `gpt2`). The tokenizer is assembled as a
//! `tokenizer.json` document and parsed by the `tokenizers` crate, so it is exactly the type a
//! `tokenizer.json` file gives.

use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use wick::gguf::{Content, GgufFile};
use wick::{Error, Result};

const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;

/// Llama 3's pre-tokenizer split pattern (`tokenizer.ggml.pre = "llama-bpe"`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: the same with single digits.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn bad(msg: String) -> Error {
    Error::format("gguf tokenizer", msg)
}

fn flag(c: &Content, key: &str, default: bool) -> Result<bool> {
    match c.value(key) {
        None => Ok(default),
        Some(_) => c.get::<bool>(key),
    }
}

fn token_id(c: &Content, key: &str, n: usize) -> Result<Option<u32>> {
    if c.value(key).is_none() {
        return Ok(None);
    }
    let id: u32 = c.get(key)?;
    if id as usize >= n {
        return Err(bad(format!("metadata key {key:?} = {id} is not one of the {n} tokens")));
    }
    Ok(Some(id))
}

/// The `tokenizer.json` document for the GGUF metadata of `file`.
pub fn tokenizer_json(file: &GgufFile) -> Result<Json> {
    let c = file.content();
    let model: &str = c.get("tokenizer.ggml.model")?;
    let tokens: &[String] = c.get("tokenizer.ggml.tokens")?;
    let n = tokens.len();
    if n == 0 || u32::try_from(n).is_err() {
        return Err(bad(format!("metadata key \"tokenizer.ggml.tokens\" has {n} tokens")));
    }
    let types: Vec<i32> = match c.value("tokenizer.ggml.token_type") {
        None => vec![1; n],
        Some(_) => c.get::<&[i32]>("tokenizer.ggml.token_type")?.to_vec(),
    };
    if types.len() != n {
        return Err(bad(format!("tokenizer.ggml.token_type has {} entries for {n} tokens", types.len())));
    }
    let bos = token_id(c, "tokenizer.ggml.bos_token_id", n)?;
    let unk = token_id(c, "tokenizer.ggml.unknown_token_id", n)?;
    // A vocabulary maps each piece to its first id; later duplicates cannot be produced.
    let mut vocab: HashMap<&str, u32> = HashMap::with_capacity(n);
    let mut ordered = Map::new();
    for (i, t) in tokens.iter().enumerate() {
        if !vocab.contains_key(t.as_str()) {
            vocab.insert(t, i as u32);
            ordered.insert(t.clone(), json!(i));
        }
    }
    let added: Vec<Json> = types
        .iter()
        .enumerate()
        .filter(|(_, &t)| {
            t == TYPE_CONTROL || t == TYPE_USER_DEFINED || (model == "llama" && t == TYPE_UNKNOWN)
        })
        .map(|(i, &t)| {
            json!({"id": i, "content": tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": t == TYPE_USER_DEFINED, "special": t != TYPE_USER_DEFINED})
        })
        .collect();
    let (normalizer, pre_tokenizer, decoder, merges, byte_fallback, fuse_unk, ignore_merges, default_bos) =
        match model {
            "llama" => {
                let scores: &[f32] = c.get("tokenizer.ggml.scores")?;
                if scores.len() != n {
                    return Err(bad(format!(
                        "tokenizer.ggml.scores has {} entries for {n} tokens",
                        scores.len()
                    )));
                }
                // SentencePiece's dummy prefix is one `▁` in front of the text whatever it starts
                // with (a `Metaspace` pre-tokenizer would not add it before a leading space).
                let space = json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"});
                let mut decoders = vec![
                    json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
                    json!({"type": "ByteFallback"}),
                    json!({"type": "Fuse"}),
                ];
                let normalizer = if flag(c, "tokenizer.ggml.add_space_prefix", true)? {
                    decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
                    json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, space]})
                } else {
                    space
                };
                let decoder = json!({"type": "Sequence", "decoders": decoders});
                let merges = spm_merges(tokens, scores, &types, &vocab);
                let byte_fallback = types.contains(&TYPE_BYTE);
                (normalizer, Json::Null, decoder, merges, byte_fallback, true, false, true)
            }
            "gpt2" => {
                let merges: &[String] = c.get("tokenizer.ggml.merges")?;
                let pairs = merges
                    .iter()
                    .map(|m| {
                        m.split_once(' ')
                            .map(|(a, b)| json!([a, b]))
                            .ok_or_else(|| bad(format!("tokenizer.ggml.merges entry {m:?} is not \"a b\"")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let pre = match c.value("tokenizer.ggml.pre") {
                    None => "default",
                    Some(_) => c.get::<&str>("tokenizer.ggml.pre")?,
                };
                let byte_level = |regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex});
                let split = |pattern: &str| {
                    json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
                    byte_level(false)]})
                };
                let (pre_tok, ignore) = match pre {
                    "default" | "gpt-2" | "gpt2" => (byte_level(true), false),
                    "llama-bpe" | "llama3" => (split(LLAMA3_SPLIT), true),
                    "qwen2" => (split(QWEN2_SPLIT), false),
                    other => {
                        return Err(bad(format!(
                        "tokenizer.ggml.pre {other:?} is not supported (default, gpt-2, llama-bpe, qwen2)"
                    )))
                    }
                };
                (Json::Null, pre_tok, byte_level(true), pairs, false, false, ignore, false)
            }
            other => {
                return Err(bad(format!("tokenizer.ggml.model {other:?} is not supported (llama, gpt2)")))
            }
        };
    let post_processor = match (bos, flag(c, "tokenizer.ggml.add_bos_token", default_bos)?) {
        (Some(b), true) => {
            let t = &tokens[b as usize];
            json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": t, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {t.as_str(): {"id": t, "ids": [b], "tokens": [t]}}})
        }
        _ => Json::Null,
    };
    let unk_token = unk.map(|u| Json::String(tokens[u as usize].clone())).unwrap_or(Json::Null);
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": unk_token, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
            "ignore_merges": ignore_merges, "vocab": Json::Object(ordered), "merges": merges
        }
    }))
}

/// SentencePiece's merge order as a BPE merge list: every split of every normal piece into
/// two pieces of the vocabulary, by the joined piece's score (highest first; ties by id).
fn spm_merges(tokens: &[String], scores: &[f32], types: &[i32], vocab: &HashMap<&str, u32>) -> Vec<Json> {
    let mut merges: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types[id] != 1 || vocab.get(piece.as_str()) != Some(&(id as u32)) {
            continue;
        }
        for (split, _) in piece.char_indices().skip(1) {
            let (a, b) = piece.split_at(split);
            if let (Some(&ia), Some(&ib)) = (vocab.get(a), vocab.get(b)) {
                merges.push((scores[id], id as u32, ia, ib));
            }
        }
    }
    merges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    merges.into_iter().map(|(_, _, a, b)| json!([tokens[a as usize], tokens[b as usize]])).collect()
}
