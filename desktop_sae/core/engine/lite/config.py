"""What the lite engine reads from a Hugging Face ``config.json``, and which models it refuses (the caller then
falls back to transformers).

Three architectures: Llama (``llama``: Llama 2/3/3.2, SmolLM, with default, llama3 or linear RoPE), Qwen3
(``qwen3``: per-head q/k RMSNorm, explicit head_dim) and Gemma 3 text (``gemma3_text``: scaled embeddings,
(1 + w) RMSNorm, four norms per layer, q/k norms, GELU-tanh MLP, sliding-window layers with their own RoPE base).
Both config.json spellings are read: the hub's (``rope_theta``, ``rope_scaling``, ``rope_local_base_freq``,
``sliding_window_pattern``) and transformers 5's ``rope_parameters`` (per attention kind for Gemma 3).
"""

from __future__ import annotations

from typing import Any

from ...support.text_enum import TextEnum


class Unsupported(Exception):
    """The folder holds a model this engine does not implement; the caller falls back to transformers."""


class LiteArch(TextEnum):
    """The architectures the lite engine computes (their ``model_type``)."""

    LLAMA = "llama"
    QWEN3 = "qwen3"
    GEMMA3 = "gemma3_text"


ARCHITECTURE_CLASSES = {
    LiteArch.LLAMA: "LlamaForCausalLM",
    LiteArch.QWEN3: "Qwen3ForCausalLM",
    LiteArch.GEMMA3: "Gemma3ForCausalLM",
}


class AttnKind(TextEnum):
    """A layer's attention: over every earlier position, or over the last ``sliding_window`` positions."""

    FULL = "full_attention"
    SLIDING = "sliding_attention"


ROPE_TYPES = ("default", "llama3", "linear")
ACTIVATIONS = ("silu", "gelu_pytorch_tanh")
_GEMMA_THETA = {AttnKind.FULL: 1_000_000.0, AttnKind.SLIDING: 10_000.0}  # Gemma3TextConfig's defaults


def _rope(params: dict[str, Any] | None, theta: float) -> dict[str, Any]:
    rope = dict(params or {})
    rope.setdefault("rope_theta", theta)
    rope["rope_type"] = rope.get("rope_type", rope.get("type", "default"))
    return rope


class LiteConfig:
    """config.json as attributes, with transformers' config defaults for the keys the forward reads."""

    # read from config.json as they are (every key of it becomes an attribute)
    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    vocab_size: int

    def __init__(self, raw: dict[str, Any]) -> None:
        self.__dict__.update(raw)
        self._raw = dict(raw)
        self.arch = LiteArch(raw.get("model_type", "llama"))
        gemma = self.arch is LiteArch.GEMMA3
        self.num_key_value_heads: int = raw.get("num_key_value_heads") or raw["num_attention_heads"]
        self.head_dim: int = raw.get("head_dim") or raw["hidden_size"] // raw["num_attention_heads"]
        self.rms_norm_eps: float = raw.get("rms_norm_eps", 1e-6)
        self.max_position_embeddings: int = raw.get("max_position_embeddings", 2048)
        self.tie_word_embeddings: bool = raw.get("tie_word_embeddings", gemma)
        self.use_cache: bool = raw.get("use_cache", True)
        act_key = "hidden_activation" if gemma else "hidden_act"
        self.hidden_act: str = raw.get(act_key) or ("gelu_pytorch_tanh" if gemma else "silu")
        self.final_logit_softcapping: float | None = raw.get("final_logit_softcapping")
        # softmax scale of the attention scores and the embedding scale (Gemma: sqrt(hidden_size))
        self.attn_scale: float = (raw.get("query_pre_attn_scalar", 256) if gemma else self.head_dim) ** -0.5
        self.embed_scale: float | None = raw["hidden_size"] ** 0.5 if gemma else None
        self.sliding_window: int | None = raw.get("sliding_window", 4096) if gemma else None
        self.layer_types: list[AttnKind] = self._layer_types(raw)
        self.rope_by_kind: dict[AttnKind, dict[str, Any]] = self._ropes(raw)
        self.rope_parameters = self.rope_by_kind[AttnKind.FULL]

    def _layer_types(self, raw: dict[str, Any]) -> list[AttnKind]:
        n = raw["num_hidden_layers"]
        if self.arch is not LiteArch.GEMMA3:
            return [AttnKind.FULL] * n
        if raw.get("layer_types"):
            return [AttnKind(k) for k in raw["layer_types"]]
        pattern = raw.get("sliding_window_pattern", 6)  # Gemma3TextConfig: every pattern-th layer is global
        return [AttnKind.SLIDING if (i + 1) % pattern else AttnKind.FULL for i in range(n)]

    def _ropes(self, raw: dict[str, Any]) -> dict[AttnKind, dict[str, Any]]:
        params = raw.get("rope_parameters")
        if self.arch is not LiteArch.GEMMA3:
            return {AttnKind.FULL: _rope(params or raw.get("rope_scaling"), raw.get("rope_theta", 10000.0))}
        if isinstance(params, dict) and set(params) & {k.value for k in AttnKind}:  # transformers 5's spelling
            return {k: _rope(params.get(k.value), _GEMMA_THETA[k]) for k in AttnKind}
        return {  # the hub's: rope_scaling applies to the global layers, local ones use rope_local_base_freq
            AttnKind.FULL: _rope(raw.get("rope_scaling"), raw.get("rope_theta", _GEMMA_THETA[AttnKind.FULL])),
            AttnKind.SLIDING: _rope(None, raw.get("rope_local_base_freq", _GEMMA_THETA[AttnKind.SLIDING])),
        }

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    def __repr__(self) -> str:
        return f"LiteConfig({self._raw})"


def _refusal(raw: dict[str, Any]) -> str | None:
    """Why the lite engine cannot compute ``raw`` exactly, or None when it can."""
    mtype = raw.get("model_type")
    if mtype not in {a.value for a in LiteArch}:
        return f"model_type {mtype!r}"
    arch = LiteArch(mtype)
    if raw.get("architectures") not in (None, [ARCHITECTURE_CLASSES[arch]]):
        return f"architectures {raw.get('architectures')}"
    if raw.get("auto_map") or raw.get("quantization_config"):
        return "custom code or quantisation"
    if "num_attention_heads" not in raw or "num_hidden_layers" not in raw or "hidden_size" not in raw:
        return "the config lacks the model's sizes"
    cfg = LiteConfig(raw)
    if cfg.hidden_act not in ACTIVATIONS or raw.get("attention_bias") or raw.get("mlp_bias"):
        return "activation or biases"
    if (raw.get("pretraining_tp") or 1) != 1:
        return "pretraining_tp"
    for rope in cfg.rope_by_kind.values():
        if rope.get("partial_rotary_factor", 1.0) != 1.0:
            return "partial rotary"
        if rope["rope_type"] not in ROPE_TYPES:
            return f"rope type {rope['rope_type']!r}"
    if arch is LiteArch.QWEN3 and (raw.get("use_sliding_window") or AttnKind.SLIDING.value in (raw.get("layer_types")
                                                                                               or ())):
        return "sliding-window Qwen3"
    if arch is LiteArch.GEMMA3:
        if raw.get("attn_logit_softcapping") is not None:
            return "attention logit softcapping"
        if raw.get("use_bidirectional_attention"):
            return "bidirectional attention"
        if len(cfg.layer_types) != cfg.num_hidden_layers:
            return "layer_types does not list every layer"
        if AttnKind.SLIDING in cfg.layer_types and not cfg.sliding_window:
            return "sliding layers without a window"
    return None


def check_config(raw: dict[str, Any]) -> None:
    """Raise Unsupported unless ``raw`` is a causal LM of an architecture this engine computes exactly."""
    try:
        why = _refusal(raw)
    except (ValueError, TypeError, KeyError) as e:  # a malformed value: transformers says what is wrong with it
        why = f"unreadable config value ({e})"
    if why:
        raise Unsupported(f"the lite engine does not implement this model ({why})")
