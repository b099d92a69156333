"""A timer that runs only while there is something to do: ``poke()`` schedules ``fn`` at most once per interval;
after the tick the timer stops, so an idle window has no timer firing."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Ticker(QObject):
    def __init__(self, interval_ms: int, fn: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.fn)

    def poke(self) -> None:
        if not self.timer.isActive():
            self.timer.start()

    def flush(self) -> None:
        """Run now (e.g. at the end of an answer) instead of at the next tick."""
        self.timer.stop()
        self.fn()
