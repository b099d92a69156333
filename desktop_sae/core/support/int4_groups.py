"""Group-wise 4-bit weights in the layout of GGUF's Q4_1, for torch's CPU int4 weight-only product.

Q4_1 stores each run of 32 weights along a row as 4-bit codes ``q`` (0..15) with a scale ``d`` and a minimum
``m``: ``w = d*q + m``. torch's ``_weight_int4pack_mm_for_cpu`` computes ``w = s*(q - 8) + z`` per group from
bfloat16 ``(s, z)`` pairs, so the same codes serve with ``s = d`` and ``z = m + 8d``. Quantising a weight that
was de-quantised from Q4_1 (the bundled GGUF's layers) gives back the file's own codes, as long as the rounding of
the de-quantised values to bfloat16 stays under half a step (tests/test_int4_weights.py compares them).

Where a group's values are all equal, ``d`` is 0 and every code is 8: ``w = z``.

8-bit groups (GGUF's Q8_0: ``w = d*q``, ``q`` in -127..127, one ``d`` per 32, the bundled model's embedding and
tied lm_head) run on the same kernel as two 4-bit halves of ``u = q + 128``: ``w = 16d*(hi - 8) + (d*(lo - 8) + 8d)``
with ``hi = u >> 4`` and ``lo = u & 15``, laid side by side along the row so that one product with the input
repeated twice sums both. It reads one byte per weight, as Q8_0 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GROUP = 32  # Q4_1's block length
PACK_ROWS = 16  # the packed layout's rows come in multiples of this (zero rows are added, their outputs dropped)


@dataclass(frozen=True)
class Int4Weight:
    """A weight ``[n, k]`` as torch's packed int4 layout, with the values it stands for."""

    packed: torch.Tensor  # uint8 [n, k/2], as _convert_weight_to_int4pack_for_cpu lays it out
    scales_zeros: torch.Tensor  # bfloat16 [k/group, n, 2]
    group: int
    values: torch.Tensor  # the weight it computes with, rounded to the input's dtype [n, k]
    repeat: int = 1  # 2: 8-bit codes as two 4-bit halves; the input is repeated along its row
    rows: int = 0  # n, where the packed layout was padded to a multiple of PACK_ROWS (0: not padded)


def supported(w: torch.Tensor, group: int = GROUP) -> bool:
    """Whether ``w`` can be held in 4 bits here: a 2-D bfloat16 CPU weight whose rows split into groups."""
    return (w.dim() == 2 and w.device.type == "cpu" and w.dtype == torch.bfloat16 and w.shape[1] % group == 0
            and hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu"))


def codes(w: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q4_1's rule per group of ``group`` along each row: (codes int32 [n, k], scale and zero bfloat16
    [n, k/group]), with the codes rounded against the bfloat16 scales the product will use and the zero refitted
    to them (the mean of ``w - d*(q - 8)`` over the group)."""
    n, k = w.shape
    g = w.float().reshape(n, k // group, group)
    lo, hi = g.amin(-1), g.amax(-1)
    d = ((hi - lo) / 15).to(torch.bfloat16)
    z = (lo + 8 * d.float()).to(torch.bfloat16)
    step = d.float().clamp_min(torch.finfo(torch.float32).tiny)
    q = torch.round((g - z.float()[..., None]) / step[..., None] + 8).clamp_(0, 15)
    q = torch.where(d[..., None] == 0, torch.full_like(q, 8), q)
    # the zero that fits the group best for these codes and the rounded scale (less error than m + 8d rounded)
    z = (g - d.float()[..., None] * (q - 8)).mean(-1).to(torch.bfloat16)
    return q.reshape(n, k).to(torch.int32), d, z


def _pack(codes: torch.Tensor, sz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(packed codes, scales and zeros, n) with the rows padded to a multiple of PACK_ROWS (n: 0 when not)."""
    n = codes.shape[0]
    pad = -n % PACK_ROWS
    if pad:
        codes = torch.cat([codes, codes.new_full((pad, codes.shape[1]), 8)])
        sz = torch.cat([sz, sz.new_zeros((sz.shape[0], pad, 2))], 1)
    return torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1), sz.contiguous(), n if pad else 0


def quantize(w: torch.Tensor, group: int = GROUP) -> Int4Weight:
    """``w`` (bfloat16 ``[n, k]`` on the CPU) in 4 bits per weight plus a bfloat16 scale and zero per group."""
    if not supported(w, group):
        raise ValueError(f"4-bit weights need a 2-D bfloat16 CPU weight with rows in groups of {group}, "
                         f"got {tuple(w.shape)} {w.dtype} on {w.device.type}")
    q, d, z = codes(w, group)
    n, k = w.shape
    values = ((q.float().reshape(n, k // group, group) - 8) * d.float()[..., None] + z.float()[..., None])
    packed, sz, rows = _pack(q, torch.stack([d.t(), z.t()], -1))
    return Int4Weight(packed, sz, group, values.reshape(n, k).to(w.dtype), rows=rows)


def quantize_8bit(w: torch.Tensor, group: int = GROUP) -> Int4Weight:
    """``w`` (bfloat16 ``[n, k]`` on the CPU) as Q8_0's rule gives it, one byte per weight plus a bfloat16 scale
    per group, stored as two 4-bit halves (see the module's docstring)."""
    if not supported(w, group):
        raise ValueError(f"8-bit groups need a 2-D bfloat16 CPU weight with rows in groups of {group}, "
                         f"got {tuple(w.shape)} {w.dtype} on {w.device.type}")
    n, k = w.shape
    g = w.float().reshape(n, k // group, group)
    d = (g.abs().amax(-1) / 127).to(torch.bfloat16).float()
    q = torch.round(g / d.clamp_min(torch.finfo(torch.float32).tiny)[..., None]).clamp_(-127, 127)
    u = (q + 128).to(torch.int32)
    halves = torch.cat([(u >> 4).reshape(n, k), (u & 15).reshape(n, k)], 1)
    scale = torch.cat([16 * d, d], 1)
    zero = torch.cat([torch.zeros_like(d), 8 * d], 1)
    packed, sz, rows = _pack(halves, torch.stack([scale.t(), zero.t()], -1).to(torch.bfloat16))
    return Int4Weight(packed, sz, group, (q * d[..., None]).reshape(n, k).to(w.dtype), repeat=2, rows=rows)


def product(x: torch.Tensor, weight: Int4Weight) -> torch.Tensor:
    """``x @ values.T`` for bfloat16 rows ``x [m, k]`` (each row's result does not depend on the others)."""
    if weight.repeat == 2:
        x = torch.cat([x, x], -1)
    y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, weight.packed, weight.group, weight.scales_zeros)
    return y[:, : weight.rows] if weight.rows else y
