"""An SAE folder's Neuronpedia id ("model/source", e.g. "gemma-3-270m-it/12-gemmascope-2-res-16k"): the one its
config states (SAELens's ``metadata.neuronpedia_id``), else, for a folder downloaded into the hub cache, the
``neuronpedia`` field of its entry in the SAE directory (Gemma Scope 2 configs, for one, carry none). With its
width (from its config's header, else the directory entry), that is what fetching its explanations needs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..support.hf_cache import repo_of_snapshot
from .sae_directory import DirectorySAE, Release, load_directory, release_of

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}/[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def valid_neuronpedia_id(value: object) -> str | None:
    """``value`` if it is a well-formed "model/source" id (stripped), else None."""
    return value.strip() if isinstance(value, str) and _ID.fullmatch(value.strip()) else None


def _folder(sae_path: str | Path) -> Path:
    p = Path(sae_path)
    return p if p.is_dir() else p.parent


def config_neuronpedia_id(sae_path: str | Path | None) -> str:
    """The id in a folder's cfg.json (or Gemma Scope 2's config.json): ``metadata.neuronpedia_id`` or a top-level
    ``neuronpedia_id``; "" when there is none or the file cannot be read."""
    if not sae_path:
        return ""
    folder = _folder(sae_path)
    for name in ("cfg.json", "config.json"):
        try:
            cfg = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(cfg, dict):
            continue
        given = cfg.get("metadata")
        meta = given if isinstance(given, dict) else {}
        found = valid_neuronpedia_id(meta.get("neuronpedia_id")) or valid_neuronpedia_id(cfg.get("neuronpedia_id"))
        if found:
            return found
    return ""


@dataclass(frozen=True)
class NeuronpediaTarget:
    folder: str  # the SAE's folder (its explanations are stored there)
    neuronpedia_id: str | None
    d_sae: int | None


def _entry(folder: Path, directory: dict[str, Release] | None) -> DirectorySAE | None:
    where = repo_of_snapshot(folder)
    if where is None:
        return None
    repo, _commit, sub = where
    found = release_of(repo, sub, load_directory() if directory is None else directory)
    return found[1] if found is not None else None


def neuronpedia_target(sae_path: str | Path, directory: dict[str, Release] | None = None) -> NeuronpediaTarget:
    """The folder's Neuronpedia id (its config's, else its SAE directory entry's) and width (read from its config and
    weight headers, else the entry's); None for what neither says."""
    from .metadata import sae_meta

    folder = _folder(sae_path)
    np_id = config_neuronpedia_id(folder) or None
    try:
        d_sae: int | None = sae_meta(folder).d_sae
    except Exception:  # noqa: BLE001 - a format this version cannot read: the directory may still say
        d_sae = None
    if np_id is None or d_sae is None:
        entry = _entry(folder, directory)
        if entry is not None:
            np_id, d_sae = np_id or entry.neuronpedia, d_sae or entry.d_sae
    return NeuronpediaTarget(str(folder), np_id, d_sae)
