//! cargo-fuzz target for the `.npy` reader: `cargo +nightly fuzz run npy_header`.
//! Seed it with the fixtures: `cargo +nightly fuzz run npy_header ../crates/wick/tests/fixtures/files/npy`.
//! Parses the header (the hand-written Python-literal parser), then decodes the whole image;
//! the `.npz` reader runs on the same bytes, since a fuzzed input may also be a zip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wick::npy::parse_header(data);
    let _ = wick::npy::read_npy_bytes(data);
    let _ = wick::npz::read_bytes(data);
});
