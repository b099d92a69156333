"""One answer, measured and scored: the raw measures (keywords, feature re-read, NLL, relevance, repetition) and
their [0, 1] scores once the references of the run (the default answers' NLL and relevance) are known."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..engine.sampling import SamplingConfig
from ..steering.specs import NO_STEERING, SteeringConfig
from .reading import answer_logprobs, feature_reread, fires, mean_nll, relevance
from .scoring import (
    FIRE_FRACTION,
    concept_score,
    degenerate,
    finite_mean,
    fluency_score,
    fluency_threshold,
    harmonic_mean,
    keyword_hits,
    relevance_score,
    share_below,
)

if TYPE_CHECKING:
    import numpy as np

    from ..engine.batch_rows import BatchAnswer
    from ..engine.generation import GenerationResult, TokenEvent
    from ..engine.session import Session

    Answer = GenerationResult | BatchAnswer  # an answer made one at a time, or in a batch


@dataclass(frozen=True)
class Measured:
    prompt: int  # index in its split
    seed: int
    text: str
    n_tokens: int
    keywords: tuple[str, ...]  # keyword matches found in the answer
    reread: float  # the feature's largest activation on re-read / its max activation
    fires: bool
    nll: float  # nats/token under the unsteered model given the prompt
    relevance: float  # nats/token: own prompt minus another prompt
    degenerate: bool


@dataclass(frozen=True)
class References:
    default_nll: float  # mean NLL of the default answers of the split
    threshold: float  # fluency threshold (nats/token)
    relevance: float  # mean relevance of the default answers of the split


def measure_answer(session: Session, prompts: Sequence[str], i: int, seed: int, result: Answer,
                   pattern: re.Pattern[str] | None,
                   features: Sequence[int], fire_fraction: float = FIRE_FRACTION,
                   weights: Sequence[float] = ()) -> Measured:
    """Measure ``result`` (a GenerationResult answering prompts[i]); relevance compares with prompts[i + 1];
    ``weights`` read ``features`` back as one weighted set (``reading.feature_reread``)."""
    ids = list(result.answer_ids)
    own = answer_logprobs(session, session.prompt_ids(prompts[i]), ids)
    other = answer_logprobs(session, session.prompt_ids(prompts[(i + 1) % len(prompts)]), ids)
    return measured_from(session, i, seed, result, own, other, pattern, features, fire_fraction, weights)


def measured_from(session: Session, i: int, seed: int, result: Answer, own: np.ndarray, other: np.ndarray,
                  pattern: re.Pattern[str] | None, features: Sequence[int], fire_fraction: float = FIRE_FRACTION,
                  weights: Sequence[float] = ()) -> Measured:
    """``measure_answer`` given the answer's log-probabilities after its own prompt (``own``) and another one."""
    ids = list(result.answer_ids)
    frac = feature_reread(session, result.text, features, weights) if features else 0.0
    has_stats = session.sae is not None and session.sae.stats is not None
    return Measured(i, seed, result.text, len(ids), tuple(keyword_hits(result.text, pattern)), frac,
                    fires(frac, has_stats, fire_fraction), mean_nll(own), relevance(own, other), degenerate(ids))


def measure_answers(session: Session, prompts: Sequence[str], items: Sequence[tuple[int, int, Answer]],
                    pattern: re.Pattern[str] | None, features: Sequence[int], fire_fraction: float = FIRE_FRACTION,
                    weights: Sequence[float] = ()) -> list[Measured]:
    """``measure_answer`` for each (prompt index, seed, result)."""
    return [measure_answer(session, prompts, i, seed, r, pattern, features, fire_fraction, weights)
            for i, seed, r in items]


def scores(m: Measured, refs: References) -> dict:
    c = concept_score(bool(m.keywords), m.fires)
    f = fluency_score(m.nll, refs.default_nll, refs.threshold, m.degenerate)
    r = relevance_score(m.relevance, refs.relevance)
    return {"concept": c, "fluency": f, "relevance": r, "combined": harmonic_mean([c, f, r])}


def summary(answers: Sequence[Measured], refs: References, with_answers: bool = True) -> dict:
    """Means over a group of answers: raw measures, the three [0, 1] scores and the combined score."""
    sc = [scores(m, refs) for m in answers]
    n = len(answers)
    mean = lambda k: sum(s[k] for s in sc) / n if n else math.nan  # noqa: E731
    out = {
        "n": n,
        "combined": mean("combined"),
        "concept": mean("concept"),
        "fluency": mean("fluency"),
        "relevance": mean("relevance"),
        "keyword_share": sum(bool(m.keywords) for m in answers) / n if n else math.nan,
        "fires_share": sum(m.fires for m in answers) / n if n else math.nan,
        "nll_mean": finite_mean(m.nll for m in answers),
        "fluent_share": share_below((math.inf if m.degenerate else m.nll for m in answers), refs.threshold),
        "degenerate_share": sum(m.degenerate for m in answers) / n if n else math.nan,
        "relevance_mean": finite_mean(m.relevance for m in answers),
    }
    if with_answers:
        out["answers"] = [{**asdict(m), "keywords": list(m.keywords), **s} for m, s in zip(answers, sc)]
    return out


def references(defaults: Sequence[Measured], threshold: float | None, human_nll: float | None) -> References:
    d_nll = finite_mean(m.nll for m in defaults)
    t = threshold if threshold is not None else fluency_threshold(d_nll, human_nll)
    return References(d_nll, t, finite_mean(m.relevance for m in defaults))


def generate_answers(session: Session, prompts: Sequence[str], seeds: Sequence[int], max_new_tokens: int,
                     steering: SteeringConfig = NO_STEERING, system: str | None = None, batch: int = 1,
                     cancel: Callable[[], bool] | None = None,
                     on_done: Callable[[int], None] | None = None) -> list[Answer]:
    """One answer per (prompt, seed), prompt-major, as ``generate_answer`` makes them; ``batch`` > 1 makes them
    ``batch`` at a time (``core.engine.batch_generation``: faster on a CPU, equal up to batched arithmetic).
    ``on_done(n)`` is called after each answer or batch with the number made so far."""
    jobs = [(p, seed) for p in prompts for seed in seeds]
    out: list[Answer] = []
    if batch <= 1:
        for p, seed in jobs:
            if cancel is not None and cancel():
                raise InterruptedError("cancelled")
            out.append(generate_answer(session, p, seed, max_new_tokens, steering, system, cancel))
            if on_done:
                on_done(len(out))
        return out
    from ..engine.batch_generation import generate_batch

    for i in range(0, len(jobs), batch):
        if cancel is not None and cancel():
            raise InterruptedError("cancelled")
        part = jobs[i: i + batch]
        ids = [session.prompt_ids(p, system) for p, _ in part]
        cfgs = [SamplingConfig(seed=seed, max_new_tokens=max_new_tokens) for _, seed in part]
        res = generate_batch(session, ids, cfgs, steering, cancel)
        if any(r.stop_reason == "cancelled" for r in res):
            raise InterruptedError("cancelled")
        out.extend(res)
        if on_done:
            on_done(len(out))
    return out


def generate_answer(session: Session, prompt: str, seed: int, max_new_tokens: int,
                    steering: SteeringConfig = NO_STEERING, system: str | None = None,
                    cancel: Callable[[], bool] | None = None, on_token: Callable[[TokenEvent], None] | None = None,
                    **sampling_kw: Any) -> GenerationResult:  # Any: SamplingConfig's fields, each of its own type
    """One answer from ``seed``; sampling is SamplingConfig's defaults unless ``sampling_kw`` overrides fields."""
    sampling = SamplingConfig(seed=seed, max_new_tokens=max_new_tokens, **sampling_kw)
    return session.generate(prompt, sampling, steering, system=system, cancel=cancel, on_token=on_token)
