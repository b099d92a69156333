"""One entry of the model and SAE registry: what it is, where it comes from and whether it can be opened, read
from its configs and file headers (``metadata``) without loading weights."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .metadata import ModelMeta, SAEMeta, describe_problem, disk_size, model_meta, sae_meta

SOURCES = ("bundled", "cached", "imported", "trained")


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
