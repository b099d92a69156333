"""The strength sweep as a run: one prompt and seed, the answer at each strength measured with the steering
evaluation's measures (concept score, NLL under the unsteered model, KL from the default). The answers are made
together, ``SweepRequest.batch`` per batch (core/engine/batch_generation.py); then the default answer's measures
arrive first (``SweepReference``), then one ``SweepPointAt`` per strength; the sweet spot and the point where the text
degenerates follow from the points so far."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..core.engine.batch_rows import DEFAULT_CHUNK, BatchAnswer
from ..core.engine.sampling import SamplingConfig
from ..core.steering.specs import SteeringConfig, SteerSpec
from .job_handles import Jobs
from .loading import with_sae
from .messages import JobKind
from .runs import Run

if TYPE_CHECKING:
    from ..core.engine.session import Session
    from ..core.steer_eval.sweep import SweepPoint, SweepRefs
    from .jobs import JobFn, JobState


@dataclass(frozen=True)
class SweepRequest:
    prompt: str
    strengths: tuple[float, ...]
    keywords: tuple[str, ...]
    sampling: SamplingConfig
    spec: SteerSpec | None = None  # one feature (or vector) at each strength; None: the whole steering set ...
    steering: SteeringConfig | None = None  # ... scaled by each strength (the multiplier)
    features: tuple[int, ...] = ()  # read back on the answer (concept score)
    system: str | None = None
    skip_special: bool = True
    batch: int = DEFAULT_CHUNK  # answers made together (1: one at a time)

    def steering_at(self, s: float) -> SteeringConfig:
        if self.spec is not None:
            return SteeringConfig((replace(self.spec, strength=float(s), enabled=True),),
                                  skip_special=self.skip_special)
        if self.steering is None:
            raise ValueError("a sweep needs a feature or a steering set")
        return replace(self.steering, multiplier=float(s))


@dataclass(frozen=True)
class SweepReference:
    """The default answer's measures, against which every strength is compared."""

    refs: SweepRefs


@dataclass(frozen=True)
class SweepPointAt:
    index: int  # which strength of the request
    point: SweepPoint


SweepPartial = SweepReference | SweepPointAt
SweepResult = tuple["SweepRefs", tuple["SweepPoint", ...]]


def strength_sweep_job(req: SweepRequest) -> JobFn[SweepResult]:
    def fn(session: Session | None, state: JobState) -> SweepResult:
        from ..core.steer_eval.data import load_splits, neutral_texts
        from ..core.steer_eval.sweep import other_prompt, sweep_answers, sweep_points, sweep_references

        session = with_sae(session, "a strength sweep", weights=True)
        steerings = [req.steering_at(s) for s in req.strengths]
        for st in steerings:
            session.plan(st)  # validate every point before generating
        candidates: tuple[str, ...] = ()
        human: tuple[str, ...] = ()
        try:
            candidates, human = load_splits().selection, neutral_texts()
        except (OSError, ValueError):
            pass
        n = len(req.strengths) + 1
        made: list[int] = []

        def answered(i: int, _answer: BatchAnswer) -> None:
            made.append(i)
            state.progress(len(made) / (2 * n), f"Answered {len(made)} of {n}")

        state.progress(0.0, f"Answering at {n - 1} strengths and without steering")
        answers = sweep_answers(session, req.prompt, req.sampling, steerings, req.system, req.batch,
                                state.cancelled, answered)
        if state.cancelled():
            raise InterruptedError("cancelled")
        seed = req.sampling.seed or 0
        state.progress(0.5, "Measuring the default answer")
        ref = sweep_references(session, req.prompt, answers[0], seed, req.keywords, req.features, human,
                               other_prompt(req.prompt, candidates))
        state.partial(SweepReference(ref))

        def measured(i: int, p: SweepPoint) -> None:
            state.progress(0.5 + (i + 2) / (2 * n), f"Measured strength {p.strength:g}")
            state.partial(SweepPointAt(i, p))

        state.progress(0.5 + 1 / (2 * n), "Measuring the answers")
        points = sweep_points(session, req.prompt, answers[1:], seed, steerings, req.strengths, ref, req.keywords,
                              req.features, req.batch, state.cancelled, measured)
        return ref, tuple(points)

    return fn


class SweepRun(Run[SweepPartial, SweepResult]):
    kind = JobKind.SWEEP

    def __init__(self, jobs: Jobs):
        super().__init__(jobs)
        self.request: SweepRequest | None = None
        self.ref: SweepRefs | None = None
        self.points: dict[int, SweepPoint] = {}

    def start(self, req: SweepRequest) -> int:
        self.request = req
        return self._start(strength_sweep_job(req)).id

    def on_started(self) -> None:
        self.ref, self.points = None, {}

    def on_partial(self, payload: SweepPartial) -> None:
        if isinstance(payload, SweepReference):
            self.ref = payload.refs
        else:
            self.points[payload.index] = payload.point

    def sorted_points(self) -> list[SweepPoint]:
        return sorted(self.points.values(), key=lambda p: p.strength)

    @property
    def threshold(self) -> float | None:
        """NLL above which an answer is not fluent (from the reference), once it has arrived."""
        return self.ref.refs.threshold if self.ref is not None else None

    def best(self) -> SweepPoint | None:
        """The sweet spot so far: the best combined score."""
        from ..core.steer_eval.sweep import sweet_spot

        return sweet_spot(list(self.points.values()))

    def degenerates_at(self) -> SweepPoint | None:
        """The first strength at which the text degenerates, once the reference has arrived."""
        from ..core.steer_eval.sweep import degeneration

        thr = self.threshold
        return degeneration(list(self.points.values()), thr) if thr is not None else None
