"""The bundled SAE's demo concepts (``resources/demo_features.json``): for each concept its lead feature, weighted
feature set, strength, keywords and label, measured by ``desktop-sae eval-steering`` on that SAE only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..support import paths


# --- demo features -------------------------------------------------------------------------------------------
def load_demo_features(path: Path | None = None) -> dict[str, dict] | None:
    """Concept -> {"id", and where given "strength", "unit", "method", "label", "set"} from
    ``resources/demo_features.json`` (None if absent or unreadable). Accepts a list of objects under "concepts" or
    "features" (keys "concept"/"name", "feature"/"id"), or a plain {concept: id} mapping. "set" is a weighted feature
    set ((feature, weight), ...) from the entry's "features" and "weights", when it has them."""
    path = path or paths.resources_dir() / "demo_features.json"
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(d, dict):
        for key in ("concepts", "features"):
            if isinstance(d.get(key), (list, dict)):
                d = d[key]
                break
    out: dict[str, dict] = {}
    items = d.items() if isinstance(d, dict) else ((None, e) for e in d) if isinstance(d, list) else ()
    for key, val in items:
        entry: dict = {}
        if isinstance(val, dict):
            key = key or val.get("concept") or val.get("name") or val.get("key")
            entry = {k: val[k] for k in ("strength", "unit", "method", "label") if k in val}
            members = _demo_set(val)
            if members:
                entry["set"] = members
            quiz = val.get("quiz_feature")
            if isinstance(quiz, int) and not isinstance(quiz, bool) and quiz >= 0:
                entry["quiz"] = quiz
            val = val.get("feature", val.get("id"))
        if isinstance(key, str) and isinstance(val, int) and not isinstance(val, bool):
            out[key] = {"id": val, **entry}
    return out


def quiz_features(demo: dict[str, dict]) -> list[tuple[int, dict]]:
    """(feature, entry) per demo concept for the mystery-feature quiz: the entry's "quiz_feature" (the set member a
    learner can recognise), else its lead; a feature named by two concepts is kept once."""
    seen: set[int] = set()
    out = []
    for e in demo.values():
        f = int(e.get("quiz", e["id"]))
        if f not in seen:
            seen.add(f)
            out.append((f, e))
    return out


def _demo_set(entry: dict) -> tuple[tuple[int, float], ...]:
    feats, weights = entry.get("features"), entry.get("weights")
    if not isinstance(feats, list) or len(feats) < 2:
        return ()
    weights = weights if isinstance(weights, list) and len(weights) == len(feats) else [1.0] * len(feats)
    ok = all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in feats) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights)
    return tuple((int(f), float(w)) for f, w in zip(feats, weights)) if ok else ()


def demo_feature_labels(sae_path, demo_path: Path | None = None) -> dict[int, str]:
    """Feature id -> "demo: <concept label>" for the bundled default SAE, so that its measured demo features can be
    found by what they steer to (the music feature's automatic label names its top tokens, not music). Empty for
    any other SAE: the demo list was measured on the bundled one only."""
    bundled = paths.default_sae_dir()
    if sae_path is None or bundled is None:
        return {}
    try:
        if Path(sae_path).resolve() != bundled.resolve():
            return {}
    except OSError:
        return {}
    demo = load_demo_features(demo_path) or {}
    names: dict[int, list[str]] = {}
    for concept, e in demo.items():
        for f, _w in e.get("set") or ((e["id"], 1.0),):
            names.setdefault(f, []).append(e.get("label") or concept)
    return {f: "demo: " + " · ".join(n) for f, n in names.items()}


