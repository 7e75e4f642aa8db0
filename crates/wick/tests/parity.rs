//! Parity with PyTorch/NumPy: runs every case of `tests/fixtures/ops.safetensors` through wick
//! and compares with the reference outputs stored next to the inputs.
//!
//! The fixture file is produced by `scripts/gen_fixtures.py` (see `scripts/README.md`); its
//! layout is documented at the top of that script. In short: tensors `<case>.inN` are the
//! inputs, `<case>.outN` the reference outputs, and `__metadata__[<case>]` is a JSON object
//! with the `family` (which test below checks it), the `op` (the wick method), its parameters,
//! and an optional `pre` list of view steps (transpose / narrow / broadcast / permute) applied
//! to the inputs first, so that ops also see non-contiguous and stride-0 layouts.
//!
//! There is one `#[test]` per op family, so a failure names the family; each failure message
//! names the case, the output, the flat element index, and the expected and actual values.
//! `every_case_is_handled` makes sure no case in the file is silently skipped.
//!
//! Run with `cargo test --release -p wick --test parity`.

use half::{bf16, f16};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use wick::{DType, Device, Tensor};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops.safetensors");

/// Every family and the ops it dispatches. A case whose (family, op) is not listed here fails
/// `every_case_is_handled`; an op listed here but missing from `run_case` fails its family.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "unary",
        &[
            "neg", "abs", "exp", "log", "sqrt", "sqr", "recip", "sin", "cos", "tanh", "erf", "relu", "gelu",
            "gelu_erf", "silu", "sigmoid", "floor", "ceil", "round", "sign",
        ],
    ),
    ("binary", &["add", "sub", "mul", "div", "maximum", "minimum", "pow"]),
    ("cmp", &["eq", "ne", "lt", "le", "gt", "ge", "where_cond"]),
    ("reduce", &["sum", "mean", "max", "min", "argmax", "argmin", "cumsum"]),
    ("softmax", &["softmax", "log_softmax"]),
    ("matmul", &["matmul"]),
    ("conv", &["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]),
    ("pool", &["max_pool2d", "avg_pool2d", "upsample_nearest2d"]),
    ("index", &["index_select", "gather", "scatter_add", "index_add", "embedding"]),
    ("tri", &["tril", "triu"]),
    ("sort", &["sort", "argsort", "topk"]),
    ("shape", &["cat", "stack", "pad_with_zeros", "repeat", "narrow", "transpose", "permute"]),
    ("cast", &["to_dtype"]),
];

// ------------------------------------------------------------------------------------------
// Tolerances
// ------------------------------------------------------------------------------------------

/// How a case's float outputs are compared. Integer outputs are always compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TolKind {
    /// Value-exact (NaN matches NaN, -0 == +0): data moves, selections, exact roundings and
    /// correctly rounded conversions, where any difference at all is a bug.
    Exact,
    /// Per element: `|a - e| <= atol + rtol * |e|`. Elementwise math evaluated by different
    /// libms (wick: Rust std/libm; PyTorch: SLEEF/glibc), each within a few ulp.
    Elementwise,
    /// Relative to the output scale: `|a - e| <= atol + rtol * max|e|`. Accumulations whose
    /// summation order differs (gemm blocking, im2col, pairwise vs sequential sums).
    Accum,
}

/// `(rtol, atol)` for a dtype and comparison kind; each value follows from the dtype's
/// machine epsilon (the gap between 1 and the next representable number).
fn tolerance(dtype: DType, kind: TolKind) -> (f64, f64) {
    // f32: eps = 2^-23 ≈ 1.19e-7.
    // f64: eps = 2^-52 ≈ 2.22e-16.
    // f16: eps = 2^-10 ≈ 9.77e-4.
    // bf16: eps = 2^-7 ≈ 7.81e-3.
    match (dtype, kind) {
        (_, TolKind::Exact) => (0.0, 0.0),
        // ~84 eps: a few ulp of libm disagreement, amplified by conditioning (e.g. the
        // `1 + tanh(..)` cancellation of tanh-gelu for negative inputs). The absolute 1e-6
        // (≈ 8 eps at magnitude 1) covers results that are cancellation-dominated near zero.
        (DType::F32, TolKind::Elementwise) => (1e-5, 1e-6),
        // ~840 eps of the output scale: sums of up to 64 products (the largest K here) in a
        // different order differ by at most ~K·eps·scale ≈ 7.6e-6·scale, with 10x margin.
        (DType::F32, TolKind::Accum) => (1e-4, 1e-6),
        // ~4.5e5 eps: far above any rounding-order effect at these sizes, far below any
        // algorithmic error.
        (DType::F64, TolKind::Elementwise) => (1e-10, 1e-12),
        (DType::F64, TolKind::Accum) => (1e-10, 1e-12),
        // Half types compute in f32 and round once (both wick and PyTorch on CPU): the f32
        // results may straddle a rounding boundary, so 1 ulp (<= eps·|e|) of disagreement is
        // possible; 2 eps allows that plus wick's extra rounding in composite ops (mean =
        // round(round(sum) / n)). The absolute term is the f32 one, since an f32 intermediate's
        // absolute error survives rounding to a tiny half result.
        (DType::F16, TolKind::Elementwise) | (DType::F16, TolKind::Accum) => (2.0 * 9.765625e-4, 1e-6),
        (DType::BF16, TolKind::Elementwise) | (DType::BF16, TolKind::Accum) => (2.0 * 7.8125e-3, 1e-6),
        // Integer outputs are compared exactly regardless of kind.
        (_, _) => (0.0, 0.0),
    }
}

fn tol_kind(family: &str, op: &str) -> TolKind {
    match (family, op) {
        ("shape" | "tri" | "cast" | "sort" | "cmp", _) => TolKind::Exact,
        ("unary", "neg" | "abs" | "relu" | "floor" | "ceil" | "round" | "sign") => TolKind::Exact,
        ("binary", "maximum" | "minimum") => TolKind::Exact,
        ("reduce", "max" | "min" | "argmax" | "argmin") => TolKind::Exact,
        ("pool", "max_pool2d" | "upsample_nearest2d") => TolKind::Exact,
        ("index", "index_select" | "gather" | "embedding") => TolKind::Exact,
        ("unary" | "binary", _) => TolKind::Elementwise,
        _ => TolKind::Accum,
    }
}

// ------------------------------------------------------------------------------------------
// A minimal safetensors reader
// ------------------------------------------------------------------------------------------

struct Case {
    name: String,
    meta: Map<String, Value>,
    ins: Vec<Tensor>,
    outs: Vec<Tensor>,
}

impl Case {
    fn family(&self) -> &str {
        self.meta.get("family").and_then(Value::as_str).unwrap_or("<missing family>")
    }
    fn op(&self) -> &str {
        self.meta.get("op").and_then(Value::as_str).unwrap_or("<missing op>")
    }
}

fn le_chunks<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(|c| c.try_into().unwrap())
}

fn tensor_from_bytes(name: &str, dtype: &str, shape: Vec<usize>, data: &[u8]) -> Tensor {
    let dev = Device::Cpu;
    let n: usize = shape.iter().product();
    let size = match dtype {
        "U8" => 1,
        "F16" | "BF16" => 2,
        "F32" | "U32" => 4,
        "F64" | "I64" => 8,
        other => panic!("{name}: unsupported safetensors dtype {other}"),
    };
    assert_eq!(data.len(), n * size, "{name}: {} bytes for shape {shape:?} of {dtype}", data.len());
    let t = match dtype {
        "U8" => Tensor::from_vec(data.to_vec(), shape, &dev),
        "U32" => Tensor::from_vec(le_chunks::<4>(data).map(u32::from_le_bytes).collect(), shape, &dev),
        "I64" => Tensor::from_vec(le_chunks::<8>(data).map(i64::from_le_bytes).collect(), shape, &dev),
        "F16" => Tensor::from_vec(
            le_chunks::<2>(data).map(|b| f16::from_bits(u16::from_le_bytes(b))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
        "BF16" => Tensor::from_vec(
            le_chunks::<2>(data).map(|b| bf16::from_bits(u16::from_le_bytes(b))).collect::<Vec<_>>(),
            shape,
            &dev,
        ),
        "F32" => Tensor::from_vec(le_chunks::<4>(data).map(f32::from_le_bytes).collect(), shape, &dev),
        "F64" => Tensor::from_vec(le_chunks::<8>(data).map(f64::from_le_bytes).collect(), shape, &dev),
        _ => unreachable!(),
    };
    t.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Tensors grouped by case, plus the metadata of every case (which may lack tensors).
struct Fixtures {
    cases: Vec<Case>,
    /// Cases named by tensors but absent from the metadata.
    orphan_tensors: Vec<String>,
}

fn load() -> Fixtures {
    let bytes = std::fs::read(FIXTURE)
        .unwrap_or_else(|e| panic!("cannot read {FIXTURE}: {e} (regenerate with scripts/gen_fixtures.py)"));
    assert!(bytes.len() >= 8, "fixture file too short");
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert!(8 + n <= bytes.len(), "header length {n} exceeds the file");
    let header: Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).expect("header JSON");
    let data = &bytes[8 + n..];

    let mut metas: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    if let Some(Value::Object(m)) = header.get("__metadata__") {
        for (k, v) in m {
            let s = v.as_str().unwrap_or_else(|| panic!("metadata {k} is not a string"));
            let parsed: Value = serde_json::from_str(s).unwrap_or_else(|e| panic!("metadata {k}: {e}"));
            match parsed {
                Value::Object(o) => metas.insert(k.clone(), o),
                _ => panic!("metadata {k} is not a JSON object"),
            };
        }
    }

    type Slots = (BTreeMap<usize, Tensor>, BTreeMap<usize, Tensor>);
    let mut groups: BTreeMap<String, Slots> = BTreeMap::new();
    for (key, info) in &header {
        if key == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"].as_str().expect("dtype");
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let off = info["data_offsets"].as_array().expect("data_offsets");
        let (b, e) = (off[0].as_u64().unwrap() as usize, off[1].as_u64().unwrap() as usize);
        assert!(b <= e && e <= data.len(), "{key}: data_offsets [{b}, {e}] out of range");
        let t = tensor_from_bytes(key, dtype, shape, &data[b..e]);
        let (case, slot) = key.rsplit_once('.').unwrap_or_else(|| panic!("tensor name {key} has no '.'"));
        let g = groups.entry(case.to_string()).or_default();
        if let Some(i) = slot.strip_prefix("in") {
            g.0.insert(i.parse().unwrap_or_else(|_| panic!("bad slot {key}")), t);
        } else if let Some(i) = slot.strip_prefix("out") {
            g.1.insert(i.parse().unwrap_or_else(|_| panic!("bad slot {key}")), t);
        } else {
            panic!("tensor {key}: slot must be inN or outN");
        }
    }

    let orphan_tensors = groups.keys().filter(|k| !metas.contains_key(*k)).cloned().collect();
    let mut cases = Vec::new();
    for (name, meta) in metas {
        let (ins, outs) = groups.remove(&name).unwrap_or_default();
        let dense = |m: BTreeMap<usize, Tensor>, what: &str| -> Vec<Tensor> {
            for (i, k) in m.keys().enumerate() {
                assert_eq!(i, *k, "case {name}: {what} slots are not numbered 0..n");
            }
            m.into_values().collect()
        };
        let ins = dense(ins, "input");
        let outs = dense(outs, "output");
        cases.push(Case { name, meta, ins, outs });
    }
    Fixtures { cases, orphan_tensors }
}

// ------------------------------------------------------------------------------------------
// Running a case
// ------------------------------------------------------------------------------------------

struct Params<'a>(&'a str, &'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, k: &str) -> &Value {
        self.1.get(k).unwrap_or_else(|| panic!("case {}: missing parameter {k:?}", self.0))
    }
    fn i64(&self, k: &str) -> i64 {
        self.get(k).as_i64().unwrap_or_else(|| panic!("case {}: {k} is not an integer", self.0))
    }
    fn usize(&self, k: &str) -> usize {
        self.get(k).as_u64().unwrap_or_else(|| panic!("case {}: {k} is not a non-negative integer", self.0))
            as usize
    }
    fn bool(&self, k: &str) -> bool {
        self.get(k).as_bool().unwrap_or_else(|| panic!("case {}: {k} is not a bool", self.0))
    }
    fn str(&self, k: &str) -> &str {
        self.get(k).as_str().unwrap_or_else(|| panic!("case {}: {k} is not a string", self.0))
    }
    fn i64s(&self, k: &str) -> Vec<i64> {
        ints(self.0, k, self.get(k))
    }
    fn usizes(&self, k: &str) -> Vec<usize> {
        self.i64s(k).into_iter().map(|v| usize::try_from(v).expect("non-negative")).collect()
    }
    fn pair(&self, k: &str) -> (usize, usize) {
        let v = self.usizes(k);
        assert_eq!(v.len(), 2, "case {}: {k} must have 2 entries", self.0);
        (v[0], v[1])
    }
}

fn ints(case: &str, what: &str, v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("case {case}: {what} is not an array"))
        .iter()
        .map(|x| x.as_i64().unwrap_or_else(|| panic!("case {case}: {what} holds a non-integer")))
        .collect()
}

/// Applies the `pre` view steps to the inputs (see the module docs).
fn apply_pre(case: &Case) -> wick::Result<Vec<Tensor>> {
    let mut ins = case.ins.clone();
    let Some(pre) = case.meta.get("pre") else { return Ok(ins) };
    for step in pre.as_array().expect("pre must be an array") {
        let step = step.as_object().expect("pre step must be an object");
        let i = step["in"].as_u64().expect("pre step needs \"in\"") as usize;
        let x = &ins[i];
        let keys: Vec<&String> = step.keys().filter(|k| *k != "in").collect();
        assert_eq!(keys.len(), 1, "case {}: pre step {step:?} must have exactly one action", case.name);
        let v = ints(&case.name, keys[0], &step[keys[0].as_str()]);
        ins[i] = match keys[0].as_str() {
            "transpose" => x.transpose(v[0], v[1])?,
            "narrow" => x.narrow(v[0], v[1] as usize, v[2] as usize)?,
            "broadcast" => x.broadcast_as(v.iter().map(|&d| d as usize).collect::<Vec<_>>())?,
            "permute" => x.permute(v.iter().map(|&d| d as usize).collect::<Vec<_>>())?,
            other => panic!("case {}: unknown pre step {other:?}", case.name),
        };
    }
    Ok(ins)
}

/// Index outputs: wick returns U32, the fixtures hold PyTorch's I64.
fn idx(t: Tensor) -> wick::Result<Tensor> {
    assert_eq!(t.dtype(), DType::U32, "wick index outputs are U32");
    t.to_dtype(DType::I64)
}

fn run_case(case: &Case) -> wick::Result<Vec<Tensor>> {
    let ins = apply_pre(case)?;
    let p = Params(&case.name, &case.meta);
    let x = &ins[0];
    let y = || &ins[1];
    let z = || &ins[2];
    let one = |t: Tensor| -> wick::Result<Vec<Tensor>> { Ok(vec![t]) };
    match case.op() {
        // unary
        "neg" => one(x.neg()?),
        "abs" => one(x.abs()?),
        "exp" => one(x.exp()?),
        "log" => one(x.log()?),
        "sqrt" => one(x.sqrt()?),
        "sqr" => one(x.sqr()?),
        "recip" => one(x.recip()?),
        "sin" => one(x.sin()?),
        "cos" => one(x.cos()?),
        "tanh" => one(x.tanh()?),
        "erf" => one(x.erf()?),
        "relu" => one(x.relu()?),
        "gelu" => one(x.gelu()?),
        "gelu_erf" => one(x.gelu_erf()?),
        "silu" => one(x.silu()?),
        "sigmoid" => one(x.sigmoid()?),
        "floor" => one(x.floor()?),
        "ceil" => one(x.ceil()?),
        "round" => one(x.round()?),
        "sign" => one(x.sign()?),
        // binary
        "add" => one(x.add(y())?),
        "sub" => one(x.sub(y())?),
        "mul" => one(x.mul(y())?),
        "div" => one(x.div(y())?),
        "maximum" => one(x.maximum(y())?),
        "minimum" => one(x.minimum(y())?),
        "pow" => one(x.pow(y())?),
        // comparisons
        "eq" => one(x.eq(y())?),
        "ne" => one(x.ne(y())?),
        "lt" => one(x.lt(y())?),
        "le" => one(x.le(y())?),
        "gt" => one(x.gt(y())?),
        "ge" => one(x.ge(y())?),
        "where_cond" => one(x.where_cond(y(), z())?),
        // reductions
        "sum" | "mean" => {
            let dims = p.i64s("dims");
            one(match (case.op(), p.bool("keepdim")) {
                ("sum", true) => x.sum_keepdim(dims)?,
                ("sum", false) => x.sum(dims)?,
                (_, true) => x.mean_keepdim(dims)?,
                (_, false) => x.mean(dims)?,
            })
        }
        "max" | "min" | "argmax" | "argmin" => {
            let (d, k) = (p.i64("dim"), p.bool("keepdim"));
            one(match (case.op(), k) {
                ("max", true) => x.max_keepdim(d)?,
                ("max", false) => x.max(d)?,
                ("min", true) => x.min_keepdim(d)?,
                ("min", false) => x.min(d)?,
                ("argmax", true) => idx(x.argmax_keepdim(d)?)?,
                ("argmax", false) => idx(x.argmax(d)?)?,
                ("argmin", true) => idx(x.argmin_keepdim(d)?)?,
                (_, _) => idx(x.argmin(d)?)?,
            })
        }
        "cumsum" => one(x.cumsum(p.i64("dim"))?),
        "softmax" => one(x.softmax(p.i64("dim"))?),
        "log_softmax" => one(x.log_softmax(p.i64("dim"))?),
        "matmul" => one(x.matmul(y())?),
        // convolutions
        "conv1d" => one(x.conv1d(
            y(),
            p.usize("padding"),
            p.usize("stride"),
            p.usize("dilation"),
            p.usize("groups"),
        )?),
        "conv2d" => one(x.conv2d(
            y(),
            p.usize("padding"),
            p.usize("stride"),
            p.usize("dilation"),
            p.usize("groups"),
        )?),
        "conv_transpose1d" => one(x.conv_transpose1d(
            y(),
            p.usize("padding"),
            p.usize("output_padding"),
            p.usize("stride"),
            p.usize("dilation"),
            p.usize("groups"),
        )?),
        "conv_transpose2d" => one(x.conv_transpose2d(
            y(),
            p.usize("padding"),
            p.usize("output_padding"),
            p.usize("stride"),
            p.usize("dilation"),
            p.usize("groups"),
        )?),
        // pooling
        "max_pool2d" => one(x.max_pool2d_with_stride(p.pair("kernel"), p.pair("stride"))?),
        "avg_pool2d" => one(x.avg_pool2d_with_stride(p.pair("kernel"), p.pair("stride"))?),
        "upsample_nearest2d" => {
            let (h, w) = p.pair("size");
            one(x.upsample_nearest2d(h, w)?)
        }
        // indexing
        "index_select" => one(x.index_select(y(), p.i64("dim"))?),
        "gather" => one(x.gather(y(), p.i64("dim"))?),
        "scatter_add" => one(x.scatter_add(y(), z(), p.i64("dim"))?),
        "index_add" => one(x.index_add(y(), z(), p.i64("dim"))?),
        "embedding" => one(x.embedding(y())?),
        "tril" => one(x.tril(p.i64("diagonal"))?),
        "triu" => one(x.triu(p.i64("diagonal"))?),
        // sorting
        "sort" => {
            let (v, i) = x.sort(p.i64("dim"), p.bool("descending"))?;
            Ok(vec![v, idx(i)?])
        }
        "argsort" => one(idx(x.argsort(p.i64("dim"), p.bool("descending"))?)?),
        "topk" => {
            let (v, i) = x.topk(p.usize("k"), p.i64("dim"))?;
            Ok(vec![v, idx(i)?])
        }
        // shape moves
        "cat" => one(Tensor::cat(&ins, p.i64("dim"))?),
        "stack" => one(Tensor::stack(&ins, p.i64("dim"))?),
        "pad_with_zeros" => one(x.pad_with_zeros(p.i64("dim"), p.usize("left"), p.usize("right"))?),
        "repeat" => one(x.repeat(p.usizes("repeats"))?),
        "narrow" => one(x.narrow(p.i64("dim"), p.usize("start"), p.usize("len"))?.contiguous()?),
        "transpose" => {
            let d = p.i64s("dims");
            one(x.transpose(d[0], d[1])?.contiguous()?)
        }
        "permute" => one(x.permute(p.usizes("perm"))?.contiguous()?),
        "to_dtype" => {
            let dt: DType = p.str("to").parse()?;
            one(x.to_dtype(dt)?)
        }
        other => panic!("case {}: op {other:?} has no dispatch in run_case", case.name),
    }
}

// ------------------------------------------------------------------------------------------
// Comparing
// ------------------------------------------------------------------------------------------

enum Vals {
    F(Vec<f64>),
    I(Vec<i128>),
}

fn values(t: &Tensor) -> Vals {
    let f = |v: Vec<f64>| Vals::F(v);
    match t.dtype() {
        DType::F32 => f(t.flatten_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()),
        DType::F64 => f(t.flatten_to_vec::<f64>().unwrap()),
        DType::F16 => f(t.flatten_to_vec::<f16>().unwrap().into_iter().map(f64::from).collect()),
        DType::BF16 => f(t.flatten_to_vec::<bf16>().unwrap().into_iter().map(f64::from).collect()),
        DType::U8 => Vals::I(t.flatten_to_vec::<u8>().unwrap().into_iter().map(i128::from).collect()),
        DType::U32 => Vals::I(t.flatten_to_vec::<u32>().unwrap().into_iter().map(i128::from).collect()),
        DType::I64 => Vals::I(t.flatten_to_vec::<i64>().unwrap().into_iter().map(i128::from).collect()),
    }
}

/// Compares one output; returns a description of each mismatch, and the largest
/// `|diff| / allowed` seen among toleranced float elements (how close the case came).
fn compare(
    case: &Case,
    slot: usize,
    expected: &Tensor,
    actual: &Tensor,
    kind: TolKind,
) -> (Vec<String>, f64) {
    let at = format!("case {} (op {}) out{slot}", case.name, case.op());
    if expected.dtype() != actual.dtype() {
        return (vec![format!("{at}: dtype {} expected, got {}", expected.dtype(), actual.dtype())], 0.0);
    }
    if expected.dims() != actual.dims() {
        return (vec![format!("{at}: shape {:?} expected, got {:?}", expected.dims(), actual.dims())], 0.0);
    }
    let mut errs = Vec::new();
    let mut worst = 0f64;
    match (values(expected), values(actual)) {
        (Vals::I(e), Vals::I(a)) => {
            for (i, (e, a)) in e.iter().zip(&a).enumerate() {
                if e != a {
                    errs.push(format!("{at}[{i}]: expected {e}, got {a} (exact)"));
                }
            }
        }
        (Vals::F(e), Vals::F(a)) => {
            let (rtol, atol) = tolerance(expected.dtype(), kind);
            let scale = e.iter().filter(|v| v.is_finite()).fold(0f64, |m, v| m.max(v.abs()));
            for (i, (&e, &a)) in e.iter().zip(&a).enumerate() {
                let ok = if e.is_nan() {
                    a.is_nan()
                } else if e.is_infinite() || kind == TolKind::Exact {
                    a == e
                } else {
                    let reference = if kind == TolKind::Accum { scale } else { e.abs() };
                    let allowed = atol + rtol * reference;
                    worst = worst.max((a - e).abs() / allowed);
                    (a - e).abs() <= allowed
                };
                if !ok {
                    errs.push(format!(
                        "{at}[{i}]: expected {e:e}, got {a:e} (|diff| {:e}, {kind:?} rtol {rtol:e} atol {atol:e}{})",
                        (a - e).abs(),
                        if kind == TolKind::Accum { format!(", output scale {scale:e}") } else { String::new() }
                    ));
                }
            }
        }
        _ => unreachable!("same dtype"),
    }
    (errs, worst)
}

/// Runs every case of `family`; panics listing all mismatches.
fn check_family(family: &str) {
    let fx = load();
    let ops = FAMILIES.iter().find(|(f, _)| *f == family).map(|(_, o)| *o).expect("family in FAMILIES");
    let cases: Vec<&Case> = fx.cases.iter().filter(|c| c.family() == family).collect();
    assert!(!cases.is_empty(), "no cases of family {family} in {FIXTURE}");
    for op in ops {
        assert!(cases.iter().any(|c| c.op() == *op), "family {family}: no case exercises op {op}");
    }
    let mut failures = Vec::new();
    let mut worst = (0f64, String::new());
    for case in &cases {
        let kind = tol_kind(family, case.op());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(case)));
        let outs = match result {
            Ok(Ok(outs)) => outs,
            Ok(Err(e)) => {
                failures.push(format!("case {} (op {}): wick error: {e}", case.name, case.op()));
                continue;
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("case {} (op {}): panicked: {msg}", case.name, case.op()));
                continue;
            }
        };
        if outs.len() != case.outs.len() {
            failures.push(format!(
                "case {}: {} outputs expected, got {}",
                case.name,
                case.outs.len(),
                outs.len()
            ));
            continue;
        }
        for (slot, (e, a)) in case.outs.iter().zip(&outs).enumerate() {
            let (errs, w) = compare(case, slot, e, a, kind);
            if w > worst.0 {
                worst = (w, format!("{} out{slot}", case.name));
            }
            let n = errs.len();
            failures.extend(errs.into_iter().take(5));
            if n > 5 {
                failures.push(format!("case {} out{slot}: ... and {} more mismatches", case.name, n - 5));
            }
        }
    }
    // Shown with `--nocapture`: how much of the tolerance the closest case used.
    eprintln!(
        "family {family}: {} cases checked; worst |diff|/allowed = {:.3} ({})",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "family {family}: {} problem(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn unary() {
    check_family("unary");
}
#[test]
fn binary() {
    check_family("binary");
}
#[test]
fn cmp() {
    check_family("cmp");
}
#[test]
fn reduce() {
    check_family("reduce");
}
#[test]
fn softmax() {
    check_family("softmax");
}
#[test]
fn matmul() {
    check_family("matmul");
}
#[test]
fn conv() {
    check_family("conv");
}
#[test]
fn pool() {
    check_family("pool");
}
#[test]
fn index() {
    check_family("index");
}
#[test]
fn tri() {
    check_family("tri");
}
#[test]
fn sort() {
    check_family("sort");
}
#[test]
fn shape() {
    check_family("shape");
}
#[test]
fn cast() {
    check_family("cast");
}

/// No case in the file is silently skipped: each has a known family and op, inputs and
/// outputs, and every tensor belongs to a described case.
#[test]
fn every_case_is_handled() {
    let fx = load();
    assert!(!fx.cases.is_empty(), "no cases in {FIXTURE}");
    assert!(fx.orphan_tensors.is_empty(), "tensors without metadata: {:?}", fx.orphan_tensors);
    let mut problems = Vec::new();
    for c in &fx.cases {
        match FAMILIES.iter().find(|(f, _)| *f == c.family()) {
            None => problems.push(format!("case {}: unknown family {:?}", c.name, c.family())),
            Some((_, ops)) if !ops.contains(&c.op()) => problems.push(format!(
                "case {}: op {:?} is not handled by family {}",
                c.name,
                c.op(),
                c.family()
            )),
            Some(_) => {}
        }
        if c.ins.is_empty() || c.outs.is_empty() {
            problems.push(format!("case {}: {} inputs, {} outputs", c.name, c.ins.len(), c.outs.len()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
