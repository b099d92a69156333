"""The bundled SAE's demo concepts (``resources/demo_features.json``): for each concept its lead feature, weighted
feature set, strength, keywords and label, measured by ``desktop-sae eval-steering`` on that SAE only.

``DemoConcept.rows`` is the one place a concept becomes steering rows (presets, lessons, the quiz, sweeps and the
steering evaluation all call it), with one set of defaults (``DEFAULT_STRENGTH`` × max activation, add).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..steering.specs import SteerSpec, weighted_rows
from ..support import paths

DEFAULT_STRENGTH = 3.0  # × max activation, for a concept whose entry names no strength
DEMO_LABEL = "demo"  # a set's rows are labelled "<label> (j of n)"; a concept without a label uses this


@dataclass(frozen=True)
class DemoConcept:
    name: str  # the key lessons and presets use, e.g. "golden_gate"
    feature: int  # the lead feature (the first member of the set)
    label: str = ""  # what it steers to, for people: "Golden Gate Bridge / San Francisco"
    strength: float = DEFAULT_STRENGTH
    unit: str = "max"
    method: str = "add"
    members: tuple[tuple[int, float], ...] = ()  # the weighted feature set (feature, weight); empty: the lead alone
    quiz_feature: int | None = None  # the member a learner can recognise when it steers alone
    keywords: tuple[str, ...] = ()
    description: str = ""

    @property
    def features(self) -> tuple[int, ...]:
        return tuple(f for f, _w in self.members) or (self.feature,)

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(w for _f, w in self.members) or (1.0,)

    @property
    def title(self) -> str:
        return self.label or self.name

    def lead(self, strength: float | None = None, method: str | None = None, label: str | None = None) -> SteerSpec:
        """The lead feature's row: at the concept's measured strength and unit, or at ``strength`` × max activation."""
        return SteerSpec(self.feature, self.strength if strength is None else float(strength),
                         self.unit if strength is None else "max", method or self.method, True,
                         self.label if label is None else label)

    def rows(self, lead: SteerSpec | None = None) -> tuple[SteerSpec, ...]:
        """The concept's steering rows: ``lead`` (default ``self.lead()``: its strength, unit, method, label and
        condition) for the lead feature, each member of the set at that strength × its weight."""
        lead = self.lead() if lead is None else replace(lead, feature=self.feature)
        if not self.members:
            return (lead,)
        return weighted_rows(replace(lead, label=lead.label or DEMO_LABEL), self.members)

    def preset_fields(self) -> dict[str, Any]:
        """What a preset row that names this concept inherits where it says nothing itself."""
        return {"strength": self.strength, "unit": self.unit, "method": self.method, "label": self.label}


def load_demo_concepts(path: Path | None = None) -> dict[str, DemoConcept] | None:
    """Concept name -> ``DemoConcept`` from ``resources/demo_features.json`` (None if absent or unreadable). Accepts
    a list of objects under "concepts" or "features" (keys "concept"/"name", "feature"/"id"), or a plain
    {concept: id} mapping; a set comes from an entry's "features" and "weights" (a malformed set is ignored)."""
    path = path or paths.resources_dir() / "demo_features.json"
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(d, dict):
        for section in ("concepts", "features"):
            if isinstance(d.get(section), (list, dict)):
                d = d[section]
                break
    out: dict[str, DemoConcept] = {}
    items = d.items() if isinstance(d, dict) else ((None, e) for e in d) if isinstance(d, list) else ()
    for key, val in items:
        entry: dict[str, Any] = {}
        if isinstance(val, dict):
            key = key or val.get("concept") or val.get("name") or val.get("key")
            entry = _entry(val)
            val = val.get("feature", val.get("id"))
        if isinstance(key, str) and _feature_id(val):
            out[key] = DemoConcept(key, val, **entry)
    return out


def _feature_id(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _entry(val: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    s = val.get("strength")
    if isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s):
        entry["strength"] = float(s)
    for k in ("unit", "method", "label", "description"):
        if isinstance(val.get(k), str):
            entry[k] = val[k]
    kws = val.get("keywords")
    if isinstance(kws, list):
        entry["keywords"] = tuple(k for k in kws if isinstance(k, str) and k.strip())
    members = _members(val)
    if members:
        entry["members"] = members
    if _feature_id(val.get("quiz_feature")):
        entry["quiz_feature"] = val["quiz_feature"]
    return entry


def _members(entry: dict[str, Any]) -> tuple[tuple[int, float], ...]:
    feats, weights = entry.get("features"), entry.get("weights")
    if not isinstance(feats, list) or len(feats) < 2:
        return ()
    weights = weights if isinstance(weights, list) and len(weights) == len(feats) else [1.0] * len(feats)
    ok = all(_feature_id(f) for f in feats) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    return tuple((int(f), float(w)) for f, w in zip(feats, weights)) if ok else ()


def quiz_features(demo: dict[str, DemoConcept]) -> list[tuple[int, DemoConcept]]:
    """(feature, concept) per demo concept for the mystery-feature quiz: the concept's quiz feature (the set member
    a learner can recognise), else its lead; a feature named by two concepts is kept once."""
    seen: set[int] = set()
    out = []
    for c in demo.values():
        f = c.feature if c.quiz_feature is None else c.quiz_feature
        if f not in seen:
            seen.add(f)
            out.append((f, c))
    return out


def demo_feature_sets(sae_path: str | Path | None, demo_path: Path | None = None) -> dict[int, tuple[str, ...]]:
    """Feature id -> the titles of the demo sets it belongs to, for the bundled default SAE: shown as a tag beside
    the feature's name and searchable, so its measured demo features can be found by what they steer to. Empty for
    any other SAE: the demo list was measured on the bundled one only."""
    if not paths.is_default_sae(sae_path):
        return {}
    names: dict[int, list[str]] = {}
    for c in (load_demo_concepts(demo_path) or {}).values():
        for f in c.features:
            names.setdefault(f, []).append(c.title)
    return {f: tuple(n) for f, n in names.items()}
