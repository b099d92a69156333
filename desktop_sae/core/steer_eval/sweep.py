"""A strength sweep on one prompt and seed, its answers made in one batch (``sweep_answers``) and measured with the
evaluation's own measures (one implementation): each point's concept score, fluency (NLL under the unsteered model,
repetition), relevance, combined score, and the mean KL of the steered next-token distributions from the default
ones along the steered answer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..engine.batch_rows import DEFAULT_CHUNK, AnswerFn, BatchAnswer, BatchRow
from ..engine.sampling import SamplingConfig
from ..steering.specs import NO_STEERING, SteeringConfig
from .answers import Measured, References, measure_answer, measured_from, references, scores
from .reading import answer_logprobs_rows, human_text_nll, kl_and_logprobs_rows
from .scoring import keyword_pattern, pick_strength

if TYPE_CHECKING:
    from ..engine.session import Session
    from .answers import Answer

FALLBACK_OTHER = "What should I do this weekend?"


@dataclass(frozen=True)
class SweepRefs:
    default: Measured  # the unsteered answer (same prompt and seed)
    refs: References  # fluency threshold and the default answer's NLL and relevance
    other_prompt: str  # relevance compares the answer given its prompt with given this one


@dataclass(frozen=True)
class SweepPoint:
    strength: float
    measured: Measured
    kl: float  # mean KL(steered || default) over the answer's positions, nats
    concept: float
    fluency: float
    relevance: float
    combined: float

    @property
    def text(self) -> str:
        return self.measured.text

    def degenerated(self, threshold: float) -> bool:
        m = self.measured
        return m.degenerate or (math.isfinite(m.nll) and m.nll > threshold)


def other_prompt(prompt: str, candidates: Sequence[str]) -> str:
    return next((p for p in candidates if p.strip() and p != prompt), FALLBACK_OTHER)


def sweep_answers(session: Session, prompt: str, sampling: SamplingConfig, steerings: Sequence[SteeringConfig],
                  system: str | None = None, chunk: int = DEFAULT_CHUNK, cancel: Callable[[], bool] | None = None,
                  on_answer: AnswerFn | None = None) -> list[BatchAnswer]:
    """The default answer (first), then one answer per steering: one prompt, one seed, ``chunk`` answers per batch
    (``Session.generate_rows``); ``on_answer(i, answer)`` as each one ends."""
    ids = tuple(session.prompt_ids(prompt, system))
    rows = [BatchRow(ids, sampling, NO_STEERING), *(BatchRow(ids, sampling, s) for s in steerings)]
    return session.generate_rows(rows, chunk=chunk, cancel=cancel, on_answer=on_answer)


def sweep_references(session: Session, prompt: str, default: Answer, seed: int, keywords: Sequence[str],
                     features: Sequence[int], human_texts: Sequence[str], other: str,
                     threshold: float | None = None) -> SweepRefs:
    """The default answer's measures (``default``: the unsteered answer to ``prompt`` from ``seed``)."""
    m = measure_answer(session, [prompt, other], 0, seed, default, keyword_pattern(keywords), features)
    human = human_text_nll(session, human_texts) if threshold is None and human_texts else None
    return SweepRefs(m, references([m], threshold, human), other)


def sweep_points(session: Session, prompt: str, answers: Sequence[Answer], seed: int,
                 steerings: Sequence[SteeringConfig], strengths: Sequence[float], ref: SweepRefs,
                 keywords: Sequence[str], features: Sequence[int], chunk: int = DEFAULT_CHUNK,
                 cancel: Callable[[], bool] | None = None,
                 on_point: Callable[[int, SweepPoint], None] | None = None) -> list[SweepPoint]:
    """The measures of each answer (made with ``steerings[i]``, at ``strengths[i]``, from ``seed``): the model's
    reading of ``chunk`` answers at a time in one forward each (its log-probabilities after the prompt and after
    the other prompt, steered and not along the answer). ``on_point(i, point)`` as each is measured; after a cancel
    the points so far."""
    pattern = keyword_pattern(keywords)
    own, other = session.prompt_ids(prompt), session.prompt_ids(ref.other_prompt)
    points: list[SweepPoint] = []
    for at in range(0, len(answers), chunk):
        if cancel is not None and cancel():
            break
        part = list(zip(answers, steerings, strengths))[at: at + chunk]
        reads = kl_and_logprobs_rows(session, [(a.prompt_ids, a.answer_ids, st) for a, st, _x in part], chunk)
        lp_own = _after_own_prompt(session, own, [a for a, _s, _x in part], [lp for _kl, lp in reads], chunk)
        lp_other = answer_logprobs_rows(session, [(other, a.answer_ids) for a, _s, _x in part], chunk)
        for (a, _st, x), o, ot, (kl, _lp) in zip(part, lp_own, lp_other, reads):
            m = measured_from(session, 0, seed, a, o, ot, pattern, features)
            sc = scores(m, ref.refs)
            points.append(SweepPoint(float(x), m, float(np.mean(kl)) if len(kl) else math.nan, sc["concept"],
                                     sc["fluency"], sc["relevance"], sc["combined"]))
            if on_point is not None:
                on_point(len(points) - 1, points[-1])
    return points


def _after_own_prompt(session: Session, own: Sequence[int], answers: Sequence[Answer], unsteered: list[np.ndarray],
                      chunk: int) -> list[np.ndarray]:
    """Each answer's log-probabilities after ``own`` (its prompt without a system prompt: the fluency reading):
    ``unsteered[i]``, read after the answer's own prompt ids, where those are ``own``; read again where they are not
    (a system prompt came first)."""
    out = list(unsteered)
    redo = [i for i, a in enumerate(answers) if tuple(a.prompt_ids) != tuple(own)]
    for i, lp in zip(redo, answer_logprobs_rows(session, [(own, answers[i].answer_ids) for i in redo], chunk)):
        out[i] = lp
    return out


def sweet_spot(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The point with the best combined score (ties: the weaker strength); None if every score is 0."""
    if not points or max(p.combined for p in points) <= 0:
        return None
    best = pick_strength({p.strength: p.combined for p in points})
    return next(p for p in points if p.strength == best)


def degeneration(points: Sequence[SweepPoint], threshold: float) -> SweepPoint | None:
    """The weakest strength whose answer degenerates (NLL above the threshold, or a repetition loop)."""
    bad = [p for p in points if p.degenerated(threshold)]
    return min(bad, key=lambda p: abs(p.strength)) if bad else None
