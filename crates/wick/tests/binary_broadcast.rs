//! Broadcast binary ops at sizes that take the vector and threaded paths (a row or plane
//! repeated along leading dims, on either side; a scalar; a strided operand), against an
//! element-by-element reference computed in f64 and rounded once — exact for `+ − × ÷` on f32,
//! so results must match bit for bit.

use wick::{Device, Tensor};

/// Deterministic values in ±(0.5..8.5), never zero (safe divisors), some negative.
fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)).rotate_left(7);
            let v = 0.5 + (h % 8000) as f32 / 1000.0;
            if h & 1 == 0 {
                v
            } else {
                -v
            }
        })
        .collect()
}

fn row_major_index(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

/// The flat index into an operand of shape `small` (right-aligned, size-1 dims broadcast) for
/// the output multi-index `idx`.
fn source_index(idx: &[usize], small: &[usize]) -> usize {
    let off = idx.len() - small.len();
    small.iter().enumerate().fold(0, |acc, (d, &s)| acc * s + if s == 1 { 0 } else { idx[off + d] })
}

/// An op's scalar reference, in f64.
type Reference = fn(f64, f64) -> f64;

const OPS: [(&str, Reference); 4] =
    [("add", |a, b| a + b), ("sub", |a, b| a - b), ("mul", |a, b| a * b), ("div", |a, b| a / b)];

fn apply(name: &str, a: &Tensor, b: &Tensor) -> Tensor {
    match name {
        "add" => a.add(b),
        "sub" => a.sub(b),
        "mul" => a.mul(b),
        _ => a.div(b),
    }
    .unwrap()
}

fn check(lhs: &[usize], rhs: &[usize]) {
    let dev = Device::Cpu;
    let out_dims: Vec<usize> = {
        let r = lhs.len().max(rhs.len());
        let pad = |s: &[usize]| [vec![1; r - s.len()], s.to_vec()].concat();
        pad(lhs).iter().zip(pad(rhs)).map(|(&x, y)| x.max(y)).collect()
    };
    let (na, nb) = (lhs.iter().product::<usize>(), rhs.iter().product::<usize>());
    let (va, vb) = (data(na, 1), data(nb, 2));
    let a = Tensor::from_vec(va.clone(), lhs, &dev).unwrap();
    let b = Tensor::from_vec(vb.clone(), rhs, &dev).unwrap();
    for (name, f) in OPS {
        let got = apply(name, &a, &b);
        assert_eq!(got.dims(), &out_dims[..]);
        let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, &g) in got.iter().enumerate() {
            let idx = row_major_index(i, &out_dims);
            let (x, y) = (va[source_index(&idx, lhs)], vb[source_index(&idx, rhs)]);
            let want = f(x as f64, y as f64) as f32;
            assert_eq!(g.to_bits(), want.to_bits(), "{name} {lhs:?} vs {rhs:?} at {idx:?}: {g} vs {want}");
        }
    }
}

#[test]
fn row_broadcast_on_either_side() {
    // Rows wider and narrower than the 2048-element pieces, odd widths, the smallest block
    // the fast path takes (16) and one below it (15, the generic path); totals above and
    // below the threading threshold.
    for d in [15usize, 16, 17, 768, 1031, 2048, 3000] {
        for rows in [1usize, 3, 70] {
            check(&[rows, d], &[d]);
            check(&[d], &[rows, d]);
        }
    }
}

#[test]
fn plane_and_scalar_broadcast() {
    check(&[4, 33, 129], &[33, 129]);
    check(&[33, 129], &[4, 33, 129]);
    check(&[4, 33, 129], &[1, 1, 129]);
    check(&[5, 40_000], &[1]);
    check(&[1], &[5, 40_000]);
    // Column broadcast (stride 0 innermost) and a broadcast in the middle: generic path.
    check(&[300, 257], &[300, 1]);
    check(&[6, 50, 200], &[6, 1, 200]);
}

#[test]
fn strided_operands_against_their_copies() {
    let dev = Device::Cpu;
    let a = Tensor::from_vec(data(300 * 500, 3), (300, 500), &dev).unwrap();
    let row = Tensor::from_vec(data(300, 4), 300, &dev).unwrap();
    // A transposed lhs with a row rhs, and the rhs broadcast over a transposed view.
    let at = a.t().unwrap();
    let want = at.contiguous().unwrap().add(&row).unwrap();
    let got = at.add(&row).unwrap();
    assert_eq!(
        got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // A narrowed (non-contiguous) lhs.
    let an = a.narrow(1, 100, 300).unwrap();
    let want = an.contiguous().unwrap().mul(&row).unwrap();
    let got = an.mul(&row).unwrap();
    assert_eq!(
        got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn transpose_copies_match_index_formula() {
    // f32 (the register-tile kernel) and f64 / u8 (the generic tiles), square and ragged.
    let dev = Device::Cpu;
    for (r, c) in [(2048usize, 2048usize), (300, 517), (17, 9), (1, 40)] {
        let v: Vec<f32> = (0..r * c).map(|i| i as f32).collect();
        let t = Tensor::from_vec(v, (r, c), &dev).unwrap().t().unwrap().contiguous().unwrap();
        let got = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!((0..c).all(|i| (0..r).all(|j| got[i * r + j] == (j * c + i) as f32)), "f32 {r}x{c}");
        let v: Vec<f64> = (0..r * c).map(|i| i as f64).collect();
        let t = Tensor::from_vec(v, (r, c), &dev).unwrap().t().unwrap().contiguous().unwrap();
        let got = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!((0..c).all(|i| (0..r).all(|j| got[i * r + j] == (j * c + i) as f64)), "f64 {r}x{c}");
    }
    // A batched transpose of the last two dims (many planes, each through the kernel).
    let v: Vec<f32> = (0..3 * 40 * 24).map(|i| i as f32).collect();
    let t = Tensor::from_vec(v, (3, 40, 24), &dev).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
    let got = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for b in 0..3 {
        for i in 0..24 {
            for j in 0..40 {
                assert_eq!(got[(b * 24 + i) * 40 + j], ((b * 40 + j) * 24 + i) as f32);
            }
        }
    }
}
