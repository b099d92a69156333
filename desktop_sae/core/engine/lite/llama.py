"""A transformers-free Llama-family causal LM: the ``lite`` engine (fast start-up and batch-1 decoding).

It runs a Hugging Face Llama, Qwen3 or Gemma 3 (text) folder's weights with transformers' module names and
structure: ``model.model.embed_tokens``, ``model.model.layers[i]`` (``self_attn`` with ``q/k/v/o_proj`` returning
``(out, None)`` and, for Qwen3 and Gemma 3, ``q_norm``/``k_norm``; ``mlp`` with ``gate/up/down_proj``,
``input_layernorm``, ``post_attention_layernorm``; Gemma 3's layer is in core/engine/lite/gemma3.py),
``model.model.norm`` and ``model.lm_head``; a decoder layer returns a tensor, as in transformers 5. The
arithmetic follows transformers' op for op: the same logits up to summation order (float32: within 1e-5) and the
same greedy tokens (tests/test_llama_lite.py, test_llama_lite_rows.py, test_lite_archs.py).

Speed: one matmul for q/k/v and one for gate/up (``q_proj.weight`` etc. are views into the fused weights, so
nothing is stored twice; when a hook watches one of them the separate modules run instead, so hooks on any
sub-module fire), single rows on the kernel measured fastest on this CPU (core/support/row_kernels.py: oneDNN with
prepacked weights, ``F.linear`` or ``torch.mv``), RoPE tables computed once, a preallocated per-layer KV
cache (core/engine/lite/kv_cache.py) and SDPA with ``enable_gqa``. Weights are read by core/engine/lite/choice.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import AttnKind, LiteConfig
from .kv_cache import LiteCache, LiteOutput, _mask
from .projections import HookWatch, Proj, _bare, _call, _Fused, _linear, _proj, _watched
from .rope import inv_freq, rotate, tables


# --- building blocks ----------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # == transformers' LlamaRMSNorm bit for bit: normalise in float32, cast back, then scale. F.rms_norm does
        # the first two itself for bfloat16/float16 input (it computes in float32 and casts the result back:
        # tests/test_lite_fast_path.py checks it), saving two casts a norm
        return self.weight * F.rms_norm(x, self.weight.shape, eps=self.variance_epsilon)


class LiteAttention(_Fused):
    parts = ("q_proj", "k_proj", "v_proj")
    q_proj: Proj  # views into ``fused``, made by _fuse
    k_proj: Proj
    v_proj: Proj

    def __init__(self, cfg: LiteConfig, idx: int, qkv: torch.Tensor, o: torch.Tensor,
                 qk_norms: tuple[nn.Module, nn.Module] | None = None) -> None:
        """``qkv``: the q, k and v projection weights stacked by rows; ``qk_norms``: per-head RMSNorms of the
        queries and keys before RoPE (Qwen3, Gemma 3)."""
        super().__init__()
        self.layer_idx, self.head_dim = idx, cfg.head_dim
        self.num_heads, self.num_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_kv
        self.scaling = cfg.attn_scale
        self.kind = cfg.layer_types[idx]
        kv = self.num_kv * self.head_dim
        self._fuse(qkv, (self.num_heads * self.head_dim, kv, kv))
        self.o_proj = _linear(o)
        self.qk_normed = qk_norms is not None  # (a plain flag: hasattr on a module raises inside, a cost a step)
        if qk_norms is not None:
            self.q_norm, self.k_norm = qk_norms

    def forward(self, hidden_states: torch.Tensor, step: _Step) -> tuple[torch.Tensor, None]:
        b, t, _ = hidden_states.shape
        h, kv, hd = self.num_heads, self.num_kv, self.head_dim
        if not step.quiet and _watched(self.q_proj, self.k_proj, self.v_proj):
            x = hidden_states
            qkv = torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], dim=-1).view(b, t, h + 2 * kv, hd)
        else:
            qkv = _proj(hidden_states, self.fused, self.row).view(b, t, h + 2 * kv, hd)
        if self.qk_normed:
            q = rotate(_call(self.q_norm, step.quiet)(qkv.narrow(2, 0, h)), step.cos, step.sin)
            k = rotate(_call(self.k_norm, step.quiet)(qkv.narrow(2, h, kv)), step.cos, step.sin)
        else:
            q, k = rotate(qkv.narrow(2, 0, h + kv), step.cos, step.sin).split((h, kv), dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), qkv.narrow(2, h + kv, kv).transpose(1, 2)
        if step.cache is not None:
            k, v = step.cache.write(self.layer_idx, k, v, step.start)
        if step.kv_from:  # one new token on a sliding-window layer: only the window's keys
            n = k.shape[2] - step.kv_from
            k, v = k.narrow(2, step.kv_from, n), v.narrow(2, step.kv_from, n)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=step.mask,
            is_causal=step.causal,
            scale=self.scaling,
            enable_gqa=self.num_key_value_groups > 1,
        )
        return _call(self.o_proj, step.quiet)(out.transpose(1, 2).reshape(b, t, h * hd)), None


class LiteMLP(_Fused):
    parts = ("gate_proj", "up_proj")
    gate_proj: Proj  # views into ``fused``, made by _fuse
    up_proj: Proj

    def __init__(self, gate_up: torch.Tensor, down: torch.Tensor, act: str = "silu") -> None:
        """``gate_up``: the gate and up projection weights stacked by rows; ``act``: silu or gelu_pytorch_tanh."""
        super().__init__()
        self._fuse(gate_up, (down.shape[1], down.shape[1]))
        self.down_proj = _linear(down)
        self.gelu = act == "gelu_pytorch_tanh"

    def run(self, x: torch.Tensor, quiet: bool) -> torch.Tensor:
        """The MLP on ``x`` from a layer: called as a module unless ``quiet`` (HookWatch found no hooks)."""
        return self.forward(x, True) if quiet else self(x)

    def forward(self, x: torch.Tensor, quiet: bool = False) -> torch.Tensor:
        """``quiet``: no hook watches the parts (HookWatch)."""
        if not quiet and _watched(self.gate_proj, self.up_proj):
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = _proj(x, self.fused, self.row).chunk(2, dim=-1)
        return _call(self.down_proj, quiet)((F.gelu(gate, approximate="tanh") if self.gelu else F.silu(gate)) * up)


class LiteDecoderLayer(nn.Module):
    def __init__(self, attn: LiteAttention, mlp: LiteMLP, ln1: RMSNorm, ln2: RMSNorm) -> None:
        super().__init__()
        self.self_attn, self.mlp = attn, mlp
        self.input_layernorm, self.post_attention_layernorm = ln1, ln2

    def forward(self, hidden_states: torch.Tensor, step: _Step) -> torch.Tensor:
        # _call: the parts without nn.Module.__call__ unless a hook may watch them
        q = step.quiet
        h = hidden_states + _call(self.self_attn, q)(_call(self.input_layernorm, q)(hidden_states), step)[0]
        return h + self.mlp.run(_call(self.post_attention_layernorm, q)(h), q)


@dataclass
class _Step:
    """What every layer needs for one forward: RoPE rows, cache, write offset and the attention mask."""

    cos: torch.Tensor
    sin: torch.Tensor
    cache: LiteCache | None
    start: int
    mask: torch.Tensor | None
    causal: bool
    kv_from: int = 0  # the first key position attended (sliding-window layers without a mask)
    quiet: bool = False  # no hook watches any module below the layers (HookWatch)


class ScaledEmbedding(nn.Embedding):
    """Gemma's embedding: rows times ``embed_scale`` (sqrt(hidden_size)) cast to the weight's dtype first, as
    transformers' Gemma3TextScaledWordEmbedding does (in bfloat16, sqrt(1152) = 33.94 becomes 34.0)."""

    embed_scale: float

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(input) * torch.tensor(self.embed_scale).to(self.weight.dtype)


def embedding(weight: torch.Tensor, scale: float | None = None) -> nn.Embedding:
    """The input embedding around ``weight`` (scaled by ``scale`` when given)."""
    attrs: dict[str, object] = dict(num_embeddings=weight.shape[0], embedding_dim=weight.shape[1], padding_idx=None,
                                    max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False)
    if scale is None:
        return _bare(nn.Embedding, weight, **attrs)
    return _bare(ScaledEmbedding, weight, embed_scale=scale, **attrs)


class LlamaLiteModel(nn.Module):
    def __init__(self, cfg: LiteConfig, embed: nn.Embedding, layers: list[nn.Module], norm: nn.Module) -> None:
        """``layers``: the decoder layers, each of the attention kind ``cfg.layer_types`` gives it."""
        super().__init__()
        self.config = cfg
        self.embed_tokens = embed
        self.layers = nn.ModuleList(layers)
        self.norm = norm
        self._kinds: list[AttnKind] = list(cfg.layer_types)
        self._inv_freq = {k: inv_freq(cfg.rope_by_kind[k], cfg.head_dim) for k in set(self._kinds)}
        self._rope: dict[tuple[AttnKind, torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}
        self._hook_watch = HookWatch()

    def rope_tables(self, n: int, dtype: torch.dtype, device: torch.device, kind: AttnKind = AttnKind.FULL
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, signed sin) ``[positions, 1, head_dim]`` in ``dtype`` for the layers of attention ``kind``,
        computed in float32 as transformers does, for at least ``n`` positions."""
        key = (kind, dtype, device)
        tab = self._rope.get(key)
        if tab is None or tab[0].shape[0] < n:
            size = max(n, self.config.max_position_embeddings, 2 * (tab[0].shape[0] if tab else 0))
            inv = self._inv_freq.get(kind)
            if inv is None:
                inv = inv_freq(self.config.rope_by_kind[kind], self.config.head_dim)
            tab = self._rope[key] = tables(inv, size, dtype, device)
        return tab

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: LiteCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
    ) -> tuple[torch.Tensor, LiteCache | None]:
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        b, t = x.shape[:2]
        cache = past_key_values
        if cache is None and (self.config.use_cache if use_cache is None else use_cache):
            cfg = self.config
            cache = LiteCache(
                len(self.layers), b, cfg.num_key_value_heads, cfg.head_dim, x.dtype, x.device, capacity=t + 256
            )
        past = cache.length if cache is not None else 0
        end = past + t
        if cache is not None:
            cache.reserve(end)
        steps = {}
        quiet = self._hook_watch.quiet(self.layers)
        for kind in self._inv_freq:
            if position_ids is None:
                cos, sin = self.rope_tables(end, x.dtype, x.device, kind)
                cos, sin = cos[past:end], sin[past:end]
            else:
                cos, sin = self.rope_tables(int(position_ids.max()) + 1, x.dtype, x.device, kind)
                cos, sin = cos[position_ids], sin[position_ids]  # [b, t, 1, hd]
            window = self.config.sliding_window if kind is AttnKind.SLIDING else None
            mask, causal = _mask(attention_mask, b, t, past, x.device, window)
            kv_from = max(0, end - window) if window is not None and mask is None else 0
            steps[kind] = _Step(cos, sin, cache, past, mask, causal, kv_from, quiet)
        for layer, kind in zip(self.layers, self._kinds):
            x = layer(x, steps[kind])
        if cache is not None:
            cache.length = end
        return self.norm(x), cache


class LlamaLiteForCausalLM(nn.Module):
    """The causal LM; ``forward`` takes transformers' arguments and returns ``.logits`` / ``.past_key_values``."""

    main_input_name = "input_ids"
    row_kernel: str  # set by row_setup.install (absent until then)
    weights_int8: bool  # set by row_setup.quantize_int8
    weights_int4: bool  # set by row_setup.quantize_int4

    def __init__(self, cfg: LiteConfig, model: LlamaLiteModel, lm_head: Proj, generation: dict[str, Any],
                 folder: str) -> None:
        super().__init__()
        self.config = cfg
        self.model = model
        self.lm_head = lm_head
        self.generation_config = _Namespace(generation)
        self.name_or_path = folder
        self._twin: list[nn.Module] = []  # a list, so the twin is not registered as a sub-module

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.embed_tokens.weight.device

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: LiteCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> LiteOutput:
        if past_key_values is None:
            past_key_values = kwargs.pop("cache", None)
        unsupported = sorted(k for k, v in kwargs.items() if v and k != "return_dict")
        if unsupported:
            raise TypeError(f"the lite engine does not support {', '.join(unsupported)}")
        if past_key_values is not None and not isinstance(past_key_values, LiteCache):
            raise TypeError(f"the lite engine needs its own LiteCache, got {type(past_key_values).__name__}")
        h, cache = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache)
        if isinstance(logits_to_keep, int):
            h = h[:, -logits_to_keep:] if logits_to_keep else h
        else:
            h = h[:, logits_to_keep]
        logits = self.lm_head(h)
        cap = self.config.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return LiteOutput(logits, cache)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """transformers' ``generate()`` (batched sampling, used by the training tools) on :meth:`transformers_twin`."""
        twin: Any = self.transformers_twin()  # a transformers model
        return twin.generate(*args, **kwargs)

    def transformers_twin(self) -> nn.Module:
        """The same folder loaded by transformers (imported on first use; a second copy of the weights)."""
        if not self._twin:
            from transformers import AutoModelForCausalLM
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            # Any: a transformers model (its stubs mistype .to())
            twin: Any = AutoModelForCausalLM.from_pretrained(self.name_or_path, dtype=self.dtype)
            self._twin.append(twin.to(self.device).eval().requires_grad_(False))
        return self._twin[0]


class _Namespace:
    def __init__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
