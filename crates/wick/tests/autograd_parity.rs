//! wick's gradients against PyTorch autograd on small f32 networks
//! (fixtures: `scripts/gen_autograd_fixtures.py`).

use std::collections::HashMap;
use wick::{Device, Tensor, Var, D};

const DEV: Device = Device::Cpu;

fn fixtures() -> HashMap<String, Tensor> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/autograd.safetensors");
    wick::safetensors::load(path, &DEV).expect("autograd fixtures")
}

struct Case {
    name: &'static str,
    all: HashMap<String, Tensor>,
}

impl Case {
    fn get(&self, k: &str) -> Tensor {
        self.all.get(&format!("{}.{k}", self.name)).unwrap_or_else(|| panic!("no {}.{k}", self.name)).clone()
    }
    fn var(&self, k: &str) -> Var {
        Var::from_tensor(&self.get(k)).unwrap()
    }
    /// Compares the loss and each named gradient with PyTorch's: f32, error relative to the
    /// largest magnitude of the reference gradient, at most 1e-4.
    fn compare(&self, loss: &Tensor, vars: &[(&str, &Var)]) {
        let want_loss = self.get("loss").to_vec1::<f32>().unwrap()[0];
        let got_loss = loss.to_scalar::<f32>().unwrap();
        assert!(
            (got_loss - want_loss).abs() <= 1e-4 * (1.0 + want_loss.abs()),
            "{}: loss {got_loss} vs {want_loss}",
            self.name
        );
        let grads = loss.backward().unwrap();
        for (k, v) in vars {
            let want = self.get(&format!("grad.{k}")).flatten_to_vec::<f32>().unwrap();
            let got = grads.get(v).unwrap_or_else(|| panic!("{}: no gradient for {k}", self.name));
            assert_eq!(got.shape(), v.shape());
            let got = got.flatten_to_vec::<f32>().unwrap();
            let scale = want.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * scale,
                    "{}: grad {k}[{i}]: wick {g} vs PyTorch {w} (scale {scale})",
                    self.name
                );
            }
        }
    }
}

#[test]
fn mlp_with_cross_entropy() {
    let c = Case { name: "mlp", all: fixtures() };
    let (x, w1, b1, w2) = (c.var("x"), c.var("w1"), c.var("b1"), c.var("w2"));
    let targets = c.get("targets").to_dtype(wick::DType::U32).unwrap().unsqueeze(1).unwrap();
    let h = x.matmul(&w1).unwrap().add(&b1).unwrap().gelu_erf().unwrap();
    let logp = h.matmul(&w2).unwrap().log_softmax(D::Minus1).unwrap();
    let loss = logp.gather(&targets, 1).unwrap().neg().unwrap().mean_all().unwrap();
    c.compare(&loss, &[("x", &x), ("w1", &w1), ("b1", &b1), ("w2", &w2)]);
}

#[test]
fn convnet_with_pooling() {
    let c = Case { name: "cnn", all: fixtures() };
    let (x, k, bias) = (c.var("x"), c.var("k"), c.var("bias"));
    let y = x.conv2d(&k, 1, 1, 1, 1).unwrap().add(&bias.reshape((1, 4, 1, 1)).unwrap()).unwrap();
    let y = y.relu().unwrap().max_pool2d(2).unwrap().avg_pool2d(2).unwrap();
    let loss = y.mul(&c.get("r")).unwrap().sum_all().unwrap();
    c.compare(&loss, &[("x", &x), ("k", &k), ("bias", &bias)]);
}

#[test]
fn causal_attention_with_layer_norm() {
    let c = Case { name: "attention", all: fixtures() };
    let (q, k, v, w, b) = (c.var("q"), c.var("k"), c.var("v"), c.var("w"), c.var("b"));
    let scores = q.matmul(&k.t().unwrap()).unwrap().affine(1.0 / 8f64.sqrt(), 0.0).unwrap();
    let mask = Tensor::ones((4, 4), wick::DType::U8, &DEV).unwrap().tril(0).unwrap();
    let ninf = Tensor::new(f32::NEG_INFINITY, &DEV).unwrap();
    let scores = mask.where_cond(&scores, &ninf).unwrap();
    let out = scores.softmax(D::Minus1).unwrap().matmul(&v).unwrap();
    let out = wick::ops::layer_norm(&out, &w, Some(&b), 1e-5).unwrap();
    let loss = out.mul(&c.get("r")).unwrap().sum_all().unwrap();
    c.compare(&loss, &[("q", &q), ("k", &k), ("v", &v), ("w", &w), ("b", &b)]);
}

#[test]
fn embedding_rms_norm_grouped_conv() {
    let c = Case { name: "embed_conv", all: fixtures() };
    let (table, w, k) = (c.var("table"), c.var("w"), c.var("k"));
    let ids = c.get("ids").to_dtype(wick::DType::U32).unwrap();
    let h = table.embedding(&ids).unwrap();
    let h = wick::ops::rms_norm(&h, &w, 1e-6).unwrap();
    let y = h.transpose(1, 2).unwrap().conv1d(&k, 2, 1, 2, 2).unwrap();
    let loss = y.silu().unwrap().mean_all().unwrap();
    c.compare(&loss, &[("table", &table), ("w", &w), ("k", &k)]);
}
