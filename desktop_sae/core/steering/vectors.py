"""Saved steering vectors: a direction in one hook's residual basis, in a small safetensors file.

A vector steers like an SAE feature's decoder row (additively or orthogonally) without needing a feature; the
contrastive finder's mean-difference vector and Neuronpedia's custom vectors are vectors. Files are safetensors
(no pickle); the metadata names the hook, the model and where the vector came from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..support.atomic import atomic_write_bytes
from ..support.errors import SteeringError
from .specs import SteerSpec

MAX_DIM = 1 << 16
MAX_FILE_BYTES = 8 << 20


@dataclass(frozen=True)
class SteeringVector:
    name: str
    values: tuple[float, ...]
    hook: str = ""
    model: str = ""
    source: str = ""  # how it was made, e.g. "mean difference: 12 positive vs 12 negative texts"
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_array(cls, name: str, a: npt.ArrayLike, *, hook: str = "", model: str = "", source: str = "",
                   meta: dict[str, object] | None = None) -> SteeringVector:
        arr = np.asarray(a, dtype=np.float64).reshape(-1)
        if arr.size == 0 or arr.size > MAX_DIM or not np.isfinite(arr).all():
            raise SteeringError(f"{name}: a steering vector needs 1..{MAX_DIM} finite numbers")
        return cls(name, tuple(float(v) for v in arr), hook, model, source, {} if meta is None else meta)

    @property
    def norm(self) -> float:
        return math.sqrt(sum(v * v for v in self.values))

    def spec(self, key: int, strength: float, method: str = "add") -> SteerSpec:
        """A row for the steering set under the negative ``key``."""
        return SteerSpec(key, float(strength), "raw", method, True, self.name, self.values)

    def scaled_to(self, norm: float) -> SteeringVector:
        """The same direction with the given length (baselines at a matched norm)."""
        n = self.norm
        if n == 0:
            raise SteeringError(f"{self.name}: a zero vector has no direction")
        return SteeringVector(self.name, tuple(v * norm / n for v in self.values), self.hook, self.model,
                              self.source, self.meta)


def save_vector(v: SteeringVector, path: str | Path) -> Path:
    """Write ``v`` atomically as safetensors (one float32 tensor 'vector'; metadata as strings)."""
    from safetensors.numpy import save

    meta = {"name": v.name, "hook": v.hook, "model": v.model, "source": v.source,
            "extra": json.dumps(v.meta, sort_keys=True, default=str)}
    data = save({"vector": np.asarray(v.values, dtype=np.float32)}, metadata=meta)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def load_vector(path: str | Path) -> SteeringVector:
    """Read a vector saved by ``save_vector`` (or any safetensors file with one 1-D tensor, or a ``.npy`` array
    read without pickle); refuses anything else with a clear message."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SteeringError(f"cannot read steering vector {path}: {e.strerror or e}") from None
    if size > MAX_FILE_BYTES:
        raise SteeringError(f"{path.name} is {size >> 20} MB: too large for a steering vector")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise SteeringError(f"{path.name} is not a plain numeric .npy array ({e})") from None
        return SteeringVector.from_array(path.stem, arr, source=f"file {path.name}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
            meta = f.metadata() or {}
            arr = f.get_tensor("vector" if "vector" in keys else (keys[0] if len(keys) == 1 else "vector"))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for damaged or foreign files
        raise SteeringError(f"{path.name} is not a steering vector file (safetensors with one tensor 'vector'): "
                            f"{e}") from None
    if arr.ndim != 1:
        raise SteeringError(f"{path.name}: a steering vector is one-dimensional, this tensor has shape {arr.shape}")
    try:
        extra = json.loads(meta.get("extra", "{}"))
    except json.JSONDecodeError:
        extra = {}
    return SteeringVector.from_array(meta.get("name") or path.stem, arr, hook=meta.get("hook", ""),
                                     model=meta.get("model", ""), source=meta.get("source", ""),
                                     meta=extra if isinstance(extra, dict) else {})
