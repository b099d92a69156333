"""Choosing and loading the lite engine (core/engine/lite/llama.py + core/engine/lite/tokenizer.py) for a model folder.

``DESKTOP_SAE_ENGINE=transformers`` forces transformers for every model; otherwise (``auto``, the default) a
Llama, Qwen3 or Gemma 3 (text) folder the lite engine computes (lite/config.py) loads with it and anything else
with transformers. Nothing here imports transformers unless the folder's tokenizer needs it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...support.paths import cache_dir
from .config import LiteArch, LiteConfig, Unsupported, check_config
from .gemma3 import GemmaDecoderLayer, GemmaRMSNorm
from .llama import (
    LiteAttention,
    LiteDecoderLayer,
    LiteMLP,
    LlamaLiteForCausalLM,
    LlamaLiteModel,
    RMSNorm,
    embedding,
)
from .projections import _linear
from .row_setup import choose_kernel

ENGINE_ENV = "DESKTOP_SAE_ENGINE"


def engine_choice() -> str:
    """'transformers' or 'auto' (lite when it supports the model)."""
    value = os.environ.get(ENGINE_ENV, "").strip().lower()
    return "transformers" if value in ("transformers", "hf") else "auto"


def weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else sorted(folder.glob("*.safetensors"))


_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


class _Weights:
    """Reads tensors from .safetensors files straight into preallocated tensors (or slices of them).

    Plain reads rather than the ``safetensors`` package's memory map: touching a mapped file page by page can
    be slow (about 10x here), and reading into the fused q/k/v and gate/up tensors saves a copy."""

    def __init__(self, files: list[Path]) -> None:
        self.entries: dict[str, tuple[int, torch.dtype, list[int], int, int]] = {}
        self.handles: list[io.FileIO] = []
        for f in files:
            fh = open(f, "rb", buffering=0)
            self.handles.append(fh)
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            for name, e in header.items():
                if e["dtype"] not in _DTYPES:
                    raise Unsupported(f"weight {name} is stored as {e['dtype']}")
                a, b = e["data_offsets"]
                self.entries[name] = (len(self.handles) - 1, _DTYPES[e["dtype"]], e["shape"], 8 + n + a, b - a)

    def shape(self, name: str) -> list[int]:
        if name not in self.entries:
            raise Unsupported(f"weight {name} is missing")
        return self.entries[name][2]

    def read(self, name: str, out: torch.Tensor) -> torch.Tensor:
        """Fill ``out`` (contiguous, CPU, any float dtype) with the tensor ``name``."""
        fi, dt, shape, offset, nbytes = self.entries[name]
        if list(out.shape) != list(shape):
            raise Unsupported(f"weight {name} has shape {shape}, expected {list(out.shape)}")
        buf = out if dt == out.dtype else torch.empty(shape, dtype=dt)
        fh = self.handles[fi]
        fh.seek(offset)
        view = buf.view(-1).view(torch.uint8).numpy()
        got = 0
        while got < nbytes:
            # numpy's stubs give ndarray the buffer protocol only for Python >= 3.12 (mypy checks 3.10)
            n = fh.readinto(view[got:])  # type: ignore[arg-type]
            if not n:
                raise Unsupported(f"{name}: the weights file is truncated")
            got += n
        if buf is not out:
            out.copy_(buf)
        return out

    def get(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        return self.read(name, torch.empty(self.shape(name), dtype=dtype))

    def stacked(self, names: list[str], dtype: torch.dtype) -> torch.Tensor:
        """The tensors ``names`` concatenated along rows, read in place."""
        rows = [self.shape(n)[0] for n in names]
        out = torch.empty((sum(rows), *self.shape(names[0])[1:]), dtype=dtype)
        start = 0
        for n, r in zip(names, rows):
            self.read(n, out[start : start + r])
            start += r
        return out

    def close(self) -> None:
        for fh in self.handles:
            fh.close()


def load_lite_model(folder: Path, device: torch.device, dtype: torch.dtype) -> LlamaLiteForCausalLM:
    """Build the model from ``folder``; raises Unsupported for anything the lite engine does not compute.
    On the CPU, single-row products then run on the kernel measured fastest here (core/engine/lite/row_setup.py)."""
    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    check_config(raw)
    cfg = LiteConfig(raw)
    files = weight_files(folder)
    if not files:
        raise Unsupported("no .safetensors weights in the folder")
    w = _Weights(files)
    norm = GemmaRMSNorm if cfg.arch is LiteArch.GEMMA3 else RMSNorm
    try:
        layers = [_layer(w, cfg, i, dtype) for i in range(cfg.num_hidden_layers)]
        model = LlamaLiteModel(cfg, embedding(w.get("model.embed_tokens.weight", dtype), cfg.embed_scale), layers,
                               norm(w.get("model.norm.weight", dtype), cfg.rms_norm_eps))
        if cfg.tie_word_embeddings:
            lm_head = _linear(model.embed_tokens.weight.data)
            lm_head.weight = model.embed_tokens.weight  # one Parameter, as transformers ties them
        else:
            lm_head = _linear(w.get("lm_head.weight", dtype))
    finally:
        w.close()
    if model.embed_tokens.weight.shape[0] != cfg.vocab_size:
        raise Unsupported("embedding rows differ from vocab_size")
    lm = LlamaLiteForCausalLM(cfg, model, lm_head, _generation(folder, raw), str(folder))
    if device.type != "cpu":
        lm.to(device)
    lm.eval().requires_grad_(False)
    choose_kernel(lm, cache_dir() / "row_kernels.json")
    return lm


def _layer(w: _Weights, cfg: LiteConfig, i: int, dtype: torch.dtype) -> nn.Module:
    """Decoder layer ``i`` of ``cfg``'s architecture, its weights read from ``w``."""
    p, eps = f"model.layers.{i}.", cfg.rms_norm_eps
    norm = GemmaRMSNorm if cfg.arch is LiteArch.GEMMA3 else RMSNorm
    qkv = w.stacked([f"{p}self_attn.{n}_proj.weight" for n in "qkv"], dtype)
    qk_norms = None
    if cfg.arch in (LiteArch.QWEN3, LiteArch.GEMMA3):
        qk_norms = (norm(w.get(p + "self_attn.q_norm.weight", dtype), eps),
                    norm(w.get(p + "self_attn.k_norm.weight", dtype), eps))
    attn = LiteAttention(cfg, i, qkv, w.get(p + "self_attn.o_proj.weight", dtype), qk_norms)
    mlp = LiteMLP(w.stacked([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"], dtype),
                  w.get(p + "mlp.down_proj.weight", dtype), cfg.hidden_act)
    if cfg.arch is LiteArch.GEMMA3:
        names = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                 "post_feedforward_layernorm")
        return GemmaDecoderLayer(attn, mlp, tuple(GemmaRMSNorm(w.get(f"{p}{n}.weight", dtype), eps) for n in names))
    return LiteDecoderLayer(attn, mlp, RMSNorm(w.get(p + "input_layernorm.weight", dtype), eps),
                            RMSNorm(w.get(p + "post_attention_layernorm.weight", dtype), eps))


def _generation(folder: Path, raw: dict[str, Any]) -> dict[str, Any]:
    gen = {k: raw.get(k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    try:
        gen.update(json.loads((folder / "generation_config.json").read_text()))
    except (OSError, ValueError):
        pass
    return gen


def load_lite(folder: Path, device: torch.device, dtype: torch.dtype) -> tuple[LlamaLiteForCausalLM, Any] | None:
    """(model, tokenizer) with the lite engine, or None when the model needs transformers. The tokenizer is
    the lite one when the folder's tokenizer files are plain enough, else transformers' AutoTokenizer."""
    from .tokenizer import LiteTokenizer

    try:
        model = load_lite_model(Path(folder), device, dtype)
    except (Unsupported, KeyError, ValueError, OSError):  # transformers loads it (or explains why it cannot)
        return None
    tok: Any  # LiteTokenizer, or transformers' (loosely typed) tokenizer
    try:
        tok = LiteTokenizer.from_folder(folder)
    except Unsupported:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder))
    return model, tok
