"""The app side of the job runner: submitting a job returns a ``JobHandle``; ``Jobs.poll`` (on the app thread) hands
each message from the worker to its handle's callbacks.

The guards every submitter needs are written here once: a handle delivers only its own job's messages, none
after it is ``detach``ed (a newer job replaced it: ``JobSlot``) and none once its receiver is gone (``alive``).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from ..core.support.text_enum import TextEnum
from .events import Signal
from .jobs import JobFn, JobRunner
from .messages import JobCancelled, JobDone, JobFailed, JobKind, JobMessage, JobPartial, JobProgress, JobStarted

P = TypeVar("P")  # what the job posts as partial results
R = TypeVar("R")  # what it returns

ProgressFn = Callable[[float | None, str], None]


class JobStatus(TextEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(eq=False)
class JobHandle(Generic[P, R]):
    """One submitted job as its submitter sees it. Callbacks run on the app thread, in ``Jobs.poll``."""

    id: int
    kind: JobKind
    jobs: Jobs = field(repr=False)
    on_progress: ProgressFn | None = None
    on_partial: Callable[[P], None] | None = None
    on_done: Callable[[R], None] | None = None
    on_failed: Callable[[str], None] | None = None  # the error, written for the user
    on_cancelled: Callable[[R | None], None] | None = None  # what the job had finished, if it returned anything
    alive: Callable[[], bool] | None = None  # the receiver's lifetime: nothing is delivered once it is False
    status: JobStatus = JobStatus.QUEUED
    fraction: float | None = None
    message: str = ""
    attached: bool = True

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def cancel(self) -> None:
        """Ask the job to stop at its next check (before the next token or step)."""
        self.jobs.runner.cancel(self.id)

    def detach(self) -> None:
        """Deliver nothing more to this handle's callbacks (the job itself runs on unless cancelled)."""
        self.attached = False

    def _receiving(self) -> bool:
        return self.attached and (self.alive is None or self.alive())

    def deliver(self, msg: JobMessage) -> None:
        if isinstance(msg, JobStarted):
            self.status = JobStatus.RUNNING
        elif isinstance(msg, JobProgress):
            self.status, self.fraction, self.message = JobStatus.RUNNING, msg.fraction, msg.message
            if self.on_progress is not None and self._receiving():
                self.on_progress(msg.fraction, msg.message)
        elif isinstance(msg, JobPartial):
            if self.on_partial is not None and self._receiving():
                self.on_partial(cast(P, msg.payload))
        elif isinstance(msg, JobDone):
            self.status = JobStatus.DONE
            if self.on_done is not None and self._receiving():
                self.on_done(cast(R, msg.result))
        elif isinstance(msg, JobFailed):
            self.status = JobStatus.FAILED
            if self.on_failed is not None and self._receiving():
                self.on_failed(msg.message)
        elif isinstance(msg, JobCancelled):
            self.status = JobStatus.CANCELLED
            if self.on_cancelled is not None and self._receiving():
                self.on_cancelled(cast("R | None", msg.result))


class Jobs:
    """Submits jobs to the runner and delivers their messages; ``poll`` runs on the app thread."""

    def __init__(self, runner: JobRunner):
        self.runner = runner
        self._live: dict[int, JobHandle[Any, Any]] = {}
        self.submitted: Signal[[JobHandle[Any, Any]]] = Signal("job_submitted")
        self.progress: Signal[[JobHandle[Any, Any]]] = Signal("job_progress")
        self.finished: Signal[[JobHandle[Any, Any]]] = Signal("job_finished")

    def submit(self, kind: JobKind, fn: JobFn[R], *, on_progress: ProgressFn | None = None,
               on_partial: Callable[[P], None] | None = None, on_done: Callable[[R], None] | None = None,
               on_failed: Callable[[str], None] | None = None, on_cancelled: Callable[[R | None], None] | None = None,
               alive: Callable[[], bool] | None = None, exclusive: bool = True) -> JobHandle[P, R]:
        """Run ``fn(session, state)`` on the inference thread; with ``exclusive`` the jobs of the same kind still
        queued or running are cancelled first (newest wins)."""
        job_id = self.runner.submit(kind, fn, exclusive=exclusive)
        handle: JobHandle[P, R] = JobHandle(job_id, kind, self, on_progress, on_partial, on_done, on_failed,
                                            on_cancelled, alive)
        self._live[job_id] = handle
        self.submitted.emit(handle)
        return handle

    def cancel_kind(self, kind: JobKind) -> None:
        self.runner.cancel(kind=kind)

    @property
    def outstanding(self) -> bool:
        """Jobs whose final message has not been delivered yet (the app polls only while this is true)."""
        return bool(self._live)

    def live(self, kind: JobKind | None = None) -> list[JobHandle[Any, Any]]:
        return [h for h in self._live.values() if kind is None or h.kind == kind]

    def poll(self, budget_s: float = 0.008) -> None:
        """Deliver the runner's messages; stops after ``budget_s`` so a burst cannot freeze the window."""
        t_end = time.perf_counter() + budget_s
        while True:
            try:
                msg = self.runner.outbox.get_nowait()
            except queue.Empty:
                return
            handle = self._live.get(msg.job_id)
            if handle is not None:
                if isinstance(msg, (JobDone, JobFailed, JobCancelled)):
                    del self._live[msg.job_id]
                handle.deliver(msg)
                if isinstance(msg, JobProgress):
                    self.progress.emit(handle)
                elif handle.finished:
                    self.finished.emit(handle)
            if time.perf_counter() >= t_end:
                return


class JobSlot(Generic[P, R]):
    """At most one job of a kind for one owner: starting another cancels the previous one and detaches its handle,
    so that its late messages never reach the new run."""

    def __init__(self, jobs: Jobs, kind: JobKind):
        self.jobs, self.kind = jobs, kind
        self.handle: JobHandle[P, R] | None = None

    @property
    def busy(self) -> bool:
        return self.handle is not None and not self.handle.finished

    def start(self, fn: JobFn[R], **callbacks: Any) -> JobHandle[P, R]:
        self.drop()
        self.handle = self.jobs.submit(self.kind, fn, **callbacks)
        return self.handle

    def cancel(self) -> None:
        if self.handle is not None and not self.handle.finished:
            self.handle.cancel()

    def drop(self) -> None:
        """Cancel the job and ignore whatever it still sends."""
        if self.handle is not None:
            self.cancel()
            self.handle.detach()
