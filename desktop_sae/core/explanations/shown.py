"""The explanations and blind scores the app shows beside an SAE: loaded once with the SAE, a missing file meaning
none, and a damaged or newer file a problem to report (the app then keeps its token labels); per feature, the
explanation's provenance and its own blind scores as one line each."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .protocol import Scorer, Variant
from .stats import feature_interval
from .store import Explanation, ExplanationStore, FeatureScore, ScoreStore, StoreError

NOT_SCORED = "not scored"  # the score line of a feature whose explanation has no score


@dataclass(frozen=True)
class ShownExplanations:
    explanations: dict[int, Explanation] = field(default_factory=dict)
    scores: dict[int, FeatureScore] = field(default_factory=dict)  # the features' own explanations' blind scores
    problems: tuple[str, ...] = ()  # files that could not be read, each with why

    @classmethod
    def beside(cls, folder: str | Path | None) -> ShownExplanations:
        if folder is None:
            return cls()
        problems: list[str] = []
        explanations: dict[int, Explanation] = {}
        scores: dict[int, FeatureScore] = {}
        try:
            explanations = ExplanationStore.beside(folder).explanations
        except StoreError as e:
            problems.append(f"explanations not shown: {e}")
        try:
            scores = ScoreStore.beside(folder).scores.get(Variant.OWN, {})
        except StoreError as e:
            problems.append(f"explanation scores not shown: {e}")
        return cls(explanations, scores, tuple(problems))

    def provenance(self, f: int) -> str:
        """'llm · qwen2.5-7b · desktop-sae-explain/2 · 2026-12-05' ('' without an explanation)."""
        e = self.explanations.get(f)
        if e is None:
            return ""
        return " · ".join(x for x in (str(e.method), e.explainer, e.protocol, e.date[:10]) if x)

    def score_text(self, f: int) -> str:
        """'detection 0.85 (0.62–0.95) · fuzzing 0.80 (0.55–0.93)': balanced accuracy with its 95 % interval, for
        the feature's own explanation; 'not scored' when it has no score."""
        s = self.scores.get(f)
        if s is None:
            return NOT_SCORED
        parts = []
        for sc in Scorer:
            c = s.detection if sc is Scorer.DETECTION else s.fuzzing
            ba = c.balanced_accuracy
            if math.isnan(ba):
                parts.append(f"{sc} —")
                continue
            lo, hi = feature_interval(c)
            parts.append(f"{sc} {ba:.2f} ({lo:.2f}–{hi:.2f})")
        e = self.explanations.get(f)
        if e is not None and e.text != s.explanation:
            parts.append("scored an earlier text")
        return " · ".join(parts)
