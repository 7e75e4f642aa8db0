//! The demo: a small byte-level language model trained by wick itself
//! (`examples/train_char_lm.rs`), and generation with it.

mod generate;
mod model;

pub use generate::{generate, GenerateOptions, GenerateStats, Utf8Stream};
pub use model::{CharLm, CharLmConfig};
