//! cargo-fuzz target for the safe unpickler behind the PyTorch reader:
//! `cargo +nightly fuzz run pickle`. Seed it with `data.pkl` members of the `.pth` fixtures and
//! with `../crates/wick/tests/corrupt/pickle`. Inputs that start like a zip also go through the
//! whole checkpoint reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wick::pth::unpickle(data);
    if data.starts_with(b"PK") {
        let _ = wick::pth::read_bytes(data);
    }
});
