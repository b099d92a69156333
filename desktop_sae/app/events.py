"""A minimal observer: ``Signal`` objects the controller emits and widgets (or tests, or the CLI) connect to.

Everything that changes app state runs on one thread (the GUI thread in the app, the main thread in the CLI and
tests), so a signal calls its listeners directly and in order. No Qt: the app layer stays importable without it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable


class Signal:
    __slots__ = ("_slots", "name")

    def __init__(self, name: str = ""):
        self.name = name
        self._slots: list[Callable] = []

    def connect(self, fn: Callable) -> Callable:
        self._slots.append(fn)
        return fn

    def disconnect(self, fn: Callable) -> None:
        try:
            self._slots.remove(fn)
        except ValueError:
            pass

    def emit(self, *args) -> None:
        """Call every listener; one listener's exception is printed and does not stop the others (a broken
        widget must not leave the app state half-notified)."""
        for fn in list(self._slots):
            try:
                fn(*args)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
