//! GGUF: fixtures written by llama.cpp's `gguf` Python package read back exactly (metadata,
//! shapes, offsets, dense values, raw quantized blocks), wick's writer reproducing those files
//! byte for byte, write→read round trips for every value type and dtype, writer refusals, and
//! the corrupt corpus, each file refused with its own error.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wick::gguf::{self, Array, Content, GgmlDType, GgufFile, TensorData, Value};
use wick::{DType, Device, Error, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf")
}

fn corrupt() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corrupt/gguf")
}

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A float the script wrote as its shortest round-trip repr (exact, unlike a JSON number
/// parsed without serde_json's `float_roundtrip`).
fn float(v: &serde_json::Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

/// The JSON encoding of a value written by gen_gguf_fixtures.py, decoded.
fn decode(j: &serde_json::Value) -> Value {
    let v = &j["value"];
    let int = || v.as_i64().unwrap();
    match j["type"].as_str().unwrap() {
        "u8" => Value::U8(int() as u8),
        "i8" => Value::I8(int() as i8),
        "u16" => Value::U16(int() as u16),
        "i16" => Value::I16(int() as i16),
        "u32" => Value::U32(int() as u32),
        "i32" => Value::I32(int() as i32),
        "u64" => Value::U64(v.as_u64().unwrap()),
        "i64" => Value::I64(int()),
        "f32" => Value::F32(float(v) as f32),
        "f64" => Value::F64(float(v)),
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "string" => Value::String(v.as_str().unwrap().to_string()),
        "array" => {
            let items: Vec<Value> = v.as_array().unwrap().iter().map(decode).collect();
            macro_rules! typed {
                ($variant:ident) => {
                    Array::$variant(
                        items
                            .into_iter()
                            .map(|x| match x {
                                Value::$variant(y) => y,
                                other => panic!("array element {other:?}"),
                            })
                            .collect(),
                    )
                };
            }
            Value::Array(match j["elem"].as_str().unwrap() {
                "u8" => typed!(U8),
                "i8" => typed!(I8),
                "u16" => typed!(U16),
                "i16" => typed!(I16),
                "u32" => typed!(U32),
                "i32" => typed!(I32),
                "u64" => typed!(U64),
                "i64" => typed!(I64),
                "f32" => typed!(F32),
                "f64" => typed!(F64),
                "bool" => typed!(Bool),
                "string" => typed!(String),
                "array" => typed!(Array),
                e => panic!("elem type {e}"),
            })
        }
        t => panic!("type {t}"),
    }
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_to_vec::<f64>().unwrap()
}

#[test]
fn reads_python_written_fixtures_exactly() {
    let exp = expected();
    assert_eq!(exp.len(), 5);
    for (file, e) in &exp {
        let f = GgufFile::open(fixtures().join(file)).unwrap();
        let c = f.content();
        assert_eq!(c.version as u64, e["version"].as_u64().unwrap(), "{file}");
        assert_eq!(c.alignment as u64, e["alignment"].as_u64().unwrap(), "{file}");
        assert_eq!(c.data_offset as u64, e["data_offset"].as_u64().unwrap(), "{file}");

        let meta: Vec<(String, Value)> = e["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_string(), decode(&kv[1])))
            .collect();
        assert_eq!(c.metadata, meta, "{file}: metadata in file order");

        let tensors = e["tensors"].as_array().unwrap();
        assert_eq!(c.tensor_infos.len(), tensors.len(), "{file}");
        for (info, t) in c.tensor_infos.iter().zip(tensors) {
            let name = t["name"].as_str().unwrap();
            assert_eq!(info.name, name, "{file}: tensor order");
            assert_eq!(info.dtype.name(), t["type"].as_str().unwrap(), "{file}/{name}");
            let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
            assert_eq!(info.shape, shape, "{file}/{name}");
            let range = info.data_range(c.data_offset).unwrap();
            assert_eq!(
                range.start as u64,
                t["offset"].as_u64().unwrap(),
                "{file}/{name}: offset per GGUFReader"
            );
            let (dtype, qshape, bytes) = f.qtensor_bytes(name).unwrap();
            assert_eq!((dtype, &qshape), (info.dtype, &shape), "{file}/{name}");
            assert_eq!(bytes, hex(t["hex"].as_str().unwrap()).as_slice(), "{file}/{name}: raw bytes");
            if info.dtype.is_quantized() {
                let err = f.tensor(name).unwrap_err().to_string();
                assert!(err.contains("qtensor_bytes"), "{err}");
                continue;
            }
            let tensor = f.tensor(name).unwrap();
            assert_eq!(tensor.dims(), shape.as_slice(), "{file}/{name}");
            let values = t["values"].as_array().unwrap();
            if info.dtype.to_dtype().is_some_and(|d| d.is_float()) {
                let want: Vec<f64> = values.iter().map(float).collect();
                assert_eq!(as_f64(&tensor), want, "{file}/{name}");
                assert_eq!(tensor.to_le_bytes().unwrap(), bytes, "{file}/{name}");
                assert!(tensor.is_borrowed(), "{file}/{name}: dense data must be borrowed from the map");
            } else {
                let want: Vec<i64> = values.iter().map(|v| v.as_i64().unwrap()).collect();
                assert_eq!(tensor.dtype(), DType::I64, "{file}/{name}: integers read as i64");
                assert_eq!(tensor.flatten_to_vec::<i64>().unwrap(), want, "{file}/{name}");
                assert_eq!(f.tensor_dtype(name).unwrap(), Some(DType::I64));
            }
        }
    }
}

#[test]
fn typed_getters_name_the_key() {
    let f = GgufFile::open(fixtures().join("values.gguf")).unwrap();
    let c = f.content();
    assert_eq!(c.get::<u8>("test.u8").unwrap(), 200);
    assert_eq!(c.get::<u64>("test.u64").unwrap(), u64::MAX);
    assert_eq!(c.get::<f32>("test.f32").unwrap(), 0.1f32);
    assert_eq!(c.get::<&str>("test.string").unwrap(), "héllo, wörld ✓");
    assert_eq!(c.get::<usize>("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(c.get::<&[String]>("tokenizer.ggml.tokens").unwrap()[3], "▁the");
    assert_eq!(c.value("test.arr_i32").unwrap().to_i32_vec().unwrap(), [-1, 0, i32::MAX]);
    assert!(c.value("test.bool_true").unwrap().to_bool().unwrap());
    let nested = c.value("test.arr_nested_i32").unwrap().to_vec().unwrap();
    assert_eq!(nested.get(2), Some(Value::Array(Array::I32(vec![4, 5, 6]))));
    let e = c.get::<u32>("test.string").unwrap_err();
    assert!(matches!(e, Error::Format { format: "gguf", .. }));
    assert_eq!(
        e.to_string(),
        "gguf: metadata key \"test.string\": expected u32, found string \"héllo, wörld ✓\""
    );
    let e = c.get::<f32>("test.missing").unwrap_err().to_string();
    assert!(e.contains("\"test.missing\" is missing"), "{e}");
    assert!(c.get::<usize>("test.i8").unwrap_err().to_string().contains("test.i8"));
    let e = f.tensor("nope").unwrap_err().to_string();
    assert!(e.contains("\"nope\"") && e.contains("no such tensor"), "{e}");
}

/// wick's writer, given what it read from a gguf-py file, writes the same bytes.
#[test]
fn rewrite_reproduces_python_files_byte_for_byte() {
    for file in expected().keys() {
        let original = std::fs::read(fixtures().join(file)).unwrap();
        let f = GgufFile::from_bytes(Arc::new(original.clone())).unwrap();
        let c = f.content();
        let meta: Vec<(&str, Value)> = c.metadata.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let dense: Vec<Option<Tensor>> =
            c.tensor_infos.iter().map(|t| t.dtype.to_dtype().map(|_| f.tensor(&t.name).unwrap())).collect();
        // Once with every tensor as raw bytes, once with dense tensors as wick tensors.
        for use_dense in [false, true] {
            let mut tensors = Vec::new();
            for (info, d) in c.tensor_infos.iter().zip(&dense) {
                let data = match d {
                    Some(t) if use_dense => TensorData::Dense(t),
                    _ => {
                        let (dtype, shape, bytes) = f.qtensor_bytes(&info.name).unwrap();
                        TensorData::Raw { dtype, shape, bytes }
                    }
                };
                tensors.push((info.name.as_str(), data));
            }
            let mut out = Vec::new();
            gguf::write_to(&mut out, &meta, &tensors).unwrap();
            let mut want = original.clone();
            if c.version == 2 {
                want[4..8].copy_from_slice(&3u32.to_le_bytes()); // wick always writes v3
            }
            assert!(out == want, "{file}: wick's output differs from gguf-py's (dense={use_dense})");
        }
    }
}

fn every_value() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::from("wick")),
        ("u8", Value::U8(255)),
        ("i8", Value::I8(-128)),
        ("u16", Value::U16(65535)),
        ("i16", Value::I16(-32768)),
        ("u32", Value::U32(u32::MAX)),
        ("i32", Value::I32(i32::MIN)),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f32", Value::F32(-0.0)),
        ("f32.inf", Value::F32(f32::INFINITY)),
        ("f64", Value::F64(f64::MIN_POSITIVE)),
        ("bool", Value::Bool(true)),
        ("string", Value::from("ünïcødé \u{1F600}")),
        ("string.empty", Value::from("")),
        ("arr.u8", Value::Array(Array::U8(vec![1, 2, 3]))),
        ("arr.i8", Value::Array(Array::I8(vec![-1, 2]))),
        ("arr.u16", Value::Array(Array::U16(vec![7]))),
        ("arr.i16", Value::Array(Array::I16(vec![-7, 7]))),
        ("arr.u32", Value::Array(Array::U32(vec![u32::MAX]))),
        ("arr.i32", Value::Array(Array::I32(vec![i32::MIN, 0]))),
        ("arr.u64", Value::Array(Array::U64(vec![u64::MAX, 0]))),
        ("arr.i64", Value::Array(Array::I64(vec![i64::MIN]))),
        ("arr.f32", Value::Array(Array::F32(vec![1.5, f32::MAX]))),
        ("arr.f64", Value::Array(Array::F64(vec![f64::MAX, -0.25]))),
        ("arr.bool", Value::Array(Array::Bool(vec![false, true]))),
        ("arr.string", Value::Array(Array::String(vec!["a".into(), "".into(), "ß".into()]))),
        ("arr.empty", Value::Array(Array::F32(vec![]))),
        (
            "arr.nested",
            Value::Array(Array::Array(vec![
                Array::String(vec!["x".into()]),
                Array::Array(vec![Array::U8(vec![]), Array::Bool(vec![true])]),
                Array::I64(vec![]),
            ])),
        ),
    ]
}

#[test]
fn round_trips_every_value_type_and_dtype() {
    let dev = Device::Cpu;
    let base = Tensor::randn(0f32, 3., (3, 4, 5), &dev).unwrap();
    let mut dense = Vec::new();
    for dt in [DType::F32, DType::F16, DType::BF16, DType::F64] {
        dense.push((format!("dense.{dt}"), base.to_dtype(dt).unwrap()));
    }
    dense.push(("dense.i64".into(), Tensor::new(&[[i64::MIN, -1], [0, i64::MAX]], &dev).unwrap()));
    dense.push(("scalar".into(), Tensor::new(2.5f32, &dev).unwrap()));
    dense.push(("empty".into(), Tensor::zeros((0, 3), DType::F32, &dev).unwrap()));
    dense.push(("transposed".into(), base.transpose(0, 2).unwrap()));
    let raw_bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut raw = Vec::new();
    for dt in GgmlDType::ALL {
        let shape = vec![2, dt.block_size() * 2];
        let n = dt.type_size() * 4;
        raw.push((format!("raw.{dt}"), dt, shape, &raw_bytes[..n]));
    }
    for align in [None, Some(1u32), Some(8), Some(64), Some(256)] {
        let mut meta = every_value();
        if let Some(a) = align {
            meta.push(("general.alignment", Value::U32(a)));
        }
        let mut tensors: Vec<(&str, TensorData)> =
            dense.iter().map(|(n, t)| (n.as_str(), TensorData::Dense(t))).collect();
        for (n, dt, shape, bytes) in &raw {
            tensors.push((n.as_str(), TensorData::Raw { dtype: *dt, shape: shape.clone(), bytes }));
        }
        let mut out = Vec::new();
        gguf::write_to(&mut out, &meta, &tensors).unwrap();
        let f = GgufFile::from_bytes(Arc::new(out)).unwrap();
        let c = f.content();
        assert_eq!(c.version, 3);
        let a = align.unwrap_or(32) as usize;
        assert_eq!(c.alignment, a);
        assert_eq!(c.data_offset % a, 0);
        let want: Vec<(String, Value)> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(c.metadata, want, "alignment {a}");
        for (n, t) in &dense {
            let back = f.tensor(n).unwrap();
            assert_eq!(back.dims(), t.dims(), "{n}");
            assert_eq!(back.dtype(), t.dtype(), "{n}");
            assert_eq!(back.to_le_bytes().unwrap(), t.to_le_bytes().unwrap(), "{n}");
        }
        for (n, dt, shape, bytes) in &raw {
            let (d, s, b) = f.qtensor_bytes(n).unwrap();
            assert_eq!((d, &s, b), (*dt, shape, *bytes), "{n}");
            let info = c.tensor_info(n).unwrap();
            assert_eq!(info.data_range(c.data_offset).unwrap().start % a, 0, "{n} aligned");
        }
        // I8/I16/I32 written raw come back widened to i64.
        assert_eq!(f.tensor("raw.I8").unwrap().dims(), &[2, 2]);
        let i16s = f.tensor("raw.I16").unwrap().flatten_to_vec::<i64>().unwrap();
        let want16: Vec<i64> =
            raw_bytes[..8].chunks(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect();
        assert_eq!(i16s, want16);
    }
}

#[test]
fn nan_metadata_round_trips_bitwise() {
    let nan = f32::from_bits(0x7fc0_1234);
    let mut out = Vec::new();
    gguf::write_to(&mut out, &[("x", Value::F32(nan)), ("y", Value::F64(f64::NAN))], &[]).unwrap();
    let c = Content::read(&out).unwrap();
    assert_eq!(c.get::<f32>("x").unwrap().to_bits(), nan.to_bits());
    assert!(c.get::<f64>("y").unwrap().is_nan());
}

#[test]
fn write_to_path_and_map_zero_copy() {
    let dir = std::env::temp_dir().join(format!("wick-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rt.gguf");
    let t = Tensor::randn(0f32, 1., (16, 8), &Device::Cpu).unwrap();
    let d = t.to_dtype(DType::F64).unwrap();
    gguf::write(&path, &[], &[("t", TensorData::Dense(&t)), ("d", TensorData::Dense(&d))]).unwrap();
    let f = GgufFile::open(&path).unwrap();
    for (name, orig) in [("t", &t), ("d", &d)] {
        let back = f.tensor(name).unwrap();
        assert!(back.is_borrowed(), "{name} must be borrowed from the map");
        assert_eq!(back.to_le_bytes().unwrap(), orig.to_le_bytes().unwrap());
    }
    drop(f);
    std::fs::remove_dir_all(&dir).unwrap();
    let e = GgufFile::open(dir.join("missing.gguf")).unwrap_err();
    assert!(matches!(e.root(), Error::Io { .. }), "{e}");
}

#[test]
fn writer_refuses_bad_input() {
    let dev = Device::Cpu;
    let t = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
    let u8t = Tensor::zeros(3, DType::U8, &dev).unwrap();
    let q = [0u8; 34];
    let long = "x".repeat(64);
    let deep = (0..20).fold(Array::U8(vec![]), |a, _| Array::Array(vec![a]));
    type Case<'a> = (Vec<(&'a str, Value)>, Vec<(&'a str, TensorData<'a>)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("a", Value::U8(1)), ("a", Value::U8(2))], vec![], "duplicate metadata key \"a\""),
        (vec![], vec![("w", TensorData::Dense(&t)), ("w", TensorData::Dense(&t))], "duplicate tensor name"),
        (vec![], vec![("w", TensorData::Dense(&u8t))], "u8 is not supported"),
        (vec![], vec![(long.as_str(), TensorData::Dense(&t))], "llama.cpp reads at most 63"),
        (vec![("general.alignment", Value::U32(0))], vec![], "power-of-two"),
        (vec![("general.alignment", Value::U32(48))], vec![], "power-of-two"),
        (vec![("general.alignment", Value::U64(32))], vec![], "power-of-two u32"),
        (vec![("deep", Value::Array(deep))], vec![], "nested deeper"),
        (
            vec![],
            vec![("q", TensorData::Raw { dtype: GgmlDType::Q8_0, shape: vec![1, 33], bytes: &q })],
            "not a multiple of the block size 32",
        ),
        (
            vec![],
            vec![("q", TensorData::Raw { dtype: GgmlDType::Q8_0, shape: vec![2, 32], bytes: &q })],
            "needs 68 bytes, got 34",
        ),
        (
            vec![],
            vec![("q", TensorData::Raw { dtype: GgmlDType::F32, shape: vec![1; 9], bytes: &q[..4] })],
            "at most 8",
        ),
    ];
    for (meta, tensors, want) in cases {
        let mut out = Vec::new();
        let e = gguf::write_to(&mut out, &meta, &tensors).unwrap_err().to_string();
        assert!(e.contains(want), "{e:?} should mention {want:?}");
        assert!(out.is_empty(), "nothing is written when the input is refused");
    }
}

/// Each corrupt file with the words its error must contain.
const CORRUPT: &[(&str, &[&str])] = &[
    ("bad_magic", &["not a GGUF file"]),
    ("version_1", &["version 1 is not supported"]),
    ("version_99", &["unsupported GGUF version 99"]),
    ("big_endian", &["big-endian"]),
    ("truncated_header", &["truncated", "tensor count", "at byte 8"]),
    ("empty", &["truncated", "magic"]),
    ("string_past_eof", &["string length 1000", "runs past the end of the file", "at byte 24"]),
    ("string_over_limit", &["string length 1099511627776", "over the limit"]),
    ("huge_array_count", &["array count of metadata key \"test.arr\"", "1152921504606846976", "remain"]),
    ("tensor_count_2p60", &["tensor count", "1152921504606846976", "remain"]),
    ("kv_count_huge", &["metadata key-value count at byte 16 claims 1099511627776", "remain"]),
    ("dims_overflow", &["tensor \"w\"", "element count", "overflows"]),
    ("offset_past_eof", &["tensor \"w\"", "data bytes", "run past the end of the file"]),
    ("size_past_eof", &["tensor \"w\"", "256 bytes of F32", "run past the end of the file"]),
    ("overlapping", &["tensor \"b\"", "overlap tensor \"a\""]),
    ("misaligned_offset", &["tensor \"w\"", "misaligned", "alignment 32"]),
    ("alignment_0", &["general.alignment must be a non-zero power of two, found 0"]),
    ("alignment_3", &["general.alignment must be a non-zero power of two, found 3"]),
    ("alignment_u64", &["general.alignment must be a u32"]),
    ("unknown_ggml_type", &["tensor \"w\"", "unknown ggml type id 99"]),
    ("unsupported_iq2_xxs", &["tensor \"w\"", "unsupported type IQ2_XXS"]),
    ("removed_q4_0_4_4", &["Q4_0_4_4", "removed"]),
    ("row_not_block_multiple", &["tensor \"q\"", "row length 33", "not a multiple of the block size 32"]),
    ("duplicate_tensor_name", &["tensor \"w\"", "duplicate tensor name"]),
    ("duplicate_key", &["duplicate metadata key \"general.architecture\""]),
    ("too_many_dims", &["tensor \"w\"", "9 dims"]),
    ("bad_bool", &["invalid bool value 2", "test.flag"]),
    ("unknown_value_type", &["unknown metadata value type 13"]),
    ("deep_nesting", &["nested deeper than 16"]),
    ("key_not_utf8", &["not valid UTF-8"]),
];

#[test]
fn corrupt_corpus_each_refused_with_its_error() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corrupt())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".gguf"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CORRUPT.iter().map(|(n, _)| format!("{n}.gguf")).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every corrupt file has an expected error, and vice versa");
    for (name, words) in CORRUPT {
        let path = corrupt().join(format!("{name}.gguf"));
        let bytes = std::fs::read(&path).unwrap();
        let e = Content::read(&bytes).unwrap_err();
        assert!(matches!(e, Error::Format { format: "gguf", .. }), "{name}: {e:?}");
        let msg = e.to_string();
        for w in *words {
            assert!(msg.contains(w), "{name}: {msg:?} should mention {w:?}");
        }
        // Through the memory map too, with the path as context.
        let e = GgufFile::open(&path).unwrap_err();
        assert!(matches!(e.root(), Error::Format { format: "gguf", .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(&format!("{name}.gguf")), "{e}");
    }
}

fn arb_array(depth: u32) -> BoxedStrategy<Array> {
    let leaf = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..5).prop_map(Array::U8),
        prop::collection::vec(any::<i16>(), 0..5).prop_map(Array::I16),
        prop::collection::vec(any::<u64>(), 0..5).prop_map(Array::U64),
        prop::collection::vec(-1e6f32..1e6, 0..5).prop_map(Array::F32),
        prop::collection::vec(any::<bool>(), 0..5).prop_map(Array::Bool),
        prop::collection::vec(".{0,6}", 0..4).prop_map(Array::String),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![leaf, prop::collection::vec(arb_array(depth - 1), 0..3).prop_map(Array::Array)].boxed()
    }
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i32>().prop_map(Value::I32),
        any::<u32>().prop_map(Value::U32),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::U64),
        (-1e30f64..1e30).prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        ".{0,12}".prop_map(Value::String),
        arb_array(3).prop_map(Value::Array),
    ]
}

proptest! {
    #[test]
    fn random_metadata_round_trips(values in prop::collection::vec(arb_value(), 0..8), align_pow in 0u32..8) {
        let keys: Vec<String> = (0..values.len()).map(|i| format!("k.{i}")).collect();
        let mut meta: Vec<(&str, Value)> = keys.iter().map(String::as_str).zip(values).collect();
        meta.push(("general.alignment", Value::U32(1 << align_pow)));
        let t = Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap();
        let mut out = Vec::new();
        gguf::write_to(&mut out, &meta, &[("t", TensorData::Dense(&t))]).unwrap();
        let f = GgufFile::from_bytes(Arc::new(out)).unwrap();
        let want: Vec<(String, Value)> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        prop_assert_eq!(&f.content().metadata, &want);
        prop_assert_eq!(f.tensor("t").unwrap().to_vec1::<f32>().unwrap(), vec![1., 2., 3.]);
    }
}

#[test]
fn empty_key_and_empty_tensor_name_round_trip() {
    // The smallest entries the count checks must allow; the data section starts at EOF.
    let mut out = Vec::new();
    let none: &[u8] = &[];
    gguf::write_to(
        &mut out,
        &[("", Value::U8(48)), ("general.alignment", Value::U32(1))],
        &[("", TensorData::Raw { dtype: GgmlDType::F32, shape: vec![0], bytes: none })],
    )
    .unwrap();
    let c = Content::read(&out).unwrap();
    assert_eq!(c.metadata[0], (String::new(), Value::U8(48)));
    assert_eq!(c.tensor_infos[0].name, "");
    assert_eq!(c.data_offset, out.len());
    let f = GgufFile::from_bytes(Arc::new(out)).unwrap();
    assert_eq!(f.tensor("").unwrap().dims(), &[0]);
}
