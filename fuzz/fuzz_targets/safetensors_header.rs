//! Fuzzes the safetensors header validation and tensor extraction.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wick::safetensors::load_buffer(data, &wick::Device::Cpu);
});
