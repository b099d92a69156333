"""Products of many bf16/fp16 rows on the CPU in a few row counts (the lite engine's prompt products, the SAE's
encoder).

oneDNN builds a primitive for every row count it meets and keeps it (its primitive cache and ideep's, up to 1024
entries each, about 0.8 MB per weight shape and row count). A chat's prompt is the whole conversation, so nearly
every answer met a new count and resident memory grew all session long (tests/reliability/test_soak.py: +16 % over
120 answers on the bundled model). :func:`linear_rows` computes in blocks of at most ``ROW_BLOCK`` rows, the last one
padded with zero rows to :func:`padded_rows`, so that every product has one of 16 row counts and those caches stay
small and warm. Each output row is its own dot products: the real rows come out as without blocks or padding (bit
for bit on the CPUs measured).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ROW_BLOCK = 256
REDUCED = (torch.bfloat16, torch.float16)


def padded_rows(n: int) -> int:
    """``n`` rounded up to one of four sizes per doubling, multiples of 8 (8, 16, 24, 32, 40, 48, 56, 64, 80, 96,
    112, 128, 160, ...): at most 7 rows or 25 % more."""
    step = max(8, 1 << max(0, n.bit_length() - 3))
    return -(-n // step) * step


def blocks_help(x: torch.Tensor) -> bool:
    """Whether ``x`` (rows along its last dimension) is several bf16/fp16 rows on the CPU, the products oneDNN runs."""
    return x.device.type == "cpu" and x.dtype in REDUCED and x.numel() > x.shape[-1]


def _padded_product(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``F.linear(rows, w)`` for 2-D ``rows``, computed on zero rows padded to :func:`padded_rows`."""
    m = rows.shape[0]
    size = padded_rows(m)
    if size != m:
        rows = torch.cat([rows, rows.new_zeros(size - m, rows.shape[1])])
    return F.linear(rows, w)[:m]


def linear_rows(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, w)`` (``x @ w.T``) computed in blocks of a few row counts (see the module docstring)."""
    rows = x.reshape(-1, x.shape[-1])
    n = rows.shape[0]
    if n <= ROW_BLOCK:
        out = _padded_product(rows, w)
    else:
        out = torch.cat([_padded_product(rows[s : s + ROW_BLOCK], w) for s in range(0, n, ROW_BLOCK)])
    return out.view(*x.shape[:-1], w.shape[0])


def matmul_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for a 2-D ``b``, through :func:`linear_rows` when ``a`` is several bf16/fp16 rows on the CPU."""
    return linear_rows(a, b.T) if blocks_help(a) else a @ b
