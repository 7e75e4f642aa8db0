//! `wick quantize` end to end: a safetensors file written here is quantized by the binary and
//! read back with wick's GGUF reader. The model is not of the Llama family (its config.json
//! says gpt2), so tensor names stay as in the checkpoint; tests/quantize_llama.rs covers the
//! llama.cpp layout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use wick::gguf::{GgmlDType, GgufFile};
use wick::quantized::{dequantize_bytes, quantize_bytes};
use wick::{DType, Device, Tensor};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wick-quantize-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Relative RMS error of `got` against `want`.
fn rel_rms(got: &[f32], want: &[f32]) -> f64 {
    let e: f64 = got.iter().zip(want).map(|(g, w)| f64::from(g - w).powi(2)).sum();
    let s: f64 = want.iter().map(|w| f64::from(*w).powi(2)).sum();
    (e / s).sqrt()
}

/// Upper bounds on the relative RMS error of Gaussian weights per format, about twice what
/// ggml's reference quantizers give (Q8_0 ≈ 0.4 %, Q4_0 ≈ 11 %, Q2_K ≈ 30 %).
const FORMATS: [(&str, GgmlDType, f64); 12] = [
    ("q4_0", GgmlDType::Q4_0, 0.2),
    ("q4_1", GgmlDType::Q4_1, 0.2),
    ("q5_0", GgmlDType::Q5_0, 0.1),
    ("q5_1", GgmlDType::Q5_1, 0.1),
    ("q8_0", GgmlDType::Q8_0, 0.01),
    ("q2_k", GgmlDType::Q2_K, 0.6),
    ("q3_k", GgmlDType::Q3_K, 0.35),
    ("q4_k", GgmlDType::Q4_K, 0.2),
    ("q5_k", GgmlDType::Q5_K, 0.1),
    ("q6_k", GgmlDType::Q6_K, 0.05),
    ("iq4_nl", GgmlDType::IQ4_NL, 0.2),
    ("iq4_xs", GgmlDType::IQ4_XS, 0.2),
];

#[test]
fn quantize_safetensors_to_gguf() {
    let dev = Device::Cpu;
    let dir = scratch("model");
    let weights: HashMap<String, Tensor> = [
        ("layers.0.attn.q_proj.weight", Tensor::randn(0f32, 0.05, (16, 512), &dev).unwrap()),
        (
            "layers.0.mlp.up.weight",
            Tensor::randn(0f32, 1.0, (8, 256), &dev).unwrap().to_dtype(DType::BF16).unwrap(),
        ),
        ("layers.0.norm.weight", Tensor::randn(1f32, 0.1, 512, &dev).unwrap()),
        ("odd.weight", Tensor::randn(0f32, 1.0, (3, 100), &dev).unwrap()),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    wick::safetensors::save(&weights, dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();

    for (name, t, bound) in FORMATS {
        let out = dir.join(format!("out-{name}.gguf"));
        let run = Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(["quantize", dir.to_str().unwrap(), out.to_str().unwrap(), "--type", name])
            .output()
            .unwrap();
        assert!(run.status.success(), "{name}: {}", String::from_utf8_lossy(&run.stderr));
        assert!(String::from_utf8_lossy(&run.stdout).contains("smaller"), "{name}: no size report");
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(f.content().get::<&str>("general.architecture").unwrap(), "gpt2");
        assert_eq!(f.content().get::<u32>("general.quantization_version").unwrap(), 2);
        for (tname, x) in &weights {
            let xf: Vec<f32> = x.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let quantized = x.rank() == 2 && x.dims()[1] % t.block_size() == 0;
            if quantized {
                let (dt, shape, bytes) = f.qtensor_bytes(tname).unwrap();
                assert_eq!((dt, shape.as_slice()), (t, x.dims()), "{name} {tname}");
                // The same blocks as quantizing the whole matrix in one go, and a dequantized
                // matrix within the format's error bound.
                assert_eq!(bytes, quantize_bytes(t, &xf).unwrap().as_slice(), "{name} {tname}: blocks");
                let mut deq = vec![0f32; xf.len()];
                dequantize_bytes(t, bytes, &mut deq).unwrap();
                let e = rel_rms(&deq, &xf);
                assert!(e < bound, "{name} {tname}: relative RMS error {e} over {bound}");
            } else {
                let got: Vec<f32> = f.tensor(tname).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                assert_eq!(got, xf, "{name} {tname}: dense tensors are kept exactly");
            }
        }
    }

    // Unknown types are refused with the list of known ones.
    let bad = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["quantize", dir.to_str().unwrap(), dir.join("x.gguf").to_str().unwrap(), "--type", "q7_0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("q4_k"));
    std::fs::remove_dir_all(&dir).unwrap();
}
