"""The toy lab's runs: train the core toy models on the inference thread, each tab with its own ``ToyRun``.

Each job ignores the language-model session. Every ``every`` steps a snapshot goes out with ``state.partial``
(arrays made read-only, so the GUI thread can keep them; ``loss`` is the mean over those steps); ``pace_s`` sleeps
after each snapshot so a classroom can watch the training unfold ("slow motion"); cancelling is honoured between
steps and during the pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..core.classroom.toy.describe import describe_geometry
from ..core.classroom.toy.rainbow import RainbowConfig, RainbowResult, train_rainbow
from ..core.classroom.toy.superposition import Geometry, ToyConfig, ToyResult, geometry, train_toy
from ..core.classroom.toy.toy_sae import ToySAEConfig, ToySAEResult, train_toy_sae
from .events import Signal
from .job_handles import Jobs
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState

S = TypeVar("S")
SNAPSHOT_EVERY = 25  # training steps between two snapshots (60 frames for the default 1500 steps)


@dataclass(frozen=True)
class SuperpositionOutcome:
    result: ToyResult
    geometry: Geometry
    summary: str


@dataclass(frozen=True)
class ToySAEOutcome:
    toy: ToyResult
    geometry: Geometry
    sae: ToySAEResult


def _read_only(snap: S) -> S:
    for v in vars(snap).values():
        if hasattr(v, "setflags"):
            v.setflags(write=False)
    return snap


def _pause(seconds: float, cancelled: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not cancelled():
        time.sleep(min(0.01, max(0.0, end - time.monotonic())))


class _Thinned:
    """Receives a training's snapshot and progress every step; passes on every ``every``-th (and the last) with
    ``loss`` replaced by the mean loss since the previous one (one batch's loss is noisy), then pauses. Progress
    is mapped onto ``[lo, hi]`` of the job's."""

    def __init__(self, state: JobState, steps: int, every: int, pace_s: float, lo: float = 0.0, hi: float = 1.0):
        self.state, self.steps, self.every, self.pace_s, self.lo, self.hi = state, steps, every, pace_s, lo, hi
        self.losses: list[float] = []

    def _due(self, step: int) -> bool:
        return step % self.every == 0 or step >= self.steps

    def partial(self, snap: Any) -> None:
        self.losses.append(float(snap.loss))
        if self._due(snap.step):
            self.state.partial(_read_only(replace(snap, loss=float(np.mean(self.losses)))))
            self.losses.clear()
            if self.pace_s > 0:
                _pause(self.pace_s, self.state.cancelled)

    def progress(self, fraction: float, message: str) -> None:
        if self._due(round(fraction * self.steps)):
            self.state.progress(self.lo + (self.hi - self.lo) * fraction, message)


def superposition_job(cfg: ToyConfig, pace_s: float = 0.0, every: int = SNAPSHOT_EVERY) -> JobFn[SuperpositionOutcome]:
    """Train the toy model; partials are ``ToySnapshot``s; the result a ``SuperpositionOutcome``."""
    cfg.validate()

    def fn(_session: Session | None, state: JobState) -> SuperpositionOutcome:
        t = _Thinned(state, cfg.steps, every, pace_s)
        r = train_toy(cfg, progress=t.progress, partial=t.partial, cancelled=state.cancelled, every=1)
        g = geometry(r.W)
        return SuperpositionOutcome(r, g, describe_geometry(g, cfg.n, cfg.m, cfg.sparsity))

    return fn


def toy_sae_job(toy: ToyConfig, sae: ToySAEConfig, pace_s: float = 0.0,
                every: int = SNAPSHOT_EVERY) -> JobFn[ToySAEOutcome]:
    """Train the toy model (first half of the progress), then an SAE on its hidden vectors (second half).
    Partials are the toy's ``ToySnapshot``s, then the SAE's ``ToySAESnapshot``s; the result a ``ToySAEOutcome``."""
    toy.validate()
    sae.validate()

    def fn(_session: Session | None, state: JobState) -> ToySAEOutcome:
        t = _Thinned(state, toy.steps, every, pace_s, 0.0, 0.5)
        r = train_toy(toy, progress=t.progress, partial=t.partial, cancelled=state.cancelled, every=1)
        t = _Thinned(state, sae.steps, every, pace_s, 0.5, 1.0)
        s = train_toy_sae(r.W, toy, sae, progress=t.progress, partial=t.partial, cancelled=state.cancelled, every=1)
        return ToySAEOutcome(r, geometry(r.W), s)

    return fn


def rainbow_job(cfg: RainbowConfig = RainbowConfig()) -> JobFn[RainbowResult]:
    """Train the 3-unit bottleneck and the wide sparse layer on the spectrum; the result a ``RainbowResult``."""
    cfg.validate()

    def fn(_session: Session | None, state: JobState) -> RainbowResult:
        return train_rainbow(cfg, progress=state.progress, cancelled=state.cancelled)

    return fn


class ToyRun(Run[Any, Any]):
    """One toy-lab tab's training: ``partial`` passes on every snapshot (the tab keeps its curves), the result is
    the outcome the tab draws."""

    def __init__(self, jobs: Jobs, kind: JobKind):
        self.kind = kind
        super().__init__(jobs)
        self.partial: Signal[[Any]] = Signal(f"{kind}_partial")

    def start(self, fn: JobFn[Any]) -> int:
        return self._start(fn).id

    def on_partial(self, payload: Any) -> None:
        self.partial.emit(payload)
