//! Parity of `wick_models::bert::BertModel` with Hugging Face `transformers.BertModel` on a
//! small random model (fixtures by scripts/gen_bert_fixtures.py: hidden 32, 2 layers, 4 heads,
//! intermediate 37, erf GELU, a batch of 3 right-padded rows, one a sentence pair).
//!
//! Tolerances, as max |wick − PyTorch| over all elements relative to max |reference|:
//! f32 1e-4; f16 5e-3 (11-bit mantissa, ~5e-4 per rounding, through 2 layers); bf16 3e-2
//! (8-bit mantissa, ~4e-3 per rounding). Pooled, normalised vectors in f32: 1e-5 absolute.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wick::{DType, Device, Tensor};
use wick_models::bert::{BertModel, Config};
use wick_models::sentence::{l2_normalize, pool, Pooling};
use wick_nn::VarBuilder;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert_tiny")
}

struct Reference {
    ids: Tensor,
    types: Tensor,
    mask: Tensor,
    hidden: Tensor,
    mean: Tensor,
    cls: Tensor,
}

fn reference() -> Reference {
    let r = wick::safetensors::load(fixture_dir().join("reference.safetensors"), &Device::Cpu).unwrap();
    let ids = |k: &str| r[k].to_dtype(DType::U32).unwrap();
    Reference {
        ids: ids("input_ids"),
        types: ids("token_type_ids"),
        mask: ids("attention_mask"),
        hidden: r["last_hidden_state"].clone(),
        mean: r["mean_pooled"].clone(),
        cls: r["cls_pooled"].clone(),
    }
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// (max |a − b|, max |b|)
fn max_err(a: &Tensor, b: &Tensor) -> (f32, f32) {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (flat(a), flat(b));
    let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0f32, f32::max);
    assert!(a.iter().all(|x| x.is_finite()), "non-finite output");
    (err, scale)
}

fn load(dtype: DType) -> BertModel {
    BertModel::load(fixture_dir(), dtype).unwrap().1
}

#[test]
fn f32_last_hidden_state_matches_pytorch() {
    let r = reference();
    let model = load(DType::F32);
    let out = model.forward(&r.ids, Some(&r.types), Some(&r.mask)).unwrap();
    let (err, scale) = max_err(&out, &r.hidden);
    println!("f32: max abs err {err:e}, max |ref| {scale}");
    assert!(err <= 1e-4 * scale, "f32: max abs err {err} > 1e-4 x {scale}");
}

#[test]
fn f16_and_bf16_match_pytorch_within_stated_bounds() {
    let r = reference();
    for (dtype, tol) in [(DType::F16, 5e-3f32), (DType::BF16, 3e-2)] {
        let model = load(dtype);
        assert_eq!(model.dtype(), dtype);
        let out = model.forward(&r.ids, Some(&r.types), Some(&r.mask)).unwrap();
        assert_eq!(out.dtype(), dtype);
        let (err, scale) = max_err(&out, &r.hidden);
        println!("{dtype:?}: max abs err {err:e}, max |ref| {scale}");
        assert!(err <= tol * scale, "{dtype:?}: max abs err {err} > {tol} x {scale}");
    }
}

#[test]
fn mean_and_cls_pooling_match_pytorch() {
    let r = reference();
    let model = load(DType::F32);
    let out = model.forward(&r.ids, Some(&r.types), Some(&r.mask)).unwrap();
    for (pooling, want) in [(Pooling::Mean, &r.mean), (Pooling::Cls, &r.cls)] {
        let got = l2_normalize(&pool(&out, &r.mask, pooling).unwrap()).unwrap();
        let (err, _) = max_err(&got, want);
        assert!(err <= 1e-5, "{pooling:?}: max abs err {err}");
    }
}

#[test]
fn padding_does_not_change_the_real_tokens() {
    // Row 2 has 3 real tokens: run it alone, unpadded, and compare with the padded batch.
    let r = reference();
    let model = load(DType::F32);
    let batch = model.forward(&r.ids, Some(&r.types), Some(&r.mask)).unwrap();
    let ids = r.ids.narrow(0, 2, 1).unwrap().narrow(1, 0, 3).unwrap();
    let alone = model.forward(&ids, None, None).unwrap();
    let padded_row = batch.narrow(0, 2, 1).unwrap().narrow(1, 0, 3).unwrap();
    let (err, scale) = max_err(&alone, &padded_row);
    assert!(err <= 1e-5 * scale.max(1.0), "{err}");
}

#[test]
fn bert_prefixed_checkpoints_load_the_same() {
    let dir = std::env::temp_dir().join(format!("wick-models-bert-prefix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = wick::safetensors::load(fixture_dir().join("model.safetensors"), &Device::Cpu).unwrap();
    let renamed: HashMap<String, Tensor> =
        weights.into_iter().map(|(k, v)| (format!("bert.{k}"), v)).collect();
    wick::safetensors::save(renamed.iter().map(|(k, v)| (k.as_str(), v)), dir.join("model.safetensors"))
        .unwrap();
    std::fs::copy(fixture_dir().join("config.json"), dir.join("config.json")).unwrap();
    let r = reference();
    let out =
        BertModel::load(&dir, DType::F32).unwrap().1.forward(&r.ids, Some(&r.types), Some(&r.mask)).unwrap();
    let (err, scale) = max_err(&out, &r.hidden);
    assert!(err <= 1e-4 * scale);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_weights_configs_and_inputs_are_named_errors() {
    let cfg = Config::from_file(fixture_dir().join("config.json")).unwrap();
    assert_eq!((cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size), (32, 2, 37));
    let dev = Device::Cpu;
    let all = wick::safetensors::load(fixture_dir().join("model.safetensors"), &dev).unwrap();

    // A missing tensor: the error names its full path.
    let mut w = all.clone();
    w.remove("encoder.layer.1.attention.self.value.weight");
    let e = BertModel::new(&cfg, VarBuilder::from_tensors(w, DType::F32, &dev)).unwrap_err().to_string();
    assert!(e.contains("encoder.layer.1.attention.self.value.weight"), "{e}");

    // A tensor of the wrong shape: the error names it and both shapes.
    let mut w = all.clone();
    w.insert(
        "encoder.layer.0.intermediate.dense.weight".into(),
        Tensor::zeros((36, 32), DType::F32, &dev).unwrap(),
    );
    let e = BertModel::new(&cfg, VarBuilder::from_tensors(w, DType::F32, &dev)).unwrap_err().to_string();
    assert!(
        e.contains("encoder.layer.0.intermediate.dense.weight")
            && e.contains("[37, 32]")
            && e.contains("[36, 32]"),
        "{e}"
    );

    // Configs that cannot work.
    let text = std::fs::read_to_string(fixture_dir().join("config.json")).unwrap();
    let e =
        Config::from_json(&text.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"), "cfg")
            .unwrap_err()
            .to_string();
    assert!(e.contains("not a multiple") && e.contains("cfg"), "{e}");
    let e = Config::from_json("{\"hidden_size\": 8}", "cfg.json").unwrap_err().to_string();
    assert!(e.contains("cfg.json") && e.contains("vocab_size"), "{e}");
    let e = Config::from_json(&text.replace("\"gelu\"", "\"gelu_weird\""), "cfg").unwrap_err().to_string();
    assert!(e.contains("gelu_weird"), "{e}");
    assert!(Config::from_file(fixture_dir().join("nope.json"))
        .unwrap_err()
        .to_string()
        .contains("nope.json"));

    // Inputs: too long, ids out of the vocabulary, mismatched mask.
    let model = load(DType::F32);
    let long = Tensor::zeros((1, 65), DType::U32, &dev).unwrap();
    let e = model.forward(&long, None, None).unwrap_err().to_string();
    assert!(e.contains("65") && e.contains("max_position_embeddings"), "{e}");
    let bad_id = Tensor::new(&[[1u32, 100]], &dev).unwrap();
    assert!(model.forward(&bad_id, None, None).is_err());
    let ids = Tensor::new(&[[1u32, 2]], &dev).unwrap();
    let mask = Tensor::new(&[[1u32, 1, 0]], &dev).unwrap();
    assert!(model.forward(&ids, None, Some(&mask)).unwrap_err().to_string().contains("attention_mask"));
    assert!(model.forward(&Tensor::new(&[1u32, 2], &dev).unwrap(), None, None).is_err());
}
