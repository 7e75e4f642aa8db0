//! PyTorch parity of wick-nn: every layer, attention, rotary embedding, loss and optimizer
//! against the outputs saved by `scripts/gen_nn_fixtures.py` (torch 2.x) in
//! `tests/fixtures/nn.safetensors`. The layer configurations below repeat the script's.
//!
//! Tolerance: each element must satisfy `|got − want| <= tol · (1 + |want|)`, with `tol`
//! stated per check (f32: 1e-5 for elementwise ops and norms, 1e-4 where a matmul,
//! convolution or several optimizer steps accumulate rounding).

use std::collections::HashMap;
use std::sync::OnceLock;
use wick::{DType, Device, Result, Tensor, Var};
use wick_nn::optim::{AdamW, Optimizer, ParamsAdamW, ParamsSgd, Sgd};
use wick_nn::*;

fn fixtures() -> &'static HashMap<String, Tensor> {
    static F: OnceLock<HashMap<String, Tensor>> = OnceLock::new();
    F.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nn.safetensors");
        wick::safetensors::load(path, &Device::Cpu)
            .expect("fixture file (regenerate with scripts/gen_nn_fixtures.py)")
    })
}

fn t(name: &str) -> Tensor {
    fixtures().get(name).unwrap_or_else(|| panic!("fixture {name} missing")).clone()
}

#[track_caller]
fn close(what: &str, got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let g = got.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let w = want.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: wick {a} vs torch {b} (tol {tol})");
    }
}

#[test]
fn linear_embedding_and_norms() -> Result<()> {
    let lin = Linear::new(t("linear.w"), Some(t("linear.b")))?;
    close("linear", &lin.forward(&t("linear.x"))?, &t("linear.out"), 1e-4);

    let emb = Embedding::new(t("embedding.w"))?;
    close("embedding", &emb.forward(&t("embedding.ids"))?, &t("embedding.out"), 0.0);

    let ln = LayerNorm::new(t("layer_norm.w"), Some(t("layer_norm.b")), 1e-5)?;
    close("layer_norm", &ln.forward(&t("layer_norm.x"))?, &t("layer_norm.out"), 1e-5);

    let rms = RmsNorm::new(t("rms_norm.w"), 1e-6)?;
    close("rms_norm", &rms.forward(&t("rms_norm.x"))?, &t("rms_norm.out"), 1e-5);

    let gn = GroupNorm::new(t("group_norm.w"), t("group_norm.b"), 3, 1e-5)?;
    close("group_norm", &gn.forward(&t("group_norm.x"))?, &t("group_norm.out"), 1e-5);
    Ok(())
}

#[test]
fn batch_norm_train_and_eval() -> Result<()> {
    for case in ["batch_norm2d", "batch_norm1d"] {
        let f = |k: &str| t(&format!("{case}.{k}"));
        let cfg = BatchNormConfig::default();
        let bn = BatchNorm::new(f("rm0"), f("rv0"), Some((f("w"), f("b"))), cfg)?;
        close(&format!("{case} eval"), &bn.forward_t(&f("x"), false)?, &f("eval_out"), 1e-5);
        close(&format!("{case} train"), &bn.forward_t(&f("x"), true)?, &f("train_out"), 1e-5);
        close(&format!("{case} running_mean"), &bn.running_mean(), &f("rm1"), 1e-5);
        close(&format!("{case} running_var"), &bn.running_var(), &f("rv1"), 1e-5);
    }
    Ok(())
}

#[test]
fn convolutions() -> Result<()> {
    let f = |c: &str, k: &str| t(&format!("{c}.{k}"));
    let c = Conv1d::new(
        f("conv1d", "w"),
        Some(f("conv1d", "b")),
        ConvConfig { padding: 1, stride: 2, dilation: 2, groups: 2 },
    )?;
    close("conv1d", &c.forward(&f("conv1d", "x"))?, &f("conv1d", "out"), 1e-4);
    let c = Conv2d::new(
        f("conv2d", "w"),
        Some(f("conv2d", "b")),
        ConvConfig { padding: 1, stride: 2, dilation: 1, groups: 2 },
    )?;
    close("conv2d", &c.forward(&f("conv2d", "x"))?, &f("conv2d", "out"), 1e-4);
    let c = Conv2d::new(
        f("conv2d_dilated", "w"),
        Some(f("conv2d_dilated", "b")),
        ConvConfig { padding: 2, stride: 1, dilation: 2, groups: 1 },
    )?;
    close("conv2d_dilated", &c.forward(&f("conv2d_dilated", "x"))?, &f("conv2d_dilated", "out"), 1e-4);
    let c = ConvTranspose1d::new(
        f("conv_transpose1d", "w"),
        Some(f("conv_transpose1d", "b")),
        ConvTransposeConfig { padding: 1, output_padding: 1, stride: 2, dilation: 1, groups: 2 },
    )?;
    close("conv_transpose1d", &c.forward(&f("conv_transpose1d", "x"))?, &f("conv_transpose1d", "out"), 1e-4);
    let c = ConvTranspose2d::new(
        f("conv_transpose2d", "w"),
        Some(f("conv_transpose2d", "b")),
        ConvTransposeConfig { padding: 1, output_padding: 1, stride: 2, dilation: 2, groups: 2 },
    )?;
    close("conv_transpose2d", &c.forward(&f("conv_transpose2d", "x"))?, &f("conv_transpose2d", "out"), 1e-4);
    Ok(())
}

#[test]
fn activations() -> Result<()> {
    let x = t("activations.x");
    for (name, act) in [
        ("relu", Activation::Relu),
        ("gelu_erf", Activation::GeluErf),
        ("gelu_tanh", Activation::GeluTanh),
        ("silu", Activation::Silu),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("relu6", Activation::Relu6),
        ("leaky_relu", Activation::LeakyRelu(0.1)),
        ("elu", Activation::Elu(1.0)),
        ("quick_gelu", Activation::QuickGelu),
    ] {
        close(name, &act.forward(&x)?, &t(&format!("activations.{name}")), 1e-5);
    }
    Ok(())
}

#[test]
fn attention_against_torch_sdpa() -> Result<()> {
    for (case, causal) in [
        ("sdpa_mha", false),
        ("sdpa_causal", true),
        ("sdpa_gqa_causal", true),
        ("sdpa_gqa_mask", false),
        ("sdpa_decode", true),
    ] {
        let f = |k: &str| t(&format!("{case}.{k}"));
        let mask = fixtures().get(&format!("{case}.mask")).cloned();
        let y = scaled_dot_product_attention(&f("q"), &f("k"), &f("v"), mask.as_ref(), causal, None)?;
        close(case, &y, &f("out"), 1e-4);
    }
    Ok(())
}

#[test]
fn rotary_both_layouts() -> Result<()> {
    let x = t("rope.x");
    for (layout, want) in
        [(RopeLayout::HalfSplit, "rope.half"), (RopeLayout::Interleaved, "rope.interleaved")]
    {
        let rope = RotaryEmbedding::new(10_000.0, 16, 32, layout, DType::F32, &Device::Cpu)?;
        close(want, &rope.apply_one(&x, 4)?, &t(want), 1e-5);
    }
    Ok(())
}

#[test]
fn losses() -> Result<()> {
    let (logits, cls) = (t("losses.logits"), t("losses.cls"));
    close("cross_entropy", &loss::cross_entropy(&logits, &cls)?, &t("losses.ce"), 1e-5);
    let lp = logits.log_softmax(1)?;
    close("nll", &loss::nll(&lp, &cls)?, &t("losses.nll"), 1e-5);
    close("mse", &loss::mse(&t("losses.a"), &t("losses.b"))?, &t("losses.mse"), 1e-5);
    let bce = loss::binary_cross_entropy_with_logit(&t("losses.bce_logits"), &t("losses.bce_targets"))?;
    close("bce_with_logits", &bce, &t("losses.bce"), 1e-5);
    Ok(())
}

/// Five steps of each optimizer on a Linear 4 → 3, weights after every step vs PyTorch's.
#[test]
fn optimizers_follow_pytorch_for_five_steps() -> Result<()> {
    let (x, y, cls) = (t("optim.x"), t("optim.y"), t("optim.cls"));
    type MakeOpt = Box<dyn Fn(Vec<Var>) -> Result<Box<dyn Optimizer>>>;
    let runs: Vec<(&str, MakeOpt, bool)> = vec![
        (
            "sgd",
            Box::new(|v| {
                let p = ParamsSgd { lr: 0.1, momentum: 0.9, weight_decay: 0.01, ..Default::default() };
                Ok(Box::new(Sgd::new(v, p)?) as Box<dyn Optimizer>)
            }),
            true,
        ),
        (
            "sgd_nesterov",
            Box::new(|v| {
                let p = ParamsSgd {
                    lr: 0.05,
                    momentum: 0.8,
                    nesterov: true,
                    weight_decay: 0.1,
                    ..Default::default()
                };
                Ok(Box::new(Sgd::new(v, p)?) as Box<dyn Optimizer>)
            }),
            false,
        ),
        ("adamw", Box::new(|v| Ok(Box::new(AdamW::new_lr(v, 0.01)?) as Box<dyn Optimizer>)), false),
        (
            "adamw_mse",
            Box::new(|v| {
                let p = ParamsAdamW {
                    lr: 0.05,
                    beta1: 0.8,
                    beta2: 0.99,
                    weight_decay: 0.1,
                    ..Default::default()
                };
                Ok(Box::new(AdamW::new(v, p)?) as Box<dyn Optimizer>)
            }),
            true,
        ),
    ];
    for (name, make, mse) in runs {
        let vm = VarMap::new();
        vm.insert("weight", Var::from_tensor(&t("optim.w0"))?);
        vm.insert("bias", Var::from_tensor(&t("optim.b0"))?);
        let lin = linear(4, 3, vm.var_builder(DType::F32, &Device::Cpu))?;
        assert_eq!(vm.all_vars().len(), 2, "the builder must reuse the inserted vars");
        let mut opt = make(vm.all_vars())?;
        for step in 1..=5 {
            let out = lin.forward(&x)?;
            let l = if mse { loss::mse(&out, &y)? } else { loss::cross_entropy(&out, &cls)? };
            opt.backward_step(&l)?;
            let f = |k: &str| t(&format!("optim_{name}.{k}{step}"));
            close(
                &format!("{name} step {step} weight"),
                vm.get_var("weight").unwrap().as_tensor(),
                &f("w"),
                1e-4,
            );
            close(
                &format!("{name} step {step} bias"),
                vm.get_var("bias").unwrap().as_tensor(),
                &f("b"),
                1e-4,
            );
        }
    }
    Ok(())
}
