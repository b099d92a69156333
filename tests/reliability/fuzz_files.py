"""Hypothesis strategies for damaged SAE files: safetensors written by hand (so headers, dtypes, shapes and offsets can
be anything), .npz archives with odd arrays, and byte-level damage (truncation, flipped bytes, garbage)."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import reliability_util as ru
from hypothesis import strategies as st

ST_ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
    "BOOL": 1,
}
ST_NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16}
SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 3e38, 1e300, 0.0]


def _shape_variant(data, shape: tuple) -> tuple:
    how = data.draw(
        st.sampled_from(["same"] * 4 + ["transpose", "plus1", "minus1", "extra", "scalar", "zero"]),
        label="shape change",
    )
    if how == "transpose":
        return tuple(reversed(shape))
    if how in ("plus1", "minus1", "zero") and shape:
        i = data.draw(st.integers(0, len(shape) - 1), label="dim")
        new = list(shape)
        new[i] = 0 if how == "zero" else max(0, new[i] + (1 if how == "plus1" else -1))
        return tuple(new)
    if how == "extra":
        return (*shape, data.draw(st.sampled_from([1, 2]), label="extra dim"))
    return () if how == "scalar" else shape


def _values(dtype: str, shape: tuple, seed: int, special=None) -> bytes:
    n = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(seed)
    if dtype in ST_NUMPY:
        a = (rng.standard_normal(n) * 0.1).astype(ST_NUMPY[dtype])
        if n and special is not None:
            a[seed % n] = special
        return a.tobytes()
    return rng.integers(0, 256, n * ST_ITEMSIZE[dtype], dtype=np.uint8).tobytes()


def _edits(data, names: list[str]) -> dict[str, str]:
    """Which entries to edit, and how (few draws: most cases edit nothing or one entry)."""
    n = data.draw(st.sampled_from([0, 0, 1, 1, 2]), label="n edits")
    return {
        data.draw(st.sampled_from(names), label="edit which"): data.draw(
            st.sampled_from(["drop", "rename", "shape", "dtype", "both", "value", "extra"]), label="edit"
        )
        for _ in range(n)
    }


def tensors(data, expected: dict[str, tuple], extra_names=("W_enc", "b_enc", "unexpected", "sparsity")):
    """[(name, dtype, shape, raw bytes)], mostly right, sometimes with a dropped, renamed, reshaped or retyped
    tensor, a special value (NaN, inf, beyond float32), or an extra tensor."""
    out = []
    edits = _edits(data, list(expected))
    for i, (name, shape) in enumerate(expected.items()):
        edit, dtype, special = edits.get(name), "F32", None
        if edit == "drop":
            continue
        if edit == "rename":
            name = data.draw(st.sampled_from([name.upper(), name + "_", "encoder.weight", ""]), label="new name")
        if edit in ("shape", "both"):
            shape = _shape_variant(data, shape)
        if edit in ("dtype", "both"):
            dtype = data.draw(st.sampled_from(sorted(ST_ITEMSIZE)), label="dtype")
        if edit == "value":
            special = data.draw(st.sampled_from(SPECIAL_VALUES), label="special value")
        out.append((name, dtype, shape, _values(dtype, shape, i, special)))
        if edit == "extra":
            extra = data.draw(st.sampled_from(extra_names), label="extra name")
            extra_shape = data.draw(st.sampled_from([(), (1,), (3, 2)]), label="extra shape")
            out.append((extra, "F32", extra_shape, _values("F32", extra_shape, 99)))
    return out


def safetensors_bytes(data, items) -> bytes:
    """A safetensors file from ``items``; sometimes its header is edited (offsets, dtypes, shapes, junk keys)."""
    header, blobs, off = {}, [], 0
    for name, dtype, shape, raw in items:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if data.draw(st.integers(0, 9), label="metadata?") == 0:
        header["__metadata__"] = {"format": "pt"}
    if data.draw(st.integers(0, 7), label="edit header?") == 0:
        header = ru.mutate(data, {"h": header}, n_max=2).get("h", {})
    h = json.dumps(header, allow_nan=True).encode("utf-8", "surrogatepass")
    h += b" " * (-len(h) % 8)
    size = len(h)
    if data.draw(st.integers(0, 15), label="bad header length?") == 0:
        size = data.draw(st.sampled_from([0, 1, size - 1, size + 1, 2**31, 2**63, 2**64 - 1]), label="length")
    return struct.pack("<Q", size % 2**64) + h + b"".join(blobs)


def npz_bytes(data, arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz of ``arrays`` after edits: dropped arrays, reshapes, odd dtypes (ints, complex, big-endian, long
    double, strings, pickled objects), special values; stored or compressed."""
    out = {}
    edits = _edits(data, list(arrays))
    for name, a in arrays.items():
        edit = edits.get(name)
        if edit is None:
            out[name] = a
        elif edit == "drop":
            continue
        elif edit == "rename":
            out[name.lower() + "x"] = a
        elif edit in ("shape", "both"):
            shape = _shape_variant(data, a.shape)
            out[name] = np.resize(a, shape) if shape else np.float32(1.0)
        elif edit == "extra":
            out[name], out["extra"] = a, np.ones(3, np.float32)
        elif edit == "value" and a.size:
            b = a.copy()
            b.flat[data.draw(st.integers(0, a.size - 1), label="at")] = data.draw(st.sampled_from(SPECIAL_VALUES))
            out[name] = b
        else:
            kind = data.draw(
                st.sampled_from(
                    ["i4", "u1", "?", ">f4", "f2", "f8", "c8", "longdouble", "U3", "object", "datetime64[s]", "record"]
                ),
                label="np dtype",
            )
            if kind == "object":
                out[name] = np.array([1.5, "two", None], dtype=object)
            elif kind == "record":
                out[name] = np.zeros(a.shape, dtype=[("x", "f4"), ("y", "i2")])
            else:
                out[name] = a.astype(np.dtype(kind)) if kind != "U3" else a.astype("U3")
    buf = io.BytesIO()
    (np.savez_compressed if data.draw(st.booleans(), label="compressed") else np.savez)(buf, **out)
    return buf.getvalue()


def damage(data, raw: bytes) -> bytes:
    """Usually the bytes as they are; otherwise truncated, with flipped bytes, with garbage, or replaced."""
    how = data.draw(
        st.sampled_from(["none"] * 10 + ["truncate", "flip", "append", "prefix", "empty", "other"]), label="damage"
    )
    if how == "truncate":
        return raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut at")]
    if how == "flip" and raw:
        b = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, len(b) - 1), label="byte")
            b[i] ^= data.draw(st.integers(1, 255), label="xor")
        return bytes(b)
    if how == "append":
        return raw + data.draw(st.binary(min_size=1, max_size=64), label="tail")
    if how == "prefix":
        return data.draw(st.binary(min_size=1, max_size=16), label="head") + raw
    if how == "empty":
        return b""
    if how == "other":
        return data.draw(
            st.sampled_from([b"PK\x03\x04", b"\x80\x04K\x01.", b"{}", b"\x93NUMPY\x01\x00", _zip_of_text()]),
            label="other file",
        )
    return raw


def _zip_of_text() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("W_enc.npy", "not an array")
    return buf.getvalue()
