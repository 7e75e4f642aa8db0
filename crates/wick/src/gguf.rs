//! GGUF (v2 and v3) files: metadata, tensor infos, dense and quantized tensor data.
