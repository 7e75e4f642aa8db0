//! NumPy `.npy`/`.npz` and PyTorch `.pth`: files written by numpy and torch
//! (`scripts/gen_file_fixtures.py`) read back bit for bit, wick's own round trips, and the
//! corrupt/hostile corpus, each file of which must give its specific error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use wick::{npy, npz, pth, DType, Device, Tensor};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn fixtures() -> PathBuf {
    tests_dir().join("fixtures/files")
}

#[derive(serde::Deserialize)]
struct Expected {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    hex: String,
}

fn expected() -> BTreeMap<String, Vec<Expected>> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares names, dtypes, shapes and the exact little-endian bytes (NaN payloads included).
fn check(file: &str, got: &[(String, Tensor)], want: &[Expected]) {
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, want_names, "{file}: tensor names");
    for ((name, t), e) in got.iter().zip(want) {
        assert_eq!(t.dtype().as_str(), e.dtype, "{file}: {name}: dtype");
        assert_eq!(t.dims(), e.shape.as_slice(), "{file}: {name}: shape");
        assert_eq!(hex(&t.to_le_bytes().unwrap()), e.hex, "{file}: {name}: values");
    }
}

fn with_prefix<'a>(
    exp: &'a BTreeMap<String, Vec<Expected>>,
    prefix: &str,
) -> Vec<(&'a String, &'a Vec<Expected>)> {
    let v: Vec<_> = exp.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
    assert!(!v.is_empty(), "no fixtures under {prefix}");
    v
}

#[test]
fn npy_files_written_by_numpy_read_exactly() {
    let exp = expected();
    for (file, want) in with_prefix(&exp, "npy/") {
        let path = fixtures().join(file);
        let from_path = Tensor::read_npy(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        check(file, &[(String::new(), from_path)], want);
        let bytes = std::fs::read(&path).unwrap();
        let from_bytes = npy::read_npy_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(from_bytes.is_contiguous(), "{file}");
        check(file, &[(String::new(), from_bytes)], want);
    }
    let h = npy::parse_header(&std::fs::read(fixtures().join("npy/f4_fortran.npy")).unwrap()).unwrap();
    assert!(h.fortran_order);
    assert_eq!((h.descr.as_str(), h.shape.as_slice(), h.version), ("<f4", &[2usize, 3, 4][..], (1, 0)));
    let h = npy::parse_header(&std::fs::read(fixtures().join("npy/f4_v3.npy")).unwrap()).unwrap();
    assert_eq!(h.version, (3, 0));
    let h = npy::parse_header(&std::fs::read(fixtures().join("npy/i8_big.npy")).unwrap()).unwrap();
    assert_eq!((h.descr.as_str(), h.dtype), (">i8", DType::I64));
}

#[test]
fn wick_writes_the_same_bytes_as_numpy() {
    // For row-major little-endian arrays of a dtype wick has, wick's header and data are
    // byte-identical to numpy.save's.
    for name in ["u1", "u4", "i8", "f2", "f4", "f8", "f8_scalar", "f4_empty", "u1_empty_1d"] {
        let bytes = std::fs::read(fixtures().join(format!("npy/{name}.npy"))).unwrap();
        let t = npy::read_npy_bytes(&bytes).unwrap();
        assert_eq!(npy::write_npy_bytes(&t).unwrap(), bytes, "{name}");
    }
}

#[test]
fn npz_files_written_by_numpy_read_exactly() {
    let exp = expected();
    for (file, want) in with_prefix(&exp, "npz/") {
        let path = fixtures().join(file);
        check(file, &npz::read(&path).unwrap_or_else(|e| panic!("{file}: {e}")), want);
        let bytes = std::fs::read(&path).unwrap();
        check(file, &npz::read_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}")), want);
    }
}

#[test]
fn pth_files_written_by_torch_read_exactly() {
    let exp = expected();
    for (file, want) in with_prefix(&exp, "pth/") {
        let path = fixtures().join(file);
        check(file, &pth::read(&path).unwrap_or_else(|e| panic!("{file}: {e}")), want);
        let bytes = std::fs::read(&path).unwrap();
        check(file, &pth::read_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}")), want);
    }
    // Spot checks that do not depend on the JSON.
    let t: std::collections::HashMap<String, Tensor> =
        pth::read(fixtures().join("pth/shared.pth")).unwrap().into_iter().collect();
    assert_eq!(t["b"].to_vec1::<i64>().unwrap(), vec![-1, 2, 5]);
    assert_eq!(t["d"].to_vec1::<i64>().unwrap(), vec![-7, 2, 11, 20]);
    assert_eq!(t["e"].to_vec2::<i64>().unwrap()[0], vec![-7, -1, 5, 11, 17]);
    let t: std::collections::HashMap<String, Tensor> =
        pth::read(fixtures().join("pth/views.pth")).unwrap().into_iter().collect();
    assert_eq!(t["t"].to_vec2::<f32>().unwrap()[0], vec![-5.5, -1.5, 2.5]);
    assert_eq!(t["element"].to_scalar::<f32>().unwrap(), 0.5);
    assert!(t["row"].is_borrowed(), "a contiguous f32 view borrows the storage bytes");
    let single = pth::read(fixtures().join("pth/single_tensor.pth")).unwrap();
    assert_eq!(single[0].0, "");
    assert_eq!(single[0].1.to_vec1::<i64>().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn unpickle_exposes_the_object_graph() {
    let bytes = std::fs::read(fixtures().join("pth/sequential.pth")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut pkl = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("sequential/data.pkl").unwrap(), &mut pkl).unwrap();
    let pth::Value::Dict(items) = pth::unpickle(&pkl).unwrap() else { panic!("not a dict") };
    let (k, v) = &items[0];
    assert_eq!(k, &pth::Value::Str("0.weight".into()));
    let pth::Value::Tensor(t) = v else { panic!("not a tensor: {v:?}") };
    assert_eq!(
        (t.dtype, t.shape.as_slice(), t.stride.as_slice(), t.offset),
        (pth::TorchDType::F32, &[4, 3][..], &[3, 1][..], 0)
    );
    assert_eq!(t.storage.key, "0");
}

fn sample(dtype: DType, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = (0..n)
        .map(|i| (i as f64 * 7.0 + 3.0) % 250.0 - if dtype.is_float() { 100.25 } else { 0.0 })
        .collect();
    Tensor::from_vec(vals, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

#[test]
fn npy_round_trips_every_supported_dtype() {
    let dir = std::env::temp_dir().join(format!("wick-npy-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for dt in DType::ALL {
        for shape in [&[][..], &[0][..], &[5][..], &[2, 3][..], &[2, 0, 3][..], &[3, 1, 4][..]] {
            let t = sample(dt, shape);
            if dt == DType::BF16 {
                let e = npy::write_npy_bytes(&t).unwrap_err().to_string();
                assert!(e.contains("bfloat16") && e.contains("to_dtype"), "{e}");
                continue;
            }
            let back = npy::read_npy_bytes(&npy::write_npy_bytes(&t).unwrap()).unwrap();
            assert_eq!((back.dtype(), back.dims()), (dt, shape), "{dt} {shape:?}");
            assert_eq!(back.to_le_bytes().unwrap(), t.to_le_bytes().unwrap(), "{dt} {shape:?}");
        }
        if dt == DType::BF16 {
            continue;
        }
        // A non-contiguous tensor is written in row-major order; files go through the path API.
        let t = sample(dt, &[3, 4]).t().unwrap();
        let path = dir.join(format!("{dt}.npy"));
        t.write_npy(&path).unwrap();
        let back = Tensor::read_npy(&path).unwrap();
        assert_eq!(back.dims(), &[4, 3]);
        assert_eq!(back.to_le_bytes().unwrap(), t.to_le_bytes().unwrap(), "{dt}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn npz_round_trips_every_supported_dtype() {
    let tensors: Vec<(String, Tensor)> = DType::ALL
        .iter()
        .filter(|&&dt| dt != DType::BF16)
        .map(|&dt| (format!("x_{dt}"), sample(dt, &[2, 5])))
        .chain([
            ("scalar".to_string(), sample(DType::F32, &[])),
            ("empty".to_string(), sample(DType::I64, &[0, 2])),
        ])
        .collect();
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for compressed in [false, true] {
        let back = npz::read_bytes(&npz::write_bytes(&refs, compressed).unwrap()).unwrap();
        assert_eq!(back.len(), tensors.len());
        for ((n, t), (bn, bt)) in tensors.iter().zip(&back) {
            assert_eq!(n, bn);
            assert_eq!((bt.dtype(), bt.dims()), (t.dtype(), t.dims()), "{n}");
            assert_eq!(bt.to_le_bytes().unwrap(), t.to_le_bytes().unwrap(), "{n}");
        }
    }
    let dir = std::env::temp_dir().join(format!("wick-npz-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    npz::write(dir.join("a.npz"), &refs).unwrap();
    npz::write_compressed(dir.join("b.npz"), &refs).unwrap();
    assert!(
        std::fs::metadata(dir.join("b.npz")).unwrap().len()
            < std::fs::metadata(dir.join("a.npz")).unwrap().len()
    );
    for f in ["a.npz", "b.npz"] {
        assert_eq!(npz::read(dir.join(f)).unwrap().len(), tensors.len());
    }
    let bf = sample(DType::BF16, &[2]);
    assert!(npz::write_bytes(&[("bf", &bf)], false).unwrap_err().to_string().contains("bfloat16"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupt_corpus_gives_specific_errors() {
    let root = tests_dir().join("corrupt");
    let manifest: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(root.join("npy_npz_pth.json")).unwrap()).unwrap();
    let mut on_disk = BTreeSet::new();
    for dir in ["npy", "npz", "pth", "pickle"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            on_disk.insert(format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()));
        }
    }
    assert_eq!(
        on_disk,
        manifest.keys().cloned().collect::<BTreeSet<_>>(),
        "every corrupt file has an expectation"
    );
    for (file, want) in &manifest {
        let path = root.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let errors: Vec<String> = match file.split('/').next() {
            Some("npy") => vec![npy::read_npy_bytes(&bytes).map(|_| ()), Tensor::read_npy(&path).map(|_| ())]
                .into_iter()
                .map(|r| r.expect_err(file).to_string())
                .collect(),
            Some("npz") => vec![npz::read_bytes(&bytes).map(|_| ()), npz::read(&path).map(|_| ())]
                .into_iter()
                .map(|r| r.expect_err(file).to_string())
                .collect(),
            Some("pth") => vec![pth::read_bytes(&bytes).map(|_| ()), pth::read(&path).map(|_| ())]
                .into_iter()
                .map(|r| r.expect_err(file).to_string())
                .collect(),
            _ => vec![pth::unpickle(&bytes).map(|_| ()).expect_err(file).to_string()],
        };
        for e in errors {
            assert!(e.contains(want.as_str()), "{file}: error {e:?} does not contain {want:?}");
        }
    }
}
