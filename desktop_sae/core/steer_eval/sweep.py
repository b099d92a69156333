"""A strength sweep on one prompt and seed, measured with the evaluation's own measures (one implementation):
each point's concept score, fluency (NLL under the unsteered model, repetition), relevance, combined score, and
the mean KL of the steered next-token distributions from the default ones along the steered answer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..engine.sampling import SamplingConfig
from ..steering.specs import NO_STEERING, SteeringConfig
from .answers import Measured, References, measure_answer, references, scores
from .reading import human_text_nll, kl_along
from .scoring import keyword_pattern, pick_strength

if TYPE_CHECKING:
    from ..engine.session import Session

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


def sweep_references(session: Session, prompt: str, sampling: SamplingConfig, keywords: Sequence[str],
                     features: Sequence[int], human_texts: Sequence[str], other: str, system: str | None = None,
                     threshold: float | None = None, cancel: Callable[[], bool] | None = None) -> SweepRefs:
    res = session.generate(prompt, sampling, NO_STEERING, system=system, cancel=cancel)
    m = measure_answer(session, [prompt, other], 0, sampling.seed or 0, res, keyword_pattern(keywords), features)
    human = human_text_nll(session, human_texts) if threshold is None and human_texts else None
    return SweepRefs(m, references([m], threshold, human), other)


def sweep_point(session: Session, prompt: str, sampling: SamplingConfig, steering: SteeringConfig, strength: float,
                ref: SweepRefs, keywords: Sequence[str], features: Sequence[int], system: str | None = None,
                cancel: Callable[[], bool] | None = None) -> SweepPoint:
    res = session.generate(prompt, sampling, steering, system=system, cancel=cancel)
    m = measure_answer(session, [prompt, ref.other_prompt], 0, sampling.seed or 0, res, keyword_pattern(keywords),
                       features)
    kl = kl_along(session, res.prompt_ids, res.answer_ids, steering)
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
