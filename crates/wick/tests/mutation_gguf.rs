//! Bounded mutation testing of the GGUF reader ("fuzzing on stable"): the valid fixtures, a
//! wick-written file and the corrupt corpus are mutated at random (bit flips, byte overwrites,
//! insertions, deletions, truncations, splices, and length/count/offset fields overwritten
//! with huge or boundary values) and fed to `Content::read`, then every tensor of the inputs
//! that parse is read. The test fails if anything panics, printing the input and saving it
//! to the temp dir. It also checks that whatever parses and can be re-written reads back the
//! same.
//!
//! Runs for `WICK_MUTATION_SECS` seconds (default 20); `WICK_MUTATION_SEED` picks the seed.
//! The same entry point is the cargo-fuzz target `fuzz/fuzz_targets/gguf.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wick::gguf::{self, Content, GgmlDType, GgufFile, TensorData, Value};
use wick::{Device, Tensor};

/// SplitMix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

struct Seed {
    bytes: Vec<u8>,
    /// Positions of little u64s (lengths, counts, dims, offsets), the fields worth hitting.
    fields: Vec<usize>,
}

fn seed(bytes: Vec<u8>) -> Seed {
    let fields = (0..bytes.len().saturating_sub(7))
        .filter(|&p| {
            let v = u64::from_le_bytes(bytes[p..p + 8].try_into().unwrap());
            v > 0 && v < 1 << 20
        })
        .collect();
    Seed { bytes, fields }
}

fn seeds() -> Vec<Seed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    for dir in ["fixtures/gguf", "corrupt/gguf"] {
        let mut paths: Vec<_> =
            std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "gguf")) {
            out.push(seed(std::fs::read(p).unwrap()));
        }
    }
    // A wick-written file with every value type, dense dtypes and raw quantized blocks.
    let t = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
    let q = vec![7u8; GgmlDType::Q4_K.type_size()];
    let meta = [
        ("general.alignment", Value::U32(16)),
        ("s", Value::from("str")),
        ("a", Value::Array(gguf::Array::Array(vec![gguf::Array::String(vec!["x".into()])]))),
        ("b", Value::Array(gguf::Array::Bool(vec![true, false]))),
        ("f", Value::F64(1.5)),
    ];
    let mut buf = Vec::new();
    gguf::write_to(
        &mut buf,
        &meta,
        &[
            ("t", TensorData::Dense(&t)),
            ("q", TensorData::Raw { dtype: GgmlDType::Q4_K, shape: vec![1, 256], bytes: &q }),
            ("i", TensorData::Raw { dtype: GgmlDType::I16, shape: vec![3], bytes: &[1, 0, 2, 0, 255, 255] }),
        ],
    )
    .unwrap();
    out.push(seed(buf));
    out
}

const BIG_U64: [u64; 10] =
    [u64::MAX, 1 << 63, (1 << 63) - 1, 1 << 60, 1 << 40, 1 << 32, (1 << 32) - 1, 1 << 26, 0, 1];
const ODD_U32: [u32; 12] = [0, 1, 2, 3, 7, 8, 9, 12, 13, 16, 31, u32::MAX];

fn mutate(rng: &mut Rng, s: &Seed) -> Vec<u8> {
    let mut v = s.bytes.clone();
    for _ in 0..1 + rng.below(3) {
        let len = v.len();
        let pos = if !s.fields.is_empty() && rng.below(2) == 0 {
            s.fields[rng.below(s.fields.len())].min(len)
        } else {
            rng.below(len + 1)
        };
        match rng.below(9) {
            0 if len > 0 => v[pos.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => v[pos.min(len - 1)] = rng.next() as u8,
            2 => {
                let n = 1 + rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(pos..pos, ins);
            }
            3 => {
                let end = (pos + 1 + rng.below(32)).min(len);
                v.drain(pos..end);
            }
            4 => v.truncate(pos),
            5 => {
                let x = match rng.below(4) {
                    0 => len as u64 + rng.below(64) as u64,
                    1 => rng.next(),
                    _ => BIG_U64[rng.below(BIG_U64.len())],
                };
                overwrite(&mut v, pos, &x.to_le_bytes());
            }
            6 => {
                let x =
                    if rng.below(3) == 0 { rng.below(64) as u32 } else { ODD_U32[rng.below(ODD_U32.len())] };
                overwrite(&mut v, pos, &x.to_le_bytes());
            }
            7 if len > 0 => {
                let from = rng.below(len);
                let chunk: Vec<u8> = v[from..(from + 1 + rng.below(24)).min(len)].to_vec();
                overwrite(&mut v, pos, &chunk);
            }
            _ => {
                let x = (len as u64 + rng.below(256) as u64) & !31;
                overwrite(&mut v, pos, &x.to_le_bytes());
            }
        }
    }
    v
}

fn overwrite(v: &mut [u8], pos: usize, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if let Some(x) = v.get_mut(pos + i) {
            *x = *b;
        }
    }
}

/// Everything a loader would do with an untrusted file. Returns whether it parsed.
fn exercise(input: &[u8]) -> bool {
    let Ok(content) = Content::read(input) else { return false };
    for (_, v) in &content.metadata {
        let _ = (v.describe(), v.to_usize(), v.to_string(), v.to_vec().map(|a| a.get(0)));
    }
    let _ = content.get::<&[String]>("tokenizer.ggml.tokens");
    let file = GgufFile::from_bytes(Arc::new(input.to_vec())).expect("Content::read accepted it");
    for info in &content.tensor_infos {
        let (dtype, shape, bytes) = file.qtensor_bytes(&info.name).expect("validated tensor");
        assert_eq!(bytes.len(), info.size_in_bytes);
        if let Ok(t) = file.tensor(&info.name) {
            assert_eq!(t.dims(), shape.as_slice());
            let _ = t.to_le_bytes().expect("readable");
        } else {
            assert!(dtype.to_dtype().is_none());
        }
    }
    // What parses and can be re-written must read back the same.
    let meta: Vec<(&str, Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut raw = Vec::new();
    for info in &content.tensor_infos {
        let (dtype, shape, bytes) = file.qtensor_bytes(&info.name).expect("validated tensor");
        raw.push((info.name.as_str(), TensorData::Raw { dtype, shape, bytes }));
    }
    let mut out = Vec::new();
    if gguf::write_to(&mut out, &meta, &raw).is_ok() {
        let back = Content::read(&out).expect("wick reads what it wrote");
        assert_eq!(format!("{:?}", back.metadata), format!("{:?}", content.metadata));
        let infos = |c: &Content| {
            c.tensor_infos.iter().map(|t| (t.name.clone(), t.shape.clone(), t.dtype)).collect::<Vec<_>>()
        };
        assert_eq!(infos(&back), infos(&content));
    }
    true
}

#[test]
fn mutated_files_never_panic() {
    let secs: f64 = std::env::var("WICK_MUTATION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let seed0: u64 =
        std::env::var("WICK_MUTATION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6767_7566);
    let seeds = seeds();
    for s in &seeds {
        catch_unwind(|| exercise(&s.bytes)).expect("a seed input panicked");
    }
    let mut rng = Rng(seed0);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let (mut tried, mut parsed) = (0u64, 0u64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let which = rng.below(seeds.len());
            let input = mutate(&mut rng, &seeds[which]);
            tried += 1;
            match catch_unwind(AssertUnwindSafe(|| exercise(&input))) {
                Ok(ok) => parsed += u64::from(ok),
                Err(_) => {
                    let path = std::env::temp_dir().join(format!("wick_gguf_mutation_panic_{tried}.gguf"));
                    let _ = std::fs::write(&path, &input);
                    let head: String = input.iter().take(256).map(|b| format!("{b:02x}")).collect();
                    panic!(
                        "input {tried} (seed {seed0}, {} bytes, saved to {}) panicked; first bytes: {head}",
                        input.len(),
                        path.display()
                    );
                }
            }
        }
    }
    println!("gguf mutation test: {tried} inputs tried, {parsed} parsed, in {secs} s (seed {seed0})");
    assert!(tried > 1000, "only {tried} inputs in {secs} s");
}
