"""User-edited feature labels, one file per SAE: ``labels.user.json`` (``{"id": "label"}``) beside the SAE, or,
when that folder is read-only, ``<data dir>/labels/<name>-<fingerprint>.json``. The feature catalog writes it and
the feature dictionary reads it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..support import paths
from ..support.atomic import atomic_write_text

if TYPE_CHECKING:
    from ..presets.file_format import SAEIdentity

USER_LABELS = "labels.user.json"
MAX_LABEL = 200  # characters


def sae_folder(sae_path: str | Path | None) -> Path | None:
    """The folder an SAE lives in (``sae_path`` may name the folder or a file inside it)."""
    if not sae_path:
        return None
    p = Path(sae_path)
    return p if p.is_dir() else p.parent


def fallback_path(identity: SAEIdentity | None, d_sae: int) -> Path:
    """The per-SAE file in the user data dir, keyed by the SAE's identity (``core.presets.file_format.SAEIdentity``)."""
    key = f"{getattr(identity, 'name', '') or 'sae'}-{getattr(identity, 'fingerprint', '') or d_sae}"
    return paths.data_dir() / "labels" / f"{key}.json"


def labels_path(sae_path: str | Path | None, identity: SAEIdentity | None, d_sae: int) -> Path:
    """Where user labels are written: beside the SAE when that folder is writable, else ``fallback_path``."""
    folder = sae_folder(sae_path)
    if folder is not None and os.access(folder, os.W_OK):
        return folder / USER_LABELS
    return fallback_path(identity, d_sae)


def read_labels(files: Iterable[Path], d_sae: int) -> dict[int, str]:
    """Labels from the first file that names each feature; unreadable files and bad entries are skipped."""
    out: dict[int, str] = {}
    for p in files:
        try:
            d = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        labels = d.get("labels", d) if isinstance(d, dict) else {}
        for k, v in labels.items():
            if str(k).isdigit() and int(k) < d_sae and isinstance(v, str):
                out.setdefault(int(k), v[:MAX_LABEL])
    return out


def write_labels(path: Path, labels: Mapping[int, str], fallback: Path | None = None) -> Path:
    """Save all ``labels`` atomically to ``path``, or to ``fallback`` if ``path`` cannot be written; returns the
    file written."""
    body = json.dumps({str(k): v for k, v in sorted(labels.items())}, indent=1, ensure_ascii=False)
    try:
        atomic_write_text(path, body)
        return path
    except OSError:
        if fallback is None or fallback == path:
            raise
        atomic_write_text(fallback, body)
        return fallback
