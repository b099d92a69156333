"""Tiny random-weight Gemma 3, Qwen3 and Llama 3.2 folders whose config.json keeps the real models' keys and value
kinds (tests/data/real_model_configs.json: layer_types or sliding_window_pattern, rope_local_base_freq, rope
scaling, tied embeddings, head_dim != hidden/heads, GQA) with small sizes, and the full-size configs for benchmarks.

Each folder is built by transformers (random init, fixed seed, every norm weight moved off its initial value so a
wrongly applied norm shows), saved, and its config.json rewritten in the hub's spelling, so that both engines read
the same keys a downloaded model has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

REAL_CONFIGS = Path(__file__).parent / "data" / "real_model_configs.json"
WINDOW = 8  # the tiny Gemmas' sliding window: shorter than the test prompts


def real_config(name: str) -> dict[str, Any]:
    return dict(json.loads(REAL_CONFIGS.read_text())[name])


def _small(name: str, vocab: int) -> dict[str, Any]:
    cfg = real_config(name)
    cfg.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=vocab, bos_token_id=1,
               eos_token_id=2, pad_token_id=0, initializer_range=0.1)
    if cfg["model_type"] == "gemma3_text":
        cfg.update(num_hidden_layers=7, head_dim=32, sliding_window=WINDOW)  # head_dim != 64 / 4, 1 KV head (real)
        if "layer_types" in cfg:
            cfg["layer_types"] = cfg["layer_types"][:7]  # 5 sliding, 1 full, 1 sliding
    elif cfg["model_type"] == "qwen3":
        cfg.update(num_hidden_layers=3, head_dim=32, num_key_value_heads=2)
    else:
        cfg.update(num_hidden_layers=3, head_dim=16, num_key_value_heads=2)  # Llama 3.2: head_dim = hidden / heads
    return cfg


def tiny_configs(vocab: int) -> dict[str, dict[str, Any]]:
    """Small configs named after the real model they follow; ``gemma-3-linear-rope`` is the 1b's with the linear
    RoPE scaling of gemma-3-4b's global layers and a final logit softcap, so both code paths are exercised."""
    out = {name.split("/")[1]: _small(name, vocab) for name in json.loads(REAL_CONFIGS.read_text()) if "/" in name}
    linear = _small("google/gemma-3-1b-it", vocab)
    linear.update(rope_scaling={"factor": 8.0, "rope_type": "linear"}, final_logit_softcapping=30.0)
    out["gemma-3-linear-rope"] = linear
    return out


def build_folder(folder: Path, config: dict[str, Any], seed: int = 0, tokenizer: Any = None) -> Path:
    """A Hugging Face folder with random weights for ``config`` (hub spelling kept in config.json)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.2 * torch.randn_like(p))
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder
