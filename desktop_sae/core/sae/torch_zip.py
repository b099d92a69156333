"""Read the tensors of a ``torch.save`` file (a zip holding ``data.pkl`` and one raw file per storage) without
unpickling it.

``data.pkl`` is walked with ``pickletools.genops``, which only decodes opcodes; nothing is imported, called or
built except by the few rules here: dictionaries (plain or ``collections.OrderedDict``) of tensors rebuilt by
``torch._utils._rebuild_tensor_v2`` from typed storages (``torch.FloatStorage`` ...). Any other global, opcode or
value is refused with an SAEFormatError, so a file whose pickle would run code is never run, only refused.
"""

from __future__ import annotations

import pickletools
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..support.errors import SAEFormatError
from ..support.file_values import cut

STORAGE_DTYPES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                  "BFloat16Storage": torch.bfloat16}
REBUILD_TENSOR = "torch._utils _rebuild_tensor_v2"
ORDERED_DICT = "collections OrderedDict"
_MARK = object()


@dataclass(frozen=True)
class _Global:
    name: str


@dataclass(frozen=True)
class _Storage:
    dtype: torch.dtype
    key: str
    numel: int


@dataclass(frozen=True)
class _TensorSpec:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def read_torch_tensors(path: Path) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` of a ``torch.save`` file holding a dictionary of tensors; raises SAEFormatError."""
    with _open(path) as (zf, prefix, top):
        return {k: _tensor(zf, prefix, v, path, k) for k, v in top.items()}


def read_torch_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """``{name: (shape, dtype)}`` of the same file, from its pickle alone (no tensor data is read)."""
    with _open(path) as (_zf, _prefix, top):
        out = {}
        for k, spec in top.items():
            if not isinstance(spec, _TensorSpec):
                raise SAEFormatError(f"{path}: entry {k!r} is not a tensor")
            out[k] = (spec.size, spec.storage.dtype)
        return out


@contextmanager
def _open(path: Path) -> Iterator[tuple[zipfile.ZipFile, str, dict[str, object]]]:
    """The open zip, the prefix of its members and the dictionary its pickle describes (checked, not run)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            pkl = next((n for n in names if n.endswith("/data.pkl") and n.count("/") == 1), None)
            if pkl is None:
                raise SAEFormatError(f"{path} is not a torch.save file (no data.pkl inside)")
            prefix = pkl.removesuffix("data.pkl")
            order = zf.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
            if order != "little":
                raise SAEFormatError(f"{path} was saved on a {order}-endian machine, which this reader does not take")
            top = _evaluate(zf.read(pkl), path)
            if not isinstance(top, dict) or not all(isinstance(k, str) for k in top):
                raise SAEFormatError(f"{path} does not hold a dictionary of named tensors")
            yield zf, prefix, top
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError) as e:
        raise SAEFormatError(f"{path} is damaged or not a torch.save zip: {cut(str(e))}") from None


def _evaluate(data: bytes, path: Path) -> Any:  # Any: the dictionary (or whatever else) the pickle describes
    """The value a pickle describes, by the rules in the module docstring, without running it."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        i = len(stack) - 1 - stack[::-1].index(_MARK)
        items = stack[i + 1:]
        del stack[i:]
        return items

    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                return stack.pop()
            if name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BININT", "BININT1", "BININT2", "LONG1"):
                stack.append(arg)
            elif name in ("NEWFALSE", "NEWTRUE", "NONE"):
                stack.append({"NEWFALSE": False, "NEWTRUE": True, "NONE": None}[name])
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                last = tuple(stack[-n:])
                del stack[-n:]
                stack.append(last)
            elif name in ("BINPUT", "LONG_BINPUT"):
                memo[arg if isinstance(arg, int) else -1] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET"):
                stack.append(memo[arg if isinstance(arg, int) else -1])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                full = arg if name == "GLOBAL" else f"{stack.pop(-2)} {stack.pop()}"
                stack.append(_global(full, path))
            elif name == "BINPERSID":
                stack.append(_storage(stack.pop(), path))
            elif name == "REDUCE":
                args = stack.pop()
                stack.append(_reduce(stack.pop(), args, path))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _as_dict(stack[-1], path)[key] = value
            elif name == "SETITEMS":
                items = pop_mark()
                target = _as_dict(stack[-1], path)
                for k, v in zip(items[::2], items[1::2]):
                    target[k] = v
            else:
                raise SAEFormatError(f"{path}: its pickle uses {name}, which a dictionary of tensors never needs; "
                                     "it is not read (pickles can run code)")
    except SAEFormatError:
        raise
    except (ValueError, IndexError, KeyError, TypeError) as e:  # a damaged or unusual pickle stream
        why = cut(str(e))
        raise SAEFormatError(f"{path}: its data.pkl cannot be read as a dictionary of tensors ({why})") from None
    raise SAEFormatError(f"{path}: its data.pkl ends without a STOP opcode (damaged file?)")


def _global(full: object, path: Path) -> _Global:
    if full in (REBUILD_TENSOR, ORDERED_DICT) or (isinstance(full, str) and full.startswith("torch ")
                                                  and full[6:] in STORAGE_DTYPES):
        return _Global(str(full))
    raise SAEFormatError(f"{path}: its pickle refers to {cut(str(full), 80)!r}, which is not part of a dictionary of "
                         "tensors; it is not read (pickles can run code)")


def _storage(pid: object, path: Path) -> _Storage:
    if (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Global)
            and pid[1].name.startswith("torch ") and isinstance(pid[2], str) and isinstance(pid[4], int)):
        return _Storage(STORAGE_DTYPES[pid[1].name[6:]], pid[2], pid[4])
    raise SAEFormatError(f"{path}: a persistent id in its pickle is not a tensor storage")


def _reduce(fn: object, args: object, path: Path) -> Any:  # Any: an empty dict or a tensor description
    if fn == _Global(ORDERED_DICT) and args == ():
        return {}
    if fn == _Global(REBUILD_TENSOR) and isinstance(args, tuple) and len(args) >= 4:
        storage, offset, size, stride = args[:4]  # requires_grad and hooks do not matter for reading
        if (isinstance(storage, _Storage) and isinstance(offset, int) and offset >= 0 and isinstance(size, tuple)
                and isinstance(stride, tuple) and len(size) == len(stride)
                and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
            return _TensorSpec(storage, offset, size, stride)
    raise SAEFormatError(f"{path}: its pickle calls {fn} in a way a dictionary of tensors never does")


def _as_dict(target: object, path: Path) -> dict[Any, Any]:
    if not isinstance(target, dict):
        raise SAEFormatError(f"{path}: its pickle sets items on something that is not a dictionary")
    return target


def _tensor(zf: zipfile.ZipFile, prefix: str, spec: object, path: Path, name: str) -> torch.Tensor:
    if not isinstance(spec, _TensorSpec):
        raise SAEFormatError(f"{path}: entry {name!r} is not a tensor")
    storage, size, stride = spec.storage, spec.size, spec.stride
    member = f"{prefix}data/{storage.key}"
    item = torch.empty((), dtype=storage.dtype).element_size()
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise SAEFormatError(f"{path}: the storage of tensor {name!r} is missing") from None
    if info.file_size != storage.numel * item:
        raise SAEFormatError(f"{path}: the storage of tensor {name!r} has {info.file_size} bytes, expected "
                             f"{storage.numel} values of {item} bytes")
    last = spec.offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else -1
    if last >= storage.numel:
        raise SAEFormatError(f"{path}: tensor {name!r} reaches past the end of its storage")
    if not storage.numel:
        return torch.empty(size, dtype=storage.dtype)
    flat = torch.frombuffer(bytearray(zf.read(member)), dtype=storage.dtype)
    return flat.as_strided(size, stride, spec.offset).clone()
