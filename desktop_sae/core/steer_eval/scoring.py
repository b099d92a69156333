"""The torch-free half of the steering evaluation: keyword matching, degeneration, the [0, 1] normalisations, the
harmonic mean and the choice of a strength (docs/STEERING_EVAL.md gives the reasons for each number)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

# a keyword matches a whole word, allowing these inflections at its end ("cook" finds "cooking", not "cookie";
# "eat" finds "eats", never "great")
INFLECTIONS = r"(?:s|es|d|ed|ing|er|ers)?"
FIRE_FRACTION = 0.2  # the feature "fires on re-read" above this fraction of its max activation
HUMAN_PROSE_NLL = 4.5  # nats/token of the shipped neutral sentences under SmolLM2-135M-Instruct (fallback threshold)
MIN_NLL_SPAN = 0.25  # nats: the threshold stays at least this far above the default answers' NLL
MIN_RELEVANCE_REF = 0.05  # nats/token: floor of the relevance reference (default answers' mean relevance)


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern | None:
    """One case-insensitive pattern for a concept's keywords. A keyword that starts (ends) with a letter or digit
    must start (end) a word; at its end it may carry a common inflection. Keywords made of symbols ('print(',
    '()') match as they are. None when no keyword is usable."""
    parts = []
    for k in keywords:
        if not isinstance(k, str) or not k.strip():
            continue
        body = re.escape(k.lower())
        head = r"\b" if re.match(r"\w", k) else ""
        tail = INFLECTIONS + r"\b" if re.search(r"\w$", k) else ""
        parts.append(head + body + tail)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def keyword_hits(text: str, pattern: re.Pattern | None) -> list[str]:
    return [] if pattern is None else [m.group(0).lower() for m in pattern.finditer(text)]


def degenerate(ids: Sequence[int]) -> bool:
    """A repetition loop: one token is more than 40 % of an answer of 8+ tokens, or 4 equal tokens follow each
    other. (Such text can read as likely to the model, so NLL alone misses it.)"""
    ids = list(ids)
    if len(ids) >= 8 and Counter(ids).most_common(1)[0][1] > 0.4 * len(ids):
        return True
    return any(ids[i] == ids[i + 1] == ids[i + 2] == ids[i + 3] for i in range(len(ids) - 3))


def concept_score(keyword: bool, fires: bool) -> float:
    """0, 0.5 or 1: the share of the two concept signals (keywords in the answer, the feature on re-read) present,
    AxBench's 0-2 concept grade over 2."""
    return (float(bool(keyword)) + float(bool(fires))) / 2.0


def fluency_threshold(default_nll: float, human_nll: float | None) -> float:
    """The NLL above which an answer counts as not fluent: that of human prose (text the model did not write but
    any reader finds fluent), kept at least MIN_NLL_SPAN above the default answers' NLL."""
    t = HUMAN_PROSE_NLL if human_nll is None or not math.isfinite(human_nll) else human_nll
    return max(t, default_nll + MIN_NLL_SPAN)


def fluency_score(nll: float, default_nll: float, threshold: float, is_degenerate: bool = False) -> float:
    """1 at the default answers' mean NLL, 0.5 at the threshold (human prose), 0 twice as far (word salad),
    linear between; 0 for a repetition loop or an empty answer."""
    if is_degenerate or not math.isfinite(nll):
        return 0.0
    span = 2.0 * (threshold - default_nll)
    return min(1.0, max(0.0, 1.0 - (nll - default_nll) / span))


def relevance_score(relevance: float, reference: float) -> float:
    """The answer's relevance (nats/token more likely given its prompt than given another) over the default answers'
    mean relevance, clipped to [0, 1]: 1 = answers its prompt as much as the unsteered model does."""
    if not math.isfinite(relevance):
        return 0.0
    return min(1.0, max(0.0, relevance / max(reference, MIN_RELEVANCE_REF)))


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean of scores in [0, 1]; 0 when any is 0 (AxBench)."""
    if not values or any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def share_below(values: Iterable[float], threshold: float) -> float:
    """Share of finite values <= threshold (NaN counts as above)."""
    vals = list(values)
    return sum(1 for v in vals if math.isfinite(v) and v <= threshold) / len(vals) if vals else float("nan")


def finite_mean(values: Iterable[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def pick_strength(scores: dict[float, float]) -> float:
    """The strength with the best combined score; ties go to the weaker strength (smaller magnitude)."""
    if not scores:
        raise ValueError("no strengths to choose from")
    return min(scores, key=lambda s: (-scores[s] if math.isfinite(scores[s]) else math.inf, abs(s), s))


def log_strengths(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced strengths from ``lo`` to ``hi`` (both > 0), rounded to 3 significant digits."""
    if n < 2 or lo <= 0 or hi <= lo:
        raise ValueError("a log sweep needs 0 < lo < hi and at least 2 points")
    return [float(f"{lo * (hi / lo) ** (i / (n - 1)):.3g}") for i in range(n)]
