#!/usr/bin/env python3
"""Generate the PyTorch/NumPy parity fixtures for wick.

Regenerate (from the repository root):

    python -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python scripts/gen_fixtures.py

This writes ONE file, crates/wick/tests/fixtures/ops.safetensors, checked by
crates/wick/tests/parity.rs (`cargo test --release -p wick --test parity`).

The output is deterministic: every case draws its data from a NumPy generator seeded with
the CRC32 of the case name, so adding or removing a case does not change the others, and the
file is written by hand (struct + json, no `safetensors` package) with sorted keys.

File layout
-----------
* Tensors `<case>.in0`, `<case>.in1`, ... are the op's inputs, stored contiguous (row-major).
* Tensors `<case>.out0`, `<case>.out1`, ... are PyTorch's (or NumPy's) results.
* `__metadata__[<case>]` is a JSON object: `family` (which #[test] checks it), `op` (the wick
  method), the op's parameters, and optionally `pre`.
* `pre` is a list of preprocessing steps applied, in order, to the stored inputs before the
  op runs, so that the op sees a NON-CONTIGUOUS view (the reference was computed by PyTorch
  on the same view). Each step is an object with `in` (the input index) and exactly one of:
    - `"transpose": [d1, d2]`        -> `t.transpose(d1, d2)`
    - `"narrow": [dim, start, len]`  -> `t.narrow(dim, start, len)`
    - `"broadcast": [s0, s1, ...]`   -> `t.broadcast_as(shape)` / torch `expand` (stride 0)
    - `"permute": [p0, p1, ...]`     -> `t.permute(perm)`
* Dtypes: F32 F64 F16 BF16 (raw 16-bit pattern) U8 U32 I64, little-endian.
* Index outputs (argmax, argmin, sort, argsort, topk indices) are stored as I64 (PyTorch's
  dtype); wick returns U32 and the test converts before comparing (exactly).
"""

import json
import math
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "wick", "tests", "fixtures", "ops.safetensors")

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

CASES = {}  # name -> (meta, [inputs], [outputs])


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def add(name, family, op, ins, outs, pre=None, **params):
    assert "." not in name, name
    assert name not in CASES, f"duplicate case {name}"
    meta = {"family": family, "op": op}
    meta.update(params)
    if pre:
        meta["pre"] = pre
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    CASES[name] = (meta, list(ins), list(outs))


def apply_pre(ins, pre):
    ins = list(ins)
    for step in pre or []:
        i = step["in"]
        if "transpose" in step:
            ins[i] = ins[i].transpose(*step["transpose"])
        elif "narrow" in step:
            ins[i] = ins[i].narrow(*step["narrow"])
        elif "broadcast" in step:
            ins[i] = ins[i].expand(*step["broadcast"])
        elif "permute" in step:
            ins[i] = ins[i].permute(*step["permute"])
        else:
            raise ValueError(step)
    return ins


TDT = {
    "f32": torch.float32,
    "f64": torch.float64,
    "f16": torch.float16,
    "bf16": torch.bfloat16,
    "u8": torch.uint8,
    "i64": torch.int64,
}


def t(a, dt="f32"):
    """A torch tensor of dtype `dt` from a NumPy array (floats round to nearest even)."""
    if dt == "u32":
        raise ValueError("build u32 tensors with u32()")
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=np.float64 if dt in ("f32", "f64", "f16", "bf16") else None))).to(TDT[dt])


def u32(a):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=np.uint32)))


def randn(r, shape, dt="f32", scale=1.0):
    return t(r.standard_normal(shape) * scale, dt)


def uniform(r, lo, hi, shape, dt="f32"):
    return t(r.uniform(lo, hi, shape), dt)


def unique_vals(r, shape, dt="f32"):
    """Distinct values (no ties) that are exact in every float dtype, including bf16."""
    n = int(np.prod(shape))
    v = (r.permutation(n) - n // 2) * 0.25
    return t(v.reshape(shape), dt)


FLOATS = ["f32", "f64", "f16", "bf16"]

# ---------------------------------------------------------------------------------------------
# unary
# ---------------------------------------------------------------------------------------------
UNARY = {
    "neg": torch.neg,
    "abs": torch.abs,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "sqr": torch.square,
    "recip": torch.reciprocal,
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "erf": torch.erf,
    "relu": torch.relu,
    "gelu": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_erf": lambda x: F.gelu(x),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "round": torch.round,
    "sign": torch.sign,
}


def unary_input(op, r):
    if op in ("log", "sqrt"):
        v = np.concatenate([r.uniform(0.01, 6.0, 30), [0.0, 1.0, 0.25, 4.0, 1e-3]])
    elif op == "recip":
        v = np.concatenate([r.uniform(0.1, 4.0, 30) * r.choice([-1, 1], 30), [0.0, -0.0, 1.0, -0.5, 3.0]])
    elif op == "exp":
        v = np.concatenate([r.uniform(-6.0, 6.0, 30), [0.0, 1.0, -1.0, 10.0, -20.0]])
    elif op in ("sin", "cos"):
        v = np.concatenate([r.uniform(-7.0, 7.0, 30), [0.0, math.pi, -math.pi / 2, 6.0, -0.0]])
    elif op in ("round", "floor", "ceil", "sign"):
        # Quarter steps: many exact halves (round is half-to-even) and ties for floor/ceil.
        v = np.concatenate(
            [r.integers(-20, 21, 22) / 4.0,
             [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.0, 0.0, 0.49999997, -0.49999997, 1e3 + 0.5, 7.0]])
    else:
        v = np.concatenate([r.uniform(-4.0, 4.0, 30), [0.0, -0.0, 1.0, -1.0, 6.0]])
    return v.reshape(5, 7)


for op, fn in UNARY.items():
    for dt in FLOATS:
        name = f"unary_{op}_{dt}"
        r = rng_for(name)
        x = t(unary_input(op, r), dt)
        add(name, "unary", op, [x], [fn(x)])

# non-contiguous, broadcast, empty and rank-0 inputs
r = rng_for("unary_noncontig")
x = randn(r, (6, 4))
pre = [{"in": 0, "transpose": [0, 1]}]
add("unary_exp_f32_transposed", "unary", "exp", [x], [torch.exp(apply_pre([x], pre)[0])], pre=pre)
x = uniform(r, 0.1, 5.0, (3, 8))
pre = [{"in": 0, "narrow": [1, 2, 5]}]
add("unary_sqrt_f32_narrow", "unary", "sqrt", [x], [torch.sqrt(apply_pre([x], pre)[0])], pre=pre)
x = randn(r, (4,))
pre = [{"in": 0, "broadcast": [3, 4]}]
add("unary_gelu_erf_f32_broadcast", "unary", "gelu_erf", [x], [F.gelu(apply_pre([x], pre)[0])], pre=pre)
x = randn(r, (2, 3, 4), "bf16")
pre = [{"in": 0, "permute": [2, 0, 1]}]
add("unary_silu_bf16_permuted", "unary", "silu", [x], [F.silu(apply_pre([x], pre)[0])], pre=pre)
x = torch.zeros((0, 3), dtype=torch.float32)
add("unary_exp_f32_empty", "unary", "exp", [x], [torch.exp(x)])
x = torch.tensor(0.75, dtype=torch.float32)
add("unary_tanh_f32_scalar", "unary", "tanh", [x], [torch.tanh(x)])

# ---------------------------------------------------------------------------------------------
# binary (NumPy broadcasting)
# ---------------------------------------------------------------------------------------------
BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "pow": torch.pow,
}
SHAPES = [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((2, 3), (2, 3)), ((), (2, 3)), ((4, 1), (1, 5))]


def binary_inputs(op, r, sa, sb, dt):
    if op == "div":
        a = r.standard_normal(sa) * 2
        b = r.uniform(0.5, 3.0, sb) * r.choice([-1, 1], sb)
    elif op == "pow":
        a = r.uniform(0.2, 3.0, sa)
        b = r.uniform(-2.0, 2.5, sb)
    else:
        a = r.standard_normal(sa) * 2
        b = r.standard_normal(sb) * 2
    return t(a, dt), t(b, dt)


def shape_tag(s):
    return "x".join(map(str, s)) if s else "scalar"


for op, fn in BINARY.items():
    for dt in FLOATS:
        shapes = SHAPES if dt == "f32" else SHAPES[1:2]
        for sa, sb in shapes:
            name = f"binary_{op}_{dt}_{shape_tag(sa)}_{shape_tag(sb)}"
            r = rng_for(name)
            a, b = binary_inputs(op, r, sa, sb, dt)
            add(name, "binary", op, [a, b], [fn(a, b)])

# integers: wrapping arithmetic (PyTorch wraps u8/i64; u32 reference from NumPy, which wraps)
r = rng_for("binary_int")
a = np.array([[1, 2, 4294967295, 7], [100, 0, 4000000000, 3], [65536, 65536, 9, 1]], dtype=np.uint32)
b = np.array([2, 3, 4294967295, 5], dtype=np.uint32)
with np.errstate(over="ignore"):
    add("binary_add_u32_wrap", "binary", "add", [u32(a), u32(b)], [u32(a + b)])
    add("binary_mul_u32_wrap", "binary", "mul", [u32(a), u32(b)], [u32(a * b)])
    add("binary_sub_u32_wrap", "binary", "sub", [u32(a), u32(b)], [u32(a - b)])
    add("binary_maximum_u32", "binary", "maximum", [u32(a), u32(b)], [u32(np.maximum(a, b))])
for op in ["add", "sub", "mul", "maximum", "minimum"]:
    name = f"binary_{op}_i64"
    r = rng_for(name)
    a = t(r.integers(-1000, 1000, (2, 1, 4)), "i64")
    b = t(r.integers(-1000, 1000, (3, 1)), "i64")
    add(name, "binary", op, [a, b], [BINARY[op](a, b)])
a = torch.tensor([[9223372036854775807, -5], [3, -9223372036854775808]], dtype=torch.int64)
b = torch.tensor([1, -1], dtype=torch.int64)
add("binary_add_i64_wrap", "binary", "add", [a, b], [a + b])
for op in ["add", "sub", "mul"]:
    name = f"binary_{op}_u8_wrap"
    r = rng_for(name)
    a = t(r.integers(0, 256, (3, 4)), "u8")
    b = t(r.integers(0, 256, (4,)), "u8")
    add(name, "binary", op, [a, b], [BINARY[op](a, b)])

# non-contiguous inputs
r = rng_for("binary_noncontig")
x, y = randn(r, (4, 3)), randn(r, (4,))
pre = [{"in": 0, "transpose": [0, 1]}]
add("binary_add_f32_transposed_lhs", "binary", "add", [x, y], [torch.add(*apply_pre([x, y], pre))], pre=pre)
x, y = randn(r, (3, 6)), randn(r, (5, 4))
pre = [{"in": 0, "narrow": [1, 1, 4]}, {"in": 1, "narrow": [0, 2, 3]}]
add("binary_mul_f32_narrow_both", "binary", "mul", [x, y], [torch.mul(*apply_pre([x, y], pre))], pre=pre)
x, y = randn(r, (3, 4)), randn(r, (4,))
pre = [{"in": 1, "broadcast": [3, 4]}]
add("binary_sub_f32_broadcast_rhs", "binary", "sub", [x, y], [torch.sub(*apply_pre([x, y], pre))], pre=pre)
x, y = randn(r, (4, 3)), uniform(r, 0.5, 2.0, (4, 3))
pre = [{"in": 0, "transpose": [0, 1]}, {"in": 1, "transpose": [0, 1]}]
add("binary_div_f32_transposed_both", "binary", "div", [x, y], [torch.div(*apply_pre([x, y], pre))], pre=pre)
x, y = randn(r, (4, 3, 2)), randn(r, (2, 3, 1))
pre = [{"in": 0, "permute": [2, 1, 0]}]
add("binary_maximum_f32_permuted_bcast", "binary", "maximum", [x, y], [torch.maximum(*apply_pre([x, y], pre))], pre=pre)
x, y = t(r.integers(-50, 50, (5, 2)), "i64"), t(r.integers(-50, 50, (5,)), "i64")
pre = [{"in": 0, "transpose": [0, 1]}]
add("binary_add_i64_transposed", "binary", "add", [x, y], [torch.add(*apply_pre([x, y], pre))], pre=pre)

# ---------------------------------------------------------------------------------------------
# comparisons (U8 mask) and where_cond
# ---------------------------------------------------------------------------------------------
CMP = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
for op, fn in CMP.items():
    for sa, sb in [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3, 4), (3, 4))]:
        name = f"cmp_{op}_f32_{shape_tag(sa)}_{shape_tag(sb)}"
        r = rng_for(name)
        # Small integers so that equal values occur often.
        a, b = t(r.integers(-3, 4, sa)), t(r.integers(-3, 4, sb))
        add(name, "cmp", op, [a, b], [fn(a, b).to(torch.uint8)])
    name = f"cmp_{op}_f32_nan"
    a = torch.tensor([1.0, float("nan"), 2.0, float("nan"), float("inf"), -0.0])
    b = torch.tensor([1.0, 1.0, float("nan"), float("nan"), float("inf"), 0.0])
    add(name, "cmp", op, [a, b], [fn(a, b).to(torch.uint8)])
    name = f"cmp_{op}_i64"
    r = rng_for(name)
    a, b = t(r.integers(-2, 3, (2, 5)), "i64"), t(r.integers(-2, 3, (5,)), "i64")
    add(name, "cmp", op, [a, b], [fn(a, b).to(torch.uint8)])
for dt in ["f64", "f16", "bf16", "u8"]:
    name = f"cmp_lt_{dt}"
    r = rng_for(name)
    a, b = t(r.integers(0, 5, (3, 4)), dt), t(r.integers(0, 5, (3, 1)), dt)
    add(name, "cmp", "lt", [a, b], [torch.lt(a, b).to(torch.uint8)])
r = rng_for("cmp_u32")
a, b = np.array([[0, 5, 4294967295], [7, 7, 1]], dtype=np.uint32), np.array([5, 4294967295, 1], dtype=np.uint32)
add("cmp_ge_u32", "cmp", "ge", [u32(a), u32(b)], [t((a >= b).astype(np.uint8), "u8")])
r = rng_for("cmp_noncontig")
a, b = t(r.integers(-2, 3, (4, 3))), t(r.integers(-2, 3, (3, 4)))
pre = [{"in": 0, "transpose": [0, 1]}]
add("cmp_le_f32_transposed", "cmp", "le", [a, b], [torch.le(*apply_pre([a, b], pre)).to(torch.uint8)], pre=pre)

# where_cond: in0 = condition (U8 mask), in1 = on_true, in2 = on_false; all broadcast.
WHERE = [((3, 4), (3, 4), (3, 4), "f32"), ((3, 1), (3, 4), (4,), "f32"), ((2, 1, 4), (3, 1), (), "f32"),
         ((3, 4), (3, 4), (1, 4), "i64"), ((2, 3), (2, 3), (2, 3), "f16"), ((4,), (2, 4), (2, 1), "bf16")]
for sc, st, sf, dt in WHERE:
    name = f"cmp_where_cond_{dt}_{shape_tag(sc)}_{shape_tag(st)}_{shape_tag(sf)}"
    r = rng_for(name)
    c = t(r.integers(0, 2, sc), "u8")
    if dt == "i64":
        a, b = t(r.integers(-9, 9, st), dt), t(r.integers(-9, 9, sf), dt)
    else:
        a, b = randn(r, st, dt), randn(r, sf, dt)
    add(name, "cmp", "where_cond", [c, a, b], [torch.where(c.bool(), a, b)])
r = rng_for("cmp_where_cond_u32_mask")
c = u32(r.integers(0, 3, (3, 4)))  # any non-zero is true
a, b = randn(r, (3, 4)), randn(r, (3, 4))
add("cmp_where_cond_f32_u32mask", "cmp", "where_cond", [c, a, b], [torch.where(c.to(torch.int64) != 0, a, b)])
r = rng_for("cmp_where_cond_noncontig")
c, a, b = t(r.integers(0, 2, (4, 3)), "u8"), randn(r, (3, 4)), randn(r, (4, 3))
pre = [{"in": 0, "transpose": [0, 1]}, {"in": 2, "transpose": [0, 1]}]
cc, aa, bb = apply_pre([c, a, b], pre)
add("cmp_where_cond_f32_transposed", "cmp", "where_cond", [c, a, b], [torch.where(cc.bool(), aa, bb)], pre=pre)

# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------
def reduce_case(name, op, x, out, pre=None, **params):
    add(name, "reduce", op, [x], out if isinstance(out, list) else [out], pre=pre, **params)


for dims in [[1], [0, 2], [-1], [0, 1, 2]]:
    for keepdim in [False, True]:
        tag = "_".join(str(d) for d in dims).replace("-", "m")
        name = f"reduce_sum_f32_d{tag}_k{int(keepdim)}"
        r = rng_for(name)
        x = randn(r, (3, 4, 5))
        reduce_case(name, "sum", x, x.sum(dim=dims, keepdim=keepdim), dims=dims, keepdim=keepdim)
        name = f"reduce_mean_f32_d{tag}_k{int(keepdim)}"
        r = rng_for(name)
        x = randn(r, (3, 4, 5))
        reduce_case(name, "mean", x, x.mean(dim=dims, keepdim=keepdim), dims=dims, keepdim=keepdim)
for dt in ["f64", "f16", "bf16"]:
    for op in ["sum", "mean"]:
        name = f"reduce_{op}_{dt}"
        r = rng_for(name)
        x = t(r.uniform(-1.0, 2.0, (4, 50)), dt)
        fn = torch.sum if op == "sum" else torch.mean
        reduce_case(name, op, x, fn(x, dim=[1], keepdim=False), dims=[1], keepdim=False)
r = rng_for("reduce_sum_i64")
x = t(r.integers(-100, 100, (3, 5)), "i64")
reduce_case("reduce_sum_i64", "sum", x, x.sum(dim=[0]), dims=[0], keepdim=False)
x = torch.zeros((3, 0), dtype=torch.float32)
reduce_case("reduce_sum_f32_empty_dim", "sum", x, x.sum(dim=[1]), dims=[1], keepdim=False)
reduce_case("reduce_sum_f32_empty_dim_keepdim", "sum", x, x.sum(dim=[1], keepdim=True), dims=[1], keepdim=True)
x = torch.zeros((2, 0, 3), dtype=torch.float32)
reduce_case("reduce_sum_f32_empty_dim_middle", "sum", x, x.sum(dim=[1]), dims=[1], keepdim=False)
r = rng_for("reduce_sum_noncontig")
x = randn(r, (5, 4))
pre = [{"in": 0, "transpose": [0, 1]}]
reduce_case("reduce_sum_f32_transposed", "sum", x, apply_pre([x], pre)[0].sum(dim=[1]), pre=pre, dims=[1], keepdim=False)

for op in ["max", "min"]:
    for dim, keepdim in [(1, False), (1, True), (0, False), (-1, True)]:
        name = f"reduce_{op}_f32_d{dim}_k{int(keepdim)}".replace("-", "m")
        r = rng_for(name)
        x = randn(r, (3, 4, 5))
        out = getattr(x, op)(dim=dim, keepdim=keepdim).values
        reduce_case(name, op, x, out, dim=dim, keepdim=keepdim)
    for dt in ["f16", "bf16", "f64", "i64", "u8", "u32"]:
        name = f"reduce_{op}_{dt}"
        r = rng_for(name)
        if dt == "u32":
            a = r.integers(0, 4000000000, (4, 6)).astype(np.uint32)
            out = a.max(axis=1) if op == "max" else a.min(axis=1)
            reduce_case(name, op, u32(a), u32(out), dim=1, keepdim=False)
            continue
        x = t(r.integers(-100, 100, (4, 6)), dt) if dt in ("i64",) else (
            t(r.integers(0, 256, (4, 6)), dt) if dt == "u8" else randn(r, (4, 6), dt))
        reduce_case(name, op, x, getattr(x, op)(dim=1).values, dim=1, keepdim=False)
x = torch.tensor([[1.0, float("-inf"), 3.0], [float("-inf"), float("-inf"), -2.0]])
reduce_case("reduce_max_f32_neg_inf", "max", x, x.max(dim=1).values, dim=1, keepdim=False)
reduce_case("reduce_min_f32_neg_inf", "min", x, x.min(dim=1).values, dim=1, keepdim=False)

for op in ["argmax", "argmin"]:
    for dim, keepdim in [(1, False), (0, False), (-1, True), (2, False)]:
        name = f"reduce_{op}_f32_d{dim}_k{int(keepdim)}".replace("-", "m")
        r = rng_for(name)
        x = unique_vals(r, (3, 4, 5))
        out = getattr(torch, op)(x, dim=dim, keepdim=keepdim)
        reduce_case(name, op, x, out, dim=dim, keepdim=keepdim)
    # Ties: both PyTorch and wick document that the FIRST extreme index is returned.
    x = torch.tensor([[1.0, 3.0, 3.0, 0.0], [-1.0, -1.0, -1.0, -1.0], [2.0, 0.0, 0.0, 2.0]])
    reduce_case(f"reduce_{op}_f32_ties", op, x, getattr(torch, op)(x, dim=1), dim=1, keepdim=False)
    for dt in ["f16", "bf16", "i64"]:
        name = f"reduce_{op}_{dt}"
        r = rng_for(name)
        x = unique_vals(r, (4, 6), "f32").to(TDT[dt]) if dt != "i64" else t(r.permutation(24).reshape(4, 6), "i64")
        reduce_case(name, op, x, getattr(torch, op)(x, dim=1), dim=1, keepdim=False)
r = rng_for("reduce_argmax_noncontig")
x = unique_vals(r, (6, 4))
pre = [{"in": 0, "transpose": [0, 1]}]
reduce_case("reduce_argmax_f32_transposed", "argmax", x, torch.argmax(apply_pre([x], pre)[0], dim=1), pre=pre, dim=1, keepdim=False)

for dim in [0, 1, -1]:
    name = f"reduce_cumsum_f32_d{dim}".replace("-", "m")
    r = rng_for(name)
    x = randn(r, (3, 4, 5))
    reduce_case(name, "cumsum", x, torch.cumsum(x, dim=dim), dim=dim)
r = rng_for("reduce_cumsum_i64")
x = t(r.integers(-50, 50, (4, 6)), "i64")
reduce_case("reduce_cumsum_i64", "cumsum", x, torch.cumsum(x, dim=1), dim=1)
x = randn(r, (4, 6), "f64")
reduce_case("reduce_cumsum_f64", "cumsum", x, torch.cumsum(x, dim=0), dim=0)
x = randn(r, (6, 3))
pre = [{"in": 0, "transpose": [0, 1]}]
reduce_case("reduce_cumsum_f32_transposed", "cumsum", x, torch.cumsum(apply_pre([x], pre)[0], dim=1), pre=pre, dim=1)

# ---------------------------------------------------------------------------------------------
# softmax / log_softmax
# ---------------------------------------------------------------------------------------------
for op, fn in [("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
    for shape, dim in [((4, 7), -1), ((4, 7), 0), ((2, 3, 5), 1), ((2, 3, 5), -1)]:
        name = f"softmax_{op}_f32_{shape_tag(shape)}_d{dim}".replace("-", "m")
        r = rng_for(name)
        x = randn(r, shape, scale=2.0)
        add(name, "softmax", op, [x], [fn(x, dim=dim)], dim=dim)
    name = f"softmax_{op}_f64"
    r = rng_for(name)
    x = randn(r, (3, 6), "f64", scale=2.0)
    add(name, "softmax", op, [x], [fn(x, dim=-1)], dim=-1)
    # Large logits: only a max-subtracting implementation avoids overflow.
    x = torch.tensor([[1000.0, 1001.0, 999.0, 0.0], [-1000.0, -1002.0, -1001.0, -999.5]])
    add(f"softmax_{op}_f32_large", "softmax", op, [x], [fn(x, dim=-1)], dim=-1)
    # A masked row (-inf entries), as in attention.
    x = torch.tensor([[0.5, float("-inf"), 1.5, float("-inf")], [1.0, 2.0, 3.0, 4.0]])
    add(f"softmax_{op}_f32_masked", "softmax", op, [x], [fn(x, dim=-1)], dim=-1)
    r = rng_for(f"softmax_{op}_noncontig")
    x = randn(r, (5, 3))
    pre = [{"in": 0, "transpose": [0, 1]}]
    add(f"softmax_{op}_f32_transposed", "softmax", op, [x], [fn(apply_pre([x], pre)[0], dim=-1)], pre=pre, dim=-1)

# ---------------------------------------------------------------------------------------------
# matmul
# ---------------------------------------------------------------------------------------------
def mm_case(name, a, b, pre=None):
    aa, bb = apply_pre([a, b], pre)
    add(name, "matmul", "matmul", [a, b], [torch.matmul(aa, bb)], pre=pre)


r = rng_for("matmul")
mm_case("matmul_f32_2d", randn(r, (3, 4)), randn(r, (4, 5)))
mm_case("matmul_f32_2d_k64", randn(r, (8, 64)), randn(r, (64, 16)))
mm_case("matmul_f32_3d_batched", randn(r, (2, 3, 4)), randn(r, (2, 4, 5)))
mm_case("matmul_f32_broadcast_batch", randn(r, (2, 1, 3, 4)), randn(r, (5, 4, 6)))
mm_case("matmul_f32_3d_at_2d", randn(r, (3, 2, 4)), randn(r, (4, 3)))
mm_case("matmul_f32_rhs_transposed", randn(r, (3, 4)), randn(r, (5, 4)), pre=[{"in": 1, "transpose": [0, 1]}])
mm_case("matmul_f32_lhs_transposed_batched", randn(r, (2, 4, 3)), randn(r, (2, 4, 5)), pre=[{"in": 0, "transpose": [1, 2]}])
mm_case("matmul_f32_lhs_broadcast_view", randn(r, (3, 4)), randn(r, (2, 4, 5)), pre=[{"in": 0, "broadcast": [2, 3, 4]}])
mm_case("matmul_f32_lhs_narrow", randn(r, (3, 7)), randn(r, (4, 2)), pre=[{"in": 0, "narrow": [1, 2, 4]}])
mm_case("matmul_f64_2d", randn(r, (5, 6), "f64"), randn(r, (6, 3), "f64"))
mm_case("matmul_f64_batched", randn(r, (2, 3, 6), "f64"), randn(r, (2, 6, 3), "f64"))
mm_case("matmul_f16_2d", randn(r, (4, 16), "f16"), randn(r, (16, 8), "f16"))
mm_case("matmul_f16_batched", randn(r, (2, 3, 8), "f16"), randn(r, (2, 8, 4), "f16"))
mm_case("matmul_bf16_2d", randn(r, (4, 16), "bf16"), randn(r, (16, 8), "bf16"))
mm_case("matmul_bf16_rhs_transposed", randn(r, (3, 8), "bf16"), randn(r, (5, 8), "bf16"), pre=[{"in": 1, "transpose": [0, 1]}])
mm_case("matmul_f32_vec_mat", randn(r, (4,)), randn(r, (4, 5)))
mm_case("matmul_f32_mat_vec", randn(r, (3, 4)), randn(r, (4,)))
mm_case("matmul_f32_vec_batched", randn(r, (4,)), randn(r, (2, 4, 3)))
mm_case("matmul_f32_batched_vec", randn(r, (2, 3, 4)), randn(r, (4,)))
mm_case("matmul_f32_vec_vec", randn(r, (5,)), randn(r, (5,)))
mm_case("matmul_f32_k0", torch.zeros((3, 0)), torch.zeros((0, 4)))

# ---------------------------------------------------------------------------------------------
# convolutions, pooling, upsampling
# ---------------------------------------------------------------------------------------------
# (padding, stride, dilation, groups, c_out)
CONV_COMBOS = [(0, 1, 1, 1, 6), (1, 1, 1, 1, 6), (1, 2, 1, 1, 6), (2, 1, 2, 1, 6), (1, 2, 1, 2, 6),
               (0, 1, 1, 4, 8), (2, 3, 2, 2, 4)]
for i, (p, s, d, g, co) in enumerate(CONV_COMBOS):
    name = f"conv_conv1d_f32_p{p}s{s}d{d}g{g}"
    r = rng_for(name)
    x, k = randn(r, (2, 4, 11)), randn(r, (co, 4 // g, 3))
    add(name, "conv", "conv1d", [x, k], [F.conv1d(x, k, padding=p, stride=s, dilation=d, groups=g)],
        padding=p, stride=s, dilation=d, groups=g)
    name = f"conv_conv2d_f32_p{p}s{s}d{d}g{g}"
    r = rng_for(name)
    x, k = randn(r, (2, 4, 9, 8)), randn(r, (co, 4 // g, 3, 2))
    add(name, "conv", "conv2d", [x, k], [F.conv2d(x, k, padding=p, stride=s, dilation=d, groups=g)],
        padding=p, stride=s, dilation=d, groups=g)
for dt in ["f64", "f16", "bf16"]:
    name = f"conv_conv2d_{dt}"
    r = rng_for(name)
    x, k = randn(r, (1, 3, 6, 7), dt), randn(r, (4, 3, 3, 3), dt)
    add(name, "conv", "conv2d", [x, k], [F.conv2d(x, k, padding=1, stride=1, dilation=1, groups=1)],
        padding=1, stride=1, dilation=1, groups=1)
    name = f"conv_conv1d_{dt}"
    r = rng_for(name)
    x, k = randn(r, (1, 3, 9), dt), randn(r, (4, 3, 3), dt)
    add(name, "conv", "conv1d", [x, k], [F.conv1d(x, k, padding=1, stride=2, dilation=1, groups=1)],
        padding=1, stride=2, dilation=1, groups=1)
r = rng_for("conv_noncontig")
x, k = randn(r, (2, 4, 5, 6)), randn(r, (3, 4, 2, 2))
pre = [{"in": 0, "transpose": [2, 3]}]
add("conv_conv2d_f32_transposed_input", "conv", "conv2d", [x, k],
    [F.conv2d(apply_pre([x, k], pre)[0], k, padding=1)], pre=pre, padding=1, stride=1, dilation=1, groups=1)
x, k = randn(r, (4, 2, 9)), randn(r, (5, 4, 3))
pre = [{"in": 0, "transpose": [0, 1]}]
add("conv_conv1d_f32_transposed_input", "conv", "conv1d", [x, k],
    [F.conv1d(apply_pre([x, k], pre)[0], k)], pre=pre, padding=0, stride=1, dilation=1, groups=1)

# (padding, output_padding, stride, dilation, groups, c_out); output_padding < max(stride, dilation)
CONVT_COMBOS = [(0, 0, 1, 1, 1, 6), (1, 0, 1, 1, 1, 6), (1, 1, 2, 1, 1, 6), (0, 1, 1, 2, 1, 6),
                (2, 0, 2, 2, 1, 6), (1, 1, 3, 1, 2, 6), (0, 0, 2, 1, 4, 8), (2, 1, 2, 3, 2, 4)]
for p, op_, s, d, g, co in CONVT_COMBOS:
    name = f"conv_conv_transpose1d_f32_p{p}op{op_}s{s}d{d}g{g}"
    r = rng_for(name)
    x, k = randn(r, (2, 4, 7)), randn(r, (4, co // g, 3))
    add(name, "conv", "conv_transpose1d", [x, k],
        [F.conv_transpose1d(x, k, padding=p, output_padding=op_, stride=s, dilation=d, groups=g)],
        padding=p, output_padding=op_, stride=s, dilation=d, groups=g)
    name = f"conv_conv_transpose2d_f32_p{p}op{op_}s{s}d{d}g{g}"
    r = rng_for(name)
    x, k = randn(r, (1, 4, 5, 6)), randn(r, (4, co // g, 3, 2))
    add(name, "conv", "conv_transpose2d", [x, k],
        [F.conv_transpose2d(x, k, padding=p, output_padding=op_, stride=s, dilation=d, groups=g)],
        padding=p, output_padding=op_, stride=s, dilation=d, groups=g)
for dt in ["f64", "f16", "bf16"]:
    for op, fn, xs, ks in [("conv_transpose1d", F.conv_transpose1d, (1, 3, 6), (3, 2, 3)),
                           ("conv_transpose2d", F.conv_transpose2d, (1, 3, 4, 5), (3, 2, 3, 3))]:
        name = f"conv_{op}_{dt}"
        r = rng_for(name)
        x, k = randn(r, xs, dt), randn(r, ks, dt)
        add(name, "conv", op, [x, k], [fn(x, k, padding=1, output_padding=1, stride=2, dilation=1, groups=1)],
            padding=1, output_padding=1, stride=2, dilation=1, groups=1)

for kern, stride in [((2, 2), (2, 2)), ((3, 2), (2, 1)), ((3, 3), (1, 1)), ((2, 3), (3, 2)), ((7, 8), (1, 1))]:
    tag = f"k{kern[0]}x{kern[1]}_s{stride[0]}x{stride[1]}"
    for op, fn in [("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)]:
        name = f"pool_{op}_f32_{tag}"
        r = rng_for(name)
        x = randn(r, (2, 3, 7, 8))
        add(name, "pool", op, [x], [fn(x, kernel_size=kern, stride=stride)], kernel=list(kern), stride=list(stride))
for dt in ["f64", "f16", "bf16"]:
    for op, fn in [("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)]:
        name = f"pool_{op}_{dt}"
        r = rng_for(name)
        x = randn(r, (1, 2, 5, 6), dt)
        add(name, "pool", op, [x], [fn(x, kernel_size=(2, 3), stride=(2, 2))], kernel=[2, 3], stride=[2, 2])
r = rng_for("pool_noncontig")
x = randn(r, (1, 2, 6, 5))
pre = [{"in": 0, "transpose": [2, 3]}]
add("pool_max_pool2d_f32_transposed", "pool", "max_pool2d", [x],
    [F.max_pool2d(apply_pre([x], pre)[0], kernel_size=(2, 2), stride=(2, 2))], pre=pre, kernel=[2, 2], stride=[2, 2])

for (h, w), (oh, ow) in [((3, 4), (6, 8)), ((3, 4), (5, 7)), ((4, 6), (3, 4)), ((5, 10), (3, 6)), ((3, 3), (3, 3)),
                         ((2, 3), (7, 3))]:
    name = f"pool_upsample_nearest2d_f32_{h}x{w}_to_{oh}x{ow}"
    r = rng_for(name)
    x = randn(r, (2, 2, h, w))
    add(name, "pool", "upsample_nearest2d", [x], [F.interpolate(x, size=(oh, ow), mode="nearest")], size=[oh, ow])
for dt in ["f16", "u8"]:
    name = f"pool_upsample_nearest2d_{dt}"
    r = rng_for(name)
    x = t(r.integers(0, 200, (1, 2, 3, 3)), dt)
    add(name, "pool", "upsample_nearest2d", [x], [F.interpolate(x, size=(4, 7), mode="nearest")], size=[4, 7])

# ---------------------------------------------------------------------------------------------
# indexing: index_select, gather, scatter_add, index_add, embedding
# ---------------------------------------------------------------------------------------------
def ids_tensor(v, dt):
    return u32(v) if dt == "u32" else (t(v, "u8") if dt == "u8" else t(v, "i64"))


r = rng_for("index")
for dt_x, shape, dim, ids, ids_dt in [("f32", (5, 4), 0, [4, 0, 2, 2], "u32"), ("f32", (5, 4), 1, [3, 1], "i64"),
                                      ("f32", (2, 3, 4), 2, [0, 3, 3, 1, 2], "u8"), ("f16", (5, 4), 0, [1, 1, 0], "i64"),
                                      ("i64", (3, 5), 1, [4, 0], "u32"), ("bf16", (4, 3), -1, [2, 0, 1, 2], "i64"),
                                      ("f32", (5, 4), 0, [], "u32")]:
    name = f"index_index_select_{dt_x}_d{dim}_{ids_dt}_n{len(ids)}".replace("-", "m")
    x = t(r.integers(-9, 9, shape), dt_x) if dt_x == "i64" else randn(r, shape, dt_x)
    idt = ids_tensor(np.array(ids, dtype=np.int64), ids_dt)
    add(name, "index", "index_select", [x, idt], [torch.index_select(x, dim, idt.to(torch.int64))], dim=dim)
x = randn(r, (4, 5))
idt = ids_tensor(np.array([3, 0, 1]), "u32")
pre = [{"in": 0, "transpose": [0, 1]}]
add("index_index_select_f32_transposed", "index", "index_select", [x, idt],
    [torch.index_select(apply_pre([x], pre)[0], 1, idt.to(torch.int64))], pre=pre, dim=1)

for dt_x, shape, dim, ids_shape, ids_dt in [("f32", (3, 5), 1, (3, 4), "i64"), ("f32", (3, 5), 0, (4, 5), "u32"),
                                            ("f32", (3, 5), 1, (2, 3), "i64"), ("f32", (2, 3, 4), 2, (2, 3, 6), "i64"),
                                            ("f32", (2, 3, 4), 0, (2, 2, 4), "u32"), ("i64", (4, 3), 0, (2, 3), "i64"),
                                            ("f16", (3, 4), -1, (3, 2), "i64")]:
    name = f"index_gather_{dt_x}_d{dim}_{shape_tag(ids_shape)}_{ids_dt}".replace("-", "m")
    x = t(r.integers(-9, 9, shape), dt_x) if dt_x == "i64" else randn(r, shape, dt_x)
    ids = r.integers(0, shape[dim], ids_shape)
    idt = ids_tensor(ids, ids_dt)
    add(name, "index", "gather", [x, idt], [torch.gather(x, dim, idt.to(torch.int64))], dim=dim)

# scatter_add: in0 = self, in1 = ids, in2 = src (src may be larger than ids, as in PyTorch)
for dt_x, shape, dim, ids_shape, src_shape, ids_dt in [("f32", (3, 5), 1, (3, 4), (3, 4), "i64"),
                                                       ("f32", (4, 3), 0, (5, 3), (5, 3), "u32"),
                                                       ("f32", (3, 5), 1, (2, 4), (3, 6), "i64"),
                                                       ("f64", (2, 3, 4), 2, (2, 3, 6), (2, 3, 6), "i64"),
                                                       ("i64", (3, 4), 0, (6, 4), (6, 4), "i64")]:
    name = f"index_scatter_add_{dt_x}_d{dim}_{shape_tag(ids_shape)}_{shape_tag(src_shape)}_{ids_dt}"
    if dt_x == "i64":
        x, src = t(r.integers(-9, 9, shape), dt_x), t(r.integers(-9, 9, src_shape), dt_x)
    else:
        x, src = randn(r, shape, dt_x), randn(r, src_shape, dt_x)
    ids = r.integers(0, shape[dim], ids_shape)  # duplicates accumulate
    idt = ids_tensor(ids, ids_dt)
    add(name, "index", "scatter_add", [x, idt, src], [torch.scatter_add(x, dim, idt.to(torch.int64), src)], dim=dim)

# index_add: in0 = self, in1 = ids (rank 1), in2 = src
for dt_x, shape, dim, ids, ids_dt in [("f32", (5, 3), 0, [0, 2, 0, 4], "i64"), ("f32", (5, 3), 1, [1, 1], "u32"),
                                      ("f64", (2, 4, 3), 1, [3, 0, 3], "i64"), ("i64", (4, 2), 0, [3, 3, 3], "u32")]:
    name = f"index_index_add_{dt_x}_d{dim}_{ids_dt}_n{len(ids)}"
    src_shape = list(shape)
    src_shape[dim] = len(ids)
    if dt_x == "i64":
        x, src = t(r.integers(-9, 9, shape), dt_x), t(r.integers(-9, 9, src_shape), dt_x)
    else:
        x, src = randn(r, shape, dt_x), randn(r, src_shape, dt_x)
    idt = ids_tensor(np.array(ids), ids_dt)
    add(name, "index", "index_add", [x, idt, src], [x.index_add(dim, idt.to(torch.int64), src)], dim=dim)

# embedding: in0 = table [vocab, hidden], in1 = ids of any rank
for dt_x, ids_shape, ids_dt in [("f32", (2, 3), "i64"), ("f32", (3, 2), "u32"), ("f16", (2, 2), "i64"),
                                ("bf16", (4,), "u32"), ("f32", (2, 1, 3), "i64")]:
    name = f"index_embedding_{dt_x}_{shape_tag(ids_shape)}_{ids_dt}"
    table = randn(r, (10, 4), dt_x)
    idt = ids_tensor(r.integers(0, 10, ids_shape), ids_dt)
    add(name, "index", "embedding", [table, idt], [F.embedding(idt.to(torch.int64), table)])

# ---------------------------------------------------------------------------------------------
# tril / triu
# ---------------------------------------------------------------------------------------------
r = rng_for("tri")
for op, fn in [("tril", torch.tril), ("triu", torch.triu)]:
    for diag in [-1, 0, 1]:
        x = randn(r, (4, 5))
        add(f"tri_{op}_f32_4x5_diag{diag}".replace("-", "m"), "tri", op, [x], [fn(x, diag)], diagonal=diag)
        x = randn(r, (5, 3))
        add(f"tri_{op}_f32_5x3_diag{diag}".replace("-", "m"), "tri", op, [x], [fn(x, diag)], diagonal=diag)
    x = randn(r, (2, 3, 4))
    add(f"tri_{op}_f32_batched", "tri", op, [x], [fn(x, 0)], diagonal=0)
    x = t(r.integers(1, 9, (3, 3)), "i64")
    add(f"tri_{op}_i64_diag2", "tri", op, [x], [fn(x, 2)], diagonal=2)
    x = randn(r, (3, 4), "bf16")
    add(f"tri_{op}_bf16_diagm5", "tri", op, [x], [fn(x, -5)], diagonal=-5)

# ---------------------------------------------------------------------------------------------
# sort / argsort / topk (no ties, so the indices are unique)
# ---------------------------------------------------------------------------------------------
for dt in ["f32", "f16", "i64"]:
    for dim in [-1, 0]:
        for desc in [False, True]:
            name = f"sort_sort_{dt}_d{dim}_desc{int(desc)}".replace("-", "m")
            r = rng_for(name)
            x = unique_vals(r, (4, 6), "f32").to(TDT[dt]) if dt != "i64" else t(r.permutation(24).reshape(4, 6) - 10, "i64")
            v, i = torch.sort(x, dim=dim, descending=desc)
            add(name, "sort", "sort", [x], [v, i], dim=dim, descending=desc)
            name = f"sort_argsort_{dt}_d{dim}_desc{int(desc)}".replace("-", "m")
            add(name, "sort", "argsort", [x], [torch.argsort(x, dim=dim, descending=desc)], dim=dim, descending=desc)
r = rng_for("sort_3d")
x = unique_vals(r, (2, 3, 4))
v, i = torch.sort(x, dim=1)
add("sort_sort_f32_3d_d1", "sort", "sort", [x], [v, i], dim=1, descending=False)
x = unique_vals(r, (5, 3))
pre = [{"in": 0, "transpose": [0, 1]}]
v, i = torch.sort(apply_pre([x], pre)[0], dim=-1, descending=True)
add("sort_sort_f32_transposed", "sort", "sort", [x], [v, i], pre=pre, dim=-1, descending=True)
for dt, shape, k, dim in [("f32", (4, 6), 3, -1), ("f32", (4, 6), 2, 0), ("f32", (4, 6), 6, 1), ("f32", (4, 6), 1, -1),
                          ("f32", (4, 6), 0, -1), ("f16", (3, 5), 2, -1), ("bf16", (3, 5), 3, 1), ("i64", (3, 5), 2, 0),
                          ("f32", (2, 3, 4), 2, 1)]:
    name = f"sort_topk_{dt}_{shape_tag(shape)}_k{k}_d{dim}".replace("-", "m")
    r = rng_for(name)
    n = int(np.prod(shape))
    x = unique_vals(r, shape, "f32").to(TDT[dt]) if dt != "i64" else t(r.permutation(n).reshape(shape) - 7, "i64")
    v, i = torch.topk(x, k, dim=dim, largest=True, sorted=True)
    add(name, "sort", "topk", [x], [v, i], k=k, dim=dim)

# ---------------------------------------------------------------------------------------------
# shape moves: cat stack pad_with_zeros repeat narrow transpose permute
# ---------------------------------------------------------------------------------------------
r = rng_for("shape")


def cat_case(name, parts, dim, pre=None):
    pp = apply_pre(parts, pre)
    add(name, "shape", "cat", parts, [torch.cat(pp, dim=dim)], pre=pre, dim=dim)


cat_case("shape_cat_f32_d0", [randn(r, (2, 3)), randn(r, (4, 3))], 0)
cat_case("shape_cat_f32_d1_three", [randn(r, (2, 3)), randn(r, (2, 1)), randn(r, (2, 4))], 1)
cat_case("shape_cat_f32_dlast_3d", [randn(r, (2, 3, 1)), randn(r, (2, 3, 4))], -1)
cat_case("shape_cat_f32_d1_3d", [randn(r, (2, 2, 4)), randn(r, (2, 3, 4))], 1)
cat_case("shape_cat_f32_d0_transposed_part", [randn(r, (2, 3)), randn(r, (3, 2))], 0, pre=[{"in": 1, "transpose": [0, 1]}])
cat_case("shape_cat_f32_d1_transposed_part", [randn(r, (2, 3)), randn(r, (4, 2))], 1, pre=[{"in": 1, "transpose": [0, 1]}])
cat_case("shape_cat_f32_d1_narrow_part", [randn(r, (3, 6)), randn(r, (3, 2))], 1, pre=[{"in": 0, "narrow": [1, 1, 3]}])
cat_case("shape_cat_f32_d0_broadcast_part", [randn(r, (3,)), randn(r, (1, 3))], 0, pre=[{"in": 0, "broadcast": [2, 3]}])
cat_case("shape_cat_f32_empty_part", [randn(r, (2, 0)), randn(r, (2, 3))], 1)
cat_case("shape_cat_u8_d1", [t(r.integers(0, 255, (2, 2)), "u8"), t(r.integers(0, 255, (2, 3)), "u8")], 1)
cat_case("shape_cat_i64_d0", [t(r.integers(-9, 9, (1, 3)), "i64"), t(r.integers(-9, 9, (2, 3)), "i64")], 0)
cat_case("shape_cat_bf16_d1", [randn(r, (2, 2), "bf16"), randn(r, (2, 3), "bf16")], 1)
cat_case("shape_cat_u32_d0", [u32(r.integers(0, 4000000000, (1, 2))), u32(r.integers(0, 4000000000, (2, 2)))], 0)

for dim in [0, 1, 2, -1]:
    parts = [randn(r, (2, 3)) for _ in range(3)]
    add(f"shape_stack_f32_d{dim}".replace("-", "m"), "shape", "stack", parts, [torch.stack(parts, dim=dim)], dim=dim)
parts = [randn(r, (3, 2)), randn(r, (2, 3))]
pre = [{"in": 0, "transpose": [0, 1]}]
add("shape_stack_f32_transposed_part", "shape", "stack", parts, [torch.stack(apply_pre(parts, pre), dim=1)], pre=pre, dim=1)
parts = [t(r.integers(-9, 9, (4,)), "i64") for _ in range(2)]
add("shape_stack_i64_d0", "shape", "stack", parts, [torch.stack(parts, dim=0)], dim=0)


def torch_pad(x, dim, left, right):
    dim = dim % x.dim()
    pad = [0, 0] * (x.dim() - 1 - dim) + [left, right]
    return F.pad(x, pad)


for shape, dim, left, right, dt in [((2, 3), 0, 1, 2, "f32"), ((2, 3), 1, 0, 3, "f32"), ((2, 3, 2), -1, 2, 0, "f32"),
                                    ((2, 3, 2), 1, 1, 1, "f64"), ((3, 2), 0, 2, 2, "i64"), ((2, 2), 1, 1, 1, "bf16")]:
    name = f"shape_pad_with_zeros_{dt}_{shape_tag(shape)}_d{dim}_l{left}_r{right}".replace("-", "m")
    x = t(r.integers(-9, 9, shape), dt) if dt == "i64" else randn(r, shape, dt)
    add(name, "shape", "pad_with_zeros", [x], [torch_pad(x, dim, left, right)], dim=dim, left=left, right=right)

for shape, reps, dt in [((2, 3), [2, 1], "f32"), ((2, 3), [1, 3], "f32"), ((2, 3), [2, 2], "f32"), ((3,), [2, 1, 2], "f32"),
                        ((2, 1, 3), [1, 2, 1], "i64"), ((2, 3), [0, 2], "f32"), ((2, 2), [3, 1, 1], "f16")]:
    name = f"shape_repeat_{dt}_{shape_tag(shape)}_{'x'.join(map(str, reps))}"
    x = t(r.integers(-9, 9, shape), dt) if dt == "i64" else randn(r, shape, dt)
    add(name, "shape", "repeat", [x], [x.repeat(*reps)], repeats=reps)
x = randn(r, (3, 2))
pre = [{"in": 0, "transpose": [0, 1]}]
add("shape_repeat_f32_transposed", "shape", "repeat", [x], [apply_pre([x], pre)[0].repeat(2, 2)], pre=pre, repeats=[2, 2])

for shape, dim, start, length, dt in [((4, 5), 0, 1, 2, "f32"), ((4, 5), 1, 2, 3, "f32"), ((2, 3, 4), 2, 1, 2, "f32"),
                                      ((2, 3, 4), -2, 0, 1, "i64"), ((4, 5), 1, 5, 0, "f32"), ((3, 4), 0, 0, 3, "u8")]:
    name = f"shape_narrow_{dt}_{shape_tag(shape)}_d{dim}_s{start}_l{length}".replace("-", "m")
    x = t(r.integers(0, 99, shape), dt) if dt in ("i64", "u8") else randn(r, shape, dt)
    add(name, "shape", "narrow", [x], [x.narrow(dim, start, length).contiguous()], dim=dim, start=start, len=length)

for shape, d1, d2, dt in [((3, 4), 0, 1, "f32"), ((2, 3, 4), 0, 2, "f32"), ((2, 3, 4), 1, 2, "f16"), ((2, 3, 4), -1, 0, "i64"),
                          ((2, 3), 1, 1, "f32")]:
    name = f"shape_transpose_{dt}_{shape_tag(shape)}_{d1}_{d2}".replace("-", "m")
    x = t(r.integers(0, 99, shape), dt) if dt == "i64" else randn(r, shape, dt)
    add(name, "shape", "transpose", [x], [x.transpose(d1, d2).contiguous()], dims=[d1, d2])

for shape, perm, dt in [((2, 3, 4), [2, 0, 1], "f32"), ((2, 3, 4), [1, 2, 0], "f32"), ((2, 3, 2, 3), [3, 1, 0, 2], "f32"),
                        ((2, 3, 4), [0, 2, 1], "bf16"), ((3, 4), [1, 0], "u8")]:
    name = f"shape_permute_{dt}_{shape_tag(shape)}_{''.join(map(str, perm))}"
    x = t(r.integers(0, 99, shape), dt) if dt == "u8" else randn(r, shape, dt)
    add(name, "shape", "permute", [x], [x.permute(*perm).contiguous()], perm=perm)
x = randn(r, (3, 4, 2))
pre = [{"in": 0, "transpose": [0, 1]}]
add("shape_permute_f32_of_transposed", "shape", "permute", [x], [apply_pre([x], pre)[0].permute(2, 0, 1).contiguous()],
    pre=pre, perm=[2, 0, 1])

# ---------------------------------------------------------------------------------------------
# to_dtype (compared bit-exactly: conversions are correctly rounded, half to even)
# ---------------------------------------------------------------------------------------------
r = rng_for("cast")
# f32 values exactly halfway between two bf16 (low 16 bits = 0x8000) / f16 neighbours.
bf16_ties = np.array([0x3F808000, 0x3F818000, 0xBF808000, 0x40490000 | 0x8000, 0x3F80C000, 0x3F807FFF],
                     dtype=np.uint32).view(np.float32)
f16_ties = np.array([1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, -(2.0 + 2.0 ** -10), 2048.0 + 1.0, 2048.0 + 3.0],
                    dtype=np.float32)
f32_src = np.concatenate([r.standard_normal(20) * 10, [0.0, -0.0, 1e-6, -3e-8, 65504.0, 65520.0, 70000.0, -1e5, 1e-40,
                                                        3.0e38]]).astype(np.float32)
x = torch.from_numpy(np.concatenate([f32_src, bf16_ties]).astype(np.float32))
add("cast_f32_to_bf16", "cast", "to_dtype", [x], [x.to(torch.bfloat16)], to="bf16")
x = torch.from_numpy(np.concatenate([f32_src, f16_ties]).astype(np.float32))
add("cast_f32_to_f16", "cast", "to_dtype", [x], [x.to(torch.float16)], to="f16")
x = randn(r, (3, 5), "f16")
add("cast_f16_to_f32", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = torch.tensor([65504.0, -65504.0, 6e-8, float("inf"), -0.0, 1.0 / 3], dtype=torch.float16)
add("cast_f16_to_f32_special", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = randn(r, (3, 5), "bf16")
add("cast_bf16_to_f32", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = torch.tensor([-2.7, 2.9, -0.5, 0.5, 0.0, -0.0, 1e10, -1e10, 123456.75, -1.0, 7.0, 3.4e18], dtype=torch.float32)
add("cast_f32_to_i64", "cast", "to_dtype", [x], [x.to(torch.int64)], to="i64")
x = torch.from_numpy(np.concatenate([r.standard_normal(10) * 100, [1.0 + 2.0 ** -24, 1.0 + 3 * 2.0 ** -24, 1e-50, 1e300,
                                                                  -1e300, 2.0 ** -149]]))
add("cast_f64_to_f32", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = t(np.arange(0, 256, 17), "u8")
add("cast_u8_to_f32", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = torch.tensor([0, -1, 2 ** 40, -(2 ** 53), 2 ** 24 + 1], dtype=torch.int64)
add("cast_i64_to_f32", "cast", "to_dtype", [x], [x.to(torch.float32)], to="f32")
x = randn(r, (2, 3))
add("cast_f32_to_f64", "cast", "to_dtype", [x], [x.to(torch.float64)], to="f64")
x = torch.tensor([0.0, 1.9, 254.99, 17.5, 100.0], dtype=torch.float32)
add("cast_f32_to_u8", "cast", "to_dtype", [x], [x.to(torch.uint8)], to="u8")
x = t(np.array([0, 1, 200, 255]), "u8")
add("cast_u8_to_i64", "cast", "to_dtype", [x], [x.to(torch.int64)], to="i64")
a = np.array([0, 7, 4294967295, 2147483648], dtype=np.uint32)
add("cast_u32_to_i64", "cast", "to_dtype", [u32(a)], [t(a.astype(np.int64), "i64")], to="i64")
x = randn(r, (4, 3))
pre = [{"in": 0, "transpose": [0, 1]}]
add("cast_f32_to_bf16_transposed", "cast", "to_dtype", [x], [apply_pre([x], pre)[0].to(torch.bfloat16)], pre=pre, to="bf16")


# ---------------------------------------------------------------------------------------------
# writing (safetensors by hand)
# ---------------------------------------------------------------------------------------------
def encode(x):
    x = x.detach().cpu().contiguous()
    shape = list(x.shape)
    if x.dtype == torch.float32:
        return "F32", shape, x.numpy().astype("<f4").tobytes()
    if x.dtype == torch.float64:
        return "F64", shape, x.numpy().astype("<f8").tobytes()
    if x.dtype == torch.float16:
        return "F16", shape, x.numpy().astype("<f2").tobytes()
    if x.dtype == torch.bfloat16:
        return "BF16", shape, x.view(torch.int16).numpy().view(np.uint16).astype("<u2").tobytes()
    if x.dtype == torch.uint8:
        return "U8", shape, x.numpy().astype("u1").tobytes()
    if x.dtype == torch.bool:
        return "U8", shape, x.to(torch.uint8).numpy().tobytes()
    if x.dtype == torch.uint32:
        return "U32", shape, x.to(torch.int64).numpy().astype("<u4").tobytes()
    if x.dtype == torch.int64:
        return "I64", shape, x.numpy().astype("<i8").tobytes()
    raise TypeError(x.dtype)


def write(path):
    tensors = {}
    metadata = {}
    for name, (meta, ins, outs) in CASES.items():
        metadata[name] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
        for i, x in enumerate(ins):
            tensors[f"{name}.in{i}"] = x
        for i, x in enumerate(outs):
            tensors[f"{name}.out{i}"] = x
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        dt, shape, data = encode(tensors[key])
        header[key] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    return len(CASES), 8 + len(hb) + offset


if __name__ == "__main__":
    n, size = write(OUT)
    fams = {}
    for meta, _, _ in CASES.values():
        fams[meta["family"]] = fams.get(meta["family"], 0) + 1
    print(f"wrote {OUT}: {n} cases, {size} bytes")
    for k in sorted(fams):
        print(f"  {k}: {fams[k]}")
    assert size < 3 * 1024 * 1024
