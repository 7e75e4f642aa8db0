//! Timings of wick-nn's hot paths, one JSON line per workload (median of the runs):
//! fused rotary embedding vs its composition from primitives, attention prefill and decode
//! with grouped-query heads, and a rank-3 `Linear`.
//!
//! `cargo run --release -p wick-nn --example nn_bench`

use std::time::Instant;
use wick::{DType, Device, Result, Tensor, Var};
use wick_nn::{scaled_dot_product_attention, Linear, Module, RopeLayout, RotaryEmbedding};

fn median_us(runs: usize, mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    f()?; // warm-up
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        std::hint::black_box(f()?);
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[runs / 2])
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    let (b, h, s, d) = (1, 32, 512, 64);
    let x = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
    let rope = RotaryEmbedding::new(10_000.0, d, 4096, RopeLayout::HalfSplit, DType::F32, &dev)?;
    let fused = median_us(21, || rope.apply_one(&x, 0))?;
    // The same op on a variable input takes the composed path (narrow/neg/cat/mul/add).
    let xv = Var::from_tensor(&x)?;
    let composed = median_us(21, || rope.apply_one(&xv, 0))?;
    println!(
        "{{\"workload\":\"rope_f32_{b}x{h}x{s}x{d}\",\"fused_us\":{fused:.1},\"composed_us\":{composed:.1},\"speedup\":{:.2}}}",
        composed / fused
    );

    let (hq, hkv) = (32, 8);
    let q = Tensor::randn(0f32, 1.0, (1, hq, s, d), &dev)?;
    let k = Tensor::randn(0f32, 1.0, (1, hkv, s, d), &dev)?;
    let v = Tensor::randn(0f32, 1.0, (1, hkv, s, d), &dev)?;
    let prefill = median_us(11, || scaled_dot_product_attention(&q, &k, &v, None, true, None))?;
    println!("{{\"workload\":\"sdpa_prefill_f32_q{hq}_kv{hkv}_t{s}_d{d}\",\"median_us\":{prefill:.1}}}");
    let q1 = q.narrow(2, s - 1, 1)?;
    let decode = median_us(51, || scaled_dot_product_attention(&q1, &k, &v, None, true, None))?;
    println!("{{\"workload\":\"sdpa_decode_f32_q{hq}_kv{hkv}_t{s}_d{d}\",\"median_us\":{decode:.1}}}");

    let lin = Linear::new(
        Tensor::randn(0f32, 0.02, (2048, 2048), &dev)?,
        Some(Tensor::zeros(2048, DType::F32, &dev)?),
    )?;
    let xs = Tensor::randn(0f32, 1.0, (4, 128, 2048), &dev)?;
    let t = median_us(11, || lin.forward(&xs))?;
    let gflops = 2.0 * 512.0 * 2048.0 * 2048.0 / t / 1e3;
    println!(
        "{{\"workload\":\"linear_f32_4x128x2048_to_2048\",\"median_us\":{t:.1},\"gflops\":{gflops:.1}}}"
    );
    Ok(())
}
