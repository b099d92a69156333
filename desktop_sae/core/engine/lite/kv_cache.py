"""The lite engine's KV cache, attention masks and forward output (see core/engine/lite/llama.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


class LiteCache:
    """Preallocated K/V buffers per layer, ``[batch, kv_heads, capacity, head_dim]``, grown by doubling.

    ``length`` counts the positions every layer has written; a forward stopped part-way (capture/StopForward)
    leaves it unchanged, so the partial writes are simply overwritten by the next forward."""

    def __init__(self, n_layers: int, batch: int, kv_heads: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device, capacity: int) -> None:
        self.length = 0
        self.capacity = capacity
        shape = (batch, kv_heads, capacity, head_dim)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layers)]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.length

    def reserve(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        cap = max(needed, 2 * self.capacity)
        for bufs in (self.keys, self.values):
            for i, old in enumerate(bufs):
                new = old.new_empty((*old.shape[:2], cap, old.shape[3]))
                new[:, :, : self.length] = old[:, :, : self.length]
                bufs[i] = new
        self.capacity = cap

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = k.shape[2]
        kb, vb = self.keys[layer], self.values[layer]
        kb.narrow(2, start, t).copy_(k)
        vb.narrow(2, start, t).copy_(v)
        return kb.narrow(2, 0, start + t), vb.narrow(2, 0, start + t)


@dataclass
class LiteOutput:
    logits: torch.Tensor
    past_key_values: LiteCache | None = None
    loss: None = None
    hidden_states: None = None
    attentions: None = None

    @property
    def cache(self) -> LiteCache | None:
        return self.past_key_values

    def __getitem__(self, key: str | int | slice) -> Any:  # out[0], out["logits"]: as transformers' outputs
        return getattr(self, key) if isinstance(key, str) else (self.logits, self.past_key_values)[key]


def _mask(attention_mask: torch.Tensor | None, b: int, t: int, past: int, device: torch.device,
          window: int | None = None) -> tuple[torch.Tensor | None, bool]:
    """(boolean SDPA mask or None, is_causal). No mask at all in the common cases: one new token (a layer with a
    sliding ``window`` then reads only the last ``window`` keys: the model slices them, as transformers' sliding
    cache keeps them), or a prompt on an empty cache without padding that fits the window. A query sees the keys
    at most ``window - 1`` positions back (transformers' sliding_window_overlay: kv > q - window)."""
    pad = attention_mask is not None and not bool(attention_mask.all())
    windowed = window is not None and past + t > window
    if not pad:
        if t == 1:
            return None, False
        if past == 0 and not windowed:
            return None, True
    q = torch.arange(past, past + t, device=device)[:, None]
    kv = torch.arange(past + t, device=device)[None, :]
    allowed = kv <= q  # [t, past + t]
    if window is not None and windowed:
        allowed &= kv > q - window
    if not pad or attention_mask is None:  # (pad implies a mask)
        return allowed, False
    keys = attention_mask[:, -(past + t) :].to(device=device, dtype=torch.bool)[:, None, None, :]
    diag = kv == q  # a padded query still attends to itself
    return (allowed & keys) | diag, False
