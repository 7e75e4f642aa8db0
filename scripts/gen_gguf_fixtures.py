#!/usr/bin/env python3
"""Generate the GGUF fixtures and the corrupt-GGUF corpus for wick.

Regenerate (from the repository root):

    python -m venv .venv && .venv/bin/pip install gguf numpy
    .venv/bin/python scripts/gen_gguf_fixtures.py

Writes
------
* crates/wick/tests/fixtures/gguf/*.gguf, written by llama.cpp's own `gguf` package
  (GGUFWriter; quantized blocks from `gguf.quants`), and `expected.json`: for every file its
  version, alignment, data offset, metadata in file order and tensors (ggml type, row-major
  shape, absolute data offset as reported by `gguf.GGUFReader`, the raw data bytes in hex and,
  for dense types, the values). Checked by crates/wick/tests/files_gguf.rs
  (`cargo test --release -p wick --test files_gguf`).
* crates/wick/tests/corrupt/gguf/*.gguf: hand-built malformed files (one defect each, built
  with `struct`, since GGUFWriter refuses to write them). files_gguf.rs asserts that each one
  is refused with its own error.

JSON encoding of a metadata value: {"type": <gguf type name>, "value": <v>} where <v> is a
number, bool or string for scalars; for arrays {"type": "array", "elem": <elem type>,
"value": [<encoded element>, ...]} with each element encoded the same way. Floats (f32 and f64
metadata, dense tensor values) are strings: Python's shortest round-trip repr of the exact
double (of the f32, for f32), so that a correct parser reads back the exact value.

Deterministic: fixed seeds, fixed key and tensor order; regenerating without changing this
script gives byte-identical files. Total size is kept small (well under 300 KB).
"""

import json
import os
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as VT

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "crates", "wick", "tests", "fixtures", "gguf")
BAD = os.path.join(ROOT, "crates", "wick", "tests", "corrupt", "gguf")

TYPE_NAMES = {
    VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
    VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string",
    VT.ARRAY: "array", VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64",
}


def enc(vtype, value, sub=None):
    """JSON encoding of a metadata value (see the module docstring)."""
    if vtype == VT.ARRAY:
        if sub is None:
            sub = VT.ARRAY if isinstance(value[0], list) else VT.get_type(value[0])
        return {"type": "array", "elem": TYPE_NAMES[sub], "value": [enc(sub, v) for v in value]}
    if vtype == VT.FLOAT32:
        value = repr(float(np.float32(value)))
    elif vtype == VT.FLOAT64:
        value = repr(float(value))
    return {"type": TYPE_NAMES[vtype], "value": value}


class Fixture:
    """A GGUFWriter plus the expected values of what it writes."""

    def __init__(self, name, arch="wick-test"):
        self.name = name
        self.path = os.path.join(FIX, name)
        self.w = gguf.GGUFWriter(self.path, arch)
        self.meta = [["general.architecture", enc(VT.STRING, arch)]]
        self.tensors = []

    def kv(self, key, vtype, value, sub=None):
        self.w.add_key_value(key, value, vtype, sub_type=sub)
        self.meta.append([key, enc(vtype, value, sub)])

    def dense(self, name, arr, raw=None):
        """A dense tensor; `raw` = (ggml type, uint8 bytes) for BF16."""
        if raw is None:
            self.w.add_tensor(name, arr)
            data = arr.tobytes()
            gtype = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.float64): "F64",
                     np.dtype(np.int8): "I8", np.dtype(np.int16): "I16", np.dtype(np.int32): "I32",
                     np.dtype(np.int64): "I64"}[arr.dtype]
        else:
            qtype, data_arr = raw
            self.w.add_tensor(name, data_arr, raw_dtype=qtype)
            data = data_arr.tobytes()
            gtype = qtype.name
        if arr.dtype.kind == "f":
            values = [repr(float(x)) for x in arr.astype(np.float64).ravel()]
        else:
            values = arr.ravel().tolist()
        self.tensors.append({"name": name, "type": gtype, "shape": list(arr.shape), "hex": data.hex(),
                             "values": values})

    def quant(self, name, qtype, shape, rng, from_float=True):
        """Blocks quantized by gguf.quants from random floats, or random bytes of the right size."""
        if from_float:
            blocks = gguf.quants.quantize(rng.standard_normal(shape).astype(np.float32), qtype)
        else:
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, qtype)
            # Random bytes are fine: the test compares the blocks, it does not decode them.
            blocks = rng.integers(0, 256, size=byte_shape, dtype=np.uint8)
        self.w.add_tensor(name, blocks, raw_dtype=qtype)
        self.tensors.append({"name": name, "type": qtype.name, "shape": list(shape), "hex": blocks.tobytes().hex()})

    def finish(self, expected, alignment=32, version=3):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()
        if version != 3:
            # v2 and v3 are the same layout (v3 only added big-endian files): patch the field.
            with open(self.path, "r+b") as f:
                f.seek(4)
                f.write(struct.pack("<I", version))
        r = gguf.GGUFReader(self.path)
        offsets = {t.name: int(t.data_offset) for t in r.tensors}
        for t in self.tensors:
            t["offset"] = offsets[t["name"]]
        expected[self.name] = {"version": version, "alignment": alignment, "data_offset": int(r.data_offset),
                               "metadata": self.meta, "tensors": self.tensors}


def gen_fixtures():
    os.makedirs(FIX, exist_ok=True)
    expected = {}
    rng = np.random.default_rng(0)

    # Every metadata value type, and the dense tensor types.
    f = Fixture("values.gguf")
    f.kv("test.u8", VT.UINT8, 200)
    f.kv("test.i8", VT.INT8, -100)
    f.kv("test.u16", VT.UINT16, 60000)
    f.kv("test.i16", VT.INT16, -30000)
    f.kv("test.u32", VT.UINT32, 4000000000)
    f.kv("test.i32", VT.INT32, -2000000000)
    f.kv("test.u64", VT.UINT64, 18446744073709551615)
    f.kv("test.i64", VT.INT64, -9223372036854775808)
    f.kv("test.f32", VT.FLOAT32, 0.1)
    f.kv("test.f64", VT.FLOAT64, -1.0e300)
    f.kv("test.bool_true", VT.BOOL, True)
    f.kv("test.bool_false", VT.BOOL, False)
    f.kv("test.string", VT.STRING, "héllo, wörld ✓")
    f.kv("test.string_empty", VT.STRING, "")
    f.kv("test.arr_u8", VT.ARRAY, [0, 1, 255], VT.UINT8)
    f.kv("test.arr_i8", VT.ARRAY, [-128, 0, 127], VT.INT8)
    f.kv("test.arr_u16", VT.ARRAY, [0, 65535], VT.UINT16)
    f.kv("test.arr_i16", VT.ARRAY, [-32768, 32767], VT.INT16)
    f.kv("test.arr_u32", VT.ARRAY, [1, 2, 4294967295], VT.UINT32)
    f.kv("test.arr_i32", VT.ARRAY, [-1, 0, 2147483647], VT.INT32)
    f.kv("test.arr_u64", VT.ARRAY, [0, 18446744073709551615], VT.UINT64)
    f.kv("test.arr_i64", VT.ARRAY, [-9223372036854775808, 9223372036854775807], VT.INT64)
    f.kv("test.arr_f32", VT.ARRAY, [0.5, -1.25, 3.4e38], VT.FLOAT32)
    f.kv("test.arr_f64", VT.ARRAY, [0.1, -2.5e-300], VT.FLOAT64)
    f.kv("test.arr_bool", VT.ARRAY, [True, False, True], VT.BOOL)
    f.kv("tokenizer.ggml.tokens", VT.ARRAY, ["<s>", "</s>", "", "▁the", "日本"], VT.STRING)
    f.kv("test.arr_nested_i32", VT.ARRAY, [[1, 2], [3], [4, 5, 6]], VT.ARRAY)
    f.kv("test.arr_nested_str", VT.ARRAY, [["a", "bc"], ["d"]], VT.ARRAY)
    f.dense("f32_2x3", rng.standard_normal((2, 3)).astype(np.float32))
    f.dense("f16_3x4", rng.standard_normal((3, 4)).astype(np.float16))
    bf = rng.standard_normal((2, 5)).astype(np.float32)
    bf_bytes = gguf.quants.quantize(bf, Q.BF16)
    bf_vals = (bf_bytes.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(bf.shape)
    f.dense("bf16_2x5", bf_vals, raw=(Q.BF16, bf_bytes))
    f.dense("f64_4", rng.standard_normal(4))
    f.dense("f32_2x1x3", rng.standard_normal((2, 1, 3)).astype(np.float32))
    f.dense("i8_5", np.array([-128, -1, 0, 1, 127], dtype=np.int8))
    f.dense("i16_3", np.array([-32768, 7, 32767], dtype=np.int16))
    f.dense("i32_2x2", np.array([[-2147483648, 1], [2, 2147483647]], dtype=np.int32))
    f.dense("i64_3", np.array([-(2 ** 63), 0, 2 ** 63 - 1], dtype=np.int64))
    f.finish(expected)

    # Quantized tensors: Q8_0 / Q4_0 (and the other legacy quants) quantized by gguf.quants;
    # K-quants and IQ4 as random blocks (gguf-py cannot quantize them).
    f = Fixture("quantized.gguf")
    f.kv("general.quantization_version", VT.UINT32, 2)
    f.quant("q8_0", Q.Q8_0, (2, 64), rng)
    f.quant("q4_0", Q.Q4_0, (3, 32), rng)
    f.quant("q4_1", Q.Q4_1, (1, 32), rng)
    f.quant("q5_0", Q.Q5_0, (1, 32), rng)
    f.quant("q5_1", Q.Q5_1, (2, 1, 32), rng)
    for qt in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K, Q.IQ4_XS):
        f.quant(qt.name.lower(), qt, (1, 256), rng, from_float=False)
    f.quant("iq4_nl", Q.IQ4_NL, (2, 32), rng, from_float=False)
    f.dense("norm", rng.standard_normal(32).astype(np.float32))
    f.finish(expected)

    # general.alignment = 64, tensor sizes that need padding.
    f = Fixture("aligned64.gguf")
    f.w.add_custom_alignment(64)
    f.meta.append(["general.alignment", enc(VT.UINT32, 64)])
    f.dense("a", rng.standard_normal(3).astype(np.float32))
    f.dense("b", rng.standard_normal((5, 5)).astype(np.float32))
    f.dense("c", rng.standard_normal(7).astype(np.float16))
    f.finish(expected, alignment=64)

    # Version 2.
    f = Fixture("v2.gguf")
    f.kv("test.name", VT.STRING, "version two")
    f.dense("x", np.arange(6, dtype=np.float32).reshape(2, 3))
    f.finish(expected, version=2)

    # Metadata only, no tensors.
    f = Fixture("no_tensors.gguf")
    f.kv("test.count", VT.UINT64, 0)
    f.finish(expected)

    with open(os.path.join(FIX, "expected.json"), "w") as out:
        json.dump(expected, out, indent=1, sort_keys=True, ensure_ascii=False)
        out.write("\n")


# ---------------------------------------------------------------------------------------------
# Corrupt corpus: a minimal raw GGUF builder.

def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def kv_u32(key, x):
    return gstr(key) + u32(VT.UINT32) + u32(x)


def tinfo(name, dims_inner_first, gtype, offset, n_dims=None):
    n = len(dims_inner_first) if n_dims is None else n_dims
    return gstr(name) + u32(n) + b"".join(u64(d) for d in dims_inner_first) + u32(gtype) + u64(offset)


def build(kvs=(), infos=(), data=b"", version=3, n_tensors=None, n_kv=None, magic=b"GGUF", align=32,
          version_bytes=None):
    head = magic + (version_bytes if version_bytes is not None else u32(version))
    head += u64(len(infos) if n_tensors is None else n_tensors) + u64(len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    return head + data


def gen_corrupt():
    os.makedirs(BAD, exist_ok=True)
    for old in os.listdir(BAD):
        if old.endswith(".gguf"):
            os.remove(os.path.join(BAD, old))
    arch = gstr("general.architecture") + u32(VT.STRING) + gstr("bad")
    f32x4 = tinfo("w", [4], Q.F32, 0)
    data16 = struct.pack("<4f", 1, 2, 3, 4)
    valid = build([arch], [f32x4], data16)
    cases = {
        "bad_magic": b"GGML" + valid[4:],
        "version_1": build([arch], [f32x4], data16, version=1),
        "version_99": build([arch], [f32x4], data16, version=99),
        "big_endian": build([arch], [f32x4], data16, version_bytes=struct.pack(">I", 3)),
        "truncated_header": valid[:12],
        "empty": b"",
        "string_past_eof": b"GGUF" + u32(3) + u64(0) + u64(1) + u64(1000) + b"general.",
        "string_over_limit": b"GGUF" + u32(3) + u64(0) + u64(1) + u64(1 << 40) + b"x" * 32,
        "huge_array_count": build([gstr("test.arr") + u32(VT.ARRAY) + u32(VT.UINT32) + u64(1 << 60) + u32(7)]),
        "tensor_count_2p60": build([arch], [f32x4], data16, n_tensors=1 << 60),
        "kv_count_huge": build([arch], [f32x4], data16, n_kv=1 << 40),
        "dims_overflow": build([arch], [tinfo("w", [1 << 40, 1 << 40], Q.F32, 0)], data16),
        "offset_past_eof": build([arch], [tinfo("w", [4], Q.F32, 1024)], data16),
        "size_past_eof": build([arch], [tinfo("w", [64], Q.F32, 0)], data16),
        "overlapping": build([arch], [tinfo("a", [16], Q.F32, 0), tinfo("b", [8], Q.F32, 32)], b"\0" * 64),
        "misaligned_offset": build([arch], [tinfo("w", [4], Q.F32, 4)], data16 + b"\0" * 16),
        "alignment_0": build([arch, kv_u32("general.alignment", 0)], [f32x4], data16),
        "alignment_3": build([arch, kv_u32("general.alignment", 3)], [f32x4], data16),
        "alignment_u64": build([arch, gstr("general.alignment") + u32(VT.UINT64) + u64(32)], [f32x4], data16),
        "unknown_ggml_type": build([arch], [tinfo("w", [4], 99, 0)], data16),
        "unsupported_iq2_xxs": build([arch], [tinfo("w", [256], Q.IQ2_XXS, 0)], b"\0" * 66),
        "removed_q4_0_4_4": build([arch], [tinfo("w", [32], 31, 0)], b"\0" * 18),
        "row_not_block_multiple": build([arch], [tinfo("q", [33, 2], Q.Q8_0, 0)], b"\0" * 136),
        "duplicate_tensor_name": build([arch], [tinfo("w", [4], Q.F32, 0), tinfo("w", [4], Q.F32, 32)],
                                       data16 + b"\0" * 16 + data16),
        "duplicate_key": build([arch, arch], [f32x4], data16),
        "too_many_dims": build([arch], [tinfo("w", [1] * 9, Q.F32, 0)], data16),
        "bad_bool": build([gstr("test.flag") + u32(VT.BOOL) + b"\x02"]),
        "unknown_value_type": build([gstr("test.x") + u32(13) + u32(0)]),
        "deep_nesting": build(
            [gstr("test.deep") + u32(VT.ARRAY) + (u32(VT.ARRAY) + u64(1)) * 20 + u32(VT.UINT8) + u64(0)]
        ),
        "key_not_utf8": build([gstr(b"test.\xff") + u32(VT.UINT8) + b"\x01"]),
    }
    for name, data in cases.items():
        with open(os.path.join(BAD, name + ".gguf"), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    gen_fixtures()
    gen_corrupt()
    total = sum(os.path.getsize(os.path.join(d, n)) for d in (FIX, BAD) for n in os.listdir(d))
    print(f"wrote {FIX} and {BAD}: {total} bytes")
