"""What the lite engine reads from a Hugging Face ``config.json``, and which models it refuses (the caller then
falls back to transformers)."""

from __future__ import annotations

from typing import Any


class Unsupported(Exception):
    """The folder holds a model this engine does not implement; the caller falls back to transformers."""


class LiteConfig:
    """config.json as attributes, with transformers' LlamaConfig defaults for the keys the forward reads."""

    # read from config.json as they are (every key of it becomes an attribute)
    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    vocab_size: int

    def __init__(self, raw: dict[str, Any]) -> None:
        self.__dict__.update(raw)
        self._raw = dict(raw)
        self.num_key_value_heads: int = raw.get("num_key_value_heads") or raw["num_attention_heads"]
        self.head_dim: int = raw.get("head_dim") or raw["hidden_size"] // raw["num_attention_heads"]
        self.rms_norm_eps: float = raw.get("rms_norm_eps", 1e-6)
        self.max_position_embeddings: int = raw.get("max_position_embeddings", 2048)
        self.tie_word_embeddings: bool = raw.get("tie_word_embeddings", False)
        self.use_cache: bool = raw.get("use_cache", True)
        self.hidden_act: str = raw.get("hidden_act", "silu")
        rope: dict[str, Any] = dict(raw.get("rope_parameters") or raw.get("rope_scaling") or {})
        rope.setdefault("rope_theta", raw.get("rope_theta", 10000.0))
        rope["rope_type"] = rope.get("rope_type", rope.get("type", "default"))
        self.rope_parameters = rope

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)

    def __repr__(self) -> str:
        return f"LiteConfig({self._raw})"


def check_config(raw: dict[str, Any]) -> None:
    """Raise Unsupported unless ``raw`` is a plain Llama causal LM this module computes exactly."""
    why = None
    rope = LiteConfig(raw).rope_parameters if "num_attention_heads" in raw else {}
    if raw.get("model_type") != "llama":
        why = f"model_type {raw.get('model_type')!r}"
    elif raw.get("architectures") not in (None, ["LlamaForCausalLM"]):
        why = f"architectures {raw.get('architectures')}"
    elif raw.get("auto_map") or raw.get("quantization_config"):
        why = "custom code or quantisation"
    elif raw.get("hidden_act", "silu") != "silu" or raw.get("attention_bias") or raw.get("mlp_bias"):
        why = "activation or biases"
    elif (raw.get("pretraining_tp") or 1) != 1 or rope.get("partial_rotary_factor", 1.0) != 1.0:
        why = "pretraining_tp / partial rotary"
    elif rope.get("rope_type") not in ("default", "llama3"):
        why = f"rope type {rope.get('rope_type')!r}"
    if why:
        raise Unsupported(f"the lite engine does not implement this model ({why})")
