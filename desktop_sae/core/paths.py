"""Where things live: user cache/config/data dirs (platformdirs) and the shipped resources folder."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP = "desktop-sae"


def _dir(env: str, default: str) -> Path:
    p = Path(os.environ.get(env) or default)
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    """Converted models and other rebuildable things (override: DESKTOP_SAE_CACHE_DIR)."""
    return _dir("DESKTOP_SAE_CACHE_DIR", user_cache_dir(APP))


def config_dir() -> Path:
    """Settings and window layout (override: DESKTOP_SAE_CONFIG_DIR)."""
    return _dir("DESKTOP_SAE_CONFIG_DIR", user_config_dir(APP))


def data_dir() -> Path:
    """User presets, labels and trained SAEs (override: DESKTOP_SAE_DATA_DIR)."""
    return _dir("DESKTOP_SAE_DATA_DIR", user_data_dir(APP))


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (installed as the ``desktop_sae.resources`` package)."""
    import desktop_sae.resources as res

    return Path(res.__file__).parent


def default_sae_dir() -> Path | None:
    """The bundled default SAE folder, if this install ships one."""
    p = resources_dir() / "sae" / "smollm2-135m-instruct"
    return p if (p / "cfg.json").exists() else None
