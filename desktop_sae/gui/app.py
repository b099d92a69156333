"""Entry point of the desktop app: ``desktop-sae`` with no subcommand calls ``run_app``. ``build_window`` assembles
the app: the job runner, the controller and its sub-models, the inference thread and the main window."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QSize
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from ..app.controller import Controller
from ..app.jobs import JobRunner
from ..app.loading import Loader, LoadRequest
from ..core.support import paths
from . import theme
from .inference_thread import InferenceWorker
from .main_window import MainWindow
from .qt_timer import QtTimer
from .settings import app_settings

if TYPE_CHECKING:
    from ..core.diagnostics.startup_checks import Problem
    from ..core.presets.store import PresetStore


def binding_problem() -> str | None:
    """A known-broken Qt binding for this Python, as a message (None when fine)."""
    import PySide6

    if PySide6.__version__ == "6.12.0" and sys.version_info < (3, 12):
        return (
            "PySide6 6.12.0 leaks a reference to None on every slot call under Python < 3.12 and will crash this "
            "app after a few minutes; install another version: pip install 'PySide6-Essentials!=6.12.0'"
        )
    return None


def load_request_from_args(args: argparse.Namespace) -> LoadRequest:
    return LoadRequest(
        model=getattr(args, "model", None),
        device=getattr(args, "device", None),
        dtype=getattr(args, "dtype", None),
        sae=getattr(args, "sae", None),
        hook=getattr(args, "hook", None),
        trust_remote_code=bool(getattr(args, "trust_remote_code", False)),
    )


APP_ID = "io.github.desktop_sae.DesktopSAE"  # the .desktop file's name (packaging/linux/): Wayland matches it


def app_icon() -> QIcon:
    """The app icon at every size rendered in ``resources/icons`` (packaging/render_icons.py)."""
    icon = QIcon()
    for png in sorted((paths.resources_dir() / "icons").glob("desktop-sae-*.png")):
        size = int(png.stem.rsplit("-", 1)[1])
        icon.addFile(str(png), QSize(size, size))
    return icon


def make_app(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication), "a QCoreApplication that is not a QApplication already exists"
    QCoreApplication.setOrganizationName("desktop-sae")
    QCoreApplication.setApplicationName("Desktop SAE")
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    theme.apply_theme(str(app_settings().value("view/theme", "system")), app)
    return app


def build_window(load: LoadRequest | None = LoadRequest(), *, loader: Loader | None = None,
                 store: PresetStore | None = None, preset: str | None = None, welcome: bool | None = None,
                 show: bool = True) -> MainWindow:
    """The app, assembled: the runner (which will own the model), the controller with the window's debounce timer,
    the inference worker and the main window, started; ``load`` loads right after the first paint and ``preset``
    is applied once the model is ready."""
    runner = JobRunner()
    ctl = Controller(runner, loader=loader, store=store, timer=QtTimer())
    win = MainWindow(ctl, InferenceWorker(ctl), welcome=welcome)
    if preset:
        ctl.presets.load(preset)  # waits for the model
    if show:
        win.show()
    win.start(load)
    return win


def run_app(args: argparse.Namespace, notices: Sequence[Problem] = ()) -> int:
    """Open the main window at once; the model loads in the worker thread with a progress bar. ``notices``: the
    start-up checks' problems (core/diagnostics/startup_checks.py), already printed; shown again in a dialog."""
    app = make_app()
    problem = binding_problem()
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    win = build_window(load_request_from_args(args), preset=getattr(args, "preset", None))
    if problem:
        win.show_error("Qt binding problem", problem)
    if notices:
        win.show_error("Start-up check", "\n\n".join(p.message[:1].upper() + p.message[1:] for p in notices))
    return app.exec()
