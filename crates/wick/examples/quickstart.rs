//! A tour of the tensor core: run with `cargo run --release --example quickstart`.

use wick::{DType, Device, IndexOp, Tensor, D};

fn main() -> wick::Result<()> {
    let dev = Device::Cpu;
    dev.set_seed(0)?;

    // Make tensors.
    let a = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &dev)?;
    let w = Tensor::randn(0f32, 0.5, (3, 4), &dev)?;
    let bias = Tensor::arange(0f32, 4., &dev)?;
    println!("a = {a}");

    // A tiny linear layer + softmax: broadcasting, matmul, reductions.
    let logits = a.matmul(&w)?.add(&bias)?;
    let probs = logits.softmax(D::Minus1)?;
    println!("probs = {probs}");
    println!("argmax = {}", probs.argmax(D::Minus1)?);

    // Views share storage; strided inputs work everywhere.
    let t = a.t()?;
    println!("a^T (a view, contiguous: {}) = {t}", t.is_contiguous());
    println!("a[:, 1..3] = {}", a.i((.., 1..3))?);
    println!("sum over the transposed view: {}", t.sum_keepdim(0)?);

    // Convolution and pooling on an NCHW image.
    let img = Tensor::rand(0f32, 1., (1, 3, 8, 8), &dev)?;
    let kernel = Tensor::randn(0f32, 0.1, (4, 3, 3, 3), &dev)?;
    let feat = img.conv2d(&kernel, 1, 1, 1, 1)?.relu()?.max_pool2d(2)?;
    println!("conv2d → relu → max_pool2d: {:?}", feat.dims());

    // Half precision and dtype conversion.
    let h = a.to_dtype(DType::BF16)?.sqr()?.to_dtype(DType::F32)?;
    println!("bf16 square = {h}");

    // Errors name the op and the shapes instead of panicking.
    match a.matmul(&a) {
        Ok(_) => unreachable!("[2, 3] @ [2, 3] has no product"),
        Err(e) => println!("error, as expected: {e}"),
    }

    // A bigger product, to see the threaded GEMM at work.
    let n = 1024;
    let x = Tensor::randn(0f32, 1., (n, n), &dev)?;
    let y = Tensor::randn(0f32, 1., (n, n), &dev)?;
    let start = std::time::Instant::now();
    let z = x.matmul(&y)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n}x{n} matmul on {} threads: {:.1} ms ({:.0} GFLOP/s), checksum {:.3}",
        wick::num_threads(),
        secs * 1e3,
        2.0 * (n * n * n) as f64 / secs / 1e9,
        z.mean_all()?.to_scalar::<f32>()?
    );
    Ok(())
}
