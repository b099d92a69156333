"""The explanation and score files beside an SAE's dictionary (docs/EXPLANATIONS.md, "Files"), versioned JSON
written atomically: ``explanations.json`` (one explanation per feature with its provenance, plus failures) and
``explanation_scores.json`` (per explanation variant and feature: both scorers' confusion counts). User labels are
separate (``core.features.user_labels``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..support.atomic import atomic_write_text
from ..support.errors import DesktopSAEError
from .protocol import PROTOCOL_VERSION, Method, Scorer, Variant
from .stats import Confusion

EXPLANATIONS, SCORES = "explanations.json", "explanation_scores.json"
EXPLANATIONS_FORMAT, SCORES_FORMAT, VERSION = "desktop-sae-explanations", "desktop-sae-explanation-scores", 1


class StoreError(DesktopSAEError):
    """An explanations or scores file is damaged, of another format or of a newer version."""


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Explanation:
    text: str
    method: Method
    explainer: str  # the explainer model (or who wrote it)
    protocol: str = PROTOCOL_VERSION
    date: str = ""

    def as_json(self) -> dict[str, str]:
        return {"text": self.text, "method": str(self.method), "explainer": self.explainer,
                "protocol": self.protocol, "date": self.date}


@dataclass(frozen=True)
class Failure:
    error: str
    date: str


@dataclass(frozen=True)
class FeatureScore:
    explanation: str  # the text scored
    scorer: str  # the scorer model
    detection: Confusion
    fuzzing: Confusion
    protocol: str = PROTOCOL_VERSION
    date: str = ""

    def balanced_accuracy(self, scorer: Scorer) -> float:
        return (self.detection if scorer is Scorer.DETECTION else self.fuzzing).balanced_accuracy


def _read(path: Path, fmt: str) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise StoreError(f"cannot read {path}: {e}") from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise StoreError(f"{path} is not a {fmt} file")
    if not isinstance(d.get("version"), int) or d["version"] > VERSION:
        raise StoreError(f"{path} has version {d.get('version')!r}; this app reads up to {VERSION}")
    return d


def _failures(d: dict[str, Any]) -> dict[int, Failure]:
    return {int(k): Failure(str(v["error"]), str(v.get("date", ""))) for k, v in d.items()}


class ExplanationStore:
    """Explanations per feature; ``save()`` rewrites the whole file atomically."""

    def __init__(self, path: str | Path, explanations: dict[int, Explanation] | None = None,
                 failures: dict[int, Failure] | None = None, sae: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.explanations = explanations or {}
        self.failures = failures or {}
        self.sae = sae or {}  # what the explanations are for: d_sae, hook_name, name (informative)

    @classmethod
    def beside(cls, folder: str | Path) -> ExplanationStore:
        return cls.load(Path(folder) / EXPLANATIONS)

    @classmethod
    def load(cls, path: str | Path) -> ExplanationStore:
        d = _read(Path(path), EXPLANATIONS_FORMAT)
        try:
            ex = {int(k): Explanation(str(v["text"]), Method(v["method"]), str(v["explainer"]),
                                      str(v["protocol"]), str(v.get("date", "")))
                  for k, v in d.get("explanations", {}).items()}
            return cls(path, ex, _failures(d.get("failures", {})), dict(d.get("sae", {})))
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise StoreError(f"{path}: a bad entry ({e})") from None

    def put(self, f: int, e: Explanation) -> None:
        self.explanations[f] = e
        self.failures.pop(f, None)

    def fail(self, f: int, error: str) -> None:
        self.failures[f] = Failure(error, now())

    def text(self, f: int) -> str | None:
        e = self.explanations.get(f)
        return e.text if e is not None else None

    def save(self) -> None:
        body = {"format": EXPLANATIONS_FORMAT, "version": VERSION, "sae": self.sae,
                "explanations": {str(f): e.as_json() for f, e in sorted(self.explanations.items())},
                "failures": {str(f): {"error": x.error, "date": x.date} for f, x in sorted(self.failures.items())}}
        atomic_write_text(self.path, json.dumps(body, ensure_ascii=False, indent=1))


def _confusion(d: dict[str, Any]) -> Confusion:
    return Confusion(int(d["tp"]), int(d["fn"]), int(d["tn"]), int(d["fp"]))


class ScoreStore:
    """Blind scores per explanation variant (``Variant``) and feature, and failures likewise."""

    def __init__(self, path: str | Path, scores: dict[Variant, dict[int, FeatureScore]] | None = None,
                 failures: dict[Variant, dict[int, Failure]] | None = None) -> None:
        self.path = Path(path)
        self.scores = scores or {}
        self.failures = failures or {}

    @classmethod
    def beside(cls, folder: str | Path) -> ScoreStore:
        return cls.load(Path(folder) / SCORES)

    @classmethod
    def load(cls, path: str | Path) -> ScoreStore:
        d = _read(Path(path), SCORES_FORMAT)
        try:
            scores = {Variant(v): {int(k): FeatureScore(str(s["explanation"]), str(s["scorer"]),
                                                          _confusion(s["detection"]), _confusion(s["fuzzing"]),
                                                          str(s["protocol"]), str(s.get("date", "")))
                                     for k, s in per.items()}
                      for v, per in d.get("scores", {}).items()}
            fails = {Variant(v): _failures(per) for v, per in d.get("failures", {}).items()}
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise StoreError(f"{path}: a bad entry ({e})") from None
        return cls(path, scores, fails)

    def done(self, variant: Variant) -> set[int]:
        return set(self.scores.get(variant, {}))

    def put(self, variant: Variant, f: int, s: FeatureScore) -> None:
        self.scores.setdefault(variant, {})[f] = s
        self.failures.get(variant, {}).pop(f, None)

    def fail(self, variant: Variant, f: int, error: str) -> None:
        self.failures.setdefault(variant, {})[f] = Failure(error, now())

    def save(self) -> None:
        def one(s: FeatureScore) -> dict[str, Any]:
            ba = {str(sc): s.balanced_accuracy(sc) for sc in Scorer}
            return {"explanation": s.explanation, "scorer": s.scorer, "protocol": s.protocol, "date": s.date,
                    "detection": s.detection.as_json(), "fuzzing": s.fuzzing.as_json(),
                    "mean_balanced_accuracy": None if any(math.isnan(x) for x in ba.values())
                    else round(sum(ba.values()) / 2, 4)}

        body = {"format": SCORES_FORMAT, "version": VERSION,
                "scores": {str(v): {str(f): one(s) for f, s in sorted(per.items())}
                           for v, per in self.scores.items()},
                "failures": {str(v): {str(f): {"error": x.error, "date": x.date} for f, x in sorted(per.items())}
                             for v, per in self.failures.items()}}
        atomic_write_text(self.path, json.dumps(body, ensure_ascii=False, indent=1))
