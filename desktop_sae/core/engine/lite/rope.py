"""Rotary position tables for the lite engine, computed as transformers computes them (float32, then cast).

RoPE types: ``default``, ``llama3`` (Llama 3.x's smoothed long-context scaling) and ``linear`` (positions divided by
``factor``: Gemma 3's global layers in the 4b and larger). Gemma 3 keeps one table per attention kind, as its
sliding-window layers use another base (``rope_local_base_freq``).
"""

from __future__ import annotations

import math
from typing import Any

import torch


def inv_freq(rope: dict[str, Any], dim: int) -> torch.Tensor:
    """The inverse frequencies (float32) for the RoPE parameters ``rope`` over a head of ``dim``."""
    inv = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if rope["rope_type"] == "linear":
        return inv / rope["factor"]
    if rope["rope_type"] == "llama3":
        factor, lo, hi = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
        old = rope["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def tables(inv: torch.Tensor, size: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, signed sin) ``[size, 1, head_dim]`` in ``dtype``: ``x*cos + roll(x, head_dim/2)*sin`` is RoPE, as
    rotate_half(x)*sin == roll(x, head_dim/2) * [-sin1, sin2] exactly."""
    freqs = torch.arange(size, device=device).float()[:, None] * inv.to(device)
    emb = torch.cat((freqs, freqs), dim=-1)
    half = emb.shape[-1] // 2
    sign = torch.cat([-torch.ones(half, device=device), torch.ones(half, device=device)])
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype) * sign.to(dtype)
    return cos[:, None, :], sin[:, None, :]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on ``x`` ``[batch, seq, heads, head_dim]`` with rows of :func:`tables`."""
    return x * cos + x.roll(x.shape[-1] // 2, -1) * sin
