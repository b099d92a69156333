"""The lite engine's projections: ``Proj`` (an nn.Linear whose product picks the kernel measured for this CPU),
``_Fused`` (q/k/v or gate/up weights as row blocks of one buffer, one product for all of them) and the checks
that let a layer call its parts without nn.Module's call machinery when no hook watches them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module_hooks

from ...support.row_blocks import blocks_help, linear_rows
from ...support.row_kernels import RowWeight

_M = TypeVar("_M", bound=nn.Module)

_MV_DTYPES = (torch.bfloat16, torch.float16)


def _proj(x: torch.Tensor, w: torch.Tensor, row: RowWeight | None = None) -> torch.Tensor:
    """``F.linear(x, w)``. A single row on the CPU goes through ``row``, the kernel measured fastest on this
    machine for ``w`` (core/support/row_kernels.py), as do a few rows when ``row`` is a weight-only int8/int4
    kernel (so batched decoding computes each row as one at a time would); without one, bf16/fp16 rows use
    ``torch.mv``. Several bf16/fp16 rows on the CPU are computed in a few row counts (core/support/row_blocks.py:
    oneDNN keeps a primitive per row count)."""
    if x.device.type == "cpu":
        if row is not None and row.takes(x) and row.fresh(w):
            return row(x)
        if x.numel() == x.shape[-1]:
            if x.dtype in _MV_DTYPES:
                return torch.mv(w, x.reshape(-1)).view(*x.shape[:-1], w.shape[0])
        elif blocks_help(x):
            return linear_rows(x, w)
    return F.linear(x, w)


class Proj(nn.Linear):
    """nn.Linear without bias whose forward is :func:`_proj`. Forward hooks on it fire as on transformers'."""

    row: RowWeight | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _proj(x, self.weight, self.row)


def _watched(*mods: nn.Module) -> bool:
    """Whether hooks watch any of ``mods``: then fused projections run as their separate modules."""
    g = _module_hooks
    return bool(g._global_forward_hooks or g._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in mods
    )


def _call(mod: nn.Module, quiet: bool = False) -> Callable[..., Any]:
    """``mod`` when a hook may watch it (called as a module, so the hook fires), else its bound ``forward``: the
    same computation without nn.Module.__call__'s bookkeeping, which costs more than a small op on one row.
    ``quiet``: :class:`HookWatch` found no hooks below the layers."""
    if quiet:
        return mod.forward
    g = _module_hooks
    if g._global_forward_hooks or g._global_forward_pre_hooks or mod._forward_hooks or mod._forward_pre_hooks:
        return mod
    return mod.forward


_TREE = [0]  # bumped whenever any module anywhere gets a sub-module


def _tree_changed(module: nn.Module, name: str, sub: nn.Module | None) -> None:
    _TREE[0] += 1


_module_hooks.register_module_module_registration_hook(_tree_changed)


class HookWatch:
    """Whether any forward hook watches a module below some roots (the decoder layers: a hook on a layer itself
    still fires, it is called as a module). The hook tables are gathered once and again only after a sub-module
    was (re)assigned somewhere (nn.Module's global registration hook), so a step checks them in one pass."""

    def __init__(self) -> None:
        self._key = -1
        self._tables: list[dict[Any, Any]] = []

    def quiet(self, roots: Iterable[nn.Module]) -> bool:
        g = _module_hooks
        if g._global_forward_hooks or g._global_forward_pre_hooks:
            return False
        if self._key != _TREE[0]:
            self._tables = [t for r in roots for m in r.modules() if m is not r
                            for t in (m._forward_hooks, m._forward_pre_hooks)]
            self._key = _TREE[0]
        return not any(self._tables)


def _bare(cls: type[_M], weight: torch.Tensor, **attrs: object) -> _M:
    """An nn.Linear/nn.Embedding around ``weight`` without running its initialiser (random init is slow, and on
    the meta device it imports torch._dynamo)."""
    mod = cls.__new__(cls)
    nn.Module.__init__(mod)
    mod.__dict__.update(attrs)
    mod.weight = nn.Parameter(weight, requires_grad=False)
    return mod


def _linear(w: torch.Tensor) -> Proj:
    lin = _bare(Proj, w, in_features=w.shape[1], out_features=w.shape[0])
    lin.register_parameter("bias", None)
    return lin


class _Fused(nn.Module):
    """A module whose listed projections' weights are row blocks of one fused buffer (``self.fused``)."""

    parts: tuple[str, ...] = ()
    row: RowWeight | None = None  # the fused weight's single-row kernel

    def _fuse(self, fused: torch.Tensor | None = None, rows: tuple[int, ...] = ()) -> None:
        """Make the parts' weights views into ``fused`` (default: the parts concatenated)."""
        rows = rows or tuple(getattr(self, p).weight.shape[0] for p in self.parts)
        self.fused = torch.cat([getattr(self, p).weight.data for p in self.parts]) if fused is None else fused
        start = 0
        for name, n in zip(self.parts, rows):
            w = self.fused[start : start + n]
            if getattr(self, name, None) is None:
                setattr(self, name, _linear(w))
            else:
                getattr(self, name).weight.data = w
            start += n

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> _Fused:
        # .to()/.float()/.cuda() convert each part: fuse again afterwards
        super()._apply(fn, recurse)
        ptr = self.fused.untyped_storage().data_ptr()
        if any(getattr(self, p).weight.untyped_storage().data_ptr() != ptr for p in self.parts):
            self._fuse()
        return self


