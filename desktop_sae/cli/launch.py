"""``desktop-sae`` with no subcommand: check the system (before Qt is imported: a missing library or display
makes Qt abort with a bare message), then open the desktop app."""

from __future__ import annotations

import sys

from .doctor import print_problems


def cmd_app(args) -> int:
    from ..core.diagnostics import startup_checks as diagnostics

    problems = [] if diagnostics.skipped() else diagnostics.startup_problems(getattr(args, "model", None))
    print_problems(problems)
    if any(p.severity == "error" for p in problems):
        print(f"desktop-sae cannot start (desktop-sae doctor prints the full report; {diagnostics.SKIP_ENV}=1 "
              "starts without these checks)", file=sys.stderr)
        return 2
    try:
        from ..gui.app import run_app
    except ImportError as e:
        print(f"error: the desktop app needs PySide6 and pyqtgraph ({e}); desktop-sae doctor checks the system "
              "libraries Qt needs", file=sys.stderr)
        return 2
    return run_app(args, notices=[p for p in problems if not p.in_window])
