"""What a steering evaluation reads: the concept (feature, keywords, description, concept sentences) and the two
disjoint prompt splits, from ``resources/demo_features.json`` and ``resources/steer_eval/``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..presets.demo_concepts import load_demo_concepts
from ..support.errors import SteeringError
from ..support.paths import resources_dir
from ..support.prompt_file import read_prompts


@dataclass(frozen=True)
class Concept:
    name: str
    features: tuple[int, ...]
    keywords: tuple[str, ...]
    description: str  # for the prompting baseline: "Talk about <description>."
    texts: tuple[str, ...] = ()  # concept texts (positive side of the mean-difference baseline)
    label: str = ""
    weights: tuple[float, ...] = ()  # per feature, x the strength (empty: 1 each)
    negatives: tuple[str, ...] = ()  # negative side of the mean-difference baseline (empty: neutral.txt)

    def weight(self, i: int) -> float:
        return self.weights[i] if i < len(self.weights) else 1.0


@dataclass(frozen=True)
class Splits:
    selection: tuple[str, ...]  # the steering factor is chosen on these
    report: tuple[str, ...]  # and reported on these (no prompt in both)


def eval_dir(root: Path | None = None) -> Path:
    return (root or resources_dir()) / "steer_eval"


def _strings(items: object) -> tuple[str, ...]:
    return tuple(t for t in items if isinstance(t, str) and t.strip()) if isinstance(items, list) else ()


def concept_answers(name: str, root: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The model's own answers on the concept and its neutral answers (concept_answers.json), the texts the
    concept's feature set was derived from; empty tuples when absent."""
    try:
        d = json.loads((eval_dir(root) / "concept_answers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return (), ()
    if not isinstance(d, dict) or not isinstance(d.get("concepts"), dict):
        return (), ()
    pos = _strings(d["concepts"].get(name))
    return (pos, _strings(d.get("neutral"))) if pos else ((), ())


def concept_texts(name: str, root: Path | None = None) -> tuple[str, ...]:
    """The human-written concept sentences of concepts.json."""
    path = eval_dir(root) / "concepts.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    texts = d.get("concepts", {}).get(name, []) if isinstance(d, dict) else []
    return tuple(t for t in texts if isinstance(t, str) and t.strip())


def neutral_texts(root: Path | None = None) -> tuple[str, ...]:
    return tuple(read_prompts(eval_dir(root) / "neutral.txt"))


def demo_concepts(root: Path | None = None) -> dict[str, dict]:
    """Concept name -> its entry in demo_features.json exactly as written there (the table updater rewrites these
    entries; everything else reads the typed ``presets.demo_concepts``)."""
    try:
        d = json.loads(((root or resources_dir()) / "demo_features.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    items = d.get("concepts", []) if isinstance(d, dict) else []
    return {c["concept"]: c for c in items if isinstance(c, dict) and isinstance(c.get("concept"), str)}


def load_concept(name: str, root: Path | None = None) -> Concept:
    """A demo concept: its feature (or weighted feature set), keywords and description, and the texts of its
    mean-difference baseline: the model's answers it was derived from when shipped, else the concept sentences."""
    demo = load_demo_concepts((root or resources_dir()) / "demo_features.json") or {}
    if name not in demo:
        raise SteeringError(f"unknown concept {name!r}; the demo concepts are: {', '.join(sorted(demo)) or 'none'}")
    c = demo[name]
    raw = demo_concepts(root).get(name, {})
    feats, weights = raw.get("features"), raw.get("weights")
    if isinstance(feats, list) and len(feats) > 1:  # the evaluation refuses a set that lessons would steer with
        if isinstance(weights, list) and len(weights) != len(feats):
            raise SteeringError(f"concept {name!r}: {len(feats)} features but {len(weights)} weights")
        if not c.members:
            raise SteeringError(f"concept {name!r}: its feature set holds a value that is not a feature id or a "
                                "finite weight")
    pos, neg = concept_answers(name, root)
    weights = c.weights if c.members else ()
    return Concept(name, c.features, c.keywords, c.description or c.title, pos or concept_texts(name, root), c.title,
                   weights, neg)


def adhoc_concept(features: Iterable[int], keywords: Iterable[str], description: str | None = None,
                  texts: Iterable[str] = ()) -> Concept:
    feats = tuple(int(f) for f in features)
    if not feats:
        raise SteeringError("give at least one feature to evaluate")
    kws = tuple(k for k in keywords if k.strip())
    if not kws:
        raise SteeringError("give the concept's keywords (--keywords a,b,c): the concept score needs them")
    desc = description or ", ".join(kws)
    return Concept("features " + ",".join(map(str, feats)), feats, kws, desc, tuple(texts), desc)


def load_splits(prompts_file: str | Path | None = None, n_prompts: int | None = None,
                root: Path | None = None) -> Splits:
    """The shipped selection and report prompts, or a user's file split alternately (odd lines select, even lines
    report); ``n_prompts`` keeps the first N of each."""
    if prompts_file is not None:
        allp = list(dict.fromkeys(read_prompts(prompts_file)))
        sel, rep = allp[0::2], allp[1::2]
    else:
        sel = read_prompts(eval_dir(root) / "selection_prompts.txt")
        rep = read_prompts(eval_dir(root) / "report_prompts.txt")
    if n_prompts is not None:
        sel, rep = sel[:n_prompts], rep[:n_prompts]
    if set(sel) & set(rep):
        raise ValueError("the selection and report prompts overlap; a prompt may be in one split only")
    if len(sel) < 2 or len(rep) < 2:
        raise ValueError("each split needs at least 2 prompts (relevance compares an answer with another prompt)")
    return Splits(tuple(sel), tuple(rep))
