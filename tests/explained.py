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


WORDS = ("money bank price river bridge music song code error python loop city travel food cooking weather storm "
         "law court history war sport football game science chemistry biology medicine doctor school teacher child "
         "family love emotion anger joy fear space planet star ocean fish animal dog cat bird tree forest mountain "
         "car train plane road computer network data number math count time date name place person word").split()


def synthetic_catalog(d_sae: int = 8192, seed: int = 0):
    """A catalog shaped like a real one at ``d_sae`` features: token labels ('K → vulner, affili'), an
    explanation of 4-12 words for 9 features in 10, and a demo set of 6 features."""
    import numpy as np

    from desktop_sae.core.explanations.protocol import Method
    from desktop_sae.core.features.catalog import FeatureCatalog
    from desktop_sae.core.features.dictionary import FeatureDictionary

    rng = np.random.default_rng(seed)
    pick = lambda n: " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))  # noqa: E731
    labels = [f"{pick(1)[:3]} → {pick(1)[:5]}, {pick(1)[:6]}" for _ in range(d_sae)]
    ex = {f: Explanation(pick(int(rng.integers(4, 13))), Method.AGENT, "bench")
          for f in range(d_sae) if rng.random() < 0.9}
    return FeatureCatalog(d_sae, dictionary=FeatureDictionary({}, {"labels": labels, "vocab": {}}), explanations=ex,
                          demo_sets={int(f): ("Golden Gate Bridge",) for f in rng.integers(0, d_sae, 6)})


QUERIES = ("bridge", "river bridge", "music song code", "golden gate", "#4242", "4242", "storm", "chemistry doctor",
           "zzz", "a")  # one word, several, a demo-set tag, an id, no hit, a letter in almost every name
