"""Entry point of the desktop app: ``desktop-sae`` with no subcommand calls ``run_app``."""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QSize
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from ..app.state import LoadRequest
from ..core.support import paths
from . import theme
from .main_window import MainWindow
from .settings import app_settings


def binding_problem() -> str | None:
    """A known-broken Qt binding for this Python, as a message (None when fine)."""
    import PySide6

    if PySide6.__version__ == "6.12.0" and sys.version_info < (3, 12):
        return (
            "PySide6 6.12.0 leaks a reference to None on every slot call under Python < 3.12 and will crash this "
            "app after a few minutes; install another version: pip install 'PySide6-Essentials!=6.12.0'"
        )
    return None


def load_request_from_args(args) -> LoadRequest:
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


def make_app(argv=None) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    QCoreApplication.setOrganizationName("desktop-sae")
    QCoreApplication.setApplicationName("Desktop SAE")
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    theme.apply_theme(str(app_settings().value("view/theme", "system")), app)
    return app


def run_app(args, notices=()) -> int:
    """Open the main window at once; the model loads in the worker thread with a progress bar. ``notices``: the
    start-up checks' problems (core/diagnostics.py), already printed; shown again in a dialog."""
    app = make_app()
    problem = binding_problem()
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    win = MainWindow(load_request_from_args(args), preset=getattr(args, "preset", None))
    win.show()
    if problem:
        win.show_error("Qt binding problem", problem)
    if notices:
        win.show_error("Start-up check", "\n\n".join(p.message[:1].upper() + p.message[1:] for p in notices))
    return app.exec()
