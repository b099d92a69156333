"""``desktop-sae`` with no subcommand: open the desktop app."""

from __future__ import annotations

import sys


def cmd_app(args) -> int:
    try:
        from ..gui.app import run_app
    except ImportError as e:
        print(f"error: the desktop app needs PySide6 and pyqtgraph ({e})", file=sys.stderr)
        return 2
    return run_app(args)
