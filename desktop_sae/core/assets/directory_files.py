"""The files an SAE directory is read from: where an installed ``sae-lens`` keeps its ``pretrained_saes.yaml`` (found
without importing sae_lens, which would pull torch and transformer-lens), and a YAML reader that keeps the parsed
data in the user cache dir, keyed by the file's path, size and modification time (SAELens's file is ~1.5 MB and
takes most of a second to parse; its cached form loads in a few hundredths).

``DESKTOP_SAE_SAELENS_DIRECTORY`` names a ``pretrained_saes.yaml`` to use as the installed sae-lens's (e.g. the file
of a sae-lens installed in another environment); ``none`` turns the installed one off.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

from ..support import paths
from ..support.atomic import atomic_write_text
from ..support.errors import AssetError

SAELENS_ENV = "DESKTOP_SAE_SAELENS_DIRECTORY"
SAELENS_FILE = "pretrained_saes.yaml"
CACHE_FORMAT = "desktop-sae-directory-cache/1"
MAX_BYTES = 100_000_000


@dataclass(frozen=True)
class InstalledSAELens:
    yaml_path: Path
    version: str | None  # from the package's dist-info next to it; None when there is none


def _version_beside(package_dir: Path) -> str | None:
    """The version in a ``sae_lens-*.dist-info`` (or ``sae-lens``) beside the package folder, read from its
    metadata file; None when there is none."""
    for dist in metadata.distributions(path=[str(package_dir.parent)]):
        name = re.sub(r"[-_.]+", "-", str(dist.metadata["Name"] or "")).lower()
        if name == "sae-lens":
            return dist.version
    return None


def find_installed_saelens() -> InstalledSAELens | None:
    """The installed sae-lens's directory file, if there is one; sae_lens itself is never imported."""
    env = os.environ.get(SAELENS_ENV, "").strip()
    if env.lower() == "none":
        return None
    if env:
        f = Path(env).expanduser()
        if not f.is_file():
            raise AssetError(f"{SAELENS_ENV} names {f}, which is not a file (it should name sae_lens's "
                             f"{SAELENS_FILE}, or be 'none')")
        return InstalledSAELens(f, _version_beside(f.parent))
    try:
        spec = util.find_spec("sae_lens")  # a top-level name: finds the package without running its __init__
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        f = Path(loc) / SAELENS_FILE
        if f.is_file():
            return InstalledSAELens(f, _version_beside(Path(loc)))
    return None


def _cache_file(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:24]
    return paths.cache_dir() / "sae_directory" / f"{key}.json"


def _parse_yaml(text: str, where: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser is ~5x faster when present
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        raise AssetError(f"{where} is not valid YAML: {e}") from None


def read_yaml_cached(path: Path, use_cache: bool = True) -> Any:
    """The data of a YAML file; with ``use_cache`` a JSON copy in the user cache is used while the file's size and
    modification time are unchanged (a damaged or stale copy is ignored and rewritten)."""
    try:
        st = path.stat()
        if st.st_size > MAX_BYTES:
            raise AssetError(f"{path} is larger than {MAX_BYTES} bytes; not an SAE directory")
        stamp = {"format": CACHE_FORMAT, "path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        cache = _cache_file(path) if use_cache else None
        if cache is not None and cache.is_file():
            try:
                cached = json.loads(cache.read_text(encoding="utf-8"))
                if isinstance(cached, dict) and all(cached.get(k) == v for k, v in stamp.items()):
                    return cached["data"]
            except (OSError, ValueError, KeyError):
                pass  # rebuilt below
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AssetError(f"cannot read {path}: {e}") from None
    data = _parse_yaml(text, str(path))
    if cache is not None:
        try:
            atomic_write_text(cache, json.dumps({**stamp, "data": data}, default=str, separators=(",", ":")))
        except OSError:
            pass  # a read-only cache only costs the next start its parse
    return data
