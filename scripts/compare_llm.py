"""Times a decoder LLM in wick (`wick bench model`) and in PyTorch (transformers
AutoModelForCausalLM, torch.inference_mode, the same prompt ids, greedy decode with the KV
cache, the same thread count), alternating in one run, and prints load, prefill and decode
side by side with ratios.

    .venv/bin/python scripts/make_random_llm.py target/models/tinyllama-random   # once
    cargo build --release -p wick-cli
    .venv/bin/python scripts/compare_llm.py --model-dir target/models/tinyllama-random \
        [--dtype f32|bf16] [--threads 2] [--rounds 2] [--seq 128] [--decode-tokens 32]

Each side runs in its own process (so peak RSS is its own): load the model, one warm-up
prefill, `--runs` timed prefills of `--seq` tokens, then `--decode-tokens` greedy steps. Prefill
is the median over runs, decode the median step; each figure is then the median over rounds.
ratio = wick speed / PyTorch speed (> 1: wick is faster). `ceiling` is the decode rate the
weight bytes allow at --bandwidth GB/s (measured read bandwidth).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def torch_worker(args):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=dtype)
    model.eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    vocab = model.config.vocab_size
    ids = torch.tensor([[(i * 7919) % vocab for i in range(args.seq)]], dtype=torch.int64)
    with torch.inference_mode():
        model(input_ids=ids[:, :1], use_cache=True)
        first_token_ms = (time.perf_counter() - t0) * 1e3
        model(input_ids=ids, use_cache=True)
        prefill = []
        out = None
        for _ in range(args.runs):
            t = time.perf_counter()
            out = model(input_ids=ids, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            prefill.append((time.perf_counter() - t) * 1e3)
        past = out.past_key_values
        decode = []
        for _ in range(args.decode_tokens):
            t = time.perf_counter()
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            decode.append((time.perf_counter() - t) * 1e3)
    pm, dm = statistics.median(prefill), statistics.median(decode)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "load_ms": load_ms, "first_token_ms": first_token_ms, "prefill_ms": pm,
        "prefill_tok_s": args.seq / pm * 1e3, "decode_ms": dm, "decode_tok_s": 1e3 / dm,
        "peak_rss_mib": peak,
    }))


def run_wick(args):
    cmd = [args.wick, "bench", "model", "--model", args.model_dir, "--seq", str(args.seq),
           "--decode-tokens", str(args.decode_tokens), "--runs", str(args.runs), "--dtype", args.dtype]
    env = dict(os.environ, WICK_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_torch(args):
    cmd = [sys.executable, __file__, "--worker", "--model-dir", args.model_dir, "--seq", str(args.seq),
           "--decode-tokens", str(args.decode_tokens), "--runs", str(args.runs), "--dtype", args.dtype,
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=os.path.join(ROOT, "target", "models", "tinyllama-random"))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--bandwidth", type=float, default=49.6, help="read bandwidth in GB/s")
    ap.add_argument("--wick", default=os.path.join(ROOT, "target", "release", "wick"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)

    # Warm the page cache so both sides load from memory.
    for name in os.listdir(args.model_dir):
        if name.endswith(".safetensors"):
            with open(os.path.join(args.model_dir, name), "rb") as f:
                while f.read(1 << 26):
                    pass
    wick_runs, torch_runs = [], []
    for r in range(args.rounds):
        wick_runs.append(run_wick(args))
        torch_runs.append(run_torch(args))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def med(runs, key):
        return statistics.median(x[key] for x in runs)

    weight_bytes = wick_runs[0]["weight_bytes"]
    print(f"model={args.model_dir} dtype={args.dtype} threads={args.threads} rounds={args.rounds} "
          f"seq={args.seq} decode_tokens={args.decode_tokens}")
    print(f"{'metric':<26}{'wick':>12}{'torch':>12}{'ratio':>8}")
    for key, better in [("prefill_tok_s", "higher"), ("decode_tok_s", "higher"), ("load_ms", "lower"),
                        ("first_token_ms", "lower"), ("peak_rss_mib", "lower")]:
        w, t = med(wick_runs, key), med(torch_runs, key)
        ratio = w / t if better == "higher" else t / w
        print(f"{key:<26}{w:>12.1f}{t:>12.1f}{ratio:>8.2f}")
    ceiling = args.bandwidth * 1e9 / weight_bytes
    print(f"decode ceiling at {args.bandwidth} GB/s: {ceiling:.1f} tok/s; wick reaches "
          f"{med(wick_runs, 'decode_tok_s') / ceiling:.0%}; peak RSS / weight bytes: "
          f"wick {med(wick_runs, 'peak_rss_mib') * 1048576 / weight_bytes:.2f}, "
          f"torch {med(torch_runs, 'peak_rss_mib') * 1048576 / weight_bytes:.2f}")


if __name__ == "__main__":
    main()
