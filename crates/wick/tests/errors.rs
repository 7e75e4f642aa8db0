//! Every caller mistake returns an `Err` whose message names the op and the shapes or dims,
//! and never panics.

use wick::{DType, Device, Error, IndexOp, Tensor, D};

fn t(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap()
}

fn err_msg(r: wick::Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got a tensor of shape {:?}", t.dims()),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} does not mention {p:?}");
    }
}

#[test]
fn matmul_inner_dims() {
    let m = err_msg(t(&[2, 3]).matmul(&t(&[4, 5])));
    assert_eq!(m, "matmul: shapes [2, 3] and [4, 5] are not compatible (inner dims 3 != 4)");
    let m = err_msg(t(&[2, 2, 3]).matmul(&t(&[3, 3, 4])));
    assert_contains(&m, &["matmul", "[2, 2, 3]", "[3, 3, 4]", "batch"]);
    let m = err_msg(t(&[3]).matmul(&t(&[4])));
    assert_contains(&m, &["matmul", "[3]", "[4]"]);
    let m = err_msg(t(&[2, 3]).matmul(&Tensor::zeros((3, 2), DType::F64, &Device::Cpu).unwrap()));
    assert_contains(&m, &["matmul", "f32", "f64"]);
    let ids = Tensor::zeros((2, 2), DType::U32, &Device::Cpu).unwrap();
    assert_contains(&err_msg(ids.matmul(&ids)), &["matmul", "u32"]);
}

#[test]
fn broadcasting_mismatch() {
    let m = err_msg(t(&[2, 3]).add(&t(&[4])));
    assert_contains(&m, &["add", "[2, 3]", "[4]"]);
    let m = err_msg(t(&[2, 3]).mul(&Tensor::zeros((2, 3), DType::F16, &Device::Cpu).unwrap()));
    assert_contains(&m, &["mul", "f32", "f16"]);
    let m = err_msg(t(&[3]).broadcast_as((2, 4)));
    assert_contains(&m, &["broadcast_as", "[3]", "[2, 4]"]);
}

#[test]
fn narrow_out_of_range() {
    let m = err_msg(t(&[2, 5]).narrow(1, 3, 3));
    assert_contains(&m, &["narrow", "3..6", "dim 1", "size 5", "[2, 5]"]);
    // start + len overflowing usize is caught too.
    assert!(t(&[2, 5]).narrow(1, usize::MAX, 2).is_err());
    assert!(t(&[2, 5]).narrow(2, 0, 1).is_err());
}

#[test]
fn dims_out_of_range_and_negative() {
    let m = err_msg(t(&[2, 3]).sum_keepdim(2));
    assert_contains(&m, &["sum", "dim 2", "[2, 3]"]);
    let m = err_msg(t(&[2, 3]).softmax(-3i32));
    assert_contains(&m, &["softmax", "dim -3", "[2, 3]"]);
    // Negative dims in range count from the end, like PyTorch.
    assert_eq!(t(&[2, 3]).sum(-1i32).unwrap().dims(), &[2]);
    assert!(t(&[2, 3]).transpose(0, D::Minus(3)).is_err());
    assert!(t(&[]).t().is_err());
    assert_eq!(t(&[2, 3]).unsqueeze(2).unwrap().dims(), &[2, 3, 1]);
    assert_eq!(t(&[2, 3]).unsqueeze(-1i32).unwrap().dims(), &[2, 3, 1]);
    assert!(t(&[2, 3]).unsqueeze(3).is_err());
    assert!(t(&[2, 3]).squeeze(0).is_err());
    assert!(t(&[2, 3]).sum_keepdim((1usize, 1usize)).is_err());
}

#[test]
fn impossible_reshape() {
    let m = err_msg(t(&[2, 3]).reshape((4, 2)));
    assert_contains(&m, &["reshape", "[2, 3]", "[4, 2]"]);
    assert!(t(&[2, 3]).reshape(vec![usize::MAX, 2]).is_err());
    assert!(t(&[2, 3]).reshape_infer(&[-1, -1]).is_err());
    assert!(t(&[2, 3]).reshape_infer(&[4, -1]).is_err());
    assert_eq!(t(&[2, 3]).reshape_infer(&[3, -1]).unwrap().dims(), &[3, 2]);
}

#[test]
fn zero_size_tensors() {
    let e = t(&[0, 3]);
    assert_eq!(e.sum_keepdim(0).unwrap().to_vec2::<f32>().unwrap(), vec![vec![0.0; 3]]);
    assert_eq!(e.matmul(&t(&[3, 2])).unwrap().dims(), &[0, 2]);
    assert_eq!(t(&[2, 0]).matmul(&t(&[0, 3])).unwrap().to_vec2::<f32>().unwrap(), vec![vec![0.0; 3]; 2]);
    assert_eq!(e.exp().unwrap().dims(), &[0, 3]);
    assert_eq!(e.t().unwrap().contiguous().unwrap().dims(), &[3, 0]);
    let m = err_msg(e.max(0));
    assert_contains(&m, &["max", "size 0", "[0, 3]"]);
    assert!(e.argmax(0).is_err());
    assert_eq!(Tensor::cat(&[&e, &t(&[1, 3])], 0).unwrap().dims(), &[1, 3]);
    assert_eq!(e.to_string(), "tensor([], shape=[0, 3], dtype=f32)");
}

#[test]
fn cat_and_stack_mismatch() {
    let m = err_msg(Tensor::cat(&[&t(&[2, 3]), &t(&[2, 4])], 0));
    assert_contains(&m, &["cat", "[2, 3]", "[2, 4]", "dim 0"]);
    assert!(Tensor::cat(&[&t(&[2, 3]), &t(&[2])], 0).is_err());
    assert!(Tensor::cat::<Tensor, usize>(&[], 0).is_err());
    let m = err_msg(Tensor::stack(&[&t(&[2, 3]), &t(&[3, 2])], 0));
    assert_contains(&m, &["stack", "[2, 3]", "[3, 2]"]);
    let f64t = Tensor::zeros((2, 3), DType::F64, &Device::Cpu).unwrap();
    assert_contains(&err_msg(Tensor::cat(&[&t(&[2, 3]), &f64t], 1)), &["cat", "f32", "f64"]);
}

#[test]
fn indices_out_of_bounds() {
    let dev = Device::Cpu;
    let x = t(&[3, 4]);
    let m = err_msg(x.index_select(&Tensor::new(&[0u32, 3], &dev).unwrap(), 0));
    assert_contains(&m, &["index_select", "index 3", "dim 0", "size 3", "[3, 4]"]);
    let m = err_msg(x.index_select(&Tensor::new(&[-1i64], &dev).unwrap(), 1));
    assert_contains(&m, &["index_select", "index -1"]);
    let m = err_msg(x.gather(&Tensor::new(&[[4u32], [0], [0]], &dev).unwrap(), 1));
    assert_contains(&m, &["gather", "index 4", "size 4"]);
    assert!(x.gather(&Tensor::new(&[[0u32; 5]], &dev).unwrap(), 0).is_err());
    assert!(x.index_select(&Tensor::new(&[0f32], &dev).unwrap(), 0).is_err());
    assert!(x.index_select(&Tensor::new(&[[0u32]], &dev).unwrap(), 0).is_err());
    let src = t(&[3, 4]);
    let m = err_msg(x.scatter_add(&Tensor::new(&[[9u32; 4]], &dev).unwrap(), &src, 0));
    assert_contains(&m, &["scatter_add", "index 9"]);
    let m = err_msg(x.index_add(&Tensor::new(&[7u32], &dev).unwrap(), &t(&[1, 4]), 0));
    assert_contains(&m, &["index_add", "index 7"]);
    assert!(x.index_add(&Tensor::new(&[0u32], &dev).unwrap(), &t(&[2, 4]), 0).is_err());
    assert!(x.embedding(&Tensor::new(&[[5u32]], &dev).unwrap()).is_err());
    assert!(x.i((3, 0)).is_err());
    assert!(x.i((.., 2..5)).is_err());
    assert!(x.i((0, 0, 0)).is_err());
    assert!(x.get(3).is_err());
}

#[test]
fn conv_and_pool_errors() {
    let x = t(&[1, 4, 5, 5]);
    let m = err_msg(x.conv2d(&t(&[2, 3, 3, 3]), 0, 1, 1, 1));
    assert_contains(&m, &["conv2d", "[1, 4, 5, 5]", "[2, 3, 3, 3]"]);
    assert!(x.conv2d(&t(&[2, 4, 7, 7]), 0, 1, 1, 1).is_err());
    assert!(x.conv2d(&t(&[2, 4, 3, 3]), 0, 0, 1, 1).is_err());
    assert!(x.conv2d(&t(&[2, 2, 3, 3]), 0, 1, 1, 0).is_err());
    assert!(x.conv2d(&t(&[3, 2, 3, 3]), 0, 1, 1, 2).is_err());
    assert!(x.conv2d(&t(&[2, 4, 3]), 0, 1, 1, 1).is_err());
    assert!(t(&[1, 4, 5]).conv1d(&t(&[2, 4, 6]), 0, 1, 1, 1).is_err());
    assert!(x.conv_transpose2d(&t(&[3, 2, 3, 3]), 0, 0, 1, 1, 1).is_err());
    assert!(x.conv_transpose2d(&t(&[4, 2, 3, 3]), 0, 2, 2, 1, 1).is_err());
    assert!(x.conv_transpose2d(&t(&[4, 2, 3, 3]), 9, 0, 1, 1, 1).is_err());
    assert!(x.max_pool2d(6).is_err());
    assert!(x.max_pool2d(0).is_err());
    assert!(t(&[4, 5, 5]).avg_pool2d(2).is_err());
    assert!(Tensor::zeros((1, 1, 2, 2), DType::U32, &Device::Cpu).unwrap().avg_pool2d(2).is_err());
}

#[test]
fn dtype_errors() {
    let ids = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
    assert_contains(&err_msg(ids.exp()), &["exp", "u32"]);
    assert_contains(&err_msg(ids.mean_all()), &["mean", "u32"]);
    assert_contains(&err_msg(ids.softmax(0)), &["softmax", "u32"]);
    assert_contains(&err_msg(ids.pow(&ids)), &["pow", "u32"]);
    let m = err_msg(ids.div(&Tensor::new(&[1u32, 0], &Device::Cpu).unwrap()));
    assert_contains(&m, &["div", "division by zero"]);
    let m = match ids.to_vec1::<f32>() {
        Ok(_) => panic!("dtype mismatch accepted"),
        Err(e) => e.to_string(),
    };
    assert_contains(&m, &["to_vec1", "u32", "f32"]);
    assert!(ids.to_vec2::<u32>().is_err());
    assert!(ids.to_scalar::<u32>().is_err());
}

#[test]
fn constructor_errors() {
    let dev = Device::Cpu;
    let m = match Tensor::from_vec(vec![1f32; 5], (2, 3), &dev) {
        Ok(_) => panic!("wrong length accepted"),
        Err(e) => e.to_string(),
    };
    assert_contains(&m, &["from_vec", "[2, 3]", "6", "5"]);
    assert!(Tensor::zeros(vec![usize::MAX, usize::MAX], DType::F32, &dev).is_err());
    assert!(Tensor::zeros(vec![1 << 62], DType::F32, &dev).is_err());
    assert!(Tensor::arange_step(0f32, 1., 0., &dev).is_err());
    assert!(Tensor::arange_step(0f64, 1e300, 1e-300, &dev).is_err());
    assert!(Tensor::rand(1f32, 0., 3, &dev).is_err());
    assert!(Tensor::randn(0f32, -1., 3, &dev).is_err());
    assert!(Tensor::new(vec![vec![1f32, 2.], vec![3.]], &dev).is_err());
    assert!(t(&[2]).topk(3, 0).is_err());
    assert!(t(&[2, 3]).repeat(3).is_err());
    assert!(t(&[2, 3]).chunk(0, 0).is_err());
    assert!(t(&[2, 3]).permute((0, 0)).is_err());
    assert!(t(&[2, 3]).permute((0, 1, 2)).is_err());
    assert!(t(&[2, 3]).flatten(1, 0).is_err());
}

#[test]
fn context_layers() {
    use wick::Context;
    let r: wick::Result<Tensor> = t(&[2, 3]).matmul(&t(&[4, 5])).context("layer 3 attention");
    let e = r.unwrap_err();
    assert!(e.to_string().starts_with("layer 3 attention: matmul: shapes [2, 3]"), "{e}");
    assert!(matches!(e.root(), Error::ShapeMismatch { op: "matmul", .. }));
}

#[test]
fn slice_set_refuses_what_it_cannot_write() {
    let set = |dst: &Tensor, src: &Tensor, dim: usize, start: usize| match dst.slice_set(src, dim, start) {
        Ok(()) => panic!("expected an error writing {:?} into {:?}", src.dims(), dst.dims()),
        Err(e) => e.to_string(),
    };
    let buf = t(&[2, 5, 3]);
    assert_contains(
        &set(&buf, &t(&[2, 2, 3]), 1, 4),
        &["slice_set", "[2, 5, 3]", "[2, 2, 3]", "positions 4.."],
    );
    assert_contains(&set(&buf, &t(&[2, 1, 4]), 1, 0), &["slice_set", "[2, 1, 4]"]);
    assert_contains(&set(&buf, &t(&[2, 1]), 1, 0), &["slice_set", "[2, 1]"]);
    assert_contains(&set(&buf, &t(&[2, 1, 3]), 3, 0), &["slice_set"]);
    let f64s = Tensor::zeros((2, 1, 3), DType::F64, &Device::Cpu).unwrap();
    assert_contains(&set(&buf, &f64s, 1, 0), &["slice_set", "f64"]);
    let view = buf.transpose(0, 2).unwrap();
    assert_contains(&set(&view, &t(&[3, 1, 2]), 1, 0), &["slice_set", "contiguous"]);
    let own = buf.narrow(1, 0, 1).unwrap();
    assert_contains(&set(&buf, &own, 1, 3), &["slice_set", "shares"]);
    let var = wick::Var::zeros((2, 1, 3), DType::F32, &Device::Cpu).unwrap();
    assert_contains(&set(&buf, var.as_tensor(), 1, 0), &["slice_set", "gradients"]);
    assert!(buf.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| v == 0.0));
}
