//! safetensors: fixtures written by the Python `safetensors` package read back exactly, wick's
//! own round trips, zero-copy mapping, shards, the corrupt corpus, and a bounded mutation test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wick::safetensors::{self as st, MmapedSafetensors};
use wick::{DType, Device, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/safetensors")
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_to_vec::<f64>().unwrap()
}

#[test]
fn reads_python_written_file_exactly() {
    let expected: HashMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("all_dtypes.json")).unwrap()).unwrap();
    let path = fixtures().join("all_dtypes.safetensors");
    for loaded in [
        st::load(&path, &Device::Cpu).unwrap(),
        st::load_mmap(&path, &Device::Cpu).unwrap(),
        st::load_buffer(&std::fs::read(&path).unwrap(), &Device::Cpu).unwrap(),
    ] {
        assert_eq!(loaded.len(), expected.len());
        for (name, exp) in &expected {
            let t = &loaded[name];
            let shape: Vec<usize> = serde_json::from_value(exp["shape"].clone()).unwrap();
            let values: Vec<f64> = serde_json::from_value(exp["values"].clone()).unwrap();
            assert_eq!(t.dims(), shape.as_slice(), "{name}");
            assert_eq!(as_f64(t), values, "{name}");
        }
        assert_eq!(loaded["bf16"].dtype(), DType::BF16);
        assert_eq!(loaded["i32"].dtype(), DType::I64, "i32 widens to i64");
        assert_eq!(loaded["bool"].dtype(), DType::U8);
    }
    let m = MmapedSafetensors::new(&path).unwrap();
    assert_eq!(m.metadata().get("note").map(String::as_str), Some("wick fixture"));
    assert!(m.get("f32").unwrap().is_borrowed(), "f32 data must be borrowed from the map");
    assert_eq!(m.info("f16").unwrap(), ("F16".to_string(), vec![5], 10));
}

#[test]
fn round_trips_every_dtype() {
    let dev = Device::Cpu;
    let dir = std::env::temp_dir().join(format!("wick-st-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = Tensor::randn(0f32, 3., (3, 5), &dev).unwrap();
    let mut tensors = Vec::new();
    for dt in DType::ALL {
        tensors.push((dt.as_str().to_string(), base.to_dtype(dt).unwrap()));
    }
    // A non-contiguous tensor is written in row-major order.
    tensors.push(("transposed".to_string(), base.t().unwrap()));
    let path = dir.join("rt.safetensors");
    let meta = HashMap::from([("k".to_string(), "v".to_string())]);
    st::save_with_metadata(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta), &path).unwrap();
    let back = st::load_mmap(&path, &dev).unwrap();
    for (name, t) in &tensors {
        let b = &back[name];
        assert_eq!(b.dtype(), t.dtype(), "{name}");
        assert_eq!(b.dims(), t.dims(), "{name}");
        assert_eq!(b.to_le_bytes().unwrap(), t.to_le_bytes().unwrap(), "{name} differs after the round trip");
    }
    assert_eq!(MmapedSafetensors::new(&path).unwrap().metadata()["k"], "v");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sharded_model_through_index_and_directory() {
    let dir = fixtures().join("sharded");
    for m in [
        MmapedSafetensors::new(&dir).unwrap(),
        MmapedSafetensors::new(dir.join("model.safetensors.index.json")).unwrap(),
    ] {
        assert_eq!(m.paths().len(), 2);
        assert_eq!(m.names(), vec!["embed.weight", "layer.0.bias", "layer.0.weight"]);
        assert_eq!(as_f64(&m.get("embed.weight").unwrap()), (0..12).map(|x| x as f64).collect::<Vec<_>>());
        assert_eq!(as_f64(&m.get("layer.0.bias").unwrap()), vec![1.0, -1.0]);
        let e = m.get("layer.0.wieght").unwrap_err().to_string();
        assert!(e.contains("layer.0.wieght") && e.contains("close names: layer.0.weight"), "{e}");
    }
}

fn corrupt(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corrupt/safetensors").join(name)
}

#[test]
fn corrupt_files_give_specific_errors() {
    let cases = [
        ("truncated_data.safetensors", "outside the data section"),
        ("too_short.safetensors", "file too small"),
        ("header_past_eof.safetensors", "header length 10000 runs past the end"),
        ("header_huge.safetensors", "too large"),
        ("bad_json.safetensors", "invalid JSON"),
        (
            "offsets_out_of_bounds.safetensors",
            "tensor \"w\": data offsets 0..64 lie outside the data section of 16 bytes",
        ),
        (
            "size_mismatch.safetensors",
            "tensor \"w\": data offsets 0..16 hold 16 bytes but shape [3] of F32 needs 12",
        ),
        ("overlapping.safetensors", "tensor \"b\": data bytes 4..12 overlap tensor \"a\""),
        ("shape_overflow.safetensors", "overflows"),
        ("unsupported_dtype.safetensors", "dtype C64 is not supported"),
    ];
    for (file, needle) in cases {
        let path = corrupt(file);
        let msgs = [
            st::load(&path, &Device::Cpu).map(|_| ()).unwrap_err().to_string(),
            MmapedSafetensors::new(&path).and_then(|m| m.load_all()).map(|_| ()).unwrap_err().to_string(),
            st::load_buffer(&std::fs::read(&path).unwrap(), &Device::Cpu)
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        ];
        for m in &msgs {
            assert!(m.to_lowercase().contains(&needle.to_lowercase()), "{file}: {m:?} lacks {needle:?}");
            assert!(m.contains("safetensors"), "{file}: {m:?} does not name the format");
        }
        assert!(msgs[0].contains(file), "{file}: the error names the file: {}", msgs[0]);
    }
    let missing = st::load(corrupt("no_such_file.safetensors"), &Device::Cpu).unwrap_err().to_string();
    assert!(missing.contains("no_such_file.safetensors"), "{missing}");
}

/// Feeds randomly mutated copies of valid files to the parser for a bounded time; any panic
/// fails the test (the cargo-fuzz target `safetensors_header` runs the same entry point).
#[test]
fn mutation_never_panics() {
    let secs: u64 = std::env::var("WICK_MUTATION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seeds: Vec<Vec<u8>> = [fixtures().join("all_dtypes.safetensors"), corrupt("overlapping.safetensors")]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let start = std::time::Instant::now();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut tried = 0u64;
    while start.elapsed().as_secs() < secs {
        let mut data = seeds[(next() % seeds.len() as u64) as usize].clone();
        for _ in 0..1 + next() % 4 {
            let len = data.len().max(1) as u64;
            match next() % 5 {
                0 => {
                    let i = (next() % len) as usize;
                    if i < data.len() {
                        data[i] ^= 1 << (next() % 8);
                    }
                }
                1 => data.truncate((next() % len) as usize),
                2 => data.insert((next() % len) as usize, next() as u8),
                3 => {
                    let i = (next() % len) as usize;
                    if i < data.len() {
                        data.remove(i);
                    }
                }
                _ => {
                    // Overwrite a digit inside the JSON header with a huge number.
                    let i = (next() % len) as usize;
                    if let Some(p) = data[i..].iter().position(|b| b.is_ascii_digit()) {
                        let at = i + p;
                        let huge = b"99999999999999999999";
                        data.splice(at..at + 1, huge.iter().copied());
                    }
                }
            }
        }
        let r = std::panic::catch_unwind(|| {
            let _ = st::load_buffer(&data, &Device::Cpu);
        });
        assert!(r.is_ok(), "load_buffer panicked on input {:?}", data);
        tried += 1;
    }
    println!("safetensors mutation test: {tried} inputs in {secs} s, no panic");
    assert!(tried > 100);
}
