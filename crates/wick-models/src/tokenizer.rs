//! Tokenizer glue: loads a Hugging Face `tokenizer.json` (BERT WordPiece, Llama / GPT-2 BPE,
//! Unigram) through the `tokenizers` crate and turns batches of strings into padded id
//! matrices for a model.

use std::path::{Path, PathBuf};
use tokenizers::{TruncationDirection, TruncationParams, TruncationStrategy};
use wick::{Device, Error, Result, Tensor};

/// A tokenizer loaded from a `tokenizer.json` file.
///
/// ```no_run
/// use wick_models::tokenizer::Tokenizer;
/// let tok = Tokenizer::from_file("target/models/all-MiniLM-L6-v2/tokenizer.json")?;
/// let batch = tok.encode_batch(&["Hello world!", "A longer second sentence."], Some(128))?;
/// assert_eq!(batch.input_ids.len(), batch.batch_size * batch.seq_len);
/// # Ok::<(), wick::Error>(())
/// ```
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pad_id: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("path", &self.path).field("pad_id", &self.pad_id).finish()
    }
}

/// A batch of encoded texts, right-padded to the longest: row-major `(batch_size, seq_len)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Token ids, `pad_id` after each text's end.
    pub input_ids: Vec<u32>,
    /// Segment ids (0 for single texts).
    pub token_type_ids: Vec<u32>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// Number of texts.
    pub batch_size: usize,
    /// Tokens per row (the longest text's count).
    pub seq_len: usize,
    /// Tokens of each text (without padding).
    pub lengths: Vec<usize>,
}

impl Batch {
    /// `(input_ids, token_type_ids, attention_mask)` as `(batch, seq)` `U32` tensors.
    pub fn tensors(&self, device: &Device) -> Result<(Tensor, Tensor, Tensor)> {
        let shape = (self.batch_size, self.seq_len);
        Ok((
            Tensor::from_slice(&self.input_ids, shape, device)?,
            Tensor::from_slice(&self.token_type_ids, shape, device)?,
            Tensor::from_slice(&self.attention_mask, shape, device)?,
        ))
    }
}

fn tok_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::format("tokenizer", format!("{}: {what}: {e}", path.display()))
}

impl Tokenizer {
    /// Loads `tokenizer.json`. Padding and truncation settings stored in the file are dropped:
    /// [`Tokenizer::encode_batch`] pads to the longest text and truncates where asked.
    pub fn from_file<P: AsRef<Path>>(path: P) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| tok_error(path, "not a valid tokenizer.json", e))?;
        Self::from_inner(inner, path)
    }

    /// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata (SentencePiece
    /// `llama` or byte-level BPE `gpt2` vocabularies; see [`crate::tokenizer_gguf`]).
    pub fn from_gguf<P: AsRef<Path>>(path: P) -> Result<Self> {
        let path = path.as_ref();
        let file = wick::gguf::GgufFile::open(path)?;
        Self::from_gguf_file(&file, path)
    }

    /// [`Tokenizer::from_gguf`] of an open file; `path` names it in errors.
    pub fn from_gguf_file(file: &wick::gguf::GgufFile, path: &Path) -> Result<Self> {
        Self::from_gguf_content(file.content(), path)
    }

    /// [`Tokenizer::from_gguf`] of parsed GGUF metadata (e.g. metadata about to be written);
    /// `path` names its origin in errors.
    pub fn from_gguf_content(content: &wick::gguf::Content, path: &Path) -> Result<Self> {
        let doc = crate::tokenizer_gguf::tokenizer_json_of(content).map_err(|e| e.context(path.display()))?;
        let inner: tokenizers::Tokenizer = serde_json::from_value(doc)
            .map_err(|e| tok_error(path, "building the tokenizer from GGUF metadata", e))?;
        Self::from_inner(inner, path)
    }

    fn from_inner(mut inner: tokenizers::Tokenizer, path: &Path) -> Result<Self> {
        let pad_id = match inner.get_padding() {
            Some(p) => p.pad_id,
            None => ["[PAD]", "<pad>", "<|padding|>"].iter().find_map(|t| inner.token_to_id(t)).unwrap_or(0),
        };
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| tok_error(path, "resetting truncation", e))?;
        Ok(Tokenizer { inner, path: path.to_path_buf(), pad_id })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id padding uses (from the file's padding settings, else `[PAD]`/`<pad>`, else 0).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of one text, with the special tokens of the tokenizer's post-processor (e.g.
    /// `[CLS] … [SEP]`) when `add_special_tokens`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc =
            self.inner.encode(text, add_special_tokens).map_err(|e| tok_error(&self.path, "encoding", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, without special tokens when `skip_special_tokens`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| tok_error(&self.path, "decoding", e))
    }

    /// Encodes `texts` with special tokens, truncated to `max_len` tokens each (special tokens
    /// included, longest-first as Hugging Face does) and right-padded to the longest.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], max_len: Option<usize>) -> Result<Batch> {
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = match max_len {
            None => self.inner.encode_batch(inputs, true),
            Some(max_length) => {
                if max_length == 0 {
                    return Err(Error::invalid("Tokenizer::encode_batch", "max_len must be positive"));
                }
                let mut tok = self.inner.clone();
                tok.with_truncation(Some(TruncationParams {
                    max_length,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction: TruncationDirection::Right,
                }))
                .map_err(|e| tok_error(&self.path, "setting truncation", e))?;
                tok.encode_batch(inputs, true)
            }
        }
        .map_err(|e| tok_error(&self.path, "encoding a batch", e))?;
        let lengths: Vec<usize> = encodings.iter().map(|e| e.get_ids().len()).collect();
        let seq_len = lengths.iter().copied().max().unwrap_or(0);
        let batch_size = encodings.len();
        let n = batch_size
            .checked_mul(seq_len)
            .ok_or_else(|| Error::overflow("Tokenizer::encode_batch", "batch x seq"))?;
        let mut batch = Batch {
            input_ids: vec![self.pad_id; n],
            token_type_ids: vec![0; n],
            attention_mask: vec![0; n],
            batch_size,
            seq_len,
            lengths,
        };
        for (row, enc) in encodings.iter().enumerate() {
            let start = row * seq_len;
            let len = enc.get_ids().len();
            batch.input_ids[start..start + len].copy_from_slice(enc.get_ids());
            batch.token_type_ids[start..start + len].copy_from_slice(enc.get_type_ids());
            batch.attention_mask[start..start + len].fill(1);
        }
        Ok(batch)
    }
}
