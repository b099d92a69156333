"""Balanced accuracy of scorer verdicts and its 95 % intervals (docs/EXPLANATIONS.md, "Intervals")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fn + other.fn, self.tn + other.tn, self.fp + other.fp)

    @classmethod
    def of(cls, truths: Sequence[bool], verdicts: Sequence[bool]) -> Confusion:
        pairs = list(zip(truths, verdicts, strict=True))
        return cls(sum(t and v for t, v in pairs), sum(t and not v for t, v in pairs),
                   sum(not t and not v for t, v in pairs), sum(not t and v for t, v in pairs))

    @property
    def balanced_accuracy(self) -> float:
        """Mean of the recall on positives and on negatives; NaN when a class is empty."""
        p, n = self.tp + self.fn, self.tn + self.fp
        if not p or not n:
            return math.nan
        return 0.5 * (self.tp / p + self.tn / n)

    def as_json(self) -> dict[str, float | int | None]:
        ba = self.balanced_accuracy
        return {**asdict(self), "balanced_accuracy": None if math.isnan(ba) else round(ba, 4)}


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    d = 1 + Z95**2 / n
    mid = (p + Z95**2 / (2 * n)) / d
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return (max(0.0, mid - half), min(1.0, mid + half))


def feature_interval(c: Confusion) -> tuple[float, float]:
    """For one feature: the balanced accuracy's bounds from the Wilson interval of each class's recall."""
    lo_p, hi_p = wilson(c.tp, c.tp + c.fn)
    lo_n, hi_n = wilson(c.tn, c.tn + c.fp)
    return (0.5 * (lo_p + lo_n), 0.5 * (hi_p + hi_n))


def mean_with_bootstrap(values: Sequence[float], resamples: int = 2000, seed: int = 0
                        ) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-feature balanced accuracies (NaNs dropped) with a 95 % percentile
    bootstrap interval over features."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if not len(v):
        return (math.nan, math.nan, math.nan)
    idx = np.random.default_rng(seed).integers(0, len(v), size=(resamples, len(v)))
    means = v[idx].mean(axis=1)
    return (float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
