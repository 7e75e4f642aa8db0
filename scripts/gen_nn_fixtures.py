#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures for wick-nn.

Regenerate (from the repository root, with the venv of scripts/setup_reference.sh):

    .venv/bin/python scripts/gen_nn_fixtures.py

This writes ONE file, crates/wick-nn/tests/fixtures/nn.safetensors, checked by
crates/wick-nn/tests/parity.rs (`cargo test --release -p wick-nn --test parity`).

Every case seeds torch with the CRC32 of its name (`torch.manual_seed`), so cases are
independent and the output is deterministic. Tensors are named `<case>.<what>`; the layer
configurations (kernel sizes, strides, ...) are repeated in parity.rs next to each check.
All tensors are float32 except class targets and ids (int64).
"""

import math
import os
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "wick-nn", "tests", "fixtures", "nn.safetensors")
T = {}


def seed(case):
    torch.manual_seed(zlib.crc32(case.encode()))


def put(case, **tensors):
    for k, v in tensors.items():
        T[f"{case}.{k}"] = v.detach().contiguous().clone()


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


@torch.no_grad()
def layers():
    seed("linear")
    lin = torch.nn.Linear(4, 3)
    x = randn(2, 3, 4)
    put("linear", w=lin.weight, b=lin.bias, x=x, out=lin(x))

    seed("layer_norm")
    ln = torch.nn.LayerNorm(8, eps=1e-5)
    ln.weight.copy_(randn(8))
    ln.bias.copy_(randn(8))
    x = randn(2, 5, 8) * 3 + 1
    put("layer_norm", w=ln.weight, b=ln.bias, x=x, out=ln(x))

    seed("rms_norm")
    rms = torch.nn.RMSNorm(8, eps=1e-6)
    rms.weight.copy_(randn(8))
    x = randn(2, 5, 8) * 2
    put("rms_norm", w=rms.weight, x=x, out=rms(x))

    seed("group_norm")
    gn = torch.nn.GroupNorm(3, 6, eps=1e-5)
    gn.weight.copy_(randn(6))
    gn.bias.copy_(randn(6))
    x = randn(2, 6, 4, 3) * 2 + 0.5
    put("group_norm", w=gn.weight, b=gn.bias, x=x, out=gn(x))

    for case, mod, shape in [
        ("batch_norm2d", torch.nn.BatchNorm2d(4), (3, 4, 5, 2)),
        ("batch_norm1d", torch.nn.BatchNorm1d(4), (6, 4, 3)),
    ]:
        seed(case)
        mod.weight.copy_(randn(4))
        mod.bias.copy_(randn(4))
        mod.running_mean.copy_(randn(4))
        mod.running_var.copy_(torch.rand(4) + 0.5)
        x = randn(*shape) * 2 + 1
        rm0, rv0 = mod.running_mean.clone(), mod.running_var.clone()
        mod.eval()
        eval_out = mod(x)
        mod.train()
        train_out = mod(x)
        put(case, w=mod.weight, b=mod.bias, rm0=rm0, rv0=rv0, x=x, eval_out=eval_out,
            train_out=train_out, rm1=mod.running_mean, rv1=mod.running_var)

    convs = [
        ("conv1d", torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2), (2, 4, 11)),
        ("conv2d", torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2), (2, 4, 9, 8)),
        ("conv2d_dilated", torch.nn.Conv2d(3, 5, 3, stride=1, padding=2, dilation=2, groups=1), (1, 3, 7, 6)),
        ("conv_transpose1d",
         torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1), (2, 4, 7)),
        ("conv_transpose2d",
         torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2),
         (2, 4, 5, 4)),
    ]
    for case, mod, shape in convs:
        seed(case)
        for p in mod.parameters():
            p.copy_(randn(*p.shape) * 0.5)
        x = randn(*shape)
        put(case, w=mod.weight, b=mod.bias, x=x, out=mod(x))

    seed("embedding")
    emb = torch.nn.Embedding(10, 4)
    ids = torch.tensor([[3, 0, 9], [9, 1, 3]], dtype=torch.int64)
    put("embedding", w=emb.weight, ids=ids, out=emb(ids))

    seed("activations")
    x = torch.linspace(-6, 6, 61, dtype=torch.float32)
    put("activations", x=x, relu=F.relu(x), gelu_erf=F.gelu(x), gelu_tanh=F.gelu(x, approximate="tanh"),
        silu=F.silu(x), sigmoid=torch.sigmoid(x), tanh=torch.tanh(x), relu6=F.relu6(x),
        leaky_relu=F.leaky_relu(x, 0.1), elu=F.elu(x, 1.0), quick_gelu=x * torch.sigmoid(1.702 * x))


@torch.no_grad()
def attention():
    # (case, hq, hkv, tq, tk, causal, with_bool_mask)
    cases = [
        ("sdpa_mha", 4, 4, 5, 5, False, False),
        ("sdpa_causal", 4, 4, 6, 6, True, False),
        ("sdpa_gqa_causal", 8, 2, 5, 5, True, False),
        ("sdpa_gqa_mask", 6, 3, 4, 7, False, True),
        ("sdpa_decode", 8, 2, 3, 9, True, False),  # causal, bottom-right aligned (KV cache)
    ]
    for case, hq, hkv, tq, tk, causal, with_mask in cases:
        seed(case)
        q, k, v = randn(2, hq, tq, 16), randn(2, hkv, tk, 16), randn(2, hkv, tk, 16)
        kr = k.repeat_interleave(hq // hkv, dim=1)
        vr = v.repeat_interleave(hq // hkv, dim=1)
        mask = None
        if with_mask:
            mask = torch.rand(tq, tk) > 0.3
            mask[:, 0] = True  # no fully masked row
            put(case, mask=mask.to(torch.uint8))
        if causal and tq != tk:
            # torch's is_causal aligns top-left; a KV cache needs the queries to be the last tq.
            mask = torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=tk - tq)
            out = F.scaled_dot_product_attention(q, kr, vr, attn_mask=mask)
        else:
            out = F.scaled_dot_product_attention(q, kr, vr, attn_mask=mask, is_causal=causal)
        put(case, q=q, k=k, v=v, out=out)


@torch.no_grad()
def rotary():
    seed("rope")
    base, d, max_pos, offset = 10000.0, 16, 32, 4
    x = randn(2, 3, 6, d)
    t = x.shape[2]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    pos = torch.arange(offset, offset + t, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)  # (t, d/2)
    # Hugging Face Llama: cos/sin of cat(freqs, freqs), rotate_half.
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    half = x * cos + torch.cat([-x2, x1], dim=-1) * sin
    # Meta's original Llama: pairs (2i, 2i+1) as complex numbers times e^{i·freq}.
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2))
    rot = torch.polar(torch.ones_like(freqs), freqs)
    inter = torch.view_as_real(xc * rot).reshape(x.shape).float()
    put("rope", x=x, half=half, interleaved=inter)


@torch.no_grad()
def losses():
    seed("losses")
    logits = randn(6, 5) * 3
    cls = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
    a, b = randn(3, 4), randn(3, 4)
    bl = randn(3, 4) * 4
    bt = torch.rand(3, 4)
    put("losses", logits=logits, cls=cls, ce=F.cross_entropy(logits, cls),
        nll=F.nll_loss(F.log_softmax(logits, dim=-1), cls), a=a, b=b, mse=F.mse_loss(a, b),
        bce_logits=bl, bce_targets=bt, bce=F.binary_cross_entropy_with_logits(bl, bt))


def optim():
    seed("optim")
    lin = torch.nn.Linear(4, 3)
    w0, b0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    x = randn(8, 4)
    y = randn(8, 3)
    cls = torch.randint(0, 3, (8,), dtype=torch.int64)
    put("optim", w0=w0, b0=b0, x=x, y=y, cls=cls)
    runs = [
        ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), "mse"),
        ("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
         "ce"),
        ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01), "ce"),
        ("adamw_mse", lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.8, 0.99), weight_decay=0.1), "mse"),
    ]
    for name, make, loss_kind in runs:
        m = torch.nn.Linear(4, 3)
        with torch.no_grad():
            m.weight.copy_(w0)
            m.bias.copy_(b0)
        opt = make(list(m.parameters()))
        for step in range(1, 6):
            opt.zero_grad()
            out = m(x)
            loss = F.mse_loss(out, y) if loss_kind == "mse" else F.cross_entropy(out, cls)
            loss.backward()
            opt.step()
            put(f"optim_{name}", **{f"w{step}": m.weight, f"b{step}": m.bias})


def main():
    layers()
    attention()
    rotary()
    losses()
    optim()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(dict(sorted(T.items())), OUT)
    print(f"wrote {len(T)} tensors to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
