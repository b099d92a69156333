"""Run Python's cyclic garbage collector on the GUI thread only, while inference threads are alive.

Automatic collection runs in whichever thread happens to allocate. When that is the inference thread and the garbage
holds Qt wrappers made on the GUI thread (a closed window, a dialog, a menu in a reference cycle), the wrapper's C++
object is destroyed on the inference thread: ``~QObject`` takes a Qt mutex and then waits for the GIL to ask
Python for overrides, while the GUI thread holds the GIL and waits for that mutex — a deadlock, seen in CI (the
worker's stack ended in ``gc_collect_main`` → shiboken dealloc → ``~QObject``).

So while any guard is held, automatic collection is off and a timer on the GUI thread collects instead, one
generation at a time as the allocation counts pass the usual thresholds. A full (generation 2) collection walks
every object, the model's included (about 0.1-0.2 s with the bundled model loaded), so it waits until no holder is
busy (no answer streaming) and runs at most every ``full_every_s``. Guards are counted: the last release collects
once more on the GUI thread and restores automatic collection.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer
from PySide6.QtWidgets import QApplication


class _GuiCollector(QObject):
    interval_ms = 250
    full_every_s = 10.0

    def __init__(self, app: QCoreApplication):
        super().__init__(app)
        self.holders = 0
        self.busy_checks: dict[int, Callable[[], bool]] = {}
        self.last_full = time.monotonic()
        self.was_enabled = gc.isenabled()
        self.timer = QTimer(self)
        self.timer.setInterval(self.interval_ms)
        self.timer.timeout.connect(self.collect_due)

    def acquire(self) -> None:
        if self.holders == 0:
            self.was_enabled = gc.isenabled()
            gc.collect()  # garbage left from before (e.g. a closed window) goes now, on this thread
            gc.disable()
            self.timer.start()
        self.holders += 1

    def release(self) -> None:
        if self.holders == 0:
            return
        self.holders -= 1
        if self.holders == 0:
            self.timer.stop()
            gc.collect()
            if self.was_enabled:
                gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count passed its threshold (what automatic collection would do)."""
        counts, limits = gc.get_count(), gc.get_threshold()
        for gen in (2, 1, 0):
            if not limits[gen] or counts[gen] <= limits[gen]:
                continue
            if gen == 2:
                if time.monotonic() - self.last_full < self.full_every_s or any(b() for b in self.busy_checks.values()):
                    continue  # a younger generation may still be due
                self.last_full = time.monotonic()
            return gc.collect(gen)
        return 0


def _collector() -> _GuiCollector:
    app = QApplication.instance()
    if app is None:
        raise RuntimeError("a QApplication must exist before guarding garbage collection")
    if QThread.currentThread() is not app.thread():
        raise RuntimeError("garbage collection can only be guarded from the GUI thread")
    found = app.findChild(_GuiCollector)
    return found if found is not None else _GuiCollector(app)


class GuiThreadGC:
    """Holds GUI-thread-only garbage collection from ``acquire()`` until ``release()`` (idempotent)."""

    def __init__(self, busy: Callable[[], bool] | None = None):
        self.held = False
        self.busy = busy  # while it returns True, full collections wait (e.g. an answer is streaming)

    def acquire(self) -> None:
        if not self.held:
            c = _collector()
            c.acquire()
            if self.busy is not None:
                c.busy_checks[id(self)] = self.busy
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            c = _collector()
            c.busy_checks.pop(id(self), None)
            c.release()

    @staticmethod
    def active() -> bool:
        app = QApplication.instance()
        found = app.findChild(_GuiCollector) if app is not None else None
        return bool(found and found.holders)
