"""Timers the sub-models are given rather than make, so that their timing is testable and needs no Qt.

A ``Timer`` is single-shot: ``start(ms, callback)`` (re)arms it, ``stop()`` disarms it. The window passes a QTimer
behind this protocol (``gui/qt_timer.py``); scripts and the CLI pass a ``PollTimer``, which fires from the
controller's ``poll()`` once due; tests pass a ``ManualTimer`` and fire it themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def start(self, ms: int, callback: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...

    @property
    def active(self) -> bool: ...


class PollTimer:
    """Fires in ``fire_due()`` (the controller's ``poll`` calls it) once ``ms`` have passed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._due: float | None = None
        self._callback: Callable[[], None] | None = None

    def start(self, ms: int, callback: Callable[[], None]) -> None:
        self._due, self._callback = self._clock() + ms / 1000.0, callback

    def stop(self) -> None:
        self._due = self._callback = None

    @property
    def active(self) -> bool:
        return self._due is not None

    def fire_due(self) -> None:
        if self._due is not None and self._clock() >= self._due and self._callback is not None:
            callback = self._callback
            self.stop()
            callback()


class ManualTimer:
    """For tests: records what was armed; ``fire()`` runs the callback now, as the timer running out would."""

    def __init__(self) -> None:
        self.ms: int | None = None
        self.starts = 0
        self._callback: Callable[[], None] | None = None

    def start(self, ms: int, callback: Callable[[], None]) -> None:
        self.ms, self._callback = ms, callback
        self.starts += 1

    def stop(self) -> None:
        self._callback = None

    @property
    def active(self) -> bool:
        return self._callback is not None

    def fire(self) -> bool:
        """Run the armed callback (once); False when nothing was armed."""
        callback, self._callback = self._callback, None
        if callback is None:
            return False
        callback()
        return True
