//! Median f32 matmul throughput: `cargo run --release --example matmul_bench [n ...]`.

use wick::{Device, Tensor};

fn main() -> wick::Result<()> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![512, 1024, 2048] } else { sizes };
    let dev = Device::Cpu;
    for n in sizes {
        let a = Tensor::randn(0f32, 1., (n, n), &dev)?;
        let b = Tensor::randn(0f32, 1., (n, n), &dev)?;
        a.matmul(&b)?;
        let reps = (2_000_000_000 / (n * n * n)).clamp(5, 50);
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = std::time::Instant::now();
                let _ = a.matmul(&b);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(|x, y| x.total_cmp(y));
        let med = times[times.len() / 2];
        println!(
            "{{\"op\":\"matmul_f32\",\"n\":{n},\"threads\":{},\"median_ms\":{:.3},\"gflops\":{:.1}}}",
            wick::num_threads(),
            med * 1e3,
            2.0 * (n * n * n) as f64 / med / 1e9
        );
    }
    Ok(())
}
