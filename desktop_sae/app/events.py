"""A minimal typed observer: the sub-models own ``Signal``s that widgets, lessons, the CLI and tests connect to.

Everything that changes app state runs on one thread (the GUI thread in the app, the main thread in the CLI and
tests), so a signal calls its listeners directly and in order. A listener may say how long it lives (``alive``):
once that is False the listener is dropped, so a closed widget is never called (the receiver-lifetime guard, here
once for every signal). No Qt: the app layer stays importable without it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Signal(Generic[P]):
    """``Signal[[int, str]]("name")``: ``connect(fn)``; ``emit(3, "x")`` calls ``fn(3, "x")``."""

    __slots__ = ("_slots", "name")

    def __init__(self, name: str = ""):
        self.name = name
        self._slots: list[tuple[Callable[P, object], Callable[[], bool] | None]] = []

    def connect(self, fn: Callable[P, object], alive: Callable[[], bool] | None = None) -> Callable[P, object]:
        """Call ``fn`` on every emit, while ``alive()`` (when given) is true."""
        self._slots.append((fn, alive))
        return fn

    def disconnect(self, fn: Callable[P, object]) -> None:
        self._slots = [(f, a) for f, a in self._slots if f != fn]

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every listener; one listener's exception is printed and does not stop the others (a broken
        widget must not leave the app state half-notified)."""
        dead = False
        for fn, alive in list(self._slots):
            if alive is not None and not alive():
                dead = True
                continue
            try:
                fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - any listener's failure is printed; the others still run
                traceback.print_exc()
        if dead:
            self._slots = [(f, a) for f, a in self._slots if a is None or a()]

    def __len__(self) -> int:
        return len(self._slots)
