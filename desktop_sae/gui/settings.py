"""Persistent settings and window layout: an INI file in the user config dir (``paths.config_dir()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings

from ..core.support import paths

if TYPE_CHECKING:
    from .main_window import MainWindow


def app_settings() -> QSettings:
    return QSettings(str(paths.config_dir() / "desktop-sae.ini"), QSettings.Format.IniFormat)


def get_bool(s: QSettings, key: str, default: bool) -> bool:
    v = s.value(key, default)
    return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")


def get_float(s: QSettings, key: str, default: float) -> float:
    value: Any = s.value(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def get_int(s: QSettings, key: str, default: int) -> int:
    value: Any = s.value(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def restore_state(win: MainWindow) -> None:
    """Window layout, theme and the user's chat settings from the last session (into the sub-models)."""
    from dataclasses import replace

    s, ctl = win.settings, win.controller
    conv = ctl.conversation
    geo, state = s.value("window/geometry"), s.value("window/state")
    if isinstance(geo, QByteArray):
        win.restoreGeometry(geo)
    if isinstance(state, QByteArray):
        win.restoreState(state)
    mode = str(s.value("view/theme", "system"))
    themes = win.menu_actions.themes
    themes.get(mode, themes["system"]).setChecked(True)
    conv.set_system(str(s.value("chat/system", "") or ""))
    conv.set_compare(get_bool(s, "chat/compare", False))
    ctl.steering.set_auto_rerun(get_bool(s, "steering/auto_rerun", False))
    c = conv.sampling
    try:
        conv.set_sampling(
            replace(
                c,
                temperature=get_float(s, "sampling/temperature", c.temperature),
                top_p=get_float(s, "sampling/top_p", c.top_p),
                frequency_penalty=get_float(s, "sampling/frequency_penalty", c.frequency_penalty),
                seed=get_int(s, "sampling/seed", -1 if c.seed is None else c.seed),
                max_new_tokens=get_int(s, "sampling/max_new_tokens", c.max_new_tokens),
            )
        )
    except ValueError:  # a damaged settings file: keep the defaults
        pass
    if conv.sampling.seed is not None and conv.sampling.seed < 0:
        conv.set_sampling(replace(conv.sampling, seed=None))


def save_state(win: MainWindow) -> None:
    s, ctl = win.settings, win.controller
    st = ctl.conversation
    s.setValue("window/geometry", win.saveGeometry())
    s.setValue("window/state", win.views.user_layout())
    s.setValue("view/theme", next((k for k, a in win.menu_actions.themes.items() if a.isChecked()), "system"))
    s.setValue("chat/system", st.system)
    s.setValue("chat/compare", st.compare)
    s.setValue("steering/auto_rerun", ctl.steering.auto_rerun)
    c = st.sampling
    for k, v in (
        ("temperature", c.temperature),
        ("top_p", c.top_p),
        ("frequency_penalty", c.frequency_penalty),
        ("seed", -1 if c.seed is None else c.seed),
        ("max_new_tokens", c.max_new_tokens),
    ):
        s.setValue(f"sampling/{k}", v)
    s.sync()
