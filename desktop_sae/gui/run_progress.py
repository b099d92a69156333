"""How a dialog shows a run's progress: the bar follows the run's fraction (when it has one) and the label its
message. One place for the dialogs that run a job with Run/Stop (evaluate steering, explain features)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar

from ..app.runs import RunChange


def show_progress(what: RunChange, run: Any, bar: QProgressBar, label: QLabel) -> bool:
    """Show ``run``'s progress when ``what`` is a progress change; True when it was (nothing else to do)."""
    if what != RunChange.PROGRESS:
        return False
    if run.fraction is not None:
        bar.setValue(int(100 * run.fraction))
    label.setText(run.message)
    return True
