//! # wick-models
//!
//! Ready models on top of [`wick`] and [`wick_nn`]: one file per model family ([`bert`]:
//! BERT encoders as in Hugging Face `transformers`), sentence embeddings the
//! sentence-transformers way ([`SentenceEmbedder`]), tokenizer glue over the `tokenizers`
//! crate ([`tokenizer`]) and model sources ([`source`]: a local directory or a Hugging Face
//! hub id found in the local cache). Llama-family models also load from GGUF files
//! ([`gguf`], tokenizers from GGUF metadata in [`tokenizer_gguf`]) and quantize while
//! loading ([`weights`]: a linear layer that is dense or quantized).
//!
//! ```no_run
//! use wick_models::{source, SentenceEmbedder};
//! // A local directory, or "sentence-transformers/all-MiniLM-L6-v2" when it is in the hub cache.
//! let dir = source::resolve("target/models/all-MiniLM-L6-v2")?;
//! let embedder = SentenceEmbedder::load(&dir, wick::DType::F32)?;
//! let vectors = embedder.embed(&["The cat sits on the mat.", "A dog runs in the park."], 32)?;
//! assert_eq!(vectors[0].len(), embedder.dim());
//! # Ok::<(), wick::Error>(())
//! ```
#![warn(missing_docs)]

pub mod bert;
pub mod chat;
pub mod gemma;
pub mod generation;
pub mod gguf;
pub mod gguf_export;
pub mod gpt2;
pub mod llama;
pub mod llm;
pub mod sentence;
pub mod source;
pub mod tokenizer;
pub mod tokenizer_gguf;
pub mod weights;

pub use llm::{Cache, CausalLm};
pub use sentence::{EmbedOptions, Pooling, SentenceEmbedder};
pub use tokenizer::Tokenizer;
