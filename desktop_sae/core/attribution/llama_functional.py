"""A differentiable float32 re-statement of a Llama-family forward pass, with attention patterns and norm scales
that can be frozen (docs/ATTRIBUTION.md, "The linearised model").

It reads the weights of either engine's modules (the lite engine and transformers use the same names), so the
attribution sees exactly the model the chat runs. ``clean_pass`` runs the prompt once and records what freezing
needs; ``run_layers`` continues from any residual stream, linearised as a ``Linearisation`` says (attribution) or live
(interventions), for a single prompt ``[T, d]`` or a batch ``[B, T, d]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..engine.hooks import decoder_layers, layout_of
from ..support.errors import UnsupportedArchitectureError

_SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "smollm3")


class Linearisation(enum.Enum):
    """What stays fixed at its clean-run value when the model is differentiated (docs/ATTRIBUTION.md)."""

    LIVE = "live"  # nothing: the plain gradient (attribution patching)
    ATTENTION = "attention"  # attention patterns
    FROZEN = "frozen"  # attention patterns and norm scales (circuit-tracer's choice)

    def freezes_attention(self) -> bool:
        return self is not Linearisation.LIVE

    def freezes_norms(self) -> bool:
        return self is Linearisation.FROZEN


@dataclass(frozen=True)
class LayerWeights:
    ln1: torch.Tensor
    ln2: torch.Tensor
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    gate: torch.Tensor
    up: torch.Tensor
    down: torch.Tensor
    q_bias: torch.Tensor | None
    k_bias: torch.Tensor | None
    v_bias: torch.Tensor | None


@dataclass(frozen=True)
class LlamaWeights:
    """Float32 weights of a Llama-family model (shared with the model when it is float32 already)."""

    embed: torch.Tensor
    layers: tuple[LayerWeights, ...]
    norm: torch.Tensor
    lm_head: torch.Tensor
    eps: float
    n_heads: int
    n_kv: int
    head_dim: int
    rope: Any  # the model's rope source: lite ``rope_tables`` or transformers' ``rotary_emb``

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def d_model(self) -> int:
        return int(self.embed.shape[1])

    def nbytes(self) -> int:
        tensors = [self.embed, self.norm, self.lm_head]
        for lw in self.layers:
            tensors += [t for t in vars(lw).values() if isinstance(t, torch.Tensor)]
        seen = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        return sum(seen.values())


@dataclass(frozen=True)
class Frozen:
    """What a clean pass fixes: attention probabilities ``[layer][..., H, T, T]`` and the inverse RMS of every
    norm's input (``[layer][..., T, 1]``; ``final`` for the last norm)."""

    probs: tuple[torch.Tensor, ...]
    ln1: tuple[torch.Tensor, ...]
    ln2: tuple[torch.Tensor, ...]
    final: torch.Tensor


@dataclass(frozen=True)
class CleanPass:
    frozen: Frozen
    embeddings: torch.Tensor  # [T, d]: the input of layer 0
    resid_post: tuple[torch.Tensor, ...]  # [T, d] after each layer
    logits: torch.Tensor  # [V] at the last position


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach() if t.dtype == torch.float32 else t.detach().float()


def _bias(mod: Any) -> torch.Tensor | None:
    b = getattr(mod, "bias", None)
    return None if b is None else _f32(b)


def read_weights(model: Any) -> LlamaWeights:
    """The model's weights in float32. Refuses what the re-statement does not cover, with a reason."""
    if layout_of(model).family != "llama":
        raise UnsupportedArchitectureError("attribution graphs support Llama-family models only (Llama, SmolLM, "
                                           "Mistral, Qwen2)")
    cfg = model.config
    mtype = str(getattr(cfg, "model_type", "llama"))
    if mtype not in _SUPPORTED_TYPES:
        raise UnsupportedArchitectureError(f"attribution graphs do not cover {mtype!r} models yet (norms or "
                                           f"embeddings differ from Llama's); supported: {', '.join(_SUPPORTED_TYPES)}")
    layers = []
    layer: Any  # a decoder layer of either engine
    for layer in decoder_layers(model):
        att, mlp = layer.self_attn, layer.mlp
        if getattr(att, "q_norm", None) is not None:
            raise UnsupportedArchitectureError("attribution graphs do not cover per-head q/k norms (Qwen3) yet")
        layers.append(LayerWeights(
            _f32(layer.input_layernorm.weight), _f32(layer.post_attention_layernorm.weight),
            _f32(att.q_proj.weight), _f32(att.k_proj.weight), _f32(att.v_proj.weight), _f32(att.o_proj.weight),
            _f32(mlp.gate_proj.weight), _f32(mlp.up_proj.weight), _f32(mlp.down_proj.weight),
            _bias(att.q_proj), _bias(att.k_proj), _bias(att.v_proj)))
    embed = _f32(model.get_input_embeddings().weight)
    head = model.get_output_embeddings().weight
    lm_head = embed if head.data_ptr() == model.get_input_embeddings().weight.data_ptr() else _f32(head)
    n_heads = int(cfg.num_attention_heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads)
    eps = float(getattr(cfg, "rms_norm_eps", 1e-6))
    return LlamaWeights(embed, tuple(layers), _f32(model.model.norm.weight), lm_head, eps, n_heads,
                        int(getattr(cfg, "num_key_value_heads", n_heads)), head_dim, model.model)


def rope_tables(w: LlamaWeights, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, signed sin) ``[n, 1, head_dim]`` in float32: ``x*cos + roll(x, hd/2)*sin`` applies RoPE."""
    src = w.rope
    if hasattr(src, "rope_tables"):  # the lite engine's own tables
        cos, sin = src.rope_tables(n, torch.float32, device)
        return cos[:n], sin[:n]
    x = torch.zeros(1, n, w.head_dim, device=device)
    cos, sin = src.rotary_emb(x, torch.arange(n, device=device)[None])
    half = w.head_dim // 2
    sign = torch.cat([-torch.ones(half, device=device), torch.ones(half, device=device)])
    return cos[0, :, None, :].float(), (sin[0, :, None, :].float() * sign)


def _inv_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def _lin(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    return F.linear(x, w, b)


def attention_probs(w: LlamaWeights, lw: LayerWeights, n1: torch.Tensor,
                    rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Causal softmax attention probabilities ``[..., H, T, T]`` of the normalised input ``n1`` ``[..., T, d]``."""
    t = n1.shape[-2]
    hd, h, kv = w.head_dim, w.n_heads, w.n_kv
    q = _lin(n1, lw.q, lw.q_bias).unflatten(-1, (h, hd))
    k = _lin(n1, lw.k, lw.k_bias).unflatten(-1, (kv, hd))
    cos, sin = rope
    q = q * cos + q.roll(hd // 2, -1) * sin
    k = k * cos + k.roll(hd // 2, -1) * sin
    q, k = q.transpose(-3, -2), k.transpose(-3, -2).repeat_interleave(h // kv, dim=-3)
    scores = (q @ k.transpose(-1, -2)) * hd**-0.5
    mask = torch.ones(t, t, dtype=torch.bool, device=n1.device).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1)


def _layer(w: LlamaWeights, i: int, x: torch.Tensor, frozen: Frozen | None, mode: Linearisation,
           rope: tuple[torch.Tensor, torch.Tensor] | None, record: list[list[torch.Tensor]] | None) -> torch.Tensor:
    lw = w.layers[i]
    norms = frozen is not None and mode.freezes_norms()
    s1 = frozen.ln1[i] if norms and frozen is not None else _inv_rms(x, w.eps)
    n1 = x * s1 * lw.ln1
    if frozen is not None and mode.freezes_attention():
        probs = frozen.probs[i]
    else:
        assert rope is not None
        probs = attention_probs(w, lw, n1, rope)
    h, kv, hd = w.n_heads, w.n_kv, w.head_dim
    v = _lin(n1, lw.v, lw.v_bias).unflatten(-1, (kv, hd)).transpose(-3, -2).repeat_interleave(h // kv, dim=-3)
    att = (probs @ v).transpose(-3, -2).flatten(-2)
    x = x + _lin(att, lw.o)
    s2 = frozen.ln2[i] if norms and frozen is not None else _inv_rms(x, w.eps)
    n2 = x * s2 * lw.ln2
    out = x + _lin(F.silu(_lin(n2, lw.gate)) * _lin(n2, lw.up), lw.down)
    if record is not None:
        record[0].append(probs.detach())
        record[1].append(s1.detach())
        record[2].append(s2.detach())
    return out


def run_layers(w: LlamaWeights, x: torch.Tensor, start: int, stop: int, frozen: Frozen | None = None,
               keep: set[int] | None = None, mode: Linearisation = Linearisation.FROZEN,
               ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Layers ``start .. stop-1`` from the residual stream ``x`` (the input of layer ``start``). Returns the output
    and the residual after each layer in ``keep``. With ``frozen``, ``mode`` says what is fixed at the clean run's
    values; without, the live model runs."""
    live_attention = frozen is None or not mode.freezes_attention()
    rope = rope_tables(w, x.shape[-2], x.device) if live_attention else None
    kept: dict[int, torch.Tensor] = {}
    for i in range(start, stop):
        x = _layer(w, i, x, frozen, mode, rope, None)
        if keep is not None and i in keep:
            kept[i] = x
    return x, kept


def final_logits(w: LlamaWeights, x_last: torch.Tensor, frozen: Frozen | None = None,
                 mode: Linearisation = Linearisation.FROZEN) -> torch.Tensor:
    """Logits ``[..., V]`` from the last layer's output at the last position ``[..., d]``."""
    s = frozen.final[..., -1, :] if frozen is not None and mode.freezes_norms() else _inv_rms(x_last, w.eps)
    return _lin(x_last * s * w.norm, w.lm_head)


@torch.no_grad()
def clean_pass(w: LlamaWeights, ids: torch.Tensor) -> CleanPass:
    """Run ``ids`` ``[T]`` once (live) and record what the frozen model needs."""
    x = w.embed[ids]
    emb = x
    rope = rope_tables(w, ids.shape[0], x.device)
    record: list[list[torch.Tensor]] = [[], [], []]
    posts = []
    for i in range(w.n_layers):
        x = _layer(w, i, x, None, Linearisation.LIVE, rope, record)
        posts.append(x)
    final = _inv_rms(x, w.eps)
    frozen = Frozen(tuple(record[0]), tuple(record[1]), tuple(record[2]), final)
    return CleanPass(frozen, emb, tuple(posts), final_logits(w, x[-1]))
