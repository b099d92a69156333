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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..support.errors import SAEFormatError
from ..support.file_values import cut, quote
from .autoencoder import SAE

GEMMASCOPE2_WEIGHTS = "params.safetensors"
QWENSCOPE_FILE = re.compile(r"layer(\d+)\.sae\.pt")
QWENSCOPE_REPO = re.compile(r"SAE-Res-(.+)-W(\d+)K-L0_(\d+)")
MWHANNA_FILE = re.compile(r"layer_(\d+)\.safetensors")
MWHANNA_CONFIGS = ("wandb-config.yaml", "wanb-config.yaml")  # some of these repositories spell it the second way
# the model (Hugging Face id, residual width) of each Qwen Scope repository's model part, as SAELens 6.54 lists them
QWENSCOPE_MODELS = {key: (f"Qwen/{key}", width) for key, width in (
    ("Qwen3-1.7B-Base", 2048), ("Qwen3-8B-Base", 4096), ("Qwen3-30B-A3B-Base", 2048), ("Qwen3.5-2B-Base", 2048),
    ("Qwen3.5-9B-Base", 4096), ("Qwen3.5-27B", 5120), ("Qwen3.5-35B-A3B-Base", 2048))}
# Gemma Scope 2 site folder -> (hook the SAE reads, hook it writes when that differs, Hugging Face module outputs)
GEMMASCOPE2_SITES = {
    "resid_post": ("hook_resid_post", None, "model.layers.{L}.output", None),
    "attn_out": ("attn.hook_z", None, "model.layers.{L}.self_attn.o_proj.input", None),
    "mlp_out": ("hook_mlp_out", None, "model.layers.{L}.post_feedforward_layernorm.output", None),
    "transcoder": ("hook_mlp_in", "hook_mlp_out", "model.layers.{L}.pre_feedforward_layernorm.output",
                   "model.layers.{L}.post_feedforward_layernorm.output"),
}


def detect_family(path: Path) -> tuple[str, Path] | None:
    """(format, folder) when ``path`` is one of these releases' files or folders, else None."""
    if path.is_file():
        if path.name == GEMMASCOPE2_WEIGHTS:
            return "gemmascope2", path.parent
        if QWENSCOPE_FILE.fullmatch(path.name):
            return "qwenscope", path.parent
        if MWHANNA_FILE.fullmatch(path.name) and any((path.parent / n).is_file() for n in MWHANNA_CONFIGS):
            return "mwhanna", path.parent
        return None
    if (path / GEMMASCOPE2_WEIGHTS).is_file():
        return "gemmascope2", path
    return None


def load_family(fmt: str, path: Path) -> SAE:
    loaders = {"gemmascope": _load_gemmascope, "gemmascope2": _load_gemmascope2, "qwenscope": _load_qwenscope,
               "mwhanna": _load_mwhanna}
    return loaders[fmt](path)


def _two_d(tensors: dict[str, torch.Tensor], name: str, where: Path) -> torch.Tensor:
    t = tensors.get(name)
    if t is None or t.ndim != 2:
        found = cut(", ".join(sorted(tensors))) or "none"
        raise SAEFormatError(f"{where}: needs a 2-D tensor {name} (found: {found})")
    return t


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


def _load_gemmascope2(path: Path) -> SAE:
    from .formats import _config, _fill, _read_json, _read_safetensors, _text

    folder = path.parent if path.is_file() else path
    weights, where = folder / GEMMASCOPE2_WEIGHTS, folder / "config.json"
    site = folder.parent.name
    if "clt" in f"{site}/{folder.name}":
        raise SAEFormatError(f"{folder}: Gemma Scope 2 cross-layer transcoders (clt) are not supported")
    layer = re.search(r"layer_(\d+)", folder.name)
    if site not in GEMMASCOPE2_SITES or layer is None:
        raise SAEFormatError(f"{folder}: a Gemma Scope 2 SAE lives in <site>/layer_<L>_..., with the site one of "
                             f"{', '.join(GEMMASCOPE2_SITES)}; cannot tell its hook point from this path")
    raw = _read_json(where) if where.is_file() else {"architecture": "jump_relu", "affine_connection": "affine"
                                                     in folder.name}  # what SAELens infers without a config.json
    if raw.get("architecture") != "jump_relu":
        raise SAEFormatError(f"{where}: architecture {quote(raw.get('architecture'))}; Gemma Scope 2 SAEs are "
                             "JumpReLU ('jump_relu')")
    hook_in, hook_out, hf_in, hf_out = (s.replace("{L}", layer.group(1)) if s else s
                                        for s in GEMMASCOPE2_SITES[site])
    tensors = _read_safetensors(weights)
    w_enc, w_dec = _two_d(tensors, "w_enc", weights), _two_d(tensors, "w_dec", weights)
    transcoder = hook_out is not None
    affine = bool(raw.get("affine_connection", False)) and transcoder
    if "affine_skip_connection" in tensors and not affine:
        raise SAEFormatError(f"{weights} has an affine_skip_connection, but its configuration says the transcoder "
                             "has none (affine_connection)")
    model = raw.get("model_name")
    meta: dict[str, Any] = {"hf_hook_name": hf_in, "prepend_bos": True, "context_size": 1024}
    if transcoder:
        meta["hf_hook_name_out"] = hf_out
    cfg = _config(
        where, d_in=int(w_enc.shape[0]), d_sae=int(w_enc.shape[1]),
        architecture=("jumprelu_skip_transcoder" if affine else "jumprelu_transcoder") if transcoder else "jumprelu",
        apply_b_dec_to_input=False, hook_name=f"blocks.{layer.group(1)}.{hook_in}",
        hook_name_out=f"blocks.{layer.group(1)}.{hook_out}" if transcoder else "",
        d_out=int(w_dec.shape[-1]) if transcoder else None, metadata=meta,
        model_name=gemma3_model_name(_text(model, "model_name", where)) if model else _gemmascope2_model(folder))
    mapped = {"W_enc": w_enc, "W_dec": w_dec, "b_enc": tensors.get("b_enc"), "b_dec": tensors.get("b_dec"),
              "threshold": tensors.get("threshold")}
    if affine:
        mapped["W_skip"] = _two_d(tensors, "affine_skip_connection", weights).T  # stored [d_in, d_out]
    return _fill(cfg, {k: v for k, v in mapped.items() if v is not None}, weights)


# --- Qwen Scope ---------------------------------------------------------------------------------------
def _load_qwenscope(path: Path) -> SAE:
    from .formats import _config, _fill
    from .torch_zip import read_torch_tensors

    layer = QWENSCOPE_FILE.fullmatch(path.name)
    assert layer is not None  # detect_family matched the name
    repo = next((m for part in reversed(path.parent.parts) if (m := QWENSCOPE_REPO.search(part))), None)
    if repo is None:
        raise SAEFormatError(f"{path}: a Qwen Scope SAE's k and width are named only by its repository "
                             "(SAE-Res-<model>-W<width>K-L0_<k>); keep the file in a folder of that name")
    model_key, width, k = repo.group(1), int(repo.group(2)) * 1024, int(repo.group(3))
    tensors = read_torch_tensors(path)
    w_enc, w_dec = _two_d(tensors, "W_enc", path), _two_d(tensors, "W_dec", path)
    d_sae, d_in = (int(s) for s in w_enc.shape)
    model, width_in = QWENSCOPE_MODELS.get(model_key, (f"Qwen/{model_key}", d_in))
    if (d_in, d_sae) != (width_in, width):
        raise SAEFormatError(f"{path}: W_enc has shape {tuple(w_enc.shape)}, but the repository "
                             f"{repo.group(0)} names {width} features of {model} (width {width_in})")
    cfg = _config(path, d_in=d_in, d_sae=d_sae, architecture="topk", k=k, apply_b_dec_to_input=False,
                  hook_name=f"blocks.{layer.group(1)}.hook_resid_post", model_name=model,
                  metadata={"hf_hook_name": f"model.layers.{layer.group(1)}", "prepend_bos": True,
                            "context_size": 1024})
    mapped = {"W_enc": w_enc.T, "W_dec": w_dec.T, "b_enc": tensors.get("b_enc"), "b_dec": tensors.get("b_dec")}
    return _fill(cfg, {k: v for k, v in mapped.items() if v is not None}, path)


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


def _load_mwhanna(path: Path) -> SAE:
    from .formats import _config, _fill, _read_safetensors, _text

    layer = MWHANNA_FILE.fullmatch(path.name)
    assert layer is not None  # detect_family matched the name
    where = next(path.parent / n for n in MWHANNA_CONFIGS if (path.parent / n).is_file())
    info = _read_yaml(where)
    d_model, d_feature = _wandb_int(info, "d_model", where), _wandb_int(info, "d_feature", where)
    base = path.parent / "config.yaml"
    model = _read_yaml(base).get("model_name") if base.is_file() else None
    if model is None:
        size = re.search(r"qwen3-(\d+(?:\.\d+)?)b", str(path.parent).lower())
        model = f"Qwen/Qwen3-{size.group(1)}B" if size else ""
    tensors = _read_safetensors(path)
    cfg = _config(where, d_in=d_model, d_sae=d_feature, d_out=d_model, architecture="transcoder",
                  apply_b_dec_to_input=False, hook_name=f"blocks.{layer.group(1)}.hook_mlp_in",
                  hook_name_out=f"blocks.{layer.group(1)}.hook_mlp_out", model_name=_text(model, "model_name", base),
                  metadata={"saelens_hook_name": f"blocks.{layer.group(1)}.mlp.hook_in"})
    mapped = dict(tensors)
    mapped["W_enc"] = _two_d(tensors, "W_enc", path).T  # stored [d_sae, d_in]
    return _fill(cfg, mapped, path)
