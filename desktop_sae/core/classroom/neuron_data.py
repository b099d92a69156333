"""The neuron view's shipped files in ``resources/neurons/``: the text set (``texts.jsonl``, one
``{"id", "topic", "text"}`` per line) and the precomputed curated neurons (``neuron_view.json``, written by
``packaging/neurons/build_neuron_view.py``), their schema check, and the plain-data form of computed results that
the view renders. No torch, no Qt."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .neurons import FeatureAtPeaks, NeuronContext

TEXTS, VIEW = "texts.jsonl", "neuron_view.json"
FORMAT = 1
MAX_VIEW_BYTES = 300_000
TOPIC_NAMES = {
    "citations": "citations", "dialogue": "dialogue", "http": "HTTP/URLs", "code": "code", "recipes": "recipes",
    "sports": "sports", "legal": "legal text", "poetry": "poetry", "chemistry": "chemistry", "finance": "finance",
    "travel": "travel", "email": "emails", "math": "maths", "music": "music", "medicine": "medicine",
    "weather": "weather", "history": "history", "animals": "animals", "space": "space", "reviews": "reviews",
}  # fmt: skip


def neurons_folder(folder: str | Path | None = None) -> Path:
    """``folder`` if given; else the installed resources' ``neurons/`` or, in a source checkout, the one beside
    this package (``<repo>/resources/neurons``), whichever has the text set."""
    if folder is not None:
        return Path(folder)
    from ..support import paths

    source_tree = Path(paths.__file__).resolve().parents[2] / "resources"
    candidates = [paths.resources_dir() / "neurons", source_tree / "neurons"]
    return next((c for c in candidates if (c / TEXTS).exists()), candidates[0])


def load_texts(folder: str | Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(texts, topics) of the shipped text set, in file order."""
    rows = [json.loads(line) for line in (neurons_folder(folder) / TEXTS).read_text("utf-8").splitlines() if line]
    return tuple(str(r["text"]) for r in rows), tuple(str(r["topic"]) for r in rows)


def load_view(folder: str | Path | None = None) -> dict:
    """The curated neurons; raises ValueError naming what is wrong when the file does not fit the schema."""
    data = json.loads((neurons_folder(folder) / VIEW).read_text("utf-8"))
    problems = validate_view(data)
    if problems:
        raise ValueError(f"{VIEW} is damaged: " + "; ".join(problems[:5]))
    return data


def topic_name(topic: str) -> str:
    return TOPIC_NAMES.get(topic, topic)


def describe_topics(topics: Sequence[str], n: int = 3) -> str:
    """The ``n`` most frequent topics among a neuron's contexts, as "fires on citations, emails and code"."""
    names = [topic_name(t) for t, _ in Counter(topics).most_common(n)]
    if not names:
        return "never fires on the texts"
    return "fires on " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def shown_token(tok: str) -> str:
    """A token as a word in a sentence: stripped; a line break is ⏎ and other whitespace ␣."""
    t = tok.strip()
    return t if t else ("⏎" if "\n" in tok else "␣")


def peak_summary(contexts: Sequence[dict]) -> str:
    """The peak tokens of each topic with 2+ contexts: "peaks on citations: ‘7’ ‘1’ · emails: ‘Thanks’ ‘Sorry’"."""
    counts = Counter(c["topic"] for c in contexts)
    parts = []
    for t, m in counts.most_common():
        if m >= 2:
            toks = dict.fromkeys(shown_token(c["tokens"][c["peak_index"]]) for c in contexts if c["topic"] == t)
            parts.append(f"{topic_name(t)}: {' '.join(f'‘{x}’' for x in toks)}")
    return "peaks on " + " · ".join(parts) if parts else ""


# --- plain data for the view ------------------------------------------------------------------------------------
def context_dict(c: NeuronContext) -> dict:
    """A ``core.classroom.neurons.NeuronContext`` as the view (and the shipped file) store it."""
    return {
        "text_index": c.text_index,
        "topic": c.topic,
        "tokens": list(c.tokens),
        "values": [round(float(v), 2) for v in c.values],
        "peak": round(float(c.peak), 3),
        "peak_index": c.peak_index,
    }


def examples_of(entry: dict | None, n: int = 3) -> list[dict]:
    """A feature's own top contexts from its dictionary entry (``FeatureDictionary.entry``), values rounded."""
    return [
        {
            "tokens": list(e["tokens"]),
            "values": [round(float(v), 2) for v in e["values"]],
            "activation": round(float(e["activation"]), 3),
        }
        for e in ((entry or {}).get("top_examples") or [])[:n]
    ]


def feature_dict(h: FeatureAtPeaks, entry: dict | None = None, n_examples: int = 3) -> dict:
    """A ``core.classroom.neurons.FeatureAtPeaks`` with its own top contexts from ``entry`` (the dictionary's)."""
    label = h.label or (entry or {}).get("label", "")
    return {
        "feature": h.feature,
        "label": label,
        "count": h.count,
        "mean_activation": round(h.mean_activation, 3),
        "contexts": list(h.contexts),
        "topics": list(h.topics),
        "examples": examples_of(entry, n_examples),
    }


# --- schema -------------------------------------------------------------------------------------------------------
def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _tokens_ok(d: dict) -> bool:
    toks, vals = d.get("tokens"), d.get("values")
    return (
        isinstance(toks, list)
        and isinstance(vals, list)
        and len(toks) == len(vals) > 0
        and all(isinstance(t, str) for t in toks)
        and all(isinstance(v, Real) for v in vals)
    )


def validate_view(data: object) -> list[str]:
    """What is wrong with a neuron view (empty when it fits the schema)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    p = []
    if data.get("format") != FORMAT:
        p.append(f"format is {data.get('format')!r}, expected {FORMAT}")
    for key in ("layer", "n_neurons"):
        if not _is_int(data.get(key)):
            p.append(f"{key} is not an integer")
    if not isinstance(data.get("model"), dict) or not data["model"].get("name"):
        p.append("model.name is missing")
    if not isinstance(data.get("sae"), dict) or not data["sae"].get("hook"):
        p.append("sae.hook is missing")
    curated = data.get("curated")
    if not isinstance(curated, list) or not curated:
        return p + ["no curated neurons"]
    width = data.get("n_neurons") if _is_int(data.get("n_neurons")) else 0
    for i, c in enumerate(curated):
        where = f"curated[{i}]"
        if not isinstance(c, dict):
            p.append(f"{where} is not an object")
            continue
        if not _is_int(c.get("neuron")) or not 0 <= c["neuron"] < width:
            p.append(f"{where}.neuron is not a neuron of the layer")
        if not isinstance(c.get("description"), str) or not c["description"]:
            p.append(f"{where}.description is missing")
        ctxs = c.get("contexts")
        if not isinstance(ctxs, list) or not ctxs:
            p.append(f"{where} has no contexts")
            ctxs = []
        for j, x in enumerate(ctxs):
            if not (
                isinstance(x, dict)
                and _tokens_ok(x)
                and isinstance(x.get("topic"), str)
                and _is_int(x.get("peak_index"))
                and 0 <= x["peak_index"] < len(x["tokens"])
                and isinstance(x.get("peak"), Real)
                and _is_int(x.get("text_index"))
            ):
                p.append(f"{where}.contexts[{j}] is malformed")
        for j, f in enumerate(c.get("features") or []):
            ok = (
                isinstance(f, dict)
                and _is_int(f.get("feature"))
                and isinstance(f.get("label"), str)
                and _is_int(f.get("count"))
                and isinstance(f.get("contexts"), list)
                and all(_is_int(k) and 0 <= k < len(ctxs) for k in f["contexts"])
                and all(_tokens_ok(e) for e in f.get("examples") or [])
            )
            if not ok:
                p.append(f"{where}.features[{j}] is malformed")
    return p
