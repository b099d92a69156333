"""How a dialog shows a run's progress: the bar follows the run's fraction (when it has one) and the label its
message. One place for the dialogs and rows that run a job (evaluate steering, explain features, downloads,
Neuronpedia explanations, the attribution graph)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar

from ..app.runs import RunChange


def show_progress(what: RunChange, run: Any, bar: QProgressBar, label: QLabel, indeterminate: bool = False) -> bool:
    """Show ``run``'s progress when ``what`` is a progress change; True when it was (nothing else to do).
    ``indeterminate``: a run that does not know its fraction turns the bar into a busy indicator."""
    if what != RunChange.PROGRESS:
        return False
    if run.fraction is not None:
        if bar.maximum() == 0:  # leaving the busy indicator
            bar.setRange(0, 1000)
        bar.setValue(int(bar.maximum() * run.fraction))
    elif indeterminate:
        bar.setRange(0, 0)
    label.setStyleSheet("")
    label.setText(run.message)
    return True


def show_message(label: QLabel, text: str, error: bool = False) -> None:
    """A run's last word in ``label``: red when it failed."""
    label.setStyleSheet("color: #d33" if error else "")
    label.setText(text)
