"""Derive each demo concept's steering set from the model's own answers; writes
resources/steer_eval/concept_answers.json and the "features"/"weights" of each concept in resources/demo_features.json.

For every concept, the bundled model answers the questions of resources/steer_eval/concept_questions.json (2 seeds,
48 new tokens, default sampling); the same for the neutral questions. The SAE's features are ranked by how much more
they fire, per token, on the concept answers than on the neutral ones (in units of each feature's max activation), and
the first K become the concept's set, weighted by that difference (core.features.contrast.feature_set). The evaluation
prompts (selection and report splits) are never read here. K = 6 was chosen on the Golden Gate concept with 4
selection prompts on the previous 4 608-latent SAE (K = 3, 6, 10 tried; see docs/STEERING_EVAL.md). On the current
8 192-latent SAE K = 12 points as closely along the answers' mean difference (set_alignment.py); tried on the Golden
Gate concept it scored lower on the selection split, so K = 6 stays.

Usage: python packaging/corpus/build_concept_sets.py [--k 6] [--concepts golden_gate,music] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

SEEDS = (100, 101)
MAX_NEW = 48


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=None, help="set size (default: core.features.contrast.SET_SIZE)")
    ap.add_argument("--concepts", default="")
    ap.add_argument("--regenerate", action="store_true", help="make the answers again even if the file exists")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.features.contrast import SET_SIZE, feature_set, rank_features, text_means
    from desktop_sae.core.steer_eval.answers import generate_answer
    from desktop_sae.core.support.atomic import atomic_write_text
    from desktop_sae.core.support.paths import resources_dir

    k = a.k or SET_SIZE
    res = resources_dir()
    questions = json.loads((res / "steer_eval" / "concept_questions.json").read_text(encoding="utf-8"))
    out_path = res / "steer_eval" / "concept_answers.json"
    s = open_session()
    names = [c for c in (a.concepts.split(",") if a.concepts else questions["concepts"])]
    have = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() and not a.regenerate else {}
    t0 = time.perf_counter()

    def answers(qs):
        return [generate_answer(s, q, seed, MAX_NEW).text for q in qs for seed in SEEDS]

    neutral = have.get("neutral") or answers(questions["neutral"])
    concepts = dict(have.get("concepts", {}))
    for name in names:
        if name not in concepts:
            concepts[name] = answers(questions["concepts"][name])
            print(f"{name}: {len(concepts[name])} answers ({time.perf_counter() - t0:.0f} s)", flush=True)
    doc = {"about": "The bundled model's answers to concept_questions.json (seeds 100 and 101, 48 new tokens, "
                    "default sampling): the texts behind each concept's feature set and its mean-difference baseline.",
           "model": s.lm.name, "seeds": list(SEEDS), "max_new_tokens": MAX_NEW,
           "neutral": neutral, "concepts": concepts}
    atomic_write_text(out_path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")

    neg = text_means(s, neutral)
    mx = s.sae.stats.max_activation
    demo_path = res / "demo_features.json"
    demo = json.loads(demo_path.read_text(encoding="utf-8"))
    for entry in demo["concepts"]:
        name = entry["concept"]
        if name not in names:
            continue
        hits = rank_features(text_means(s, concepts[name]), neg, mx, None, 2 * k)
        feats, weights = feature_set(hits, k)
        entry["feature"], entry["features"], entry["weights"] = feats[0], list(feats), list(weights)
        entry["candidates"] = [h.feature for h in hits]
        entry["selected_by"] = "set"
        print(f"{name}: {list(zip(feats, weights))}", flush=True)
    atomic_write_text(demo_path, json.dumps(demo, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
