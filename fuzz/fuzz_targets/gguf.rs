//! cargo-fuzz target for the GGUF reader: `cargo +nightly fuzz run gguf`.
//! Seed it with the fixtures: `cargo +nightly fuzz run gguf ../crates/wick/tests/fixtures/gguf`.
//! Parses the header, metadata and tensor infos, then reads every tensor of inputs that parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(content) = wick::gguf::Content::read(data) else { return };
    for (_, v) in &content.metadata {
        let _ = v.describe();
    }
    if let Ok(file) = wick::gguf::GgufFile::from_bytes(Arc::new(data.to_vec())) {
        for info in &content.tensor_infos {
            let _ = file.qtensor_bytes(&info.name);
            let _ = file.tensor(&info.name);
        }
    }
});
