#!/usr/bin/env python3
"""Generate the PyTorch autograd fixtures for wick's backward pass.

Regenerate (from the repository root):

    bash scripts/setup_reference.sh
    .venv/bin/python scripts/gen_autograd_fixtures.py

Writes crates/wick/tests/fixtures/autograd.safetensors, checked by
crates/wick/tests/autograd_parity.rs. Each case is a small f32 computation; the file holds
its inputs as `<case>.<name>` and PyTorch's gradients of the case's scalar loss as
`<case>.grad.<name>`. Data comes from a generator seeded per case, so the output is
deterministic.
"""

import os
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "wick", "tests", "fixtures", "autograd.safetensors")

torch.set_num_threads(1)
TENSORS = {}


def case(name, inputs, loss_fn, constants=None):
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    loss = loss_fn(**leaves, **(constants or {}))
    loss.backward()
    for k, v in inputs.items():
        TENSORS[f"{name}.{k}"] = v.contiguous()
        TENSORS[f"{name}.grad.{k}"] = leaves[k].grad.contiguous()
    for k, v in (constants or {}).items():
        TENSORS[f"{name}.{k}"] = v.contiguous()
    TENSORS[f"{name}.loss"] = loss.detach().reshape(1)


def gen(name):
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# 1. An MLP with erf-GELU and a cross-entropy loss.
g = gen("mlp")
case(
    "mlp",
    dict(x=randn(g, 4, 5), w1=randn(g, 5, 6, scale=0.5), b1=randn(g, 6, scale=0.1), w2=randn(g, 6, 3, scale=0.5)),
    lambda x, w1, b1, w2, targets: F.cross_entropy(F.gelu(x @ w1 + b1) @ w2, targets.long()),
    dict(targets=torch.tensor([0, 2, 1, 2], dtype=torch.int64)),
)

# 2. A convnet: conv2d (padding, stride 1) -> relu -> max_pool 2 -> avg_pool 2, weighted sum.
g = gen("cnn")
case(
    "cnn",
    dict(x=randn(g, 2, 3, 8, 8), k=randn(g, 4, 3, 3, 3, scale=0.3), bias=randn(g, 4, scale=0.1)),
    lambda x, k, bias, r: (
        F.avg_pool2d(F.max_pool2d(F.relu(F.conv2d(x, k, bias, padding=1)), 2), 2) * r
    ).sum(),
    dict(r=randn(g, 2, 4, 2, 2)),
)

# 3. Causal self-attention with a layer norm after it.
g = gen("attention")


def attention(q, k, v, w, b, r):
    t = q.shape[1]
    scores = q @ k.transpose(1, 2) / (q.shape[-1] ** 0.5)
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    scores = torch.where(mask, scores, torch.tensor(float("-inf")))
    out = torch.softmax(scores, dim=-1) @ v
    return (F.layer_norm(out, (out.shape[-1],), w, b, 1e-5) * r).sum()


case(
    "attention",
    dict(q=randn(g, 2, 4, 8), k=randn(g, 2, 4, 8), v=randn(g, 2, 4, 8), w=1 + randn(g, 8, scale=0.1), b=randn(g, 8, scale=0.1)),
    attention,
    dict(r=randn(g, 2, 4, 8)),
)

# 4. Embedding -> RMS norm -> grouped, dilated conv1d -> SiLU, mean.
g = gen("embed_conv")


def embed_conv(table, w, k, ids):
    h = F.embedding(ids.long(), table)  # [b, t, c]
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    y = F.conv1d(h.transpose(1, 2), k, padding=2, dilation=2, groups=2)
    return F.silu(y).mean()


case(
    "embed_conv",
    dict(table=randn(g, 10, 6), w=1 + randn(g, 6, scale=0.1), k=randn(g, 4, 3, 3, scale=0.5)),
    embed_conv,
    dict(ids=torch.tensor([[1, 3, 3, 7, 0], [9, 2, 1, 1, 4]], dtype=torch.int64)),
)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
save_file(dict(sorted(TENSORS.items())), OUT)
print(f"wrote {len(TENSORS)} tensors to {OUT}")
