"""SAE releases whose files are not SAELens folders, read as SAELens's own loaders read them (its
``pretrained_saes.yaml`` names the loader of each release; packaging/interop/check_saelens_families.py compares):

- Gemma Scope (1): ``params.npz`` (JumpReLU), read with ``allow_pickle=False``.
- Gemma Scope 2 (``gemma_3`` loader): ``<site>/layer_<L>_width_<W>_l0_<size>[_affine]/params.safetensors`` with
  ``w_enc [d_in, d_sae]``, ``w_dec [d_sae, d_out]``, ``b_enc``, ``b_dec``, ``threshold`` (JumpReLU) and, for an
  affine transcoder, ``affine_skip_connection [d_in, d_out]``; an optional ``config.json`` beside it
  (``architecture: jump_relu``, ``model_name``, ``affine_connection`` ...). The site folder names the hook:
  ``resid_post``, ``mlp_out``, ``attn_out`` (SAELens reads its input at ``attn.hook_z``, the heads before the output
  projection) or ``transcoder`` (reads the MLP's input, writes its output).
- Qwen Scope (``qwen_scope`` loader): ``layer<L>.sae.pt``, a torch.save dictionary with ``W_enc [d_sae, d_in]``,
  ``W_dec [d_in, d_sae]``, ``b_enc``, ``b_dec``: a TopK SAE on the residual stream after layer L whose k and width
  are named only by its repository, ``SAE-Res-<model>-W<width>K-L0_<k>``. Read without unpickling (torch_zip.py).
- mwhanna's transcoders (``mwhanna_transcoder`` loader): ``layer_<L>.safetensors`` with ``W_enc [d_sae, d_in]``,
  ``W_dec [d_sae, d_out]``, ``b_enc``, ``b_dec``, beside ``wandb-config.yaml`` (``d_model``, ``d_feature``) and
  ``config.yaml`` (``model_name``): ReLU transcoders from the MLP's input to its output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..support.errors import SAEFormatError
from ..support.file_values import cut, quote
from .autoencoder import SAE
from .family_layouts import (
    GEMMASCOPE2_SITES,
    GEMMASCOPE2_WEIGHTS,
    MWHANNA_BASE_CONFIG,
    MWHANNA_CONFIGS,
    MWHANNA_FILE,
    QWENSCOPE_FILE,
    QWENSCOPE_MODELS,
    QWENSCOPE_REPO,
    SAFETENSORS_DTYPES,
    Family,
    gemmascope2_site,
)
from .sae_config import SAEConfig

Shapes = Mapping[str, tuple[int, ...]]


def load_family(fmt: str, path: Path) -> SAE:
    if fmt == "gemmascope":
        return _load_gemmascope(path)
    family = Family(fmt)
    weights = path / GEMMASCOPE2_WEIGHTS if family is Family.GEMMA_SCOPE_2 and path.is_dir() else path
    from .formats import _fill, _read_safetensors
    from .torch_zip import read_torch_tensors

    tensors = read_torch_tensors(weights) if family is Family.QWEN_SCOPE else _read_safetensors(weights)
    cfg = _CONFIGS[family](path, {k: tuple(v.shape) for k, v in tensors.items()})
    mapped = {ours: tensors[theirs].T if flip else tensors[theirs]
              for ours, (theirs, flip) in _tensor_names(family, cfg).items() if theirs in tensors}
    return _fill(cfg, mapped, weights)


def family_header(fmt: str, path: Path) -> tuple[SAEConfig, str]:
    """The configuration of the SAE at ``path`` and the dtype its encoder is stored in, from the configs and the
    weights file's header only (no tensor data is read); its tensors' shapes are checked as a load checks them."""
    from .formats import check_shapes
    from .torch_zip import read_torch_shapes

    family = Family(fmt)
    weights = path / GEMMASCOPE2_WEIGHTS if family is Family.GEMMA_SCOPE_2 and path.is_dir() else path
    if family is Family.QWEN_SCOPE:
        found = {k: (s, str(d).removeprefix("torch.")) for k, (s, d) in read_torch_shapes(weights).items()}
    else:
        found = _safetensors_shapes(weights)
    cfg = _CONFIGS[family](path, {k: s for k, (s, _d) in found.items()})
    names = _tensor_names(family, cfg)
    check_shapes(cfg, {ours: found[theirs][0][::-1] if flip else found[theirs][0]
                       for ours, (theirs, flip) in names.items() if theirs in found}, weights)
    return cfg, found[names["W_enc"][0]][1]


def _safetensors_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise SAEFormatError(f"missing weights file {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            slices = {k: f.get_slice(k) for k in f.keys()}
            return {k: (tuple(int(n) for n in s.get_shape()), SAFETENSORS_DTYPES.get(s.get_dtype(), s.get_dtype()))
                    for k, s in slices.items()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for truncated/garbled files
        size = path.stat().st_size
        raise SAEFormatError(f"{path} is damaged or not a safetensors file ({size} bytes): {cut(str(e))}") from None


def _tensor_names(family: Family, cfg: SAEConfig) -> dict[str, tuple[str, bool]]:
    """Our tensor name -> (the file's name, stored transposed?)."""
    if family is Family.GEMMA_SCOPE_2:
        names = {"W_enc": ("w_enc", False), "W_dec": ("w_dec", False), "b_enc": ("b_enc", False),
                 "b_dec": ("b_dec", False), "threshold": ("threshold", False)}
        if cfg.architecture == "jumprelu_skip_transcoder":
            names["W_skip"] = ("affine_skip_connection", True)  # stored [d_in, d_out]
        return names
    flip_dec = family is Family.QWEN_SCOPE  # Qwen Scope: W_enc [d_sae, d_in], W_dec [d_in, d_sae]
    return {"W_enc": ("W_enc", True), "W_dec": ("W_dec", flip_dec), "b_enc": ("b_enc", False),
            "b_dec": ("b_dec", False)}


def _two_d(shapes: Shapes, name: str, where: Path) -> tuple[int, int]:
    s = shapes.get(name)
    if s is None or len(s) != 2:
        found = cut(", ".join(sorted(shapes))) or "none"
        raise SAEFormatError(f"{where}: needs a 2-D tensor {name} (found: {found})")
    return int(s[0]), int(s[1])


# --- Gemma Scope (1): params.npz ----------------------------------------------------------------------------
def _load_gemmascope(path: Path) -> SAE:
    """A Gemma Scope ``params.npz`` (JumpReLU; the hook from a ``cfg.json`` beside it or from the path)."""
    from .formats import _config, _fill, _gemmascope_hook, _read_json, _text

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" not in str(e):
            raise SAEFormatError(f"{path} is damaged or not an .npz file: {cut(str(e))}") from None
        why = cut(str(e))
        raise SAEFormatError(f"{path} holds pickled objects, which are never loaded for safety ({why})") from None
    except Exception as e:  # noqa: BLE001 - numpy's zip reader raises many types for a damaged file
        raise SAEFormatError(f"{path} is damaged or not an .npz file: {cut(str(e))}") from None
    not_arrays = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]  # members without an .npy header
    if not_arrays:
        raise SAEFormatError(f"{path}: {cut(', '.join(not_arrays))} holds no NumPy array (damaged file?)")
    if "W_enc" not in arrays or arrays["W_enc"].ndim != 2:
        raise SAEFormatError(f"{path}: missing a 2-D W_enc (found: {cut(', '.join(sorted(arrays))) or 'none'})")
    d_in, d_sae = (int(s) for s in arrays["W_enc"].shape)
    meta_cfg = _read_json(path.parent / "cfg.json") if (path.parent / "cfg.json").exists() else {}
    where = path.parent / "cfg.json"
    cfg = _config(
        path,
        d_in=d_in,
        d_sae=d_sae,
        architecture="jumprelu",
        apply_b_dec_to_input=False,
        hook_name=_text(meta_cfg.get("hook_name") or _gemmascope_hook(path), "hook_name", where),
        model_name=_text(meta_cfg.get("model_name", ""), "model_name", where),
    )
    tensors = {}
    for k, v in arrays.items():
        if v.dtype.kind != "f":
            raise SAEFormatError(f"{path}: array {k} has dtype {v.dtype}, expected floating point")
        tensors[k] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))  # any byte order or precision
    return _fill(cfg, tensors, path)



# --- Gemma Scope 2 ------------------------------------------------------------------------------------
def gemma3_model_name(name: str) -> str:
    """A Gemma Scope 2 config's model name as SAELens writes it (``gemma-v3-270m-pt`` -> ``google/gemma-3-270m``)."""
    name = name if "google" in name else "google/" + name
    name = name.replace("-v3", "-3")
    return name.replace("-pt", "") if "270m" in name else name


def _gemmascope2_model(folder: Path) -> str:
    """The model, from the release's folder name (``gemma-scope-2-270m-it`` -> ``google/gemma-3-270m-it``)."""
    for part in reversed(folder.parts):
        m = re.search(r"gemma-scope-2-([\w.-]+)$", part)
        if m:
            return f"google/gemma-3-{m.group(1)}"
    return ""


def _gemmascope2_config(path: Path, shapes: Shapes) -> SAEConfig:
    from .formats import _config, _read_json, _text

    folder = path.parent if path.is_file() else path
    weights, where = folder / GEMMASCOPE2_WEIGHTS, folder / "config.json"
    if "clt" in f"{folder.parent.name}/{folder.name}":
        raise SAEFormatError(f"{folder}: Gemma Scope 2 cross-layer transcoders (clt) are not supported")
    site = gemmascope2_site(folder.as_posix())
    if site is None:
        raise SAEFormatError(f"{folder}: a Gemma Scope 2 SAE lives in <site>/layer_<L>_..., with the site one of "
                             f"{', '.join(GEMMASCOPE2_SITES)}; cannot tell its hook point from this path")
    raw = _read_json(where) if where.is_file() else {"architecture": "jump_relu", "affine_connection": "affine"
                                                     in folder.name}  # what SAELens infers without a config.json
    if raw.get("architecture") != "jump_relu":
        raise SAEFormatError(f"{where}: architecture {quote(raw.get('architecture'))}; Gemma Scope 2 SAEs are "
                             "JumpReLU ('jump_relu')")
    layer = str(site[1])
    hook_in, hook_out, hf_in, hf_out = (s.replace("{L}", layer) if s else s for s in GEMMASCOPE2_SITES[site[0]])
    d_in, d_sae = _two_d(shapes, "w_enc", weights)
    d_out = _two_d(shapes, "w_dec", weights)[1]
    transcoder = hook_out is not None
    affine = bool(raw.get("affine_connection", False)) and transcoder
    if "affine_skip_connection" in shapes and not affine:
        raise SAEFormatError(f"{weights} has an affine_skip_connection, but its configuration says the transcoder "
                             "has none (affine_connection)")
    model = raw.get("model_name")
    meta: dict[str, Any] = {"hf_hook_name": hf_in, "prepend_bos": True, "context_size": 1024}
    if transcoder:
        meta["hf_hook_name_out"] = hf_out
    return _config(
        where, d_in=d_in, d_sae=d_sae,
        architecture=("jumprelu_skip_transcoder" if affine else "jumprelu_transcoder") if transcoder else "jumprelu",
        apply_b_dec_to_input=False, hook_name=f"blocks.{layer}.{hook_in}",
        hook_name_out=f"blocks.{layer}.{hook_out}" if transcoder else "",
        d_out=d_out if transcoder else None, metadata=meta,
        model_name=gemma3_model_name(_text(model, "model_name", where)) if model else _gemmascope2_model(folder))


# --- Qwen Scope ---------------------------------------------------------------------------------------
def _qwenscope_config(path: Path, shapes: Shapes) -> SAEConfig:
    from .formats import _config

    layer = QWENSCOPE_FILE.fullmatch(path.name)
    assert layer is not None  # detect_family matched the name
    repo = next((m for part in reversed(path.parent.parts) if (m := QWENSCOPE_REPO.search(part))), None)
    if repo is None:
        raise SAEFormatError(f"{path}: a Qwen Scope SAE's k and width are named only by its repository "
                             "(SAE-Res-<model>-W<width>K-L0_<k>); keep the file in a folder of that name")
    model_key, width, k = repo.group(1), int(repo.group(2)) * 1024, int(repo.group(3))
    d_sae, d_in = _two_d(shapes, "W_enc", path)
    _two_d(shapes, "W_dec", path)
    model, width_in = QWENSCOPE_MODELS.get(model_key, (f"Qwen/{model_key}", d_in))
    if (d_in, d_sae) != (width_in, width):
        raise SAEFormatError(f"{path}: W_enc has shape {(d_sae, d_in)}, but the repository "
                             f"{repo.group(0)} names {width} features of {model} (width {width_in})")
    return _config(path, d_in=d_in, d_sae=d_sae, architecture="topk", k=k, apply_b_dec_to_input=False,
                   hook_name=f"blocks.{layer.group(1)}.hook_resid_post", model_name=model,
                   metadata={"hf_hook_name": f"model.layers.{layer.group(1)}", "prepend_bos": True,
                             "context_size": 1024})


# --- mwhanna's transcoders ------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SAEFormatError(f"cannot read {path}: {cut(str(e))}") from None
    if not isinstance(data, dict):
        raise SAEFormatError(f"{path} must hold a mapping, not {type(data).__name__}")
    return data


def _wandb_int(info: dict[str, Any], key: str, where: Path) -> int:
    entry = info.get(key)
    v = entry.get("value") if isinstance(entry, dict) else None
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise SAEFormatError(f"{where}: '{key}.value' must be a positive integer, got {quote(v)}")
    return v


def _mwhanna_config(path: Path, shapes: Shapes) -> SAEConfig:
    from .formats import _config, _text

    layer = MWHANNA_FILE.fullmatch(path.name)
    assert layer is not None  # detect_family matched the name
    where = next(path.parent / n for n in MWHANNA_CONFIGS if (path.parent / n).is_file())
    info = _read_yaml(where)
    d_model, d_feature = _wandb_int(info, "d_model", where), _wandb_int(info, "d_feature", where)
    base = path.parent / MWHANNA_BASE_CONFIG
    model = _read_yaml(base).get("model_name") if base.is_file() else None
    if model is None:
        size = re.search(r"qwen3-(\d+(?:\.\d+)?)b", str(path.parent).lower())
        model = f"Qwen/Qwen3-{size.group(1)}B" if size else ""
    _two_d(shapes, "W_enc", path)  # stored [d_sae, d_in]
    return _config(where, d_in=d_model, d_sae=d_feature, d_out=d_model, architecture="transcoder",
                   apply_b_dec_to_input=False, hook_name=f"blocks.{layer.group(1)}.hook_mlp_in",
                   hook_name_out=f"blocks.{layer.group(1)}.hook_mlp_out",
                   model_name=_text(model, "model_name", base),
                   metadata={"saelens_hook_name": f"blocks.{layer.group(1)}.mlp.hook_in"})


_CONFIGS: dict[Family, Callable[[Path, Shapes], SAEConfig]] = {
    Family.GEMMA_SCOPE_2: _gemmascope2_config, Family.QWEN_SCOPE: _qwenscope_config,
    Family.MWHANNA: _mwhanna_config}
