"""The app's ``Timer`` protocol (``app/timers.py``) on a single-shot QTimer, for the sub-models' debounce in the
window (it fires in the Qt event loop, on the GUI thread)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class QtTimer:
    def __init__(self, parent: QObject | None = None):
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._callback: Callable[[], None] | None = None

    def start(self, ms: int, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._timer.start(ms)

    def stop(self) -> None:
        self._timer.stop()
        self._callback = None

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()
