"""The Hugging Face hub settings and cache layout, read when called (``huggingface_hub`` reads its environment
variables once, at import, so a later ``HF_HOME``, ``HF_ENDPOINT`` or ``HF_HUB_OFFLINE`` would otherwise be
ignored).

Cache layout (huggingface_hub's): ``<cache>/models--org--name/{refs/<revision>, snapshots/<commit>/<files>,
blobs/<etag>}``; snapshot files are links to blobs, made only once a blob is complete.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "true", "yes", "on")
_SNAPSHOT = re.compile(r"models--(?P<repo>[^/\\]+)[/\\]snapshots[/\\](?P<rev>[0-9a-f]{40})(?:[/\\](?P<sub>.*))?$")


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is on."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_cache_dir() -> Path:
    """HF_HUB_CACHE, else HF_HOME/hub, else the XDG cache's huggingface/hub (huggingface_hub's own rule)."""
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    return (cache or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def cached_snapshot(repo_id: str, revision: str = "main", cache: Path | None = None) -> Path | None:
    """The snapshot folder that ``refs/<revision>`` points at (or the commit itself), if it is on disk."""
    folder = repo_folder(repo_id, cache)
    commit = revision
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        try:
            commit = (folder / "refs" / revision).read_text().strip()
        except OSError:
            return None
    snap = folder / "snapshots" / commit
    return snap if snap.is_dir() else None


def repo_of_snapshot(path: str | Path) -> tuple[str, str, str] | None:
    """(repo_id, commit, path inside the repo) for a path inside a cache snapshot, else None."""
    m = _SNAPSHOT.search(str(path).rstrip("/\\"))
    if not m:
        return None
    return m.group("repo").replace("--", "/", 1), m.group("rev"), (m.group("sub") or "").replace("\\", "/")


def display_name(path: str | Path) -> str:
    """A folder's name for people: ``org/name`` (plus the path inside the repo) for a hub cache snapshot."""
    found = repo_of_snapshot(path)
    if found is None:
        return Path(path).name
    repo, _rev, sub = found
    return f"{repo}/{sub}" if sub else repo
