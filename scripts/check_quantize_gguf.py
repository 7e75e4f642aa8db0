"""Checks `wick quantize` output with llama.cpp's `gguf` Python package.

Writes a small random safetensors model, runs `wick quantize` on it for every `--type`,
reads each GGUF with `gguf.GGUFReader` and checks that
  * every 2-D tensor whose rows are whole blocks has the requested type and the right shape,
    and the other tensors are F32 and bit-identical to the input;
  * `gguf.quants.dequantize` of the blocks is within the format's error bound of the input;
  * for the formats `gguf.quants` can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), the blocks are
    byte-identical to gguf's own quantization of the input.
wick's dequantization equals `gguf.quants.dequantize` for every format (fixture test
`dequantize_matches_gguf_py` in crates/wick/tests/quantized.rs), so the floats wick and gguf
read from the file are the same.

Usage (repository root, after `cargo build --release -p wick-cli`):
    .venv/bin/python scripts/check_quantize_gguf.py [path/to/wick]
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file

FORMATS = {  # --type: (ggml type, relative RMS bound)
    "q4_0": (gguf.GGMLQuantizationType.Q4_0, 0.2),
    "q4_1": (gguf.GGMLQuantizationType.Q4_1, 0.2),
    "q5_0": (gguf.GGMLQuantizationType.Q5_0, 0.1),
    "q5_1": (gguf.GGMLQuantizationType.Q5_1, 0.1),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, 0.01),
    "q2_k": (gguf.GGMLQuantizationType.Q2_K, 0.6),
    "q3_k": (gguf.GGMLQuantizationType.Q3_K, 0.35),
    "q4_k": (gguf.GGMLQuantizationType.Q4_K, 0.2),
    "q5_k": (gguf.GGMLQuantizationType.Q5_K, 0.1),
    "q6_k": (gguf.GGMLQuantizationType.Q6_K, 0.05),
    "iq4_nl": (gguf.GGMLQuantizationType.IQ4_NL, 0.2),
    "iq4_xs": (gguf.GGMLQuantizationType.IQ4_XS, 0.2),
}
GGUF_QUANTIZES = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}


def main() -> int:
    wick = sys.argv[1] if len(sys.argv) > 1 else "target/release/wick"
    rng = np.random.default_rng(7)
    weights = {
        "blk.0.attn_q.weight": (rng.standard_normal((32, 512)) * 0.05).astype(np.float32),
        "blk.0.ffn_up.weight": rng.standard_normal((16, 768)).astype(np.float32),
        "blk.0.attn_norm.weight": (1 + 0.1 * rng.standard_normal(512)).astype(np.float32),
        "odd.weight": rng.standard_normal((3, 100)).astype(np.float32),
    }
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model.safetensors"
        save_file(weights, str(src))
        for name, (qtype, bound) in FORMATS.items():
            out = Path(tmp) / f"{name}.gguf"
            subprocess.run([wick, "quantize", str(src), str(out), "--type", name], check=True, capture_output=True)
            reader = gguf.GGUFReader(str(out))
            tensors = {t.name: t for t in reader.tensors}
            block = gguf.GGML_QUANT_SIZES[qtype][0]
            for tname, x in weights.items():
                t = tensors[tname]
                if x.ndim == 2 and x.shape[1] % block == 0:
                    ok = t.tensor_type == qtype
                    deq = gguf.quants.dequantize(t.data, qtype).reshape(x.shape)
                    err = float(np.sqrt(((deq - x) ** 2).sum() / (x**2).sum()))
                    ok = ok and err < bound
                    same = ""
                    if name in GGUF_QUANTIZES:
                        want = gguf.quants.quantize(x, qtype)
                        exact = np.array_equal(np.asarray(t.data).reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))
                        ok = ok and exact
                        same = f", bytes {'==' if exact else '!='} gguf.quants.quantize"
                    print(f"{name:7} {tname:24} {t.tensor_type.name:6} rel RMS {err:.4f} (< {bound}){same}: {'ok' if ok else 'FAIL'}")
                else:
                    ok = t.tensor_type == gguf.GGMLQuantizationType.F32 and np.array_equal(np.asarray(t.data).reshape(x.shape), x)
                    print(f"{name:7} {tname:24} F32 kept exactly: {'ok' if ok else 'FAIL'}")
                failures += not ok
    print("all ok" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
