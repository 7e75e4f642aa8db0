//! `wick inspect` on every format, its JSON output, and its failure on corrupt files.

use std::path::PathBuf;
use std::process::Command;

fn wick_tests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wick/tests")
}

fn inspect(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wick")).arg("inspect").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn lists_tensors_of_every_format_as_json() {
    let t = wick_tests();
    let cases = [
        ("fixtures/safetensors/all_dtypes.safetensors", "safetensors", "f32"),
        ("fixtures/files/npy/f4.npy", "npy", "array"),
        ("fixtures/files/npz/savez.npz", "npz", ""),
        ("fixtures/files/pth/dtypes.pth", "pth", ""),
        ("fixtures/gguf/quantized.gguf", "gguf", "q4_0"),
    ];
    for (file, format, tensor) in cases {
        let path = t.join(file);
        let (ok, out, err) = inspect(&["--json", "--verify", path.to_str().unwrap()]);
        assert!(ok, "{file}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["format"], format, "{file}");
        let tensors = v[0]["tensors"].as_array().unwrap();
        assert!(!tensors.is_empty(), "{file} lists no tensors");
        if !tensor.is_empty() {
            assert!(tensors.iter().any(|x| x["name"] == tensor), "{file} lacks {tensor}: {out}");
        }
        assert!(tensors.iter().all(|x| x["shape"].is_array() && x["bytes"].is_u64()));
    }
}

#[test]
fn table_output_and_failure_on_corrupt_files() {
    let t = wick_tests();
    let good = t.join("fixtures/gguf/quantized.gguf");
    let (ok, out, _) = inspect(&[good.to_str().unwrap()]);
    assert!(ok);
    assert!(
        out.contains("(gguf, 14 tensors") && out.contains("Q4_K") && out.contains("general.architecture"),
        "{out}"
    );
    for bad in
        ["corrupt/safetensors/overlapping.safetensors", "corrupt/gguf", "corrupt/pth/builtins_eval.pth"]
    {
        let path = t.join(bad);
        let path = if path.is_dir() {
            std::fs::read_dir(&path).unwrap().next().unwrap().unwrap().path()
        } else {
            path
        };
        let (ok, _, err) = inspect(&[good.to_str().unwrap(), path.to_str().unwrap()]);
        assert!(!ok, "{bad}: a corrupt file must make inspect fail");
        assert!(
            err.contains("error:") && err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{bad}: {err}"
        );
    }
    let (_, _, err) = inspect(&[t.join("corrupt/pth/builtins_eval.pth").to_str().unwrap()]);
    assert!(err.contains("builtins") && err.contains("eval"), "{err}");
}
