//! Per-kernel-family timings through the tensor API, one JSON line per workload:
//!
//! ```text
//! cargo run --release --example kernel_bench [filter]
//! WICK_ISA=scalar cargo run --release --example kernel_bench    # force the portable kernels
//! ```
//!
//! Each workload runs a few warm-up times, then `reps` times; the line reports the median
//! (and the fastest) wall time, and the effective memory traffic (bytes read + written by
//! the op once, divided by the median) so memory-bound kernels can be held against the
//! machine's bandwidth. `WICK_NUM_THREADS` sets the threads, `WICK_ISA` caps the kernels.

use std::time::Instant;
use wick::{ops, DType, Device, Result, Tensor, D};

/// Times `f` and prints its JSON line. `bytes` is the traffic of one call.
fn bench(
    name: &str,
    shape: &str,
    bytes: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<Tensor>,
) -> Result<()> {
    for _ in 0..3 {
        f()?;
    }
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed().as_secs_f64());
        drop(out);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    println!(
        concat!(
            "{{\"op\":\"{name}\",\"shape\":\"{shape}\",\"isa\":\"{isa}\",\"threads\":{threads},",
            "\"reps\":{reps},\"median_ms\":{median:.4},\"min_ms\":{min:.4},\"gb_per_s\":{gbps:.2}}}"
        ),
        name = name,
        shape = shape,
        isa = wick::cpu::kernel_isa(),
        threads = wick::num_threads(),
        reps = reps,
        median = median * 1e3,
        min = times[0] * 1e3,
        gbps = bytes as f64 / median / 1e9,
    );
    Ok(())
}

fn main() -> Result<()> {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let want = |name: &str| filter.is_empty() || name.contains(&filter);
    let dev = Device::Cpu;
    dev.set_seed(0)?;
    const N: usize = 4 << 20;
    const REPS: usize = 41;
    let x = Tensor::randn(0f32, 2.0, N, &dev)?;
    let y = Tensor::randn(0f32, 2.0, N, &dev)?;

    // Elementwise, 4M f32: one read, one write.
    type Unary = fn(&Tensor) -> Result<Tensor>;
    let unary: [(&str, Unary); 6] = [
        ("exp", Tensor::exp),
        ("silu", Tensor::silu),
        ("gelu", Tensor::gelu),
        ("gelu_erf", Tensor::gelu_erf),
        ("tanh", Tensor::tanh),
        ("sigmoid", Tensor::sigmoid),
    ];
    for (name, f) in unary {
        if want(name) {
            bench(name, "4194304", 8 * N, REPS, || f(&x))?;
        }
    }

    // Binary, 4M f32: two reads, one write. Same shape, then a broadcast row.
    if want("add") {
        bench("add", "4194304", 12 * N, REPS, || x.add(&y))?;
        let m = x.reshape((4096, 1024))?;
        let row = y.narrow(0, 0, 1024)?;
        bench("add_row", "4096x1024+1024", 8 * N, REPS, || m.add(&row))?;
    }

    // Softmax: BERT-base attention-sized rows, and one vocabulary-sized row.
    let rows = x.narrow(0, 0, 32 * 128 * 768)?.reshape((32 * 128, 768))?;
    let vocab = x.narrow(0, 0, 32000)?.reshape((1, 32000))?;
    if want("softmax") {
        bench("softmax", "4096x768", 8 * 4096 * 768, REPS, || rows.softmax(D::Minus1))?;
        bench("softmax", "1x32000", 8 * 32000, 401, || vocab.softmax(D::Minus1))?;
        bench("log_softmax", "4096x768", 8 * 4096 * 768, REPS, || rows.log_softmax(D::Minus1))?;
    }

    // Norms over 768.
    let w = Tensor::randn(0f32, 1.0, 768, &dev)?;
    let b = Tensor::randn(0f32, 1.0, 768, &dev)?;
    if want("norm") {
        bench("layer_norm", "4096x768", 8 * 4096 * 768, REPS, || ops::layer_norm(&rows, &w, Some(&b), 1e-5))?;
        bench("rms_norm", "4096x768", 8 * 4096 * 768, REPS, || ops::rms_norm(&rows, &w, 1e-5))?;
    }

    // Reductions over the last dim.
    if want("sum") || want("max") {
        bench("sum_last_dim", "4096x768", 4 * 4096 * 768, REPS, || rows.sum_keepdim(1))?;
        bench("max_last_dim", "4096x768", 4 * 4096 * 768, REPS, || rows.max_keepdim(1))?;
    }

    // Conversions, 4M elements.
    if want("cast") || want("bf16") || want("f16") {
        bench("cast_f32_bf16", "4194304", 6 * N, REPS, || x.to_dtype(DType::BF16))?;
        let xb = x.to_dtype(DType::BF16)?;
        bench("cast_bf16_f32", "4194304", 6 * N, REPS, || xb.to_dtype(DType::F32))?;
        bench("cast_f32_f16", "4194304", 6 * N, REPS, || x.to_dtype(DType::F16))?;
    }
    Ok(())
}
