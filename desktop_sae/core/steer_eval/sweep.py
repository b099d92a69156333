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
from .answers import Measured, References, measure_answer, references, scores
from .reading import human_text_nll, kl_along
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


def sweep_point(session: Session, prompt: str, answer: Answer, seed: int, steering: SteeringConfig,
                strength: float, ref: SweepRefs, keywords: Sequence[str], features: Sequence[int]) -> SweepPoint:
    """The measures of ``answer``, made with ``steering`` (at ``strength``) from ``seed``."""
    m = measure_answer(session, [prompt, ref.other_prompt], 0, seed, answer, keyword_pattern(keywords), features)
    kl = kl_along(session, answer.prompt_ids, answer.answer_ids, steering)
    s = scores(m, ref.refs)
    return SweepPoint(float(strength), m, float(np.mean(kl)) if len(kl) else math.nan, s["concept"], s["fluency"],
                      s["relevance"], s["combined"])


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
