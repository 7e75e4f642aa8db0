"""Times a BERT model's forward pass in wick (`wick bench model`) and in PyTorch
(transformers BertModel, torch.inference_mode, same ids, full attention mask, same thread
count), alternating, in the same run, and prints one table: workload, wick ms, torch ms, ratio.

    scripts/get_minilm.sh                         # once: target/models/all-MiniLM-L6-v2
    cargo build --release -p wick-cli
    .venv/bin/python scripts/compare_models.py --threads 2 [--rounds 3] [--runs 10] \
        [--model-dir target/models/all-MiniLM-L6-v2] [--shapes 32x128,1x16]

ratio = PyTorch median / wick median, so > 1 means wick is faster. Each round runs every shape
once in wick (one process per shape, `--runs` timed forwards after a warm-up) and then in
PyTorch; the reported time is the median over rounds of each side's per-round median.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from transformers import BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def ids_for(batch, seq, vocab):
    # The same ids `wick bench model` makes.
    n = batch * seq
    v = max(vocab, 1001)
    return torch.tensor([(i * 7919) % (v - 1000) + 1000 for i in range(n)], dtype=torch.int64).reshape(batch, seq)


def time_torch(model, batch, seq, runs):
    ids = ids_for(batch, seq, model.config.vocab_size)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=os.path.join(ROOT, "target", "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--shapes", default="32x128,1x16", help="comma-separated BATCHxSEQ")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--wick", default=os.path.join(ROOT, "target", "release", "wick"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    env = dict(os.environ, WICK_NUM_THREADS=str(args.threads))
    tdtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    model = BertModel.from_pretrained(args.model_dir, torch_dtype=tdtype, add_pooling_layer=False).eval()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    wick_t, torch_t = {}, {}
    for r in range(args.rounds):
        for b, t in shapes:
            cmd = [args.wick, "bench", "model", "--model", args.model_dir, "--batch", str(b), "--seq", str(t),
                   "--runs", str(args.runs), "--dtype", args.dtype]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            rec = json.loads(out.strip().splitlines()[-1])
            wick_t.setdefault((b, t), []).append(rec["median_ms"])
        for b, t in shapes:
            torch_t.setdefault((b, t), []).append(time_torch(model, b, t, args.runs))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    name = os.path.basename(os.path.normpath(args.model_dir))
    print(f"threads={args.threads}  torch={torch.__version__}  rounds={args.rounds}  runs={args.runs}  dtype={args.dtype}")
    print(f"{'workload':<40} {'wick ms':>10} {'torch ms':>10} {'ratio':>7}")
    for b, t in shapes:
        wv, tv = statistics.median(wick_t[(b, t)]), statistics.median(torch_t[(b, t)])
        print(f"{name + f' forward {b}x{t}':<40} {wv:>10.2f} {tv:>10.2f} {tv / wv:>7.2f}")


if __name__ == "__main__":
    main()
