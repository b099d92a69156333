"""Gemma 3's parts of the lite engine (the rest is core/engine/lite/llama.py), op for op as transformers'
modeling_gemma3: the RMSNorm that scales by ``1 + weight`` in float32 and casts after, and the decoder layer with
four norms, two of them on what the attention and the MLP add to the residual stream ("sandwich" norms).

Its embedding (scaled by sqrt(hidden_size)) is llama.ScaledEmbedding; sliding-window layers, their RoPE base and
the attention scale (``query_pre_attn_scalar``) come from the config (core/engine/lite/config.py)."""

from __future__ import annotations

import torch
from torch import nn

from .llama import LiteAttention, LiteMLP, _Step
from .projections import _call


class GemmaRMSNorm(nn.Module):
    """transformers' Gemma3RMSNorm: ``x * rsqrt(mean(x²) + eps) * (1 + w)`` in float32, cast back at the end."""

    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * (1.0 + self.weight.float())).type_as(x)


class GemmaDecoderLayer(nn.Module):
    """x + post_attention_layernorm(attn(input_layernorm(x))), then the same around the MLP with
    pre_feedforward_layernorm and post_feedforward_layernorm."""

    def __init__(self, attn: LiteAttention, mlp: LiteMLP, norms: tuple[GemmaRMSNorm, ...]) -> None:
        """``norms``: input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
        post_feedforward_layernorm."""
        super().__init__()
        self.self_attn, self.mlp = attn, mlp
        self.input_layernorm, self.post_attention_layernorm = norms[0], norms[1]
        self.pre_feedforward_layernorm, self.post_feedforward_layernorm = norms[2], norms[3]

    def forward(self, hidden_states: torch.Tensor, step: _Step) -> torch.Tensor:
        q = step.quiet
        attn = _call(self.self_attn, q)(_call(self.input_layernorm, q)(hidden_states), step)[0]
        h = hidden_states + _call(self.post_attention_layernorm, q)(attn)
        mlp = self.mlp.run(_call(self.pre_feedforward_layernorm, q)(h), q)
        return h + _call(self.post_feedforward_layernorm, q)(mlp)
