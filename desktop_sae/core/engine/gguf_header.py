"""Read a GGUF file's header (key-values and tensor shapes) without reading its weights.

The ``gguf`` package's reader maps and parses every tensor (about 3 s for the bundled 100 MB file); listing
models needs only the architecture, width, depth and parameter count, which this reads in a few milliseconds.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, BinaryIO

from ..support.errors import AssetError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
_MAX_COUNT = 1 << 24  # more keys, tensors or array items than any real model has: a damaged file
# llama.cpp's file types (general.file_type) for the names people know
FILE_TYPES = {0: "float32", 1: "float16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
              11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
              18: "Q6_K", 32: "bfloat16"}


class _Reader:
    def __init__(self, f: BinaryIO, where: Path) -> None:
        self.f, self.where = f, where

    def take(self, fmt: str) -> Any:  # what struct.unpack gives for ``fmt``
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise AssetError(f"{self.where} ends inside its GGUF header (truncated file?)")
        return struct.unpack(fmt, data)[0]

    def count(self) -> int:
        n = self.take("<Q")
        if n > _MAX_COUNT:
            raise AssetError(f"{self.where} is not a readable GGUF file (a count of {n} in its header)")
        return n

    def string(self, keep: bool = True) -> str | None:
        n = self.take("<Q")
        if n > 1 << 20:
            raise AssetError(f"{self.where} is not a readable GGUF file (a {n}-byte string in its header)")
        if not keep:
            self.f.seek(n, 1)
            return None
        return self.f.read(n).decode("utf-8", "replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == STRING:
            return self.string(keep)
        if vtype == ARRAY:
            item, n = self.take("<I"), self.count()
            if item in _SCALARS and item != 7:
                self.f.seek(n * struct.calcsize(_SCALARS[item]), 1)  # arrays (vocabularies) are skipped
                return None
            for _ in range(n):
                self.value(item, keep=False)
            return None
        raise AssetError(f"{self.where} is not a readable GGUF file (unknown value type {vtype})")


def read_gguf_header(path: str | Path) -> dict[str, Any]:
    """Scalar and string key-values (arrays skipped) plus ``n_params`` and ``n_tensors``."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            r = _Reader(io.BufferedReader(raw, 1 << 20), path)
            if r.f.read(4) != MAGIC:
                raise AssetError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
            version = r.take("<I")
            if version not in (2, 3):
                raise AssetError(f"{path}: GGUF version {version} is not supported (2 and 3 are)")
            n_tensors, n_kv = r.count(), r.count()
            kv: dict[str, Any] = {}
            for _ in range(n_kv):
                key = r.string()
                assert key is not None  # string() keeps (returns) the text by default
                kv[key] = r.value(r.take("<I"))
            n_params = 0
            for _ in range(n_tensors):
                r.string(keep=False)
                dims = r.take("<I")
                if dims > 8:
                    raise AssetError(f"{path} is not a readable GGUF file (a tensor with {dims} dimensions)")
                size = 1
                for _ in range(dims):
                    size *= r.take("<Q")
                r.take("<I")  # type
                r.take("<Q")  # offset
                n_params += size
    except OSError as e:
        raise AssetError(f"cannot read {path}: {e.strerror or e}") from None
    kv["n_params"], kv["n_tensors"] = n_params, n_tensors
    return kv


def gguf_summary(path: str | Path) -> dict[str, Any]:
    """architecture, name, hidden_size, n_layers, n_params and the stored type of a GGUF model."""
    kv = read_gguf_header(path)
    arch = str(kv.get("general.architecture") or "")
    ftype = kv.get("general.file_type")
    return {
        "architecture": arch,
        "name": kv.get("general.name") or Path(path).stem,
        "hidden_size": kv.get(f"{arch}.embedding_length"),
        "n_layers": kv.get(f"{arch}.block_count"),
        "n_params": kv["n_params"],
        "dtype": FILE_TYPES.get(ftype, f"type {ftype}") if ftype is not None else None,
    }
