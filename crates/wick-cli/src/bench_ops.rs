//! `wick bench ops`: op-level workloads, each warmed up and repeated, reported as medians.
//!
//! `scripts/compare.py` runs the same workloads (same names, same shapes) in PyTorch and puts
//! the two side by side; keep the two lists in sync.

use std::time::{Duration, Instant};
use wick::{DType, Device, Result, Tensor, D};

/// One workload: a name, a closure to time, and the work it does (flops or bytes moved).
struct Workload {
    name: String,
    run: Box<dyn Fn() -> Result<Tensor>>,
    flops: f64,
    bytes: f64,
}

fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
    Tensor::randn(0f32, 1., shape, &Device::Cpu)?.to_dtype(dtype)
}

fn w(
    name: impl Into<String>,
    flops: f64,
    bytes: f64,
    run: impl Fn() -> Result<Tensor> + 'static,
) -> Workload {
    Workload { name: name.into(), run: Box::new(run), flops, bytes }
}

fn workloads() -> Result<Vec<Workload>> {
    let mut v = Vec::new();
    for (dt, tag) in [(DType::F32, "f32"), (DType::F16, "f16"), (DType::BF16, "bf16")] {
        for n in [256usize, 512, 1024, 2048] {
            let (a, b) = (randn(&[n, n], dt)?, randn(&[n, n], dt)?);
            v.push(w(format!("matmul_{tag}_{n}"), 2.0 * (n * n * n) as f64, 0.0, move || a.matmul(&b)));
        }
        for m in [1usize, 128] {
            let (a, b) = (randn(&[m, 4096], dt)?, randn(&[4096, 4096], dt)?);
            let bytes = if m == 1 { (4096 * 4096 * dt.size_in_bytes()) as f64 } else { 0.0 };
            v.push(w(
                format!("matmul_{tag}_{m}x4096x4096"),
                2.0 * (m * 4096 * 4096) as f64,
                bytes,
                move || a.matmul(&b),
            ));
        }
        // An LLM projection `x @ Wᵀ` with W stored (out, in) as in checkpoints (TinyLlama MLP).
        for m in [1usize, 128] {
            let (x, wt) = (randn(&[m, 2048], dt)?, randn(&[5632, 2048], dt)?);
            let bytes = if m == 1 { (5632 * 2048 * dt.size_in_bytes()) as f64 } else { 0.0 };
            v.push(w(
                format!("linear_{tag}_{m}x2048x5632"),
                2.0 * (m * 2048 * 5632) as f64,
                bytes,
                move || x.matmul(&wt.t()?),
            ));
        }
        // A vocabulary head, 32000 × 2048: more bytes than any cache, so this one is DRAM-bound.
        let (x, wt) = (randn(&[1, 2048], dt)?, randn(&[32000, 2048], dt)?);
        let bytes = (32000 * 2048 * dt.size_in_bytes()) as f64;
        v.push(w(format!("linear_{tag}_1x2048x32000"), 2.0 * (2048 * 32000) as f64, bytes, move || {
            x.matmul(&wt.t()?)
        }));
        let (q, k) = (randn(&[12, 128, 64], dt)?, randn(&[12, 64, 128], dt)?);
        v.push(w(format!("bmm_{tag}_12x128x64x128"), 2.0 * (12 * 128 * 64 * 128) as f64, 0.0, move || {
            q.matmul(&k)
        }));
    }
    // MiniLM-L6's projections (hidden 384, MLP 1536): one 16-token sentence, and a batch of
    // 32 × 128 tokens; and its attention scores, 32 sequences × 12 heads of 128 × 32.
    for (m, k, n) in [(16usize, 384usize, 1536usize), (16, 1536, 384), (4096, 384, 1536), (4096, 1536, 384)] {
        let (x, wt) = (randn(&[m, k], DType::F32)?, randn(&[n, k], DType::F32)?);
        v.push(w(format!("linear_f32_{m}x{k}x{n}"), 2.0 * (m * k * n) as f64, 0.0, move || {
            x.matmul(&wt.t()?)
        }));
    }
    let (q, k) = (randn(&[384, 128, 32], DType::F32)?, randn(&[384, 128, 32], DType::F32)?);
    v.push(w("bmm_f32_384x128x32x128_nt", 2.0 * (384 * 128 * 32 * 128) as f64, 0.0, move || {
        q.matmul(&k.transpose(1, 2)?)
    }));
    let n4m = 2048 * 2048;
    let (a, b, row) =
        (randn(&[2048, 2048], DType::F32)?, randn(&[2048, 2048], DType::F32)?, randn(&[2048], DType::F32)?);
    let (a2, b2) = (a.clone(), b.clone());
    v.push(w("add_f32_4M", 0.0, 12.0 * n4m as f64, move || a2.add(&b2)));
    let (a2, r2) = (a.clone(), row.clone());
    v.push(w("add_f32_4M_broadcast_row", 0.0, 8.0 * n4m as f64, move || a2.add(&r2)));
    let a2 = a.clone();
    v.push(w("exp_f32_4M", 0.0, 8.0 * n4m as f64, move || a2.exp()));
    let a2 = a.clone();
    v.push(w("gelu_f32_4M", 0.0, 8.0 * n4m as f64, move || a2.gelu()));
    let a2 = a.clone();
    v.push(w("silu_f32_4M", 0.0, 8.0 * n4m as f64, move || a2.silu()));
    let x = randn(&[32, 128, 768], DType::F32)?;
    let nx = (32 * 128 * 768) as f64;
    let x2 = x.clone();
    v.push(w("softmax_f32_32x128x768", 0.0, 8.0 * nx, move || x2.softmax(D::Minus1)));
    let (lw, lb) = (randn(&[768], DType::F32)?, randn(&[768], DType::F32)?);
    let (x2, w2, b2) = (x.clone(), lw.clone(), lb.clone());
    v.push(w("layer_norm_f32_32x128x768", 0.0, 8.0 * nx, move || {
        wick::ops::layer_norm(&x2, &w2, Some(&b2), 1e-5)
    }));
    let (x2, w2) = (x.clone(), lw.clone());
    v.push(w("rms_norm_f32_32x128x768", 0.0, 8.0 * nx, move || wick::ops::rms_norm(&x2, &w2, 1e-5)));
    let logits = randn(&[1, 32000], DType::F32)?;
    v.push(w("softmax_f32_1x32000", 0.0, 8.0 * 32000.0, move || logits.softmax(D::Minus1)));
    let a2 = a.clone();
    v.push(w("sum_f32_4M_lastdim", 0.0, 4.0 * n4m as f64, move || a2.sum_keepdim(D::Minus1)));
    let a2 = a.clone();
    v.push(w("max_f32_4M_lastdim", 0.0, 4.0 * n4m as f64, move || a2.max_keepdim(D::Minus1)));
    let a2 = a.clone();
    v.push(w("sum_f32_4M_all", 0.0, 4.0 * n4m as f64, move || a2.sum_all()));
    let (img, ker) = (randn(&[1, 64, 56, 56], DType::F32)?, randn(&[64, 64, 3, 3], DType::F32)?);
    v.push(w("conv2d_f32_1x64x56x56_k3", 2.0 * (64 * 64 * 9 * 56 * 56) as f64, 0.0, move || {
        img.conv2d(&ker, 1, 1, 1, 1)
    }));
    let table = randn(&[32000, 768], DType::F32)?;
    let ids =
        Tensor::from_vec((0..4096u32).map(|i| (i * 7919) % 32000).collect::<Vec<_>>(), 4096, &Device::Cpu)?;
    v.push(w("embedding_f32_32000x768_4096ids", 0.0, 8.0 * 4096.0 * 768.0, move || table.embedding(&ids)));
    let (c1, c2) = (randn(&[2048, 1024], DType::F32)?, randn(&[2048, 1024], DType::F32)?);
    v.push(w("cat_f32_2x2048x1024_dim1", 0.0, 16.0 * 2048.0 * 1024.0, move || Tensor::cat(&[&c1, &c2], 1)));
    let a2 = a.clone();
    v.push(w("transpose_contiguous_f32_2048", 0.0, 8.0 * n4m as f64, move || a2.t()?.contiguous()));
    let a2 = a.clone();
    v.push(w("to_bf16_f32_4M", 0.0, 6.0 * n4m as f64, move || a2.to_dtype(DType::BF16)));
    let hb = a.to_dtype(DType::BF16)?;
    v.push(w("to_f32_bf16_4M", 0.0, 6.0 * n4m as f64, move || hb.to_dtype(DType::F32)));
    let big = randn(&[64 * 1024 * 1024 / 4], DType::F32)?.reshape((1024, 16384))?;
    let big_t = big.narrow(1, 0, 16384)?;
    v.push(w("copy_f32_64MiB", 0.0, 2.0 * 64.0 * 1048576.0, move || big_t.copy()));
    let (t1, t2) = (randn(&[64], DType::F32)?, randn(&[64], DType::F32)?);
    v.push(w("tiny_add_f32_64", 0.0, 0.0, move || t1.add(&t2)));
    qmatmul_workloads(&mut v)?;
    Ok(v)
}

/// Quantized `x @ Wᵀ` for a 4096×4096 weight, decode (1 row) and prefill (128 rows), and for a
/// 32768×4096 weight that does not fit in cache, decode; rated in GB/s of weight bytes read
/// (one pass over the weights per call). The weight is quantized on the first (warm-up) call,
/// so other filters do not pay for it.
fn qmatmul_workloads(v: &mut Vec<Workload>) -> Result<()> {
    use std::cell::OnceCell;
    use std::rc::Rc;
    use wick::gguf::GgmlDType;
    use wick::quantized::QTensor;
    let weight = randn(&[4096, 4096], DType::F32)?;
    for dt in [GgmlDType::Q4_0, GgmlDType::Q8_0, GgmlDType::Q4_K, GgmlDType::Q6_K] {
        let q: Rc<OnceCell<QTensor>> = Rc::new(OnceCell::new());
        let bytes = (4096 * 4096 / dt.block_size() * dt.type_size()) as f64;
        for m in [1usize, 128] {
            let (q, x, weight) = (q.clone(), randn(&[m, 4096], DType::F32)?, weight.clone());
            v.push(w(format!("qmatmul_{}_{m}x4096x4096", dt.name().to_lowercase()), 0.0, bytes, move || {
                if q.get().is_none() {
                    let _ = q.set(QTensor::quantize(&weight, dt)?);
                }
                match q.get() {
                    Some(q) => q.matmul_t(&x),
                    None => Err(wick::Error::invalid("bench", "weight not quantized")),
                }
            }));
        }
    }
    // Decode over a weight larger than the last-level cache (75–142 MB): the rate of a
    // model's matrix-vector products, which stream every weight from memory once per token.
    // Weight made and quantized on the first call only.
    // Also with k = 2048 (a 1.1B Llama's row length) for the same bytes.
    let shapes = [(32768usize, 4096usize), (65536, 2048)];
    for (dt, (n, k)) in [GgmlDType::Q4_0, GgmlDType::Q8_0, GgmlDType::Q4_K, GgmlDType::Q6_K]
        .into_iter()
        .flat_map(|dt| shapes.map(|s| (dt, s)))
    {
        let q: OnceCell<QTensor> = OnceCell::new();
        let bytes = (n * k / dt.block_size() * dt.type_size()) as f64;
        let x = randn(&[1, k], DType::F32)?;
        v.push(w(format!("qmatmul_{}_1x{k}x{n}", dt.name().to_lowercase()), 0.0, bytes, move || {
            if q.get().is_none() {
                let _ = q.set(QTensor::quantize(&randn(&[n, k], DType::F32)?, dt)?);
            }
            match q.get() {
                Some(q) => q.matmul_t(&x),
                None => Err(wick::Error::invalid("bench", "weight not quantized")),
            }
        }));
    }
    decode_layers_workloads(v)
}

/// One decoded token's weight products of a 1.1B Llama (TinyLlama shape: 22 layers, hidden
/// 2048, 4 KV heads of 64, ffn 5632) back to back, fused as the model fuses them (q/k/v, then
/// o, gate/up, down), with nothing between them: the weight-streaming rate a decode step can
/// reach, to set against `bench model`'s. Each layer owns its bytes (copies of one random
/// quantized set), so every call streams ~560 MB (Q4_0) from memory.
fn decode_layers_workloads(v: &mut Vec<Workload>) -> Result<()> {
    use std::cell::OnceCell;
    use wick::gguf::GgmlDType;
    use wick::quantized::QTensor;
    const LAYERS: usize = 22;
    let (h, kv, f) = (2048usize, 256usize, 5632usize);
    let shapes = [(h, h), (kv, h), (kv, h), (h, h), (f, h), (f, h), (h, f)];
    for dt in [GgmlDType::Q4_0, GgmlDType::Q4_K] {
        let bytes = (LAYERS * shapes.iter().map(|(n, k)| n * k).sum::<usize>() / dt.block_size()
            * dt.type_size()) as f64;
        let layers: OnceCell<Vec<Vec<QTensor>>> = OnceCell::new();
        let (xh, xf) = (randn(&[1, h], DType::F32)?, randn(&[1, f], DType::F32)?);
        let name = format!("qdecode_{}_22_layers_1.1b", dt.name().to_lowercase());
        v.push(w(name, 0.0, bytes, move || {
            if layers.get().is_none() {
                let one: Vec<QTensor> = shapes
                    .iter()
                    .map(|&(n, k)| QTensor::quantize(&randn(&[n, k], DType::F32)?, dt))
                    .collect::<Result<_>>()?;
                let copies = (0..LAYERS)
                    .map(|_| {
                        one.iter().map(|q| QTensor::from_bytes(dt, q.shape().to_vec(), q.bytes())).collect()
                    })
                    .collect::<Result<Vec<Vec<QTensor>>>>()?;
                let _ = layers.set(copies);
            }
            let layers = layers.get().ok_or_else(|| wick::Error::invalid("bench", "weights not made"))?;
            // On the pool, as the models run their forward passes.
            wick::run_in_pool(|| {
                let mut last = None;
                for l in layers {
                    QTensor::matmul_t_many(&[&l[0], &l[1], &l[2]], &xh)?;
                    l[3].matmul_t(&xh)?;
                    QTensor::matmul_t_many(&[&l[4], &l[5]], &xh)?;
                    last = Some(l[6].matmul_t(&xf)?);
                }
                last.ok_or_else(|| wick::Error::invalid("bench", "no layers"))
            })
        }));
    }
    Ok(())
}

fn time_one(f: &dyn Fn() -> Result<Tensor>, min_reps: usize, budget: Duration) -> Result<Vec<f64>> {
    for _ in 0..2 {
        f()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < min_reps || (start.elapsed() < budget && times.len() < 10_000) {
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed().as_secs_f64());
        drop(out);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times)
}

/// Runs the workloads whose name contains `filter`, printing one JSON line (or a table row)
/// per workload.
pub fn run(filter: Option<&str>, json: bool, budget_ms: u64) -> Result<bool> {
    let all = workloads()?;
    if !json {
        println!("{:<34} {:>11} {:>11} {:>11} {:>10}", "workload", "median", "p10", "p90", "rate");
    }
    for wl in all.iter().filter(|w| filter.is_none_or(|f| w.name.contains(f))) {
        let t = time_one(&wl.run, 10, Duration::from_millis(budget_ms))?;
        let pct = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
        let med = pct(0.5);
        let (rate, unit) = if wl.flops > 0.0 {
            (wl.flops / med / 1e9, "GFLOP/s")
        } else if wl.bytes > 0.0 {
            (wl.bytes / med / 1e9, "GB/s")
        } else {
            (0.0, "")
        };
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "name": wl.name, "median_us": med * 1e6, "p10_us": pct(0.1) * 1e6, "p90_us": pct(0.9) * 1e6,
                    "reps": t.len(), "rate": rate, "unit": unit, "threads": wick::num_threads(),
                })
            );
        } else {
            println!(
                "{:<34} {:>9.1}µs {:>9.1}µs {:>9.1}µs {:>7.1} {unit}",
                wl.name,
                med * 1e6,
                pct(0.1) * 1e6,
                pct(0.9) * 1e6,
                rate
            );
        }
    }
    Ok(true)
}
