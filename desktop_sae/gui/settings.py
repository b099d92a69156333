"""Persistent settings and window layout: an INI file in the user config dir (``paths.config_dir()``)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ..core import paths


def app_settings() -> QSettings:
    return QSettings(str(paths.config_dir() / "desktop-sae.ini"), QSettings.IniFormat)


def get_bool(s: QSettings, key: str, default: bool) -> bool:
    v = s.value(key, default)
    return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")


def get_float(s: QSettings, key: str, default: float) -> float:
    try:
        return float(s.value(key, default))
    except (TypeError, ValueError):
        return default


def get_int(s: QSettings, key: str, default: int) -> int:
    try:
        return int(s.value(key, default))
    except (TypeError, ValueError):
        return default
