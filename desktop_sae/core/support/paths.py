"""Where things live: user cache/config/data dirs (platformdirs) and the shipped resources folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP = "desktop-sae"


# name -> (the environment variable that moves it, its platformdirs default)
FOLDERS = {
    "config": ("DESKTOP_SAE_CONFIG_DIR", user_config_dir),
    "data": ("DESKTOP_SAE_DATA_DIR", user_data_dir),
    "cache": ("DESKTOP_SAE_CACHE_DIR", user_cache_dir),
}


def location(name: str) -> tuple[str, Path]:
    """(env var, path) of the user folder ``name`` ('config', 'data' or 'cache'), without creating it."""
    env, default = FOLDERS[name]
    return env, Path(os.environ.get(env) or default(APP))


def _dir(name: str) -> Path:
    p = location(name)[1]
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    """Converted models and other rebuildable things (override: DESKTOP_SAE_CACHE_DIR)."""
    return _dir("cache")


def config_dir() -> Path:
    """Settings and window layout (override: DESKTOP_SAE_CONFIG_DIR)."""
    return _dir("config")


def data_dir() -> Path:
    """User presets, labels and trained SAEs (override: DESKTOP_SAE_DATA_DIR)."""
    return _dir("data")


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (installed as the ``desktop_sae.resources`` package)."""
    # resources/ installs as desktop_sae.resources (pyproject package-dir); mypy reads the source tree
    import desktop_sae.resources as res  # type: ignore[import-not-found]

    return Path(res.__file__).parent


def default_sae_dir() -> Path | None:
    """The bundled default SAE folder, if this install ships one."""
    p = resources_dir() / "sae" / "smollm2-135m-instruct"
    return p if (p / "cfg.json").exists() else None


def is_default_sae(sae_path: str | Path | None) -> bool:
    """Whether ``sae_path`` is the bundled default SAE (what was measured on it holds for it alone)."""
    bundled = default_sae_dir()
    if sae_path is None or bundled is None:
        return False
    try:
        return Path(sae_path).resolve() == bundled.resolve()
    except OSError:
        return False
