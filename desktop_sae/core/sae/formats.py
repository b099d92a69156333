"""Read SAEs in SAELens (v6 and older), Gemma Scope and EleutherAI sparsify formats; write SAELens v6.

Nothing here unpickles: weights come from safetensors or from ``.npz`` read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from ..support.atomic import atomic_write_bytes, atomic_write_files, finish_interrupted_write
from ..support.errors import SAEFormatError
from ..support.file_values import cut as _cut
from ..support.file_values import is_finite
from ..support.file_values import quote as _show
from .autoencoder import SAE
from .families import load_family
from .family_layouts import detect_family
from .sae_config import ARCHITECTURES, NORMALIZATIONS, FeatureStats, SAEConfig, app_hook_name

SAELENS_WEIGHTS = "sae_weights.safetensors"
SPARSIFY_WEIGHTS = "sae.safetensors"
STATS_FILE = "feature_stats.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
SAVE_GROUP = "sae-save"  # atomic_write_files group of save_sae


def load_sae(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> SAE:
    """Load an SAE from a folder or file, detecting the format. Raises SAEFormatError with a clear message."""
    path = Path(path).expanduser()
    try:  # a save_sae that a crash interrupted after its commit point is completed first
        finish_interrupted_write(path if path.is_dir() else path.parent, SAVE_GROUP)
    except OSError as e:
        raise SAEFormatError(f"an interrupted save in {path} could not be completed: {e.strerror or e}") from None
    if not path.exists():
        raise SAEFormatError(f"SAE not found: {path}")
    fmt, folder = detect_format(path)
    if fmt == "saelens":
        sae = _load_saelens(folder)
    elif fmt == "sparsify":
        sae = _load_sparsify(folder)
    else:
        sae = load_family(fmt, path if path.is_file() or fmt != "gemmascope" else folder / "params.npz")
    sae.source_format = fmt
    sae.source_path = str(path)
    sae.stats = _load_stats(folder, sae.cfg.d_sae)
    return sae.to(device=device, dtype=dtype)


def detect_format(path: Path) -> tuple[str, Path]:
    family = detect_family(path)  # Gemma Scope 2, Qwen Scope, mwhanna's transcoders (families.py)
    if family is not None:
        return family
    if path.is_file():
        if path.suffix == ".npz":
            return "gemmascope", path.parent
        if path.name in (SAELENS_WEIGHTS, "cfg.json"):
            return detect_format(path.parent)
        if path.name == SPARSIFY_WEIGHTS:
            return "sparsify", path.parent
        raise SAEFormatError(
            f"{path.name} is not an SAE file this app reads. Give a SAELens folder (cfg.json + {SAELENS_WEIGHTS}), "
            f"an EleutherAI sparsify folder (cfg.json + {SPARSIFY_WEIGHTS}), a Gemma Scope params.npz or "
            f"params.safetensors, a Qwen Scope layer<L>.sae.pt or a transcoder layer_<L>.safetensors."
        )
    if (path / SAELENS_WEIGHTS).exists():
        return "saelens", path
    if (path / SPARSIFY_WEIGHTS).exists():
        return "sparsify", path
    if (path / "params.npz").exists():
        return "gemmascope", path
    raise SAEFormatError(
        f"no SAE in {path}: expected cfg.json + {SAELENS_WEIGHTS} (SAELens), cfg.json + {SPARSIFY_WEIGHTS} "
        f"(EleutherAI sparsify) or params.npz (Gemma Scope)"
    )


# --- helpers -----------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SAEFormatError(f"missing {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SAEFormatError(f"{path} is not valid JSON: {e}") from None
    except RecursionError:
        raise SAEFormatError(f"{path} is nested too deeply to be an SAE config") from None
    except OSError as e:
        raise SAEFormatError(f"cannot read {path}: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise SAEFormatError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise SAEFormatError(f"missing weights file {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for truncated/garbled files
        size = path.stat().st_size
        raise SAEFormatError(f"{path} is damaged or not a safetensors file ({size} bytes): {_cut(str(e))}") from None


def _int(cfg: dict[str, Any], key: str, where: Path) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise SAEFormatError(f"{where}: '{key}' must be a positive integer, got {_show(v)}")
    return v


def _text(v: object, key: str, where: Path) -> str:
    if not isinstance(v, str):
        raise SAEFormatError(f"{where}: '{key}' must be a text, got {_show(v)}")
    return v


def _positive_number(v: object, key: str, where: Path) -> float:
    if not (is_finite(v) and v > 0):
        raise SAEFormatError(f"{where}: '{key}' must be a positive finite number, got {_show(v)}")
    return float(v)


def _check_metadata(meta: dict[str, Any], where: Path) -> None:
    """Metadata entries that the app reads later must have the type it reads them as."""
    checks: dict[str, Callable[[object, str, Path], object]] = {
        "typical_norm": _positive_number, "outlier_norm_threshold": _positive_number,
        "context_size": lambda v, key, at: _int({key: v}, key, at), "model_sha256": _text, "neuronpedia_id": _text}
    for key, check in checks.items():
        if meta.get(key) is not None:
            check(meta[key], f"metadata.{key}", where)


def _config(where: Path, **kw: Any) -> SAEConfig:
    try:
        return SAEConfig(**kw)
    except ValueError as e:
        raise SAEFormatError(f"{where}: {e}") from None


def check_shapes(cfg: SAEConfig, shapes: Mapping[str, tuple[int, ...]], where: Path) -> dict[str, tuple[int, ...]]:
    """The tensors ``cfg``'s architecture needs, checked against ``shapes`` (name -> shape, from tensors or from a
    file's header); returns the expected shapes. Nothing is allocated."""
    if cfg.d_in < 1 or cfg.d_sae < 1:
        raise SAEFormatError(f"{where}: an SAE needs d_in and d_sae of at least 1, got {cfg.d_in} and {cfg.d_sae}")
    try:
        with torch.device("meta"):  # shapes only: no memory
            expected = SAE(cfg).expected_shapes()
    except ValueError as e:  # a rule of the architecture's class (a transcoder's d_out ...)
        raise SAEFormatError(f"{where}: {e}") from None
    except (RuntimeError, TypeError, OverflowError) as e:  # sizes no tensor can have
        raise SAEFormatError(f"{where}: d_in={_show(cfg.d_in)}, d_sae={_show(cfg.d_sae)} is no possible SAE "
                             f"({_cut(str(e))})") from None
    missing = [n for n in expected if n not in shapes]
    if missing:
        raise SAEFormatError(
            f"{where}: missing tensor(s) {', '.join(missing)} for a {cfg.architecture} SAE "
            f"(found: {_cut(', '.join(sorted(shapes))) or 'none'})"
        )
    for name, shape in expected.items():
        if tuple(shapes[name]) != shape:
            raise SAEFormatError(
                f"{where}: tensor {name} has shape {tuple(shapes[name])}, expected {shape} "
                f"(d_in={cfg.d_in}, d_sae={cfg.d_sae})"
            )
    return expected


def _fill(cfg: SAEConfig, tensors: dict[str, torch.Tensor], where: Path) -> SAE:
    """Build the SAE after checking every tensor's name, shape, dtype and values (nothing is allocated before)."""
    expected = check_shapes(cfg, {k: tuple(v.shape) for k, v in tensors.items()}, where)
    values = {}
    for name in expected:
        t = tensors[name]
        if not t.is_floating_point():
            raise SAEFormatError(f"{where}: tensor {name} has dtype {t.dtype}, expected a floating-point type")
        values[name] = t.to(torch.float32)  # (isfinite has no kernel for some float8 types)
        if not torch.isfinite(values[name]).all():
            raise SAEFormatError(f"{where}: tensor {name} contains NaN or infinite values (in float32)")
    sae = SAE(cfg)
    with torch.no_grad():
        for name, t in values.items():
            getattr(sae, name).copy_(t)
    return sae


# --- SAELens ---------------------------------------------------------------------------------------
def parse_saelens_cfg(cfg: dict[str, Any], where: Path) -> SAEConfig:
    """SAELens v6 cfg, or a pre-6.0 one (hook_point/hook_name, activation_fn_str, activation_fn_kwargs)."""
    meta = cfg.get("metadata") or {}
    if not isinstance(meta, dict):
        raise SAEFormatError(f"{where}: 'metadata' must be an object, got {_show(meta)}")
    meta = dict(meta)
    d_in, d_sae = _int(cfg, "d_in", where), _int(cfg, "d_sae", where)
    arch = cfg.get("architecture")
    k = cfg.get("k")
    fn_kwargs = cfg.get("activation_fn_kwargs") or {}
    if not isinstance(fn_kwargs, dict):
        raise SAEFormatError(f"{where}: 'activation_fn_kwargs' must be an object, got {_show(fn_kwargs)}")
    act_fn = cfg.get("activation_fn_str") or cfg.get("activation_fn")
    if act_fn == "topk" or (arch is None and fn_kwargs.get("k")):
        arch = "topk"
        k = k or fn_kwargs.get("k")
    arch = arch or "standard"
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        supported = ", ".join(ARCHITECTURES)
        raise SAEFormatError(f"{where}: architecture {_show(arch)} is not supported (supported: {supported})")
    norm = cfg.get("normalize_activations") or "none"
    if not isinstance(norm, str) or norm not in NORMALIZATIONS:
        known = ", ".join(NORMALIZATIONS)
        raise SAEFormatError(f"{where}: normalize_activations {_show(norm)} is not supported ({known})")
    hook = _text(meta.get("hook_name") or cfg.get("hook_name") or cfg.get("hook_point") or "", "hook_name", where)
    hook_out = _text(meta.get("hook_name_out") or cfg.get("hook_name_out") or "", "hook_name_out", where)
    model = _text(meta.get("model_name") or cfg.get("model_name") or "", "model_name", where)
    for key in ("context_size", "prepend_bos", "neuronpedia_id", "hook_head_index", "model_sha256", "typical_norm"):
        if key not in meta and key in cfg:
            meta[key] = cfg[key]
    _check_metadata(meta, where)
    return _config(
        where,
        d_in=d_in,
        d_sae=d_sae,
        architecture=arch,
        k=k if arch == "topk" else None,
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
        normalize_activations=norm,
        rescale_acts_by_decoder_norm=bool(cfg.get("rescale_acts_by_decoder_norm", False)),
        scaling_factor=_positive_number(cfg.get("scaling_factor") or 1.0, "scaling_factor", where),
        hook_name=app_hook_name(hook),
        model_name=model,
        dtype=_text(cfg.get("dtype", "float32"), "dtype", where),
        metadata=meta,
        d_out=_int(cfg, "d_out", where) if cfg.get("d_out") is not None else None,
        hook_name_out=app_hook_name(hook_out),
    )


def _load_saelens(folder: Path) -> SAE:
    cfg = parse_saelens_cfg(_read_json(folder / "cfg.json"), folder / "cfg.json")
    tensors = _read_safetensors(folder / SAELENS_WEIGHTS)
    return _fill(cfg, tensors, folder / SAELENS_WEIGHTS)


def save_sae(sae: SAE, folder: str | Path, extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write ``sae`` as a SAELens v6 folder. The weights, statistics and cfg.json are written as one (see
    ``atomic_write_files``): a crash leaves the previous SAE or the new one, and statistics left over from an
    earlier SAE in the folder are removed when this one has none."""
    folder = Path(folder)
    c = sae.cfg
    tensors, normalize, scaling = sae.saelens_tensors()
    files: dict[str, bytes | None] = {SAELENS_WEIGHTS: safetensors_save(tensors)}
    files[STATS_FILE] = None if sae.stats is None else _stats_bytes(sae.stats)
    if sae.stats is None:
        files[SPARSITY_FILE] = None
    meta = {**c.metadata, "model_name": c.model_name, "hook_name": c.hook_name, **(extra_metadata or {})}
    if c.hook_name_out:
        meta["hook_name_out"] = c.hook_name_out
    cfg = {
        "d_in": c.d_in,
        "d_sae": c.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "architecture": c.architecture,
        "apply_b_dec_to_input": c.apply_b_dec_to_input,
        "normalize_activations": normalize,
        "reshape_activations": "none",
        "metadata": meta,
    }
    cfg.update(sae.saelens_fields())
    if scaling != 1.0:
        cfg["scaling_factor"] = scaling
    files["cfg.json"] = (json.dumps(cfg, indent=2) + "\n").encode("utf-8")
    atomic_write_files(folder, files, group=SAVE_GROUP)
    return folder


# --- feature statistics -----------------------------------------------------------------------------
def save_stats(stats: FeatureStats, path: Path) -> None:
    atomic_write_bytes(path, _stats_bytes(stats))


def _stats_bytes(stats: FeatureStats) -> bytes:
    t = {"max_activation": torch.from_numpy(np.asarray(stats.max_activation, np.float32))}
    if stats.mean_activation is not None:
        t["mean_activation"] = torch.from_numpy(np.asarray(stats.mean_activation, np.float32))
    if stats.density is not None:
        t["density"] = torch.from_numpy(np.asarray(stats.density, np.float32))
    return safetensors_save(t)


def _load_stats(folder: Path, d_sae: int) -> FeatureStats | None:
    stats_path, sparsity_path = folder / STATS_FILE, folder / SPARSITY_FILE
    if stats_path.exists():
        t = _read_safetensors(stats_path)
        if "max_activation" not in t or tuple(t["max_activation"].shape) != (d_sae,):
            raise SAEFormatError(f"{stats_path}: needs a max_activation tensor of shape ({d_sae},)")
        arr = {k: v.float().numpy() for k, v in t.items() if tuple(v.shape) == (d_sae,)}
        return FeatureStats(arr["max_activation"], arr.get("mean_activation"), arr.get("density"))
    if sparsity_path.exists():
        t = _read_safetensors(sparsity_path)
        log_density = t.get("sparsity")
        if log_density is not None and tuple(log_density.shape) == (d_sae,):
            density = np.power(10.0, log_density.float().numpy()).astype(np.float32)
            return FeatureStats(np.full(d_sae, np.nan, np.float32), None, density)
    return None


# --- EleutherAI sparsify --------------------------------------------------------------------------
def _sparsify_hook(name: str) -> str:
    m = re.fullmatch(r"(?:model\.)?(?:layers|h)\.(\d+)(?:\.(mlp|self_attn|attn))?", name)
    if not m:
        return ""
    site = {None: "hook_resid_post", "mlp": "hook_mlp_out", "self_attn": "hook_attn_out", "attn": "hook_attn_out"}
    return f"blocks.{m.group(1)}.{site[m.group(2)]}"


def _load_sparsify(folder: Path) -> SAE:
    where = folder / "cfg.json"
    raw = _read_json(where)
    tensors = _read_safetensors(folder / SPARSIFY_WEIGHTS)
    if "encoder.weight" not in tensors:
        raise SAEFormatError(f"{folder / SPARSIFY_WEIGHTS}: missing tensor encoder.weight")
    enc = tensors["encoder.weight"]
    if enc.ndim != 2:
        raise SAEFormatError(f"{folder / SPARSIFY_WEIGHTS}: encoder.weight must be 2-D, has shape {tuple(enc.shape)}")
    d_in = _int(raw, "d_in", where) if raw.get("d_in") else int(enc.shape[1])
    if raw.get("num_latents"):
        d_sae = _int(raw, "num_latents", where)
    elif raw.get("expansion_factor"):
        wide = _positive_number(raw["expansion_factor"], "expansion_factor", where) * min(d_in, 2**62)
        d_sae = int(wide) if wide < 2**62 else 2**62  # beyond any tensor (fails the shape check below)
    else:
        d_sae = int(enc.shape[0])
    if tuple(enc.shape) != (d_sae, d_in):
        raise SAEFormatError(f"{folder / SPARSIFY_WEIGHTS}: encoder.weight has shape {tuple(enc.shape)}, but "
                             f"{where.name} describes d_sae={_show(d_sae)}, d_in={_show(d_in)}")
    k = _int(raw, "k", where)
    cfg = _config(
        where,
        d_in=d_in,
        d_sae=d_sae,
        architecture="topk",
        k=k,
        apply_b_dec_to_input=True,
        hook_name=_text(raw.get("hook_name") or _sparsify_hook(folder.name), "hook_name", where),
        model_name=_text(raw.get("model_name", ""), "model_name", where),
        metadata={"source_cfg": raw},
    )
    mapped = {
        "W_enc": enc.T.contiguous(),
        "b_enc": tensors.get("encoder.bias", torch.zeros(cfg.d_sae)),
        "W_dec": tensors.get("W_dec"),
        "b_dec": tensors.get("b_dec"),
    }
    return _fill(cfg, {k: v for k, v in mapped.items() if v is not None}, folder / SPARSIFY_WEIGHTS)


# --- Gemma Scope ------------------------------------------------------------------------------------
def _gemmascope_hook(path: Path) -> str:
    text = str(path)
    m = re.search(r"layer_(\d+)", text)
    if not m:
        return ""
    site = "hook_mlp_out" if "-mlp" in text else "hook_attn_out" if "-att" in text else "hook_resid_post"
    return f"blocks.{m.group(1)}.{site}"


__all__ = ["load_sae", "save_sae", "detect_format", "parse_saelens_cfg", "save_stats"]
