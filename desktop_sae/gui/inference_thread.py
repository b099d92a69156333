"""The app's one long-lived inference thread and the pump that brings its results to the GUI thread.

``InferenceThread`` runs the controller's ``JobRunner`` (which owns the model). The runner never emits a Qt
signal: it puts frozen messages on its outbox, and ``OutboxPump`` drains them on the GUI thread with a timer that
runs only while jobs are outstanding (every 15 ms, at most 8 ms of delivery per tick, so a long prompt's burst of
token events cannot freeze the window). A worker thread emitting while holding the GIL can deadlock against the
GUI thread holding one of Qt's signal-slot mutexes while waiting for the GIL (a CI hang once); with the outbox the
worker takes no Qt lock at all. ``InferenceWorker`` holds the thread, the pump and the GUI-thread garbage
collection (``gc_guard``) together, from start to shutdown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer

from ..app.controller import Controller
from ..app.job_handles import JobHandle
from ..app.jobs import JobRunner
from .gc_guard import GuiThreadGC

POLL_MS = 15
BUDGET_S = 0.008


class InferenceThread(QThread):
    def __init__(self, runner: JobRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.runner = runner
        self.setObjectName("desktop-sae-inference")

    def run(self) -> None:  # on the inference thread
        self.runner.run_forever()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and wait for the thread to end; True when it has."""
        self.runner.shutdown()
        return self.wait(timeout_ms)


class OutboxPump(QObject):
    def __init__(self, controller: Controller, parent: QObject | None = None):
        super().__init__(parent)
        self.controller = controller
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.tick)
        controller.jobs.submitted.connect(self._wake)

    def _wake(self, _handle: JobHandle[Any, Any]) -> None:
        if not self.timer.isActive():
            self.timer.start()

    def tick(self) -> None:
        self.controller.poll(BUDGET_S)
        if not self.controller.jobs.outstanding:
            self.controller.poll(BUDGET_S)  # anything posted after the last job's end (none expected)
            self.timer.stop()


class InferenceWorker:
    """The thread, its pump and the garbage-collection guard the thread needs (see ``gc_guard``)."""

    def __init__(self, controller: Controller):
        # the inference thread must never run the cyclic GC; full collections wait while an answer streams
        self.gc_guard = GuiThreadGC(busy=lambda: controller.conversation.busy)
        self.gc_guard.acquire()
        self.thread = InferenceThread(controller.runner)
        self.pump = OutboxPump(controller)

    def start(self) -> None:
        self.thread.start()

    def shutdown(self) -> bool:
        """Stop the pump and the thread (after the job in flight); True when the thread has ended."""
        self.pump.timer.stop()
        if self.thread.shutdown():
            self.gc_guard.release()  # no inference thread left: automatic collection is safe again
            return True
        return False
