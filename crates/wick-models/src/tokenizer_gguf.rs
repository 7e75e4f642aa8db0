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
use std::path::Path;
use wick::gguf::{Array, Content, GgufFile, Value};
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
    tokenizer_json_of(file.content())
}

/// [`tokenizer_json`] of parsed metadata.
pub fn tokenizer_json_of(c: &Content) -> Result<Json> {
    let model: &str = c.get("tokenizer.ggml.model")?;
    if model == "none" || model == "no_vocab" {
        return Err(bad(format!(
            "tokenizer.ggml.model is {model:?}: the file carries no tokenizer (put the model's \
             tokenizer.json next to it)"
        )));
    }
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

// ---------------------------------------------------------------------------------------------
// Writing: a Hugging Face tokenizer.json as `tokenizer.ggml.*` metadata.

const TYPE_NORMAL: i32 = 1;
const TYPE_UNUSED: i32 = 5;

fn read_json_file(path: &Path) -> Result<Json> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format("tokenizer", format!("{}: {e}", path.display())))
}

/// Whether `v` holds, at any depth, an object `{"type": ty, ..}` (pre-tokenizers and decoders
/// nest in `Sequence`s).
fn has_type(v: &Json, ty: &str) -> bool {
    match v {
        Json::Object(m) => {
            m.get("type").and_then(Json::as_str) == Some(ty) || m.values().any(|x| has_type(x, ty))
        }
        Json::Array(a) => a.iter().any(|x| has_type(x, ty)),
        _ => false,
    }
}

/// The objects `{"type": ty, ..}` in `v`, at any depth.
fn find_type<'a>(v: &'a Json, ty: &str, out: &mut Vec<&'a Map<String, Json>>) {
    match v {
        Json::Object(m) => {
            if m.get("type").and_then(Json::as_str) == Some(ty) {
                out.push(m);
            }
            m.values().for_each(|x| find_type(x, ty, out));
        }
        Json::Array(a) => a.iter().for_each(|x| find_type(x, ty, out)),
        _ => {}
    }
}

/// The text of a special token in tokenizer_config.json: a string or `{"content": ..}`.
fn token_text(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(m) => m.get("content").and_then(Json::as_str),
        _ => None,
    }
}

/// `tokenizer.ggml.pre` of a byte-level BPE tokenizer: the name llama.cpp gives its split
/// pattern (`gpt-2` for the pattern built into `ByteLevel`).
fn byte_level_pre(doc: &Json) -> Result<&'static str> {
    let mut splits = Vec::new();
    find_type(&doc["pre_tokenizer"], "Split", &mut splits);
    let patterns: Vec<&str> = splits
        .iter()
        .filter_map(|s| s.get("pattern").and_then(|p| p.get("Regex")).and_then(Json::as_str))
        .collect();
    match patterns.as_slice() {
        [] => {
            let mut bl = Vec::new();
            find_type(&doc["pre_tokenizer"], "ByteLevel", &mut bl);
            let regex = bl.iter().all(|b| b.get("use_regex").and_then(Json::as_bool).unwrap_or(true));
            if bl.is_empty() || !regex {
                return Err(bad("a byte-level tokenizer without a split pattern is not supported".into()));
            }
            Ok("gpt-2")
        }
        [p] if *p == LLAMA3_SPLIT => Ok("llama-bpe"),
        [p] if *p == QWEN2_SPLIT => Ok("qwen2"),
        _ => Err(bad(format!(
            "the pre-tokenizer split pattern {patterns:?} is not one llama.cpp names here (GPT-2's, Llama 3's, Qwen2's)"
        ))),
    }
}

/// Whether a SentencePiece-style tokenizer puts a `▁` in front of the text (`Prepend`
/// normalizer, or a `Metaspace` pre-tokenizer that prepends).
fn spm_adds_space_prefix(doc: &Json) -> bool {
    let mut prepend = Vec::new();
    find_type(&doc["normalizer"], "Prepend", &mut prepend);
    if prepend.iter().any(|p| p.get("prepend").and_then(Json::as_str) == Some("▁")) {
        return true;
    }
    let mut meta = Vec::new();
    find_type(&doc["pre_tokenizer"], "Metaspace", &mut meta);
    meta.iter().any(|m| match m.get("prepend_scheme").and_then(Json::as_str) {
        Some(scheme) => scheme != "never",
        None => m.get("add_prefix_space").and_then(Json::as_bool).unwrap_or(true),
    })
}

/// The `tokenizer.ggml.*` metadata (and `tokenizer.chat_template`) llama.cpp reads, from the
/// Hugging Face tokenizer files in `dir`: `tokenizer.json` (required), `tokenizer_config.json`
/// and `config.json` (special tokens, `add_bos_token`, chat template; optional).
/// `vocab_rows` is the model's embedding rows: the token list is padded to it with unused
/// `[PAD{id}]` tokens (llama.cpp needs one token per row).
///
/// - A BPE model with a byte-level pre-tokenizer becomes `gpt2` (tokens, merges as `"a b"`,
///   `pre` from the split pattern: `gpt-2`, `llama-bpe`, `qwen2`);
/// - a BPE model with SentencePiece's `▁` spaces or byte fallback becomes `llama`: tokens,
///   token types (byte pieces `<0xNN>` 6) and scores that rank each piece by its first merge
///   (SentencePiece merges the adjacent pair whose joined piece scores highest; the
///   Hugging Face conversion of SentencePiece models orders its merges the same way), so
///   [`tokenizer_json`] reads back the same merges.
///
/// Added tokens are control tokens (3) when special, user-defined (4) otherwise; the unknown
/// token is type 2. Other tokenizers (WordPiece, Unigram, …) are refused with an error.
pub fn metadata_from_hf(dir: &Path, vocab_rows: usize) -> Result<Vec<(String, Value)>> {
    let path = dir.join("tokenizer.json");
    metadata_from_hf_inner(dir, &path, vocab_rows).map_err(|e| e.context(path.display()))
}

fn metadata_from_hf_inner(dir: &Path, path: &Path, vocab_rows: usize) -> Result<Vec<(String, Value)>> {
    let doc = read_json_file(path)?;
    let side = |name: &str| -> Result<Option<Json>> {
        let p = dir.join(name);
        if p.is_file() {
            read_json_file(&p).map(Some)
        } else {
            Ok(None)
        }
    };
    let tok_cfg = side("tokenizer_config.json")?.unwrap_or(Json::Null);
    let model_cfg = side("config.json")?.unwrap_or(Json::Null);
    let model = &doc["model"];
    if model["type"].as_str() != Some("BPE") {
        return Err(bad(format!("model type {} is not supported (BPE)", model["type"])));
    }
    let vocab = model["vocab"].as_object().ok_or_else(|| bad("model.vocab is not an object".into()))?;
    // Tokens by id: the vocabulary, then the added tokens (which may extend it).
    let mut tokens: Vec<Option<String>> = Vec::new();
    let mut put = |piece: &str, id: &Json| -> Result<usize> {
        let id = id.as_u64().and_then(|i| usize::try_from(i).ok()).filter(|&i| i < vocab_rows).ok_or_else(
            || bad(format!("token {piece:?} has id {id}, not one of the model's {vocab_rows} rows")),
        )?;
        if tokens.len() <= id {
            tokens.resize(id + 1, None);
        }
        tokens[id] = Some(piece.to_string());
        Ok(id)
    };
    for (piece, id) in vocab {
        put(piece, id)?;
    }
    let mut added: Vec<(usize, bool)> = Vec::new();
    for a in doc["added_tokens"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let content = a["content"].as_str().ok_or_else(|| bad(format!("added token {a} has no content")))?;
        added.push((put(content, &a["id"])?, a["special"].as_bool().unwrap_or(false)));
    }
    // Ids no token has (up to the embedding's rows) become unused padding tokens.
    tokens.resize(vocab_rows, None);
    let padding: Vec<bool> = tokens.iter().map(Option::is_none).collect();
    let tokens: Vec<String> =
        tokens.into_iter().enumerate().map(|(i, t)| t.unwrap_or_else(|| format!("[PAD{i}]"))).collect();
    let id_of = |text: &str| tokens.iter().position(|t| t == text).map(|i| i as u32);

    let byte_level = has_type(&doc["pre_tokenizer"], "ByteLevel") || has_type(&doc["decoder"], "ByteLevel");
    let spm = !byte_level
        && (model["byte_fallback"].as_bool() == Some(true)
            || has_type(&doc["pre_tokenizer"], "Metaspace")
            || has_type(&doc["decoder"], "Metaspace")
            || doc["normalizer"].to_string().contains('▁'));
    if !byte_level && !spm {
        return Err(bad(
            "a BPE tokenizer that is neither byte-level nor SentencePiece-style is not supported".into(),
        ));
    }
    let unk = model["unk_token"].as_str().or(token_text(tok_cfg.get("unk_token"))).and_then(id_of);
    let mut types: Vec<i32> =
        (0..vocab_rows).map(|i| if padding[i] { TYPE_UNUSED } else { TYPE_NORMAL }).collect();
    for &(id, special) in &added {
        types[id] = if special { TYPE_CONTROL } else { TYPE_USER_DEFINED };
    }
    if let Some(u) = unk {
        types[u as usize] = TYPE_UNKNOWN;
    }
    let merges: Vec<String> = model["merges"]
        .as_array()
        .ok_or_else(|| bad("model.merges is not a list".into()))?
        .iter()
        .map(|m| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(p) => match p.as_slice() {
                [Json::String(a), Json::String(b)] => Ok(format!("{a} {b}")),
                _ => Err(bad(format!("merge {m} is not a pair of strings"))),
            },
            _ => Err(bad(format!("merge {m} is neither \"a b\" nor [a, b]"))),
        })
        .collect::<Result<_>>()?;

    let mut md: Vec<(String, Value)> = Vec::new();
    let mut add = |k: &str, v: Value| md.push((k.to_string(), v));
    if spm {
        // Each piece scores minus the rank of the first merge that makes it; pieces no merge
        // makes (characters, bytes, specials) score below every merge result.
        let mut rank: HashMap<String, usize> = HashMap::with_capacity(merges.len());
        for (r, m) in merges.iter().enumerate() {
            if let Some((a, b)) = m.split_once(' ') {
                rank.entry(format!("{a}{b}")).or_insert(r);
            }
        }
        let floor = merges.len() as f32;
        let scores: Vec<f32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| match rank.get(t) {
                Some(&r) if types[i] == TYPE_NORMAL => -(r as f32),
                _ => -floor - i as f32,
            })
            .collect();
        for (i, t) in tokens.iter().enumerate() {
            let byte = t.len() == 6
                && t.starts_with("<0x")
                && t.ends_with('>')
                && u8::from_str_radix(&t[3..5], 16).is_ok();
            if byte && types[i] == TYPE_NORMAL {
                types[i] = TYPE_BYTE;
            }
        }
        add("tokenizer.ggml.model", Value::from("llama"));
        add("tokenizer.ggml.pre", Value::from("default"));
        add("tokenizer.ggml.tokens", Value::Array(Array::String(tokens.clone())));
        add("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
        add("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
        add("tokenizer.ggml.add_space_prefix", Value::Bool(spm_adds_space_prefix(&doc)));
    } else {
        add("tokenizer.ggml.model", Value::from("gpt2"));
        add("tokenizer.ggml.pre", Value::from(byte_level_pre(&doc)?));
        add("tokenizer.ggml.tokens", Value::Array(Array::String(tokens.clone())));
        add("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
        add("tokenizer.ggml.merges", Value::Array(Array::String(merges)));
    }

    // Special tokens: tokenizer_config.json's texts, else config.json's ids.
    let special = |name: &str| -> Option<u32> {
        if let Some(id) = token_text(tok_cfg.get(format!("{name}_token").as_str())).and_then(id_of) {
            return Some(id);
        }
        let v = model_cfg.get(format!("{name}_token_id").as_str())?;
        let id = v.as_u64().or_else(|| v.as_array()?.first()?.as_u64())?;
        u32::try_from(id).ok().filter(|&i| (i as usize) < vocab_rows)
    };
    let bos = special("bos");
    let eos = special("eos");
    for (key, id) in
        [("bos", bos), ("eos", eos), ("unknown", special("unk").or(unk)), ("padding", special("pad"))]
    {
        if let Some(id) = id {
            add(&format!("tokenizer.ggml.{key}_token_id"), Value::U32(id));
        }
    }
    // Whether encoding adds bos / eos: tokenizer_config.json says so, else the tokenizer's
    // post-processor does it.
    let hf = crate::Tokenizer::from_file(path)?;
    let probe = hf.encode("a", true)?;
    let flag = |key: &str, id: Option<u32>, at: Option<&u32>| -> bool {
        tok_cfg.get(key).and_then(Json::as_bool).unwrap_or(id.is_some() && at == id.as_ref())
    };
    add("tokenizer.ggml.add_bos_token", Value::Bool(flag("add_bos_token", bos, probe.first())));
    add("tokenizer.ggml.add_eos_token", Value::Bool(flag("add_eos_token", eos, probe.last())));
    if let Some(t) = chat_template(dir, &tok_cfg)? {
        add("tokenizer.chat_template", Value::String(t));
    }
    Ok(md)
}

/// The chat template: tokenizer_config.json's `chat_template` (a string, or a list of named
/// templates of which `default` is taken), else a `chat_template.jinja` file.
fn chat_template(dir: &Path, tok_cfg: &Json) -> Result<Option<String>> {
    match tok_cfg.get("chat_template") {
        Some(Json::String(s)) => return Ok(Some(s.clone())),
        Some(Json::Array(list)) => {
            let named = |n: &str| list.iter().find(|t| t["name"].as_str() == Some(n));
            if let Some(t) = named("default").or(list.first()).and_then(|t| t["template"].as_str()) {
                return Ok(Some(t.to_string()));
            }
        }
        _ => {}
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return std::fs::read_to_string(&jinja).map(Some).map_err(|e| Error::io(&jinja, e));
    }
    Ok(None)
}

/// Texts [`check_round_trip`] encodes: words, punctuation, digits, repeated spaces, newlines,
/// accents and emoji (no leading space: SentencePiece's dummy prefix treats it differently
/// from some tokenizer.json files).
const PROBES: [&str; 6] = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "the cat sat on the mat",
    "Numbers 123 4567 and code: fn main() { println!(\"hi\"); }",
    "two  spaces,\nnew lines\n\tand tabs",
    "Café naïve — emoji 😀",
    "I'm sure they'll say it's fine",
];

/// Checks that the tokenizer wick builds from `metadata` (as [`tokenizer_json`] reads it back)
/// encodes a few texts as the Hugging Face `tokenizer.json` at `path` does; the error names the
/// first text that differs. Texts with characters the vocabulary cannot spell (the unknown
/// token in tokenizer.json's encoding) are skipped: SentencePiece fuses runs of them into one
/// unknown token, a tokenizer.json need not.
pub fn check_round_trip(metadata: &[(String, Value)], path: &Path) -> Result<()> {
    let content = Content {
        version: 3,
        metadata: metadata.to_vec(),
        tensor_infos: Vec::new(),
        alignment: 32,
        data_offset: 0,
    };
    let got = crate::Tokenizer::from_gguf_content(&content, path)?;
    let want = crate::Tokenizer::from_file(path)?;
    let unk = match content.value("tokenizer.ggml.unknown_token_id") {
        Some(_) => Some(content.get::<u32>("tokenizer.ggml.unknown_token_id")?),
        None => None,
    };
    for text in PROBES {
        if unk.is_some_and(|u| want.encode(text, false).is_ok_and(|ids| ids.contains(&u))) {
            continue;
        }
        for special in [false, true] {
            let (g, w) = (got.encode(text, special)?, want.encode(text, special)?);
            if g != w {
                return Err(bad(format!(
                    "{}: {text:?} encodes as {w:?} but as {g:?} from the GGUF metadata",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}
