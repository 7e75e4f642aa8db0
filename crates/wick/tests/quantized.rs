//! The quantized module against independent references: bytes and floats from the `gguf`
//! Python package (fixtures by `scripts/gen_quant_fixtures.py`), dense f32 matmul, and GGUF
//! files written by wick's writer.

use wick::gguf::{self, GgmlDType, GgufFile, TensorData};
use wick::quantized::{dequantize_bytes, quantize_bytes, QTensor};
use wick::{Device, Tensor};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/quant");

const QUANTIZABLE: [GgmlDType; 5] =
    [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1, GgmlDType::Q8_0];
const DEQUANT_ONLY: [GgmlDType; 7] = [
    GgmlDType::Q2_K,
    GgmlDType::Q3_K,
    GgmlDType::Q4_K,
    GgmlDType::Q5_K,
    GgmlDType::Q6_K,
    GgmlDType::IQ4_NL,
    GgmlDType::IQ4_XS,
];
const ALL_BLOCKS: [GgmlDType; 14] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q8_1,
    GgmlDType::Q2_K,
    GgmlDType::Q3_K,
    GgmlDType::Q4_K,
    GgmlDType::Q5_K,
    GgmlDType::Q6_K,
    GgmlDType::Q8_K,
    GgmlDType::IQ4_NL,
    GgmlDType::IQ4_XS,
];

fn fixture(t: GgmlDType) -> std::collections::HashMap<String, Tensor> {
    wick::safetensors::load(format!("{FIXTURES}/{}.safetensors", t.name()), &Device::Cpu).unwrap()
}

fn flat<T: wick::cpu::CpuElement>(t: &Tensor) -> Vec<T> {
    t.flatten_all().unwrap().to_vec1::<T>().unwrap()
}

/// Same float bit for bit, any NaN matching any NaN.
fn same_floats(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{what}[{i}]: {g} vs gguf {w}");
    }
}

#[test]
fn quantize_is_bit_exact_with_gguf_py() {
    for t in QUANTIZABLE {
        let f = fixture(t);
        let x: Vec<f32> = flat(&f["x"]);
        let want: Vec<u8> = flat(&f["q"]);
        let got = quantize_bytes(t, &x).unwrap();
        let bs = t.type_size();
        for (b, (g, w)) in got.chunks(bs).zip(want.chunks(bs)).enumerate() {
            assert_eq!(g, w, "{t} block {b} (values {:?}..)", &x[b * 32..b * 32 + 4]);
        }
        assert_eq!(got.len(), want.len(), "{t}");
    }
}

#[test]
fn dequantize_matches_gguf_py_for_every_format_it_reads() {
    for t in QUANTIZABLE.into_iter().chain(DEQUANT_ONLY) {
        let f = fixture(t);
        let q: Vec<u8> = flat(&f["q"]);
        let want: Vec<f32> = flat(&f["dq"]);
        let mut got = vec![0f32; want.len()];
        dequantize_bytes(t, &q, &mut got).unwrap();
        same_floats(&got, &want, t.name());
    }
}

/// Seeded weight-like rows: normal values, an outlier in each 64, a zero row.
fn weights(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    Device::Cpu.set_seed(seed).unwrap();
    let mut v: Vec<f32> = flat(&Tensor::randn(0f32, 1.0, (rows, cols), &Device::Cpu).unwrap());
    for (i, x) in v.iter_mut().enumerate() {
        if i % 64 == 9 {
            *x *= 6.0;
        }
        if i < cols {
            *x = 0.0;
        }
    }
    v
}

/// Quantize → dequantize error of wick's own quantizers, as RMS error over RMS value. The
/// bounds are about twice what each format's bits give on Gaussian data (ggml reports
/// similar figures), so a broken search or packing fails them.
#[test]
fn round_trip_error_is_within_format_bounds() {
    let x = weights(16, 512, 7);
    let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    for (t, bound) in [
        (GgmlDType::Q4_0, 0.16),
        (GgmlDType::Q4_1, 0.14),
        (GgmlDType::Q5_0, 0.08),
        (GgmlDType::Q5_1, 0.07),
        (GgmlDType::Q8_0, 0.01),
        (GgmlDType::Q8_1, 0.01),
        (GgmlDType::Q2_K, 0.45),
        (GgmlDType::Q3_K, 0.25),
        (GgmlDType::Q4_K, 0.14),
        (GgmlDType::Q5_K, 0.07),
        (GgmlDType::Q6_K, 0.04),
        (GgmlDType::Q8_K, 0.03), // one scale per 256 values: the outliers widen its step
        (GgmlDType::IQ4_NL, 0.14),
        (GgmlDType::IQ4_XS, 0.14),
    ] {
        let q = quantize_bytes(t, &x).unwrap();
        assert_eq!(q.len(), x.len() / t.block_size() * t.type_size(), "{t}");
        let mut y = vec![0f32; x.len()];
        dequantize_bytes(t, &q, &mut y).unwrap();
        let err = (x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / x.len() as f32).sqrt();
        assert!(err / rms < bound, "{t}: relative RMS error {} over bound {bound}", err / rms);
        // The zero row stays exactly zero.
        assert!(y[..512].iter().all(|&v| v == 0.0), "{t}: zero row");
    }
}

/// `x @ Wᵀ` with quantized `W` against `x @ dequantize(W)ᵀ` in f32. The only difference is
/// the 8-bit activation quantization: per element at most 0.6 of its block's scale (half a
/// step, plus the f16 rounding of Q8_0/Q8_1 scales), so each output may differ by
/// Σ|w|·0.6·d(block) plus f32 rounding (1e-4 of Σ|w·x|).
#[test]
fn matmul_matches_dequantized_dense_matmul() {
    let (n, k) = (37, 512);
    let w = Tensor::from_vec(weights(n, k, 3), (n, k), &Device::Cpu).unwrap();
    for m in [1usize, 3, 16] {
        Device::Cpu.set_seed(m as u64).unwrap();
        let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
        let xv: Vec<f32> = flat(&x);
        for t in ALL_BLOCKS {
            let q = QTensor::quantize(&w, t).unwrap();
            let wd: Vec<f32> = flat(&q.dequantize().unwrap());
            let got: Vec<f32> = flat(&q.matmul_t(&x).unwrap());
            let act_block = match t {
                GgmlDType::Q2_K
                | GgmlDType::Q3_K
                | GgmlDType::Q4_K
                | GgmlDType::Q5_K
                | GgmlDType::Q6_K
                | GgmlDType::Q8_K
                | GgmlDType::IQ4_XS => 256,
                _ => 32,
            };
            for i in 0..m {
                let xr = &xv[i * k..(i + 1) * k];
                for r in 0..n {
                    let wr = &wd[r * k..(r + 1) * k];
                    let want: f64 = wr.iter().zip(xr).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let mut bound = 1e-4 * wr.iter().zip(xr).map(|(a, b)| (a * b).abs() as f64).sum::<f64>();
                    for (wb, xb) in wr.chunks(act_block).zip(xr.chunks(act_block)) {
                        let d = xb.iter().fold(0f32, |a, v| a.max(v.abs())) as f64 / 127.0;
                        bound += wb.iter().map(|v| v.abs() as f64).sum::<f64>() * 0.6 * d;
                    }
                    let g = got[i * n + r] as f64;
                    assert!(
                        (g - want).abs() <= bound + 1e-6,
                        "{t} m={m} ({i},{r}): {g} vs {want}, bound {bound}"
                    );
                }
            }
        }
    }
}

#[test]
fn matmul_keeps_batch_dims_and_handles_dense_weights() {
    let w = Tensor::from_vec(weights(8, 64, 5), (8, 64), &Device::Cpu).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 3, 64), &Device::Cpu).unwrap();
    let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
    assert_eq!(q.matmul_t(&x).unwrap().dims(), &[2, 3, 8]);
    for t in [GgmlDType::F32, GgmlDType::F16] {
        let d = QTensor::quantize(&w, t).unwrap();
        let got: Vec<f32> = flat(&d.matmul_t(&x).unwrap());
        let want: Vec<f32> = flat(&x.matmul(&d.dequantize().unwrap().t().unwrap()).unwrap());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{t}: {g} vs {w}");
        }
    }
}

/// `matmul_t_many` against `matmul_t` one weight at a time: the same activation quantization
/// and kernels, so equal bit for bit; sizes large enough for the parallel paths, one and
/// several activation rows, a weight whose rows are not a multiple of 16 (no fusion) and
/// mixed formats (no fusion).
#[test]
fn fused_products_equal_separate_ones() {
    let k = 512;
    let ws: Vec<Tensor> = [256usize, 128, 64, 40]
        .iter()
        .enumerate()
        .map(|(i, &n)| Tensor::from_vec(weights(n, k, 20 + i as u64), (n, k), &Device::Cpu).unwrap())
        .collect();
    for t in [GgmlDType::Q4_0, GgmlDType::Q8_0, GgmlDType::Q4_K, GgmlDType::Q5_0] {
        let qs: Vec<QTensor> = ws.iter().map(|w| QTensor::quantize(w, t).unwrap()).collect();
        let mixed = QTensor::quantize(&ws[2], GgmlDType::Q6_K).unwrap();
        for m in [1usize, 3] {
            let x = Tensor::randn(0f32, 1.0, (1, m, k), &Device::Cpu).unwrap();
            for set in [vec![&qs[0], &qs[1], &qs[2]], vec![&qs[0], &qs[3]], vec![&qs[1], &mixed]] {
                let fused = QTensor::matmul_t_many(&set, &x).unwrap();
                assert_eq!(fused.len(), set.len());
                for (q, y) in set.iter().zip(&fused) {
                    let want = q.matmul_t(&x).unwrap();
                    assert_eq!(y.dims(), want.dims(), "{t} m={m}");
                    let (got, want) = (flat::<f32>(y), flat::<f32>(&want));
                    assert!(
                        got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{t} m={m} {:?}",
                        q.shape()
                    );
                }
            }
        }
    }
    let q = QTensor::quantize(&ws[1], GgmlDType::Q4_0).unwrap();
    assert!(QTensor::matmul_t_many(&[&q], &Tensor::zeros((1, 256), wick::DType::F32, &Device::Cpu).unwrap())
        .is_err());
}

#[test]
fn from_gguf_borrows_the_map_and_reads_the_same_values() {
    let w = Tensor::from_vec(weights(4, 256, 11), (4, 256), &Device::Cpu).unwrap();
    let path = std::env::temp_dir().join(format!("wick_quant_{}.gguf", std::process::id()));
    let blocks: Vec<(GgmlDType, Vec<u8>)> = [GgmlDType::Q4_0, GgmlDType::Q4_K, GgmlDType::Q6_K]
        .iter()
        .map(|&t| (t, QTensor::quantize(&w, t).unwrap().bytes().to_vec()))
        .collect();
    let tensors: Vec<(String, TensorData)> = blocks
        .iter()
        .map(|(t, b)| (t.name().to_string(), TensorData::Raw { dtype: *t, shape: vec![4, 256], bytes: b }))
        .collect();
    let refs: Vec<(&str, TensorData)> = tensors.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    gguf::write(&path, &[], &refs).unwrap();
    let file = GgufFile::open(&path).unwrap();
    for (t, bytes) in &blocks {
        let q = QTensor::from_gguf(&file, t.name()).unwrap();
        assert!(q.is_borrowed(), "{t} should borrow the map");
        assert_eq!((q.dtype(), q.shape()), (*t, &[4usize, 256][..]));
        assert_eq!(q.bytes(), &bytes[..]);
        let want = QTensor::from_bytes(*t, vec![4, 256], bytes).unwrap().dequantize().unwrap();
        assert_eq!(flat::<f32>(&q.dequantize().unwrap()), flat::<f32>(&want));
    }
    // A matrix of 16+ rows is interleaved at its first product and its pages of the map are
    // released: the bytes must still read the same afterwards.
    let w = Tensor::from_vec(weights(64, 2048, 12), (64, 2048), &Device::Cpu).unwrap();
    let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
    let big = TensorData::Raw { dtype: GgmlDType::Q8_0, shape: vec![64, 2048], bytes: q8.bytes() };
    let path2 = std::env::temp_dir().join(format!("wick_quant_big_{}.gguf", std::process::id()));
    gguf::write(&path2, &[], &[("big", big)]).unwrap();
    let file2 = GgufFile::open(&path2).unwrap();
    let q = QTensor::from_gguf(&file2, "big").unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 2048), &Device::Cpu).unwrap();
    assert_eq!(flat::<f32>(&q.matmul_t(&x).unwrap()), flat::<f32>(&q8.matmul_t(&x).unwrap()));
    assert_eq!(q.bytes(), q8.bytes());
    assert_eq!(flat::<f32>(&q.matmul_t(&x).unwrap()), flat::<f32>(&q8.matmul_t(&x).unwrap()));
    assert!(QTensor::from_gguf(&file, "nope").is_err());
    drop((file, file2, q));
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&path2).ok();
}

#[test]
fn bad_sizes_and_shapes_are_errors() {
    let b = vec![0u8; 34];
    assert!(QTensor::from_bytes(GgmlDType::Q8_0, vec![1, 32], &b).is_ok());
    assert!(QTensor::from_bytes(GgmlDType::Q8_0, vec![1, 64], &b).is_err(), "too few bytes");
    assert!(QTensor::from_bytes(GgmlDType::Q8_0, vec![1, 31], &b[..33]).is_err(), "partial block");
    assert!(QTensor::from_bytes(GgmlDType::Q8_0, vec![], &b).is_err(), "rank 0");
    assert!(QTensor::from_bytes(GgmlDType::Q8_0, vec![usize::MAX, 64], &b).is_err(), "overflow");
    assert!(QTensor::from_bytes(GgmlDType::I32, vec![1, 8], &[0; 32]).is_err(), "unsupported type");
    let q = QTensor::from_bytes(GgmlDType::Q8_0, vec![1, 32], &b).unwrap();
    let x = Tensor::zeros((2, 16), wick::DType::F32, &Device::Cpu).unwrap();
    assert!(q.matmul_t(&x).is_err(), "k mismatch");
    let w3 = QTensor::from_bytes(GgmlDType::Q8_0, vec![1, 1, 32], &b).unwrap();
    assert!(w3.matmul_t(&Tensor::zeros((1, 32), wick::DType::F32, &Device::Cpu).unwrap()).is_err());
    let t = Tensor::zeros((2, 48), wick::DType::F32, &Device::Cpu).unwrap();
    assert!(QTensor::quantize(&t, GgmlDType::Q4_0).is_err(), "48 is not whole blocks");
    let mut out = vec![0f32; 32];
    assert!(dequantize_bytes(GgmlDType::Q8_0, &b[..33], &mut out).is_err());
    assert!(dequantize_bytes(GgmlDType::Q8_0, &b, &mut out[..31]).is_err());
    assert!(quantize_bytes(GgmlDType::Q4_K, &[0.0; 32]).is_err());
}

/// Looking rows up in a quantized table gives exactly the rows of the whole table
/// dequantized, in every block format and the dense ggml types; an id past the table is an
/// error that names it.
#[test]
fn dequantized_rows_equal_rows_of_the_dequantized_table() {
    let (rows, cols) = (7, 512);
    let x = Tensor::from_vec(weights(rows, cols, 11), (rows, cols), &Device::Cpu).unwrap();
    let ids = [6u32, 0, 3, 3, 1];
    let mut types = ALL_BLOCKS.to_vec();
    types.retain(|t| !matches!(t, GgmlDType::Q8_1 | GgmlDType::Q8_K));
    types.extend([GgmlDType::F32, GgmlDType::F16, GgmlDType::BF16]);
    for t in types {
        let q = QTensor::quantize(&x, t).unwrap();
        let all: Vec<f32> = flat(&q.dequantize().unwrap());
        let got: Vec<f32> = flat(&q.dequantize_rows(&ids).unwrap());
        let want: Vec<f32> =
            ids.iter().flat_map(|&i| all[i as usize * cols..][..cols].iter().copied()).collect();
        assert_eq!(got, want, "{t}");
        let err = q.dequantize_rows(&[2, 7]).unwrap_err().to_string();
        assert!(err.contains("id 7") && err.contains("7 rows"), "{t}: {err}");
    }
}
