"""Runs wick's op benchmarks and the same workloads in PyTorch, alternating, on the same
machine in the same run, and prints one table: workload, wick, PyTorch, ratio.

    scripts/setup_reference.sh                      # once: .venv with torch + numpy
    cargo build --release -p wick-cli
    .venv/bin/python scripts/compare.py [--threads 2] [--rounds 3] [--filter matmul]

ratio = PyTorch median time / wick median time, so > 1 means wick is faster. Each round runs
all wick workloads (one `wick bench ops --json` process) and then all PyTorch workloads; the
reported time is the median over rounds of each side's per-round median.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def torch_workloads():
    g = torch.Generator().manual_seed(0)

    def randn(*shape, dtype=torch.float32):
        return torch.randn(*shape, generator=g).to(dtype)

    w = {}
    for dt, tag in [(torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        for n in [256, 512, 1024, 2048]:
            a, b = randn(n, n, dtype=dt), randn(n, n, dtype=dt)
            w[f"matmul_{tag}_{n}"] = (lambda a=a, b=b: a @ b)
        for m in [1, 128]:
            a, b = randn(m, 4096, dtype=dt), randn(4096, 4096, dtype=dt)
            w[f"matmul_{tag}_{m}x4096x4096"] = (lambda a=a, b=b: a @ b)
        for m in (1, 128):
            x, wt = randn(m, 2048, dtype=dt), randn(5632, 2048, dtype=dt)
            w[f"linear_{tag}_{m}x2048x5632"] = (lambda x=x, wt=wt: torch.nn.functional.linear(x, wt))
        x, wt = randn(1, 2048, dtype=dt), randn(32000, 2048, dtype=dt)
        w[f"linear_{tag}_1x2048x32000"] = (lambda x=x, wt=wt: torch.nn.functional.linear(x, wt))
        q, k = randn(12, 128, 64, dtype=dt), randn(12, 64, 128, dtype=dt)
        w[f"bmm_{tag}_12x128x64x128"] = (lambda q=q, k=k: q @ k)
    for m, k, n in [(16, 384, 1536), (16, 1536, 384), (4096, 384, 1536), (4096, 1536, 384)]:
        x, wt = randn(m, k), randn(n, k)
        w[f"linear_f32_{m}x{k}x{n}"] = (lambda x=x, wt=wt: torch.nn.functional.linear(x, wt))
    q, k = randn(384, 128, 32), randn(384, 128, 32)
    w["bmm_f32_384x128x32x128_nt"] = (lambda q=q, k=k: q @ k.transpose(1, 2))
    a, b, row = randn(2048, 2048), randn(2048, 2048), randn(2048)
    w["add_f32_4M"] = lambda: a + b
    w["add_f32_4M_broadcast_row"] = lambda: a + row
    w["exp_f32_4M"] = lambda: torch.exp(a)
    w["gelu_f32_4M"] = lambda: F.gelu(a, approximate="tanh")
    w["silu_f32_4M"] = lambda: F.silu(a)
    x = randn(32, 128, 768)
    w["softmax_f32_32x128x768"] = lambda: torch.softmax(x, -1)
    logits = randn(1, 32000)
    w["softmax_f32_1x32000"] = lambda: torch.softmax(logits, -1)
    lw, lb = randn(768), randn(768)
    w["layer_norm_f32_32x128x768"] = lambda: F.layer_norm(x, (768,), lw, lb, 1e-5)
    w["rms_norm_f32_32x128x768"] = lambda: F.rms_norm(x, (768,), lw, 1e-5)
    w["sum_f32_4M_lastdim"] = lambda: a.sum(-1, keepdim=True)
    w["max_f32_4M_lastdim"] = lambda: a.max(-1, keepdim=True).values
    w["sum_f32_4M_all"] = lambda: a.sum()
    img, ker = randn(1, 64, 56, 56), randn(64, 64, 3, 3)
    w["conv2d_f32_1x64x56x56_k3"] = lambda: F.conv2d(img, ker, padding=1)
    table = randn(32000, 768)
    ids = torch.tensor([(i * 7919) % 32000 for i in range(4096)])
    w["embedding_f32_32000x768_4096ids"] = lambda: F.embedding(ids, table)
    c1, c2 = randn(2048, 1024), randn(2048, 1024)
    w["cat_f32_2x2048x1024_dim1"] = lambda: torch.cat([c1, c2], 1)
    w["transpose_contiguous_f32_2048"] = lambda: a.t().contiguous()
    w["to_bf16_f32_4M"] = lambda: a.to(torch.bfloat16)
    hb = a.to(torch.bfloat16)
    w["to_f32_bf16_4M"] = lambda: hb.to(torch.float32)
    big = randn(64 * 1024 * 1024 // 4)
    w["copy_f32_64MiB"] = lambda: big.clone()
    t1, t2 = randn(64), randn(64)
    w["tiny_add_f32_64"] = lambda: t1 + t2
    return w


def time_torch(fn, budget_s, min_reps=10):
    for _ in range(2):
        fn()
    times = []
    start = time.perf_counter()
    # At least `min_reps` calls, but a workload PyTorch runs slowly (f16/bf16 GEMMs on CPUs
    # without native half arithmetic take seconds per call) stops after 3 once it has used
    # ten budgets, so one such row cannot stall the whole table.
    while True:
        elapsed = time.perf_counter() - start
        enough = len(times) >= min_reps or (len(times) >= 3 and elapsed > 10 * budget_s)
        if enough and (elapsed >= budget_s or len(times) >= 10000):
            break
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--filter", default=None)
    ap.add_argument("--budget-ms", type=int, default=500)
    ap.add_argument("--wick", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "wick"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    env = dict(os.environ, WICK_NUM_THREADS=str(args.threads))
    workloads = torch_workloads()
    wick_t, torch_t = {}, {}
    for r in range(args.rounds):
        cmd = [args.wick, "bench", "ops", "--json", "--budget-ms", str(args.budget_ms)]
        if args.filter:
            cmd += ["--filter", args.filter]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            rec = json.loads(line)
            wick_t.setdefault(rec["name"], []).append(rec["median_us"])
        with torch.inference_mode():
            for name, fn in workloads.items():
                if args.filter and args.filter not in name:
                    continue
                torch_t.setdefault(name, []).append(time_torch(fn, args.budget_ms / 1000) * 1e6)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    names = sorted(set(wick_t) | set(torch_t), key=lambda n: (n not in wick_t, n))
    print(f"threads={args.threads}  torch={torch.__version__}  rounds={args.rounds}")
    print(f"{'workload':<34} {'wick µs':>11} {'torch µs':>11} {'ratio':>7}")
    for n in names:
        wv = statistics.median(wick_t[n]) if n in wick_t else float("nan")
        tv = statistics.median(torch_t[n]) if n in torch_t else float("nan")
        ratio = tv / wv if n in wick_t and n in torch_t else float("nan")
        print(f"{n:<34} {wv:>11.1f} {tv:>11.1f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
