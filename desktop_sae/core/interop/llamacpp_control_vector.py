"""llama.cpp control-vector files (docs/STEERING_EXPORT.md), written and read back.

The file is a GGUF with ``general.architecture = "controlvector"``, ``controlvector.model_hint`` and
``controlvector.layer_count`` (int32, the number of direction tensors), as llama.cpp's cvector-generator writes
them, and one 1-D float32 tensor ``direction.N`` per steered layer N >= 1. llama.cpp's loader
(``common_control_vector_load``) reads only the tensors: it adds ``direction.N`` x the file's scale to the output
of block N; several tensors for one layer, and several files, are summed. Our own keys (``desktop_sae.*``) record
the hook, the SAE and the rows the direction was made from
(``core.interop.steering_export``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..support.atomic import atomic_write_bytes
from ..support.errors import SteeringError

ARCH = "controlvector"
MODEL_HINT = f"{ARCH}.model_hint"
LAYER_COUNT = f"{ARCH}.layer_count"
OURS = "desktop_sae"
MAX_FILE_BYTES = 64 << 20


def tensor_name(layer: int) -> str:
    return f"direction.{layer}"


def write_control_vector(path: str | Path, layer: int, direction: npt.ArrayLike, model_hint: str,
                         record: dict[str, object] | None = None) -> Path:
    """Write ``direction`` as llama.cpp's ``direction.<layer>``, atomically (a reader sees the old file or the new
    one); ``record`` (plain JSON values) is kept under ``desktop_sae.export``."""
    import gguf

    if layer < 1:
        raise SteeringError(f"llama.cpp has no control-vector layer {layer} (they start at 1)")
    v = np.ascontiguousarray(np.asarray(direction, dtype=np.float32).reshape(-1))
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix=".cvec-") as tmp:
        staged = Path(tmp) / "cvec.gguf"
        w = gguf.GGUFWriter(str(staged), ARCH)
        w.add_string(MODEL_HINT, model_hint)
        w.add_int32(LAYER_COUNT, 1)
        if record is not None:
            w.add_string(f"{OURS}.export", json.dumps(record, sort_keys=True, ensure_ascii=False))
        w.add_tensor(tensor_name(layer), v)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        data = staged.read_bytes()
    atomic_write_bytes(path, data)
    return path


@dataclass(frozen=True, eq=False)
class ControlVectorFile:
    """A control vector as llama.cpp reads it: layer -> summed direction, and the file's metadata."""

    directions: dict[int, npt.NDArray[np.float32]]
    model_hint: str
    layer_count: int | None
    export: dict[str, object]  # our ``desktop_sae.export`` record ({} for files made elsewhere)

    @property
    def n_embd(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])


def read_control_vector(path: str | Path) -> ControlVectorFile:
    """Read a control-vector GGUF with llama.cpp's rules (``direction.N``, N >= 1, 1-D float32 of one width; a
    layer named twice is summed); raises SteeringError naming what is wrong."""
    import gguf

    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SteeringError(f"{path.name} is too large for a control vector")
        r = gguf.GGUFReader(str(path))
    except OSError as e:
        raise SteeringError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, KeyError, IndexError) as e:
        raise SteeringError(f"{path.name} is not a GGUF file ({e})") from None
    arch = _string(r, "general.architecture")
    if arch != ARCH:
        raise SteeringError(f"{path.name} is a GGUF for {arch!r}, not a control vector ({ARCH!r})")
    dirs: dict[int, npt.NDArray[np.float32]] = {}
    for t in r.tensors:
        head, _, idx = t.name.partition(".")
        if head != "direction" or not idx.isdigit() or int(idx) == 0:
            raise SteeringError(f"{path.name}: tensor {t.name!r} is not direction.N with N >= 1")
        if t.tensor_type != gguf.GGMLQuantizationType.F32 or len(t.shape) != 1:
            raise SteeringError(f"{path.name}: {t.name} must be a 1-D float32 tensor")
        v = np.array(t.data, dtype=np.float32).reshape(-1)
        if dirs and v.shape != next(iter(dirs.values())).shape:
            raise SteeringError(f"{path.name}: {t.name} has {v.shape[0]} values, the others another width")
        dirs[int(idx)] = dirs[int(idx)] + v if int(idx) in dirs else v
    if not dirs:
        raise SteeringError(f"{path.name} holds no direction tensors")
    count = r.get_field(LAYER_COUNT)
    extra = _string(r, f"{OURS}.export")
    try:
        export = json.loads(extra) if extra else {}
    except ValueError:
        export = {}
    return ControlVectorFile(dirs, _string(r, MODEL_HINT), None if count is None else int(count.contents()),
                             export if isinstance(export, dict) else {})


def _string(r: Any, key: str) -> str:  # Any: gguf ships no type information
    field = r.get_field(key)
    if field is None:
        return ""
    value = field.contents()
    return value if isinstance(value, str) else ""
