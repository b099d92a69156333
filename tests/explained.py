"""Hand-made explanations beside an SAE for tests: ``explanations.json`` (method llm, explainer 'test-llm') and,
optionally, ``explanation_scores.json`` for the features' own explanations."""

from desktop_sae.core.explanations.protocol import Method, Variant
from desktop_sae.core.explanations.stats import Confusion
from desktop_sae.core.explanations.store import (
    EXPLANATIONS,
    SCORES,
    Explanation,
    ExplanationStore,
    FeatureScore,
    ScoreStore,
)

# twenty words, the longest an explanation may be: it must not break a layout
LONG = ("mentions of suspension bridges, their towers and cables, and the fog rolling in over the bay "
        "at dawn each morning")


def write_explained(folder, texts: dict[int, str], scored: dict[int, tuple[Confusion, Confusion]] | None = None):
    store = ExplanationStore(folder / EXPLANATIONS)
    for f, t in texts.items():
        store.put(f, Explanation(t, Method.LLM, "test-llm", date="2026-12-05T01:40:00+00:00"))
    store.save()
    if scored:
        scores = ScoreStore(folder / SCORES)
        for f, (det, fuz) in scored.items():
            scores.put(Variant.OWN, f, FeatureScore(texts[f], "test-scorer", det, fuz))
        scores.save()


def explained_copy(sae_dir, to, d_sae: int = 256):
    """A copy of the SAE in ``sae_dir`` with an explanation for every feature ('topic N words', #42 the long one)
    and blind scores for #42 only."""
    import shutil

    shutil.copytree(sae_dir, to, ignore=shutil.ignore_patterns("labels.user.json"))
    texts = {f: f"topic {f} words" for f in range(d_sae)}
    texts[42] = LONG
    write_explained(to, texts, {42: (Confusion(9, 1, 8, 2), Confusion(7, 3, 9, 1))})
    return to
