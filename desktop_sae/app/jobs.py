"""The job runner (the worker side): one long-lived thread owns the model and runs jobs ``fn(session, state)`` one
at a time.

A job is a plain function. ``state`` (a ``JobState``) lets it report ``progress(fraction, message)``, post
``partial(payload)`` results (a token event, a training-curve point) and ask ``cancelled()`` between tokens or
steps; a load job hands over a new session with ``set_session`` (applied only if the job succeeds, so a failed or
refused load keeps the old model and SAE). Submitting a job cancels the queued and running jobs of the same kind
(newest wins). An exception becomes a ``JobFailed`` message and the thread lives on.

The runner itself knows no Qt: the app runs ``run_forever`` on a QThread, the CLI and tests on a plain thread, and
whoever owns the app state drains ``outbox`` on its own thread (``job_handles.Jobs.poll``), which hands each message
to the job's handle. The worker side never emits a Qt signal (a worker emitting while holding the GIL can deadlock
against the GUI thread deleting widgets).
"""

from __future__ import annotations

import itertools
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.support.errors import DesktopSAEError
from .messages import JobCancelled, JobDone, JobFailed, JobKind, JobMessage, JobPartial, JobProgress, JobStarted

if TYPE_CHECKING:
    from ..core.engine.session import Session

R = TypeVar("R")
JobFn = Callable[["Session | None", "JobState"], R]  # runs on the worker: the session it owns, and its own state
_UNSET: Any = object()


@dataclass(eq=False)
class _Job:
    id: int
    kind: JobKind
    fn: JobFn[Any]
    cancelled: bool = False  # set from the app thread; read by the worker (a plain bool is atomic under the GIL)


class JobState:
    """What a running job sees: progress, partial results, cancellation, and (load jobs) a new session."""

    def __init__(self, runner: JobRunner, job: _Job):
        self._runner, self._job = runner, job
        self.new_session: Session | None = _UNSET

    @property
    def job_id(self) -> int:
        return self._job.id

    def progress(self, fraction: float | None, message: str = "") -> None:
        f = None if fraction is None else max(0.0, min(1.0, float(fraction)))
        self._runner.outbox.put(JobProgress(self._job.id, self._job.kind, f, str(message)))

    def partial(self, payload: object) -> None:
        self._runner.outbox.put(JobPartial(self._job.id, self._job.kind, payload))

    def cancelled(self) -> bool:
        return self._job.cancelled or self._runner.closing

    def set_session(self, session: Session) -> None:
        self.new_session = session


def error_message(e: BaseException) -> str:
    """The project's own errors are written for users; anything else keeps its type name."""
    return str(e) if isinstance(e, DesktopSAEError) else f"{type(e).__name__}: {e}"


class JobRunner:
    def __init__(self, session: Session | None = None):
        self.session = session  # owned by the worker thread once it runs
        self.outbox: queue.SimpleQueue[JobMessage] = queue.SimpleQueue()
        self.closing = False
        self._inbox: queue.Queue[_Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._live: dict[int, _Job] = {}  # queued or running
        self.thread: threading.Thread | None = None  # only when started with start_thread()

    # --- app side ------------------------------------------------------------------------------------------
    def submit(self, kind: JobKind, fn: JobFn[Any], *, exclusive: bool = True) -> int:
        """Queue ``fn``; with ``exclusive`` the queued and running jobs of the same kind are cancelled first."""
        if self.closing:
            raise RuntimeError("the job runner is shut down")
        with self._lock:
            if exclusive:
                for j in self._live.values():
                    if j.kind == kind:
                        j.cancelled = True
            job = _Job(next(self._ids), kind, fn)
            self._live[job.id] = job
        self._inbox.put(job)
        return job.id

    def cancel(self, job_id: int | None = None, kind: JobKind | None = None) -> None:
        """Cancel one job, every job of a kind, or (no argument) every job. A running job stops at its next
        ``cancelled()`` check: before the next token or training step."""
        with self._lock:
            for j in self._live.values():
                if (job_id is None and kind is None) or j.id == job_id or j.kind == kind:
                    j.cancelled = True

    def live(self, kind: JobKind | None = None) -> list[int]:
        with self._lock:
            return [j.id for j in self._live.values() if kind is None or j.kind == kind]

    def shutdown(self) -> None:
        """Cancel everything and let ``run_forever`` return after the job in flight."""
        self.closing = True
        self.cancel()
        self._inbox.put(None)

    def start_thread(self, name: str = "desktop-sae-jobs") -> threading.Thread:
        """Run on a plain Python thread (CLI, tests without Qt)."""
        self.thread = threading.Thread(target=self.run_forever, name=name, daemon=True)
        self.thread.start()
        return self.thread

    # --- worker side -----------------------------------------------------------------------------------------
    def run_forever(self) -> None:
        while True:
            job = self._inbox.get()
            if job is None:
                return
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._live.pop(job.id, None)

    def _run(self, job: _Job) -> None:
        post = self.outbox.put
        if job.cancelled or self.closing:
            post(JobCancelled(job.id, job.kind))
            return
        post(JobStarted(job.id, job.kind))
        state = JobState(self, job)
        try:
            result = job.fn(self.session, state)
        except Exception as e:  # noqa: BLE001 - any failure becomes a message; the thread lives on
            if state.cancelled():
                post(JobCancelled(job.id, job.kind))
            else:
                traceback.print_exc()
                post(JobFailed(job.id, job.kind, error_message(e)))
            return
        if state.cancelled():
            post(JobCancelled(job.id, job.kind, result))
            return
        if state.new_session is not _UNSET:
            self.session = state.new_session
        post(JobDone(job.id, job.kind, result))
