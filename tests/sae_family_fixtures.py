"""Random-weight SAEs written in the exact on-disk layouts of three released families, as SAELens's pretrained
loaders read them (sae_lens/loading/pretrained_sae_loaders.py): Gemma Scope 2 (``gemma_3``), Qwen Scope
(``qwen_scope``) and mwhanna's transcoders (``mwhanna_transcoder``). Each writer lays the files out under a
hub-like root, ``<root>/<repo_id>/<path in the repo>``, and returns the raw arrays it wrote (the names and
orientation of the file), so a test can compute the expected maths from them. Used by tests/test_sae_families.py
(tiny widths) and packaging/interop/check_saelens_families.py (real widths)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

INPUT_SCALE = 2.0  # inputs are standard normal times this: pre-activations have about this spread
GEMMA_REPO = "google/gemma-scope-2-270m-it"
QWEN_REPO = "Qwen/SAE-Res-Qwen3-1.7B-Base-W32K-L0_50"
MWHANNA_REPO = "mwhanna/qwen3-0.6b-transcoders-lowl0"
Raw = dict[str, torch.Tensor]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def write_gemmascope2(root: Path, site: str, d_in: int, d_sae: int, d_out: int | None = None, affine: bool = False,
                      config: bool = True, layer: int = 12, seed: int = 0, sparse: bool = False) -> tuple[Path, Raw]:
    """``<root>/google/gemma-scope-2-270m-it/<site>/layer_<L>_width_16k_l0_medium[_affine]/params.safetensors``
    (+ ``config.json``): JumpReLU, thresholds > 0, for ``site`` in resid_post, mlp_out, attn_out, transcoder.
    ``sparse``: thresholds high enough that about 0.5 % of the features fire on ``INPUT_SCALE`` inputs, as in a
    trained SAE (else about half, which tests the threshold on many features)."""
    g = _gen(seed)
    d_out = d_out or d_in
    folder = root / GEMMA_REPO / site / f"layer_{layer}_width_16k_l0_medium{'_affine' if affine else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    raw = {"w_enc": torch.randn(d_in, d_sae, generator=g) / d_in**0.5,
           "w_dec": torch.randn(d_sae, d_out, generator=g) / d_sae**0.5,
           "b_enc": torch.randn(d_sae, generator=g) * 0.1,
           "b_dec": torch.randn(d_out, generator=g) * 0.1,
           "threshold": torch.rand(d_sae, generator=g) * (1.5 if sparse else 0.6) + (4.5 if sparse else 0.0)}
    if affine:
        raw["affine_skip_connection"] = torch.randn(d_in, d_out, generator=g) * 0.05
    save_file(raw, str(folder / "params.safetensors"))
    if config:
        hf = {"resid_post": "output", "mlp_out": "post_feedforward_layernorm.output",
              "attn_out": "self_attn.o_proj.input", "transcoder": "pre_feedforward_layernorm.output"}[site]
        cfg = {"architecture": "jump_relu", "model_name": "gemma-v3-270m-it", "width": d_sae, "l0": 60,
               "hf_hook_point_in": f"model.layers.{layer}.{hf}"}
        if site == "transcoder":
            out = f"model.layers.{layer}.post_feedforward_layernorm.output"
            cfg.update(affine_connection=affine, hf_hook_point_out=out)
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder, raw


def write_qwenscope(root: Path, d_in: int, d_sae: int, repo: str = QWEN_REPO, layer: int = 5,
                    seed: int = 0) -> tuple[Path, Raw]:
    """``<root>/<repo>/layer<L>.sae.pt``: a torch.save dict, ``W_enc [d_sae, d_in]``, ``W_dec [d_in, d_sae]``."""
    g = _gen(seed)
    folder = root / repo
    folder.mkdir(parents=True, exist_ok=True)
    raw = {"W_enc": torch.randn(d_sae, d_in, generator=g) / d_in**0.5,
           "W_dec": torch.randn(d_in, d_sae, generator=g) / d_sae**0.5,
           "b_enc": torch.randn(d_sae, generator=g) * 0.1,
           "b_dec": torch.randn(d_in, generator=g) * 0.1}
    path = folder / f"layer{layer}.sae.pt"
    torch.save(raw, path)
    return path, raw


def write_mwhanna(root: Path, d_model: int, d_sae: int, layer: int = 5, seed: int = 0,
                  base_config: bool = True, sparse: bool = False) -> tuple[Path, Raw]:
    """``<root>/mwhanna/qwen3-0.6b-transcoders-lowl0/layer_<L>.safetensors`` beside ``wandb-config.yaml`` and
    ``config.yaml``: ``W_enc [d_sae, d_model]``, ``W_dec [d_sae, d_model]``, ``b_enc``, ``b_dec``."""
    g = _gen(seed)
    folder = root / MWHANNA_REPO
    folder.mkdir(parents=True, exist_ok=True)
    raw = {"W_enc": torch.randn(d_sae, d_model, generator=g) / d_model**0.5,
           "W_dec": torch.randn(d_sae, d_model, generator=g) / d_sae**0.5,
           "b_enc": torch.randn(d_sae, generator=g) * 0.1 - (5.0 if sparse else 0.05),
           "b_dec": torch.randn(d_model, generator=g) * 0.1}
    path = folder / f"layer_{layer}.safetensors"
    save_file(raw, str(path))
    (folder / "wandb-config.yaml").write_text(
        f"d_model:\n  value: {d_model}\nd_feature:\n  value: {d_sae}\nbatch_size:\n  value: 4096\n")
    if base_config:
        (folder / "config.yaml").write_text("model_name: Qwen/Qwen3-0.6B\nmodel_kind: transcoder_set\n")
    return path, raw


@dataclass(frozen=True)
class Family:
    """One fixture: its name in the results file, the SAELens release and id that name it, and its writer."""

    name: str
    release: str
    sae_id: str
    write: Callable[[Path, bool], tuple[Path, Raw]]  # (root, real widths?) -> (path to load, raw arrays)


def _gemma(site: str, d_in_real: int, seed: int, **kw: bool) -> Callable[[Path, bool], tuple[Path, Raw]]:
    """A Gemma Scope 2 writer: 16 384 features at the real width, or 64 features on a 40th of it."""
    return lambda root, real: write_gemmascope2(root, site, d_in_real if real else d_in_real // 40,
                                                16384 if real else 64, seed=seed, sparse=real, **kw)


FAMILIES = (
    Family("gemma-scope-2 resid_post", "gemma-scope-2-270m-it-res", "layer_12_width_16k_l0_medium",
           _gemma("resid_post", 640, 0)),
    Family("gemma-scope-2 mlp_out", "gemma-scope-2-270m-it-mlp", "layer_12_width_16k_l0_medium",
           _gemma("mlp_out", 640, 1)),
    Family("gemma-scope-2 attn_out", "gemma-scope-2-270m-it-att", "layer_12_width_16k_l0_medium",
           _gemma("attn_out", 1024, 2)),  # 4 heads of 256 before the output projection
    Family("gemma-scope-2 transcoder", "gemma-scope-2-270m-it-transcoders", "transcoder/layer_12_width_16k_l0_medium",
           _gemma("transcoder", 640, 3)),
    Family("gemma-scope-2 affine transcoder", "gemma-scope-2-270m-it-transcoders",
           "transcoder/layer_12_width_16k_l0_medium_affine", _gemma("transcoder", 640, 4, affine=True, config=False)),
    Family("qwen-scope", "qwen-scope-3-1.7b-base-w32k-l50", "layer5",
           lambda r, real: write_qwenscope(r, 2048, 32768, seed=5) if real
           else write_qwenscope(r, 16, 1024, repo="Qwen/SAE-Res-TinyQwen-W1K-L0_8", seed=5)),
    Family("mwhanna transcoder", "mwhanna-qwen3-0.6b-transcoders-lowl0", "layer_5",
           lambda r, real: write_mwhanna(r, 1024 if real else 16, 16384 if real else 64, seed=6, sparse=real)),
)
