"""Writes a Llama model directory with random weights for speed measurements (no download):
config.json + model.safetensors in the TinyLlama-1.1B shape by default (hidden 2048, 22 layers,
32 heads, 4 kv heads, ffn 5632, vocab 32000, 1,100,048,384 parameters).

    .venv/bin/python scripts/make_random_llm.py target/models/tinyllama-random [--dtype bf16]

Weights are N(0, 0.02²) (norm weights 1) from a fixed seed, so wick and PyTorch time the same
numbers. `wick bench model --model DIR` and scripts/compare_llm.py read the directory;
`wick quantize DIR/model.safetensors OUT.gguf --type q4_0` makes the GGUF variants.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

TINYLLAMA = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=22,
    num_attention_heads=32,
    num_key_value_heads=4,
    vocab_size=32000,
    max_position_embeddings=2048,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--layers", type=int, default=TINYLLAMA["num_hidden_layers"])
    args = ap.parse_args()
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    cfg = dict(TINYLLAMA, num_hidden_layers=args.layers)
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * d

    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(dtype)

    t = {"model.embed_tokens.weight": rand(v, h), "model.norm.weight": torch.ones(h, dtype=dtype), "lm_head.weight": rand(v, h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = torch.ones(h, dtype=dtype)
        t[p + "post_attention_layernorm.weight"] = torch.ones(h, dtype=dtype)
        t[p + "self_attn.q_proj.weight"] = rand(h, h)
        t[p + "self_attn.k_proj.weight"] = rand(kv, h)
        t[p + "self_attn.v_proj.weight"] = rand(kv, h)
        t[p + "self_attn.o_proj.weight"] = rand(h, h)
        t[p + "mlp.gate_proj.weight"] = rand(f, h)
        t[p + "mlp.up_proj.weight"] = rand(f, h)
        t[p + "mlp.down_proj.weight"] = rand(h, f)
    os.makedirs(args.out, exist_ok=True)
    save_file(t, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    config = dict(
        cfg,
        architectures=["LlamaForCausalLM"],
        model_type="llama",
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        torch_dtype={"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[args.dtype],
    )
    with open(os.path.join(args.out, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
    n = sum(x.numel() for x in t.values())
    print(f"{args.out}: {n:,} parameters, {args.dtype}")


if __name__ == "__main__":
    main()
