//! The demo: a small byte-level language model trained by wick itself
//! (`examples/train_char_lm.rs`), embedded in the binary, and generation with it.

mod generate;
mod model;

pub use generate::{generate, GenerateOptions, GenerateStats, Utf8Stream};
pub use model::{CharLm, CharLmConfig};

use wick::{DType, Device, Result, Tensor};

/// The trained weights (f16 safetensors) and configuration, embedded at build time.
const WEIGHTS: &[u8] = include_bytes!("../../demo/char_lm.safetensors");
const CONFIG: &str = include_str!("../../demo/config.json");

/// Loads the embedded demo model, its weights converted to f32.
pub fn load_embedded() -> Result<CharLm> {
    let dev = Device::Cpu;
    let cfg = CharLmConfig::from_json(CONFIG)?;
    let tensors = wick::safetensors::load_buffer(WEIGHTS, &dev)?;
    CharLm::new(cfg, wick_nn::VarBuilder::from_tensors(tensors, DType::F32, &dev))
}

/// Mean next-byte cross-entropy (nats per byte) of `model` on `text`, over consecutive
/// windows of the model's context.
pub fn text_loss(model: &CharLm, text: &[u8]) -> Result<f64> {
    let t = model.config().context;
    let (mut total, mut count) = (0.0, 0usize);
    for start in (0..text.len().saturating_sub(1)).step_by(t) {
        let end = (start + t).min(text.len() - 1);
        let x: Vec<u32> = text[start..end].iter().map(|&b| u32::from(b)).collect();
        let y: Vec<u32> = text[start + 1..end + 1].iter().map(|&b| u32::from(b)).collect();
        let n = x.len();
        let logits = model.forward(&Tensor::from_vec(x, (1, n), &Device::Cpu)?, 0, None)?;
        let loss = wick_nn::loss::cross_entropy(&logits.squeeze(0)?, &Tensor::from_vec(y, n, &Device::Cpu)?)?;
        total += loss.to_scalar::<f32>()? as f64 * n as f64;
        count += n;
    }
    Ok(total / count.max(1) as f64)
}
