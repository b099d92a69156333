"""Typed, frozen messages the job runner puts on its outbox (worker thread → app thread).

Every job ends with exactly one of ``JobDone``, ``JobFailed`` or ``JobCancelled``; before that it may post any
number of ``JobProgress`` and ``JobPartial`` messages. Payloads are immutable snapshots (frozen dataclasses, tuples,
read-only numpy arrays): the worker never shares a mutable object with the app thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobMessage:
    job_id: int
    kind: str


@dataclass(frozen=True)
class JobStarted(JobMessage):
    pass


@dataclass(frozen=True)
class JobProgress(JobMessage):
    fraction: float | None  # None: unknown
    message: str


@dataclass(frozen=True)
class JobPartial(JobMessage):
    payload: Any  # e.g. a TokenEvent, a training-curve point


@dataclass(frozen=True)
class JobDone(JobMessage):
    result: Any


@dataclass(frozen=True)
class JobFailed(JobMessage):
    message: str


@dataclass(frozen=True)
class JobCancelled(JobMessage):
    result: Any = None  # what the job had finished when it stopped, if it returned something


TERMINAL = (JobDone, JobFailed, JobCancelled)
