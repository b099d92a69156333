"""Which steering the mystery-feature quiz may hide: only units whose steering a learner can recognise, measured
before they enter the pool (docs/LESSONS.md, "The quiz pool").

A unit is a demo concept's whole weighted set or one of its features alone, at the concept's measured strength.
``packaging/corpus/measure_quiz_pool.py`` makes each unit answer check prompts that the quiz never uses and counts
the answers naming one of the concept's keywords (the steering evaluation's keyword judge). A unit is recognisable
when at least ``RECOGNISABLE_SHARE`` of its answers name the concept and at most ``MAX_DEGENERATE`` are repetition
loops. The pool keeps one recognisable unit per concept: its single feature when one passes (a learner then sees one
feature's effect), else its set. The pool is stored beside the SAE it was measured on (``quiz_pool.json``), with
each unit's steering (features, weights, strength, unit, method), so it needs no other file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..presets.demo_concepts import DemoConcept
from ..steering.specs import SteerSpec
from ..support.atomic import atomic_write_text
from ..support.text_enum import TextEnum

FORMAT = "desktop-sae-quiz-pool"
RECOGNISABLE_SHARE = 0.5
MAX_DEGENERATE = 0.25


class UnitKind(TextEnum):
    SET = "set"  # the concept's whole weighted feature set
    FEATURE = "feature"  # one feature alone


POOL_FILE = "quiz_pool.json"


@dataclass(frozen=True)
class QuizUnit:
    concept: str
    label: str  # what the concept steers to, for people
    kind: UnitKind
    features: tuple[int, ...]
    weights: tuple[float, ...]
    strength: float  # the concept's measured strength
    unit: str
    method: str
    keyword_share: float  # share of check answers naming one of the concept's keywords
    degenerate_share: float

    @classmethod
    def of(cls, c: DemoConcept, kind: UnitKind, feature: int | None = None, keyword_share: float = float("nan"),
           degenerate_share: float = float("nan")) -> QuizUnit:
        """The unit of concept ``c``: its set, or ``feature`` alone (at the concept's strength)."""
        feats, weights = (c.features, c.weights) if kind is UnitKind.SET else ((feature if feature is not None
                                                                                 else c.feature,), (1.0,))
        return cls(c.name, c.title, kind, feats, weights, c.strength, c.unit, c.method, keyword_share,
                   degenerate_share)

    def rows(self, label: str) -> tuple[SteerSpec, ...]:
        """The steering rows, every one labelled ``label`` (the quiz hides which features they are)."""
        members = tuple(zip(self.features, self.weights)) if self.kind is UnitKind.SET else ()
        c = DemoConcept(self.concept, self.features[0], label, self.strength, self.unit, self.method, members)
        lead = c.lead(label=label)
        return tuple(SteerSpec(r.feature, r.strength, r.unit, r.method, r.enabled, label) for r in c.rows(lead))

    @property
    def recognisable(self) -> bool:
        return self.keyword_share >= RECOGNISABLE_SHARE and self.degenerate_share <= MAX_DEGENERATE

    @property
    def key(self) -> int:
        """The feature the quiz reveals: the single feature, or the set's lead."""
        return self.features[0]


def unit_of(d: Mapping[str, Any]) -> QuizUnit:
    feats = tuple(int(f) for f in d["features"])
    weights = tuple(float(w) for w in d["weights"])
    if not feats or len(weights) != len(feats):
        raise ValueError("a unit needs features and as many weights")
    return QuizUnit(str(d["concept"]), str(d["label"]), UnitKind(d["kind"]), feats, weights, float(d["strength"]),
                    str(d["unit"]), str(d["method"]), float(d["keyword_share"]), float(d["degenerate_share"]))


def unit_json(u: QuizUnit) -> dict[str, Any]:
    return {"concept": u.concept, "label": u.label, "kind": str(u.kind), "features": list(u.features),
            "weights": list(u.weights), "strength": u.strength, "unit": u.unit, "method": u.method,
            "keyword_share": u.keyword_share, "degenerate_share": u.degenerate_share}


def choose_pool(units: Iterable[QuizUnit]) -> list[QuizUnit]:
    """One recognisable unit per concept (its single feature if one passes, else its set), in concept order."""
    best: dict[str, QuizUnit] = {}
    for u in units:
        if not u.recognisable:
            continue
        held = best.get(u.concept)
        if held is None or (held.kind is UnitKind.SET and u.kind is UnitKind.FEATURE) or (
                held.kind is u.kind and u.keyword_share > held.keyword_share):
            best[u.concept] = u
    seen: set[int] = set()
    out = []
    for u in best.values():
        if u.key not in seen:
            seen.add(u.key)
            out.append(u)
    return out


def write_pool(sae_folder: str | Path, pool: Sequence[QuizUnit], measured: str) -> Path:
    """``quiz_pool.json`` beside the SAE, atomically; returns its path."""
    body = {"format": FORMAT, "measured": measured,
            "rule": f"keyword share >= {RECOGNISABLE_SHARE}, degenerate share <= {MAX_DEGENERATE}; one unit per "
                    "concept, its single feature if one passes, else its set",
            "units": [unit_json(u) for u in pool]}
    path = Path(sae_folder) / POOL_FILE
    atomic_write_text(path, json.dumps(body, indent=1) + "\n")
    return path


def load_quiz_pool(sae_folder: str | Path | None) -> list[QuizUnit] | None:
    """The measured pool beside an SAE, or None when it has none or the file is malformed."""
    if sae_folder is None:
        return None
    try:
        d = json.loads((Path(sae_folder) / POOL_FILE).read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            return None
        return [unit_of(u) for u in d["units"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
