"""Writes the safetensors fixtures and corrupt corpus used by crates/wick/tests/files_safetensors.rs.

Run: .venv/bin/python scripts/gen_safetensors_fixtures.py   (needs numpy, torch, safetensors)
"""
import json
import os
import struct

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "crates", "wick", "tests")
FIX = os.path.join(ROOT, "fixtures", "safetensors")
BAD = os.path.join(ROOT, "corrupt", "safetensors")
os.makedirs(FIX, exist_ok=True)
os.makedirs(BAD, exist_ok=True)

g = torch.Generator().manual_seed(0)
tensors = {
    "f32": torch.randn(3, 4, generator=g),
    "f64": torch.randn(2, 3, generator=g, dtype=torch.float64),
    "f16": torch.randn(5, generator=g).half(),
    "bf16": torch.randn(2, 2, generator=g).bfloat16(),
    "i64": torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
    "i32": torch.tensor([-7, 0, 2**31 - 1], dtype=torch.int32),
    "i16": torch.tensor([-300, 7], dtype=torch.int16),
    "i8": torch.tensor([-128, 127, 0], dtype=torch.int8),
    "u8": torch.tensor([0, 255, 9], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 3),
}
save_file(tensors, os.path.join(FIX, "all_dtypes.safetensors"), metadata={"format": "pt", "note": "wick fixture"})

expected = {}
for k, v in tensors.items():
    wide = v.to(torch.float64) if v.dtype != torch.bool else v.to(torch.float64)
    expected[k] = {"shape": list(v.shape), "values": wide.flatten().tolist()}
with open(os.path.join(FIX, "all_dtypes.json"), "w") as f:
    json.dump(expected, f)

# A model split over two shards with an index, as Hugging Face writes it.
shard_dir = os.path.join(FIX, "sharded")
os.makedirs(shard_dir, exist_ok=True)
a = {"embed.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4)}
b = {"layer.0.weight": torch.ones(2, 2), "layer.0.bias": torch.tensor([1.0, -1.0])}
save_file(a, os.path.join(shard_dir, "model-00001-of-00002.safetensors"))
save_file(b, os.path.join(shard_dir, "model-00002-of-00002.safetensors"))
index = {"metadata": {"total_size": 64}, "weight_map": {}}
for k in a:
    index["weight_map"][k] = "model-00001-of-00002.safetensors"
for k in b:
    index["weight_map"][k] = "model-00002-of-00002.safetensors"
with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
    json.dump(index, f, indent=1)


def raw(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def write_bad(name, content):
    with open(os.path.join(BAD, name), "wb") as f:
        f.write(content)


good = open(os.path.join(FIX, "all_dtypes.safetensors"), "rb").read()
write_bad("truncated_data.safetensors", good[:-7])
write_bad("too_short.safetensors", b"\x05\x00\x00")
write_bad("header_past_eof.safetensors", struct.pack("<Q", 10_000) + b"{}")
write_bad("header_huge.safetensors", struct.pack("<Q", 2**62) + b"{}")
write_bad("bad_json.safetensors", struct.pack("<Q", 5) + b"{\"a\":")
write_bad("offsets_out_of_bounds.safetensors",
          raw({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}, b"\0" * 16))
write_bad("size_mismatch.safetensors",
          raw({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16))
write_bad("overlapping.safetensors",
          raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12))
write_bad("shape_overflow.safetensors",
          raw({"w": {"dtype": "F32", "shape": [2**32, 2**32, 2**8], "data_offsets": [0, 0]}}))
write_bad("unsupported_dtype.safetensors",
          raw({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8))
print("wrote", FIX, BAD)
