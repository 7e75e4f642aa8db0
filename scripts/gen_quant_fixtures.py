#!/usr/bin/env python3
"""Fixtures for wick's quantized module: block bytes and floats from the `gguf` package.

Writes crates/wick/tests/fixtures/quant/<TYPE>.safetensors, each holding
  - `x`  (F32, rows x 256): the input floats            (formats gguf can quantize)
  - `q`  (U8, rows x bytes): gguf.quants.quantize(x)     (formats gguf can quantize)
         or seeded random blocks with sane f16 scales    (formats it only dequantizes)
  - `dq` (F32, rows x 256): gguf.quants.dequantize(q)

Deterministic (numpy seed per type). Run with the venv that has gguf and numpy:
    python scripts/gen_quant_fixtures.py
"""
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "crates/wick/tests/fixtures/quant"
COLS = 256

# Byte offsets of the f16 scale fields inside one block, per dequantize-only format.
F16_FIELDS = {
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ4_NL: [0],
    T.IQ4_XS: [0],
}
QUANTIZABLE = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]


def inputs(rng: np.random.Generator) -> np.ndarray:
    """Rows that exercise the rounding: normal data at several scales, zeros, constants,
    outliers, exact halves and integers (rounding ties), one-sided rows, tiny values whose
    f16 scale is subnormal, and values large enough for the f16 scale to near overflow."""
    rows = [
        rng.standard_normal(COLS),
        rng.standard_normal(COLS) * 1e-3,
        rng.standard_normal(COLS) * 1e3,
        np.zeros(COLS),
        np.full(COLS, 0.75),
        np.where(np.arange(COLS) % 37 == 0, 50.0, rng.standard_normal(COLS)),
        np.round(rng.standard_normal(COLS) * 16) / 2,  # halves: ties after scaling
        np.arange(COLS) - 128.0,
        np.abs(rng.standard_normal(COLS)) + 3.0,  # all positive, min far from 0
        -np.abs(rng.standard_normal(COLS)),
        rng.standard_normal(COLS) * 1e-6,  # subnormal f16 scales
        rng.standard_normal(COLS) * 3e4,  # scales near the f16 maximum
        rng.uniform(-1, 1, COLS) ** 3,
        np.tile([1.0, -1.0, 0.0, 0.5], COLS // 4) * 7.0,
    ]
    return np.stack(rows).astype(np.float32)


def random_blocks(rng: np.random.Generator, qtype: T, rows: int) -> np.ndarray:
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    nblocks = COLS // block_size
    q = rng.integers(0, 256, size=(rows, nblocks, type_size), dtype=np.uint8)
    for r in range(rows):
        scale = [1.0, 1e-3, 100.0, 0.0, 6e4, 1e-6][r % 6]
        for off in F16_FIELDS[qtype]:
            vals = (rng.standard_normal(nblocks) * scale).astype(np.float16)
            q[r, :, off:off + 2] = vals.view(np.uint8).reshape(nblocks, 2)
    return q.reshape(rows, nblocks * type_size)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for i, qtype in enumerate(QUANTIZABLE):
        rng = np.random.default_rng(1000 + i)
        x = inputs(rng)
        q = quants.quantize(x, qtype)
        dq = quants.dequantize(q, qtype).astype(np.float32)
        save_file({"x": x, "q": np.ascontiguousarray(q), "dq": dq}, str(OUT / f"{qtype.name}.safetensors"))
    for i, qtype in enumerate(F16_FIELDS):
        rng = np.random.default_rng(2000 + i)
        q = random_blocks(rng, qtype, 12)
        dq = quants.dequantize(q, qtype).astype(np.float32)
        save_file({"q": q, "dq": dq}, str(OUT / f"{qtype.name}.safetensors"))
    print(f"wrote {len(QUANTIZABLE) + len(F16_FIELDS)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
