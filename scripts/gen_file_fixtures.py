#!/usr/bin/env python3
"""Generate the NumPy (.npy / .npz) and PyTorch (.pth) file fixtures for wick.

Run from the repository root (needs numpy and torch):

    /work/venv/bin/python scripts/gen_file_fixtures.py

Writes:

* crates/wick/tests/fixtures/files/{npy,npz,pth}/...  valid files written by numpy.save,
  numpy.savez(_compressed) and torch.save (plus a few rewritten by hand: another top folder
  name, big-endian byte order);
* crates/wick/tests/fixtures/files/expected.json  for every file, the tensors wick must read,
  in order: name, wick dtype, shape and the exact little-endian bytes (hex) of the values
  after wick's documented conversions (bool -> u8, int8/16/32 -> i64, uint16 -> u32,
  uint64 -> i64), so the Rust test compares bit for bit;
* crates/wick/tests/corrupt/{npy,npz,pth,pickle}/...  malformed and hostile files, and
  crates/wick/tests/corrupt/npy_npz_pth.json  mapping each to a distinctive substring of the
  error wick must give. The hostile pickles (os.system, builtins.eval, ...) are assembled
  byte by byte below; this script never unpickles anything.

Both tests live in crates/wick/tests/files_npy_pth.rs; crates/wick/tests/mutation_npy_pth.rs
mutates the valid fixtures. torch.save embeds a random serialization id, so regenerated .pth
files differ byte-wise from the committed ones while holding the same tensors.
"""

import io
import json
import os
import shutil
import struct
import tarfile
import zipfile

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "wick", "tests")
FIX = os.path.join(ROOT, "fixtures", "files")
BAD = os.path.join(ROOT, "corrupt")

expected = {}
corrupt = {}


def out(path):
    full = os.path.join(FIX, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def bad(path, data, msg):
    full = os.path.join(BAD, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    corrupt[path] = msg


# ---------------------------------------------------------------------------------------------
# Expected values: wick's dtype and exact little-endian bytes.

NP_TARGET = {
    "b": ("u8", "u1"),
    "u1": ("u8", "u1"),
    "i1": ("i64", "<i8"),
    "i2": ("i64", "<i8"),
    "i4": ("i64", "<i8"),
    "i8": ("i64", "<i8"),
    "u2": ("u32", "<u4"),
    "u4": ("u32", "<u4"),
    "u8": ("i64", "<i8"),
    "f2": ("f16", "<f2"),
    "f4": ("f32", "<f4"),
    "f8": ("f64", "<f8"),
}


def np_entry(name, a):
    key = "b" if a.dtype.kind == "b" else a.dtype.kind + str(a.dtype.itemsize)
    wick, target = NP_TARGET[key]
    data = np.ascontiguousarray(a.astype(target)).tobytes()
    return {"name": name, "dtype": wick, "shape": list(a.shape), "hex": data.hex()}


TORCH_TARGET = {
    torch.float64: "f64",
    torch.float32: "f32",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i64",
    torch.int16: "i64",
    torch.int8: "i64",
    torch.uint8: "u8",
    torch.bool: "u8",
    torch.uint16: "u32",
    torch.uint32: "u32",
    torch.uint64: "i64",
}


def torch_entry(name, t):
    t = t.detach().contiguous()
    wick = TORCH_TARGET[t.dtype]
    if t.dtype == torch.bfloat16:
        data = t.view(torch.int16).numpy().astype("<i2").tobytes()
    elif t.dtype in (torch.float16, torch.float32, torch.float64):
        data = t.numpy().astype("<" + t.numpy().dtype.str[1:]).tobytes()
    elif wick == "u8":
        data = t.to(torch.uint8).numpy().tobytes()
    elif wick == "u32":
        data = t.to(torch.int64).numpy().astype("<u4").tobytes()
    else:
        data = t.to(torch.int64).numpy().astype("<i8").tobytes()
    return {"name": name, "dtype": wick, "shape": list(t.shape), "hex": data.hex()}


def flatten(obj, prefix, acc):
    """The names wick gives: dicts joined with '.', lists/tuples by index, non-tensors dropped."""
    join = (lambda k: k) if prefix == "" else (lambda k: prefix + "." + k)
    if isinstance(obj, torch.Tensor):
        acc.append((prefix, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                continue
            flatten(v, join(str(k)), acc)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, join(str(i)), acc)
    return acc


# ---------------------------------------------------------------------------------------------
# .npy


def gen_npy():
    f4 = (np.arange(24, dtype=np.float32) * 0.5 - 3).reshape(2, 3, 4)
    f4[0, 0, 0], f4[0, 0, 1], f4[0, 0, 2], f4[0, 0, 3] = np.inf, -np.inf, np.nan, -0.0
    arrays = {
        "b1": np.array([True, False, True, True]),
        "u1": np.arange(6, dtype=np.uint8).reshape(2, 3) * 50,
        "i1": np.array([-128, -1, 0, 127], dtype=np.int8),
        "i2": np.array([[-32768, 0], [1, 32767]], dtype=np.int16),
        "u2": np.array([0, 1, 65535], dtype=np.uint16),
        "i4": np.array([-(2**31), -1, 0, 2**31 - 1], dtype=np.int32),
        "u4": np.array([0, 7, 2**32 - 1], dtype=np.uint32),
        "u8": np.array([0, 5, 2**63 - 1], dtype=np.uint64),
        "i8": np.array([-(2**63), -1, 0, 2**63 - 1], dtype=np.int64),
        "f2": np.array([-1.5, 0.25, 65504, np.inf, -0.0], dtype=np.float16),
        "f4": f4,
        "f8": np.array([np.pi, -0.0, np.inf, -np.inf, 1e-310, -2.5]),
        "f4_fortran": np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
        "i8_fortran": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
        "f4_big": (np.arange(6, dtype=np.float32) - 2.5).reshape(3, 2).astype(">f4"),
        "i8_big": np.array([-2, 1, 2**40], dtype=">i8"),
        "u2_big": np.array([1, 258, 65535], dtype=">u2"),
        "i4_big_fortran": np.asfortranarray(np.arange(6, dtype=">i4").reshape(3, 2) - 3),
        "f8_scalar": np.array(3.25),
        "f4_empty": np.zeros((0, 3), dtype=np.float32),
        "u1_empty_1d": np.zeros((0,), dtype=np.uint8),
    }
    for name, a in arrays.items():
        path = f"npy/{name}.npy"
        np.save(out(path), a)
        expected[path] = [np_entry("", a)]
    assert np.isfortran(arrays["f4_fortran"])
    # Header format versions 2.0 and 3.0 (NumPy picks them itself only for huge headers).
    a = np.arange(5, dtype=np.float32)
    for version in [(2, 0), (3, 0)]:
        path = f"npy/f4_v{version[0]}.npy"
        with open(out(path), "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        expected[path] = [np_entry("", a)]


# ---------------------------------------------------------------------------------------------
# .npz


def gen_npz():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    b = np.array([1, -2, 3], dtype=np.int64)
    c = np.array([[True, False]])
    d = np.array([1.5, -0.5], dtype=">f8")
    e = np.array(7, dtype=np.uint8)
    for path, save in [("npz/savez.npz", np.savez), ("npz/savez_compressed.npz", np.savez_compressed)]:
        save(out(path), a, weights=a, ids=b, mask=c, big=d, scalar=e)
        members = {"arr_0": a, "weights": a, "ids": b, "mask": c, "big": d, "scalar": e}
        with zipfile.ZipFile(out(path)) as z:
            names = [n[: -len(".npy")] for n in z.namelist()]
        expected[path] = [np_entry(n, members[n]) for n in names]


# ---------------------------------------------------------------------------------------------
# .pth


def save_pth(path, obj, **kw):
    torch.save(obj, out(path), **kw)
    expected[path] = [torch_entry(n, t) for n, t in flatten(obj, "", [])]


def rewrite_zip(src, dst, rename=None, transform=None):
    """Copies a zip member by member, renaming members and transforming their bytes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            name = rename(info.filename) if rename else info.filename
            if transform:
                data = transform(info.filename, data)
                if data is None:
                    continue
            zout.writestr(name, data)


def gen_pth():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)
    )
    model(torch.randn(5, 3))  # updates the batch-norm statistics
    sd = model.state_dict()
    save_pth("pth/sequential.pth", sd)

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5.5
    y = torch.arange(20, dtype=torch.float64).reshape(4, 5)
    z = torch.tensor([1.0, 2.0, 3.0, 4.0])
    save_pth(
        "pth/views.pth",
        {"t": x.t(), "sliced": y[1:, ::2], "expanded": z.expand(3, 4), "element": x[1, 2], "row": x[2]},
    )

    base = torch.arange(10, dtype=torch.int64) * 3 - 7
    save_pth("pth/shared.pth", {"a": base, "b": base[2:5], "c": base.view(2, 5), "d": base[::3], "e": base.view(5, 2).t()})

    vals = torch.tensor([0, 1, 2, 100, 7])
    dtypes = {
        "f64": torch.tensor([1.0, -2.25, float("inf")], dtype=torch.float64),
        "f32": torch.tensor([[0.5, float("-inf")], [float("nan"), -0.0]]),
        "f16": (torch.arange(6, dtype=torch.float16) - 2.5).reshape(2, 3),
        "bf16": (torch.arange(6, dtype=torch.bfloat16) * 1.5).reshape(3, 2),
        "i64": torch.tensor([-(2**62), 0, 2**40]),
        "i32": torch.tensor([-(2**31), 5], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": vals.to(torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "u16": torch.tensor([0, 65535], dtype=torch.uint16),
        "u32": torch.tensor([0, 2**32 - 1], dtype=torch.uint32),
        "u64": torch.tensor([3, 2**62], dtype=torch.uint64),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    save_pth("pth/dtypes.pth", dtypes)

    torch.manual_seed(1)
    small = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(small.parameters(), lr=0.01)
    small(torch.ones(1, 2)).sum().backward()
    opt.step()
    small_sd = small.state_dict()
    attr = torch.ones(2) * 4
    attr.note = "tensor with a python attribute"  # pickled through _rebuild_from_type_v2
    param = torch.nn.Parameter(torch.full((2,), 9.0))
    param.note = 1  # pickled through _rebuild_parameter_with_state
    nested = {
        "model": small_sd,
        "optim": opt.state_dict(),
        "epoch": 3,
        "name": "checkpoint",
        "extra": [torch.tensor([1, 2]), (torch.tensor([3.0]), 5)],
        "model_again": small_sd,  # the same dict object: a memo reference in the pickle
        7: torch.tensor([7]),
        "attr": attr,
        "param": param,
        "plain_param": torch.nn.Parameter(torch.ones(1, 2)),
    }
    save_pth("pth/nested.pth", nested)
    save_pth("pth/protocol4.pth", {"a": x, "b": {"c": dtypes["bf16"], "d": base[1:4]}}, pickle_protocol=4)
    save_pth("pth/single_tensor.pth", torch.arange(5, dtype=torch.int32))

    # The top folder is named after the file by some writers; wick must not care.
    path = "pth/renamed_folder.pth"
    rewrite_zip(out("pth/sequential.pth"), out(path), rename=lambda n: "my_model/" + n.split("/", 1)[1])
    expected[path] = expected["pth/sequential.pth"]

    # A big-endian checkpoint (as written on s390x): byteorder says so, every element swapped.
    be = {"f": torch.tensor([1.5, -2.0, 3.25]), "i": torch.tensor([1, -2], dtype=torch.int32), "h": x.t().half()}
    save_pth("pth/big_endian_src.pth", be)
    with zipfile.ZipFile(out("pth/big_endian_src.pth")) as z:
        pkl = z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])
    # torch numbers storages in the order it meets them: f, i, h.
    assert pkl.index(b"FloatStorage") < pkl.index(b"IntStorage") < pkl.index(b"HalfStorage")
    sizes = {"0": 4, "1": 4, "2": 2}

    def swap(name, data):
        if name.endswith("byteorder"):
            return b"big"
        key = name.rsplit("/", 1)[-1]
        if "/data/" in name and key in sizes:
            n = sizes[key]
            return b"".join(data[i : i + n][::-1] for i in range(0, len(data), n))
        return data

    rewrite_zip(out("pth/big_endian_src.pth"), out("pth/big_endian.pth"), transform=swap)
    expected["pth/big_endian.pth"] = expected.pop("pth/big_endian_src.pth")
    os.remove(out("pth/big_endian_src.pth"))


# ---------------------------------------------------------------------------------------------
# Corrupt and hostile files.


def npy_bytes(header, data=b"", version=(1, 0), header_len=None):
    h = header.encode("latin1")
    if version == (1, 0):
        pad = (64 - (10 + len(h) + 1) % 64) % 64
        h = h + b" " * pad + b"\n"
        n = len(h) if header_len is None else header_len
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", n) + h + data
    pad = (64 - (12 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    n = len(h) if header_len is None else header_len
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", n) + h + data


def hdr(descr, shape, fortran=False):
    return "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def gen_corrupt_npy():
    good = npy_bytes(hdr("<f4", "(10,)"), bytes(40))
    bad("npy/bad_magic.npy", b"\x93NUMPZ" + good[6:], "bad magic")
    bad("npy/too_short.npy", b"\x93NU", "too short")
    bad("npy/bad_version.npy", good[:6] + b"\x09\x00" + good[8:], "unsupported .npy format version 9.0")
    bad("npy/header_past_eof.npy", good[:8] + struct.pack("<H", 5000) + good[10:100], "runs past the end")
    bad("npy/header_too_long.npy", npy_bytes(hdr("<f4", "(1,)"), bytes(4), (2, 0), 0x7FFFFFFF), "exceeds the limit")
    bad("npy/truncated_data.npy", good[:-20], "data is truncated")
    bad("npy/trailing_data.npy", good + b"xyz", "3 trailing bytes")
    bad("npy/huge_shape.npy", npy_bytes(hdr("<f4", "(1099511627776, 1048576)")), "needs 4611686018427387904 bytes")
    bad("npy/overflow_shape.npy", npy_bytes(hdr("<f4", "(1099511627776, 1099511627776)")), "overflows")
    bad("npy/dim_too_large.npy", npy_bytes(hdr("<f4", "(%d,)" % 2**70)), "integer too large")
    bad("npy/negative_dim.npy", npy_bytes(hdr("<f4", "(-1, 3)")), "invalid dimension -1")
    bad("npy/too_many_dims.npy", npy_bytes(hdr("<f4", "(" + "1, " * 65 + ")")), "more than 64")
    bad("npy/complex.npy", npy_bytes(hdr("<c8", "(1,)"), bytes(8)), "unsupported npy dtype '<c8'")
    bad("npy/object.npy", npy_bytes(hdr("|O", "(1,)"), bytes(8)), "unsupported npy dtype '|O'")
    bad("npy/unicode.npy", npy_bytes(hdr("<U3", "(1,)"), bytes(12)), "unsupported npy dtype '<U3'")
    bad(
        "npy/structured.npy",
        npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", bytes(4)),
        "structured",
    )
    bad(
        "npy/u8_too_large.npy",
        npy_bytes(hdr("<u8", "(2,)"), struct.pack("<QQ", 1, 2**63)),
        "does not fit i64",
    )
    bad("npy/missing_key.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False}"), "missing the key 'shape'")
    bad("npy/extra_key.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}"), "unexpected key")
    bad(
        "npy/bad_literal.npy",
        npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", bytes(4)),
        "unknown name",
    )
    bad(
        "npy/deep_literal.npy",
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 50 + ")" * 50 + "}"),
        "nesting too deep",
    )
    bad("npy/not_a_dict.npy", npy_bytes("[1, 2, 3]"), "not a dict")
    bad("npy/unterminated.npy", npy_bytes("{'descr': '<f4"), "unterminated string")


def zip_bytes(members, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def patch_sizes(data, new_size):
    """Sets the uncompressed size in every local and central header of a one-member zip."""
    data = bytearray(data)
    lh = data.index(b"PK\x03\x04")
    data[lh + 22 : lh + 26] = struct.pack("<I", new_size)
    ch = data.index(b"PK\x01\x02")
    data[ch + 24 : ch + 28] = struct.pack("<I", new_size)
    return bytes(data)


def gen_corrupt_npz():
    small = npy_bytes(hdr("<f4", "(4,)"), bytes(16))
    bomb = small + bytes(1 << 20)  # 1 MiB of zeros behind a header that declares 16 bytes
    bad("npz/not_zip.npz", b"this is not a zip archive at all" * 4, "not a valid zip archive")
    bad("npz/bomb_declared.npz", zip_bytes([("a.npy", bomb)], zipfile.ZIP_DEFLATED), "npy header describes")
    bad(
        "npz/bomb_size_patched.npz",
        patch_sizes(zip_bytes([("a.npy", bomb)], zipfile.ZIP_DEFLATED), len(small)),
        "larger than",
    )
    bad("npz/member_truncated.npz", zip_bytes([("a.npy", small[:-4])]), "npy header describes")
    bad(
        "npz/member_truncated_patched.npz",
        patch_sizes(zip_bytes([("a.npy", small[:-4])], zipfile.ZIP_DEFLATED), len(small)),
        "truncated",
    )
    bad("npz/bad_member.npz", zip_bytes([("ok.npy", small), ("a.npy", b"garbage" * 3)]), "bad magic")
    crc = bytearray(zip_bytes([("a.npy", npy_bytes(hdr("<f4", "(4,)"), b"\x01" * 16))]))
    crc[crc.index(b"\x01" * 16)] ^= 0xFF
    bad("npz/crc_mismatch.npz", bytes(crc), "checksum")
    bad("npz/complex_member.npz", zip_bytes([("c.npy", npy_bytes(hdr("<c8", "(1,)"), bytes(8)))]), "'<c8'")
    bad("npz/header_truncated.npz", zip_bytes([("a.npy", small[:30])]), "header")


def u32(n):
    return struct.pack("<I", n)


class P:
    """Hand assembly of pickle opcodes (see CPython's Lib/pickletools.py)."""

    @staticmethod
    def s(text):
        b = text.encode()
        return b"X" + u32(len(b)) + b

    @staticmethod
    def int(n):
        if 0 <= n < 256:
            return b"K" + bytes([n])
        if 0 <= n < 65536:
            return b"M" + struct.pack("<H", n)
        if -(2**31) <= n < 2**31:
            return b"J" + struct.pack("<i", n)
        raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw

    @staticmethod
    def glob(module, name):
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def tup(items):
        return b"(" + b"".join(items) + b"t"

    @staticmethod
    def storage(stype, key, numel):
        return P.tup([P.s("storage"), P.glob("torch", stype), P.s(key), P.s("cpu"), P.int(numel)]) + b"Q"

    @staticmethod
    def tensor(stype, key, numel, offset, size, stride):
        args = [
            P.storage(stype, key, numel),
            P.int(offset),
            P.tup([P.int(d) for d in size]),
            P.tup([P.int(s) for s in stride]),
            b"\x89",
            P.glob("collections", "OrderedDict") + b")R",
        ]
        return P.glob("torch._utils", "_rebuild_tensor_v2") + P.tup(args) + b"R"

    @staticmethod
    def state_dict(entries):
        return b"\x80\x02}(" + b"".join(P.s(k) + v for k, v in entries) + b"u."


def pth_zip(pkl, storages=(), prefix="archive"):
    members = [(f"{prefix}/data.pkl", pkl), (f"{prefix}/byteorder", b"little")]
    members += [(f"{prefix}/data/{k}", v) for k, v in storages]
    members.append((f"{prefix}/version", b"3\n"))
    return zip_bytes(members)


def hostile(module, name):
    """A pickle that would call module.name('echo pwned') if a real unpickler ran it."""
    return b"\x80\x02" + P.glob(module, name) + P.s("echo pwned") + b"\x85R."


def gen_corrupt_pth():
    four = struct.pack("<4f", 1, 2, 3, 4)
    ok_pkl = P.state_dict([("w", P.tensor("FloatStorage", "0", 4, 0, (2, 2), (2, 1)))])
    ok = pth_zip(ok_pkl, [("0", four)])
    # Sanity check of the hand assembly on a benign file, with torch's own safe loader.
    got = torch.load(io.BytesIO(ok), weights_only=True)
    assert got["w"].tolist() == [[1.0, 2.0], [3.0, 4.0]], got

    for module, name in [("os", "system"), ("builtins", "eval"), ("subprocess", "Popen"), ("posix", "system")]:
        bad(f"pth/{module}_{name}.pth", pth_zip(hostile(module, name)), f"refusing pickle global {module}.{name}")
        bad(f"pickle/{module}_{name}.pkl", hostile(module, name), f"refusing pickle global {module}.{name}")
    # Protocol 4 spells globals with STACK_GLOBAL.
    sg = b"\x80\x04\x8c\x08builtins\x94\x8c\x04exec\x94\x93" + P.s("import os") + b"\x85R."
    bad("pickle/builtins_exec_stack_global.pkl", sg, "refusing pickle global builtins.exec")
    # A hostile global hidden inside an otherwise normal tensor record.
    inner = P.state_dict([("w", P.glob("os", "system") + P.s("x") + b"\x85R")])
    bad("pth/global_inside_dict.pth", pth_zip(inner), "refusing pickle global os.system")
    bad("pth/qtensor.pth", pth_zip(b"\x80\x02" + P.glob("torch._utils", "_rebuild_qtensor") + b"."), "_rebuild_qtensor")

    bad("pth/missing_storage.pth", pth_zip(ok_pkl, []), 'storage "0" is missing')
    bad("pth/storage_too_small.pth", pth_zip(ok_pkl, [("0", four[:8])]), "has 8 bytes but the pickle declares 16")
    oob = P.state_dict([("w", P.tensor("FloatStorage", "0", 4, 1, (4,), (1,)))])
    bad("pth/view_out_of_bounds.pth", pth_zip(oob, [("0", four)]), "reaches element 4")
    huge = P.state_dict([("w", P.tensor("FloatStorage", "0", 4, 0, (2**40, 2**40), (1, 1)))])
    bad("pth/huge_shape.pth", pth_zip(huge, [("0", four)]), "element count that overflows")
    expand = P.state_dict([("w", P.tensor("FloatStorage", "0", 4, 0, (2**20, 2**20), (0, 0)))])
    bad("pth/expanded_huge.pth", pth_zip(expand, [("0", four)]), "overlapping strides")
    numel = P.state_dict([("w", P.tensor("FloatStorage", "0", 2**62, 0, (1,), (1,)))])
    bad("pth/storage_numel_overflow.pth", pth_zip(numel, [("0", four)]), "overflows the address space")
    bad("pth/no_data_pkl.pth", zip_bytes([("archive/other.txt", b"hi")]), "no data.pkl")
    bad("pth/not_a_checkpoint.pth", b"hello, I am a text file\n" * 3, "no zip signature")
    crc = bytearray(ok)
    crc[crc.index(four) + 5] ^= 0xFF
    bad("pth/crc_mismatch.pth", bytes(crc), "checksum")
    bad("pth/deep_marks.pth", pth_zip(b"\x80\x02" + b"(" * 5_000 + b"."), "MARK depth")
    bad("pth/truncated_pickle.pth", pth_zip(ok_pkl[:-2], [("0", four)]), "without a STOP")

    # Real torch output for dtypes wick refuses, and the legacy formats.
    for path, t, msg in [
        ("pth/complex.pth", torch.zeros(2, dtype=torch.complex64), "unsupported storage type torch.ComplexFloatStorage"),
        ("pth/float8.pth", torch.zeros(2, dtype=torch.float8_e4m3fn), "unsupported tensor dtype torch.float8_e4m3fn"),
    ]:
        buf = io.BytesIO()
        torch.save({"x": t}, buf)
        bad(path, buf.getvalue(), msg)
    buf = io.BytesIO()
    torch.save({"x": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)
    bad("pth/legacy.pth", buf.getvalue(), "legacy (non-zip) torch.save format is not supported; re-save")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ["sys_info", "pickle", "storages", "tensors"]:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"\x80\x02"))
    bad("pth/legacy_tar.pth", buf.getvalue(), "legacy tar torch.save format is not supported")

    # Pickles fed to the unpickler directly.
    bad("pickle/deep_marks.pkl", b"\x80\x02" + b"(" * 5_000 + b".", "MARK depth")
    bad("pickle/deep_lists.pkl", b"\x80\x02" + b"]" * 10_000 + b"a" * 9_999 + b".", "nests deeper than")
    bad("pickle/self_reference.pkl", b"\x80\x02]q\x00h\x00a.", "nests deeper than")
    laughs = b"\x80\x02]q\x00"
    for i in range(40):
        laughs += b"(h" + bytes([i]) + b"h" + bytes([i]) + b"lq" + bytes([i + 1])
    bad("pickle/billion_laughs.pkl", laughs + b".", "expands to more than")
    bad("pickle/huge_string.pkl", b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"abc.", "pickle truncated")
    bad("pickle/huge_binunicode.pkl", b"\x80\x02X\xff\xff\xff\xffabc.", "pickle truncated")
    bad("pickle/huge_long.pkl", b"\x80\x02\x8a\x09" + bytes(8) + b"\x01.", "does not fit i64")
    bad("pickle/unknown_opcode.pkl", b"\x80\x02\xff.", "unsupported pickle opcode 0xff")
    bad("pickle/no_stop.pkl", b"\x80\x02}q\x00(" + P.s("a"), "without a STOP")
    bad("pickle/bad_memo.pkl", b"\x80\x02h\x05.", "memo key 5 is not set")
    bad("pickle/stack_underflow.pkl", b"\x80\x02R.", "underflow")
    bad("pickle/bad_utf8.pkl", b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "not valid UTF-8")
    bad("pickle/protocol_9.pkl", b"\x80\x09N.", "unsupported pickle protocol 9")
    bad("pickle/setitem_on_list.pkl", b"\x80\x02]NNs.", "non-dict")
    bad("pickle/call_non_global.pkl", b"\x80\x02N)R.", "not an allow-listed global")
    bad("pickle/bad_persistent_id.pkl", b"\x80\x02" + P.tup([P.s("storage")]) + b"Q.", "persistent id")
    bad(
        "pickle/rebuild_bad_args.pkl",
        b"\x80\x02" + P.glob("torch._utils", "_rebuild_tensor_v2") + P.tup([P.int(1)]) + b"R.",
        "takes 6 arguments",
    )


def main():
    for d in [FIX] + [os.path.join(BAD, k) for k in ("npy", "npz", "pth", "pickle")]:
        shutil.rmtree(d, ignore_errors=True)
    gen_npy()
    gen_npz()
    gen_pth()
    gen_corrupt_npy()
    gen_corrupt_npz()
    gen_corrupt_pth()
    with open(os.path.join(FIX, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(BAD, "npy_npz_pth.json"), "w") as f:
        json.dump(corrupt, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(FIX) for n in ns)
    bad_total = sum(os.path.getsize(os.path.join(BAD, p)) for p in corrupt)
    print(f"{len(expected)} fixtures ({total} bytes), {len(corrupt)} corrupt files ({bad_total} bytes)")


if __name__ == "__main__":
    main()
