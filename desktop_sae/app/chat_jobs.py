"""The conversation's jobs: an answer (or the steered and the default answer side by side, from one seed), and a
lesson's sweep of one question over several strengths into the chat (its answers made together in one batch). Both
run on the worker and hand back immutable results."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..core.engine.batch_rows import DEFAULT_CHUNK, BatchAnswer, BatchRow
from ..core.engine.run_names import Run
from ..core.steering.specs import SteeringConfig, SteerSpec
from .loading import loaded

if TYPE_CHECKING:
    from ..core.engine.generation import GenerationResult
    from ..core.engine.sampling import SamplingConfig
    from ..core.engine.session import Session
    from .jobs import JobFn, JobState


@dataclass(frozen=True)
class SweepAnswer:
    """One answer of a sweep into the chat: the strength it was steered at and its text."""

    strength: float
    text: str


def generate_job(messages: tuple[dict[str, str], ...], system: str | None, sampling: SamplingConfig,
                 steering: SteeringConfig, watch: tuple[int, ...], compare: bool) -> JobFn[dict[Run, GenerationResult]]:
    """One answer (``{Run.MAIN: result}``) or, side by side, the steered and the default answer from one seed."""

    def fn(session: Session | None, state: JobState) -> dict[Run, GenerationResult]:
        session = loaded(session)
        msgs = [dict(m) for m in messages]
        if compare:
            steered, default = session.compare(msgs, sampling, steering, system=system, watch=watch,
                                               on_token=state.partial, cancel=state.cancelled)
            return {Run.STEERED: steered, Run.DEFAULT: default}
        return {Run.MAIN: session.generate(msgs, sampling, steering, system=system, watch=watch,
                                           on_token=state.partial, cancel=state.cancelled)}

    return fn


def scaled_rows(rows: SteerSpec | tuple[SteerSpec, ...], s: float) -> tuple[SteerSpec, ...]:
    """Steering rows at strength ``s``: one row gets ``s``; a weighted set (a demo concept's rows) keeps its
    proportions, its first row getting ``s``."""
    rows = (rows,) if isinstance(rows, SteerSpec) else rows
    lead = rows[0].strength or 1.0
    if len(rows) == 1:
        return (replace(rows[0], strength=float(s)),)
    return tuple(replace(r, strength=float(s) * r.strength / lead) for r in rows)


def sweep_job(prompt: str, system: str | None, sampling: SamplingConfig, rows: tuple[SteerSpec, ...],
              strengths: tuple[float, ...], skip_special: bool = True,
              batch: int = DEFAULT_CHUNK) -> JobFn[tuple[SweepAnswer, ...]]:
    """The same question at each strength of ``rows`` (same seed), ``batch`` answers made together: one
    ``SweepAnswer`` partial each, in the order of ``strengths``, as soon as it and those before it have ended."""

    def fn(session: Session | None, state: JobState) -> tuple[SweepAnswer, ...]:
        session = loaded(session)
        ids = tuple(session.prompt_ids([{"role": "user", "content": prompt}], system))
        todo = [BatchRow(ids, sampling, SteeringConfig(scaled_rows(rows, s), skip_special=skip_special))
                for s in strengths]
        ended: dict[int, BatchAnswer] = {}
        out: list[SweepAnswer] = []

        def answered(i: int, answer: BatchAnswer) -> None:
            ended[i] = answer
            state.progress(len(ended) / len(strengths), f"Answered {len(ended)} of {len(strengths)} strengths")
            while len(out) in ended and ended[len(out)].stop_reason != "cancelled":
                out.append(SweepAnswer(float(strengths[len(out)]), ended[len(out)].text))
                state.partial(out[-1])

        session.generate_rows(todo, chunk=batch, cancel=state.cancelled, on_answer=answered)
        return tuple(out)

    return fn
