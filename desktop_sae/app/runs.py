"""``Run``: one kind of long job as a dialog or panel follows it — its status, progress, partial results, result or
error — held by the app, Qt-free. The dialog starts and cancels it and redraws on ``changed``; it never touches the
job runner. Sweeps, evaluations, the contrastive finder, features on a selection, the neuron view, the toy models,
downloads and SAE training are runs (subclasses say what their job posts and returns).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ..core.support.text_enum import TextEnum
from .events import Signal
from .job_handles import JobHandle, Jobs, JobSlot
from .jobs import JobFn
from .messages import JobKind

P = TypeVar("P")
R = TypeVar("R")


class RunStatus(TextEnum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DONE = "done"


class RunChange(TextEnum):
    """What ``Run.changed`` says changed."""

    STATUS = "status"
    PROGRESS = "progress"
    PARTIAL = "partial"  # a partial result arrived (a token, a curve point, a sweep point)


class Run(Generic[P, R]):
    """Subclasses set ``kind`` and override ``on_started`` / ``on_partial`` / ``on_result`` / ``on_stopped`` to keep
    what they show; ``_start(fn)`` runs a job (replacing one of this run still going)."""

    kind: JobKind

    def __init__(self, jobs: Jobs):
        self.jobs = jobs
        self._slot: JobSlot[P, R] = JobSlot(jobs, self.kind)
        self.status = RunStatus.IDLE
        self.fraction: float | None = None
        self.message = ""
        self.error: str | None = None
        self.result: R | None = None
        self.changed: Signal[[RunChange]] = Signal(f"{self.kind}_changed")

    @property
    def running(self) -> bool:
        return self.status in (RunStatus.RUNNING, RunStatus.CANCELLING)

    @property
    def job_id(self) -> int | None:
        return self._slot.handle.id if self._slot.handle is not None else None

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``status`` becomes CANCELLED when it has."""
        if self.running:
            self._slot.cancel()
            self._set_status(RunStatus.CANCELLING)

    def close(self) -> None:
        """Cancel and forget: nothing this run's job still sends is delivered (its owner is going away)."""
        self._slot.drop()
        if self.running:
            self._set_status(RunStatus.CANCELLED)

    # --- for subclasses ------------------------------------------------------------------------------------------
    def _start(self, fn: JobFn[R]) -> JobHandle[P, R]:
        self.fraction, self.message, self.error, self.result = None, "", None, None
        self.on_started()
        handle = self._slot.start(fn, on_progress=self._on_progress, on_partial=self._on_partial,
                                  on_done=self._on_done, on_failed=self._on_failed, on_cancelled=self._on_cancelled)
        self._set_status(RunStatus.RUNNING)
        return handle

    def on_started(self) -> None:
        """A new job is about to start: clear what the last one left."""

    def on_progress(self, fraction: float | None, message: str) -> None:
        """A progress report (``fraction`` and ``message`` are already stored)."""

    def on_partial(self, payload: P) -> None:
        """Keep a partial result."""

    def on_result(self, result: R) -> None:
        """Keep the result (``self.result`` is already set)."""

    def on_stopped(self, result: R | None) -> None:
        """The job was cancelled; ``result`` is what it had finished, if it returned anything."""

    def _set_status(self, status: RunStatus) -> None:
        self.status = status
        self.changed.emit(RunChange.STATUS)

    # --- job callbacks (app thread) ------------------------------------------------------------------------------
    def _on_progress(self, fraction: float | None, message: str) -> None:
        self.fraction, self.message = fraction, message
        self.on_progress(fraction, message)
        self.changed.emit(RunChange.PROGRESS)

    def _on_partial(self, payload: P) -> None:
        self.on_partial(payload)
        self.changed.emit(RunChange.PARTIAL)

    def _on_done(self, result: R) -> None:
        self.result = result
        self.on_result(result)
        self._set_status(RunStatus.DONE)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._set_status(RunStatus.FAILED)

    def _on_cancelled(self, result: R | None) -> None:
        self.on_stopped(result)
        self._set_status(RunStatus.CANCELLED)


def describe_status(run: Run[Any, Any], done: str = "Done.") -> str:
    """A one-line status for a dialog: the progress message while running, then how it ended."""
    if run.status in (RunStatus.RUNNING, RunStatus.CANCELLING):
        return "Stopping…" if run.status == RunStatus.CANCELLING else run.message
    if run.status == RunStatus.FAILED:
        return f"Failed: {run.error}"
    if run.status == RunStatus.CANCELLED:
        return "Stopped."
    return done if run.status == RunStatus.DONE else ""
