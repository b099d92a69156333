"""Explaining and scoring runs over many features (docs/EXPLANATIONS.md, "Runs"): an estimate of calls before
starting, ``progress(fraction, message)``, ``cancel()`` checked between groups of calls, and resume: features the
store already holds are skipped. The store is saved after every group, so a cancel or a crash loses at most the
calls in flight and never leaves a half-written file or a half-scored feature."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import protocol
from .answers import parse_explanation, parse_verdicts
from .client import CallFailedError, ChatClient
from .contexts import ContextBank, FeatureContexts
from .prompts import Sample, batches, detection_samples, explainer_messages, fuzzing_samples, scorer_messages
from .stats import Confusion, mean_with_bootstrap
from .store import Explanation, ExplanationStore, FeatureScore, ScoreStore, now

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class RunSummary:
    done: int  # features completed in this run
    failed: int  # features recorded as failed in this run
    skipped: int  # already in the store, dead, or without an explanation to score
    cancelled: bool
    calls: int  # HTTP requests made (tries included)


def _pending(features: Sequence[int], done: set[int]) -> list[int]:
    return [f for f in dict.fromkeys(features) if f not in done]


# --- explaining --------------------------------------------------------------------------------------------------
def explain_call_estimate(features: Sequence[int], store: ExplanationStore, bank: ContextBank | None = None) -> int:
    """Calls an explaining run will make when every answer is good the first time: one per pending feature (with
    ``bank``, per pending live feature)."""
    return sum(1 for f in _pending(features, set(store.explanations)) if bank is None or bank.is_live(f))


def explain_features(bank: ContextBank, features: Sequence[int], client: ChatClient, store: ExplanationStore,
                     progress: Progress | None = None, cancel: Cancel | None = None) -> RunSummary:
    todo = _pending(features, set(store.explanations))
    done = failed = 0
    skipped = len(set(features)) - len(todo)
    calls0 = client.calls
    group = max(1, client.settings.parallel)
    for g in range(0, len(todo), group):
        if cancel is not None and cancel():
            return RunSummary(done, failed, skipped, True, client.calls - calls0)
        ctxs = [bank.contexts(f) for f in todo[g : g + group]]
        live = [c for c in ctxs if not c.dead]
        skipped += len(ctxs) - len(live)
        answers = client.ask_many([(explainer_messages(c), parse_explanation) for c in live])
        for c, a in zip(live, answers):
            if isinstance(a, CallFailedError):
                store.fail(c.feature, str(a))
                failed += 1
            else:
                store.put(c.feature, Explanation(a, protocol.Method.LLM, client.settings.model,
                                                 protocol.PROTOCOL_VERSION, now()))
                done += 1
        store.save()
        if progress is not None:
            progress(min(g + group, len(todo)) / len(todo),
                     f"explained {done}, failed {failed} of {len(todo)} features")
    return RunSummary(done, failed, skipped, False, client.calls - calls0)


# --- scoring -----------------------------------------------------------------------------------------------------
def explanation_for(variant: protocol.Variant, f: int, explanations: ExplanationStore, labels: Mapping[int, str],
                    seed: int = 0) -> str | None:
    """The text a variant scores for feature ``f``: its own explanation, the explanation of another feature drawn
    at random (seeded by ``seed`` and ``f``) among the explained ones, or its token-fragment label."""
    if variant is protocol.Variant.OWN:
        return explanations.text(f)
    if variant is protocol.Variant.TOKEN_LABEL:
        return labels.get(f) or None
    others = sorted(k for k in explanations.explanations if k != f)
    if not others:
        return None
    return explanations.explanations[others[int(np.random.default_rng([seed, f, 1]).integers(len(others)))]].text


def scoring_samples(fc: FeatureContexts, seed: int = 0) -> dict[protocol.Scorer, list[Sample]]:
    """The samples of both scorers for a feature; the same for every variant (seeded by ``seed`` and the
    feature), so that variants are compared on identical contexts."""
    rng = np.random.default_rng([seed, fc.feature])
    return {protocol.Scorer.DETECTION: detection_samples(fc, rng), protocol.Scorer.FUZZING: fuzzing_samples(fc, rng)}


def scorable(fc: FeatureContexts) -> bool:
    """Both classes of detection need contexts (a feature active in every held-out window has no negatives)."""
    return bool(fc.score_activating) and bool(fc.score_non_activating)


def score_call_estimate(bank: ContextBank, features: Sequence[int], variants: Sequence[protocol.Variant],
                        scores: ScoreStore, explanations: ExplanationStore, labels: Mapping[int, str] | None = None,
                        seed: int = 0) -> int:
    """Calls a scoring run will make when every answer is good the first time."""
    n = 0
    for v in variants:
        for f in _pending(features, scores.done(v)):
            fc = bank.contexts(f)
            if scorable(fc) and explanation_for(v, f, explanations, labels or {}, seed) is not None:
                n += sum(math.ceil(len(s) / protocol.EXAMPLES_PER_CALL) for s in scoring_samples(fc, seed).values())
    return n


def _verdicts(n: int) -> Callable[[str], tuple[bool, ...]]:
    return lambda text: parse_verdicts(text, n)


def score_feature(client: ChatClient, explanation: str, samples: Mapping[protocol.Scorer, list[Sample]]
                  ) -> FeatureScore | CallFailedError:
    """Both scorers' verdicts on all of a feature's samples (all calls in parallel); any failed call fails the
    feature as a whole."""
    jobs, keys = [], []
    for scorer, ss in samples.items():
        for b in batches(ss):
            jobs.append((scorer_messages(scorer, explanation, b), _verdicts(len(b))))
            keys.append((scorer, b))
    answers = client.ask_many(jobs)
    conf = {s: Confusion() for s in protocol.Scorer}
    for (scorer, b), a in zip(keys, answers):
        if isinstance(a, CallFailedError):
            return a
        conf[scorer] = conf[scorer] + Confusion.of([s.truth for s in b], a)
    return FeatureScore(explanation, client.settings.model, conf[protocol.Scorer.DETECTION],
                        conf[protocol.Scorer.FUZZING], protocol.PROTOCOL_VERSION, now())


def score_explanations(bank: ContextBank, features: Sequence[int], variants: Sequence[protocol.Variant],
                       client: ChatClient, explanations: ExplanationStore, scores: ScoreStore,
                       labels: Mapping[int, str] | None = None, seed: int = 0, progress: Progress | None = None,
                       cancel: Cancel | None = None) -> RunSummary:
    """Score each variant's explanation of each feature with both blind scorers; one feature at a time, saved
    after each."""
    labels = labels or {}
    work = [(v, f) for v in variants for f in _pending(features, scores.done(v))]
    done = failed = 0
    skipped = sum(len(set(features)) for _ in variants) - len(work)
    calls0 = client.calls
    for n, (v, f) in enumerate(work):
        if cancel is not None and cancel():
            return RunSummary(done, failed, skipped, True, client.calls - calls0)
        text = explanation_for(v, f, explanations, labels, seed)
        fc = bank.contexts(f)
        samples = scoring_samples(fc, seed)
        if text is None or not scorable(fc):
            skipped += 1
            continue
        result = score_feature(client, text, samples)
        if isinstance(result, CallFailedError):
            scores.fail(v, f, str(result))
            failed += 1
        else:
            scores.put(v, f, result)
            done += 1
        scores.save()
        if progress is not None:
            progress((n + 1) / len(work), f"scored {done}, failed {failed} of {len(work)} ({v})")
    return RunSummary(done, failed, skipped, False, client.calls - calls0)


def score_summary(scores: ScoreStore, features: Sequence[int] | None = None, seed: int = 0
                  ) -> dict[str, dict[str, dict[str, float | int]]]:
    """Per variant and scorer: the mean balanced accuracy over features (restricted to ``features`` if given)
    with its 95 % bootstrap interval over features, and how many features."""
    keep = None if features is None else set(features)
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for v, per in scores.scores.items():
        rows = [s for f, s in sorted(per.items()) if keep is None or f in keep]
        out[str(v)] = {}
        for sc in protocol.Scorer:
            mean, lo, hi = mean_with_bootstrap([s.balanced_accuracy(sc) for s in rows], seed=seed)
            out[str(v)][str(sc)] = {"mean": round(mean, 4), "low": round(lo, 4), "high": round(hi, 4),
                                    "features": len(rows)}
    return out
