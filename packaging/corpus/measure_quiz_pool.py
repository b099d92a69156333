"""Steered answers for the quiz pool (issue #20: a quiz round uses a feature or a concept set only if steering with
it is recognisable, measured on prompts kept for that purpose before it enters the pool).

Units: each demo concept's whole weighted set, and each distinct single feature the quiz could hide (the concept's
lead and its quiz feature), at the concept's measured strength, as the quiz steers them. Each unit answers the
check prompts in resources/steer_eval/quiz_check_prompts.txt (never used by the quiz or for choosing strengths),
SEEDS seeds, MAX_NEW_TOKENS tokens; the unsteered model answers the same. Written to
docs/results/quiz/quiz_answers.json with each unit's share of answers naming one of its concept's keywords and its
share of degenerate answers. Which units enter the pool is decided from these answers by blind players
(docs/QUIZ_POOL.md), not by this script.

--pool reads those answers and writes resources/quiz_pool.json: the units the quiz may use
(core.classroom.quiz_pool.choose_pool), plus docs/results/quiz/quiz_pool.json with the count per kind.

Usage: python packaging/corpus/measure_quiz_pool.py [--out docs/results/quiz/quiz_answers.json]
       python packaging/corpus/measure_quiz_pool.py --pool
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS, MAX_NEW_TOKENS = (0, 1), 32


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "quiz" / "quiz_answers.json"))
    ap.add_argument("--pool", action="store_true", help="choose the pool from the measured answers")
    args = ap.parse_args(argv)
    if args.pool:
        return write_pool_files(Path(args.out))
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.classroom.quiz_pool import QuizUnit, UnitKind, unit_json
    from desktop_sae.core.presets.demo_concepts import load_demo_concepts
    from desktop_sae.core.steer_eval.answers import generate_answers
    from desktop_sae.core.steer_eval.scoring import degenerate, keyword_hits, keyword_pattern
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig
    from desktop_sae.core.support.paths import resources_dir
    from desktop_sae.core.support.results_file import load_average, write_results

    load0 = load_average()
    prompts = [p for p in (resources_dir() / "steer_eval" / "quiz_check_prompts.txt").read_text().splitlines() if p]
    session = open_session()
    concepts = load_demo_concepts() or {}
    units: list[tuple[str, QuizUnit]] = []
    for name, c in concepts.items():
        units.append((f"{name}:set", QuizUnit.of(c, UnitKind.SET)))
        for f in dict.fromkeys((c.feature, c.quiz_feature if c.quiz_feature is not None else c.feature)):
            units.append((f"{name}:{f}", QuizUnit.of(c, UnitKind.FEATURE, f)))
    t0 = time.perf_counter()
    default = [a.text for a in generate_answers(session, prompts, SEEDS, MAX_NEW_TOKENS, NO_STEERING, batch=6)]
    out_units = []
    for uid, unit in units:
        res = generate_answers(session, prompts, SEEDS, MAX_NEW_TOKENS, SteeringConfig(unit.rows(unit.label)),
                               batch=6)
        pat = keyword_pattern(concepts[unit.concept].keywords)
        texts = [a.text for a in res]
        kw = sum(bool(keyword_hits(t, pat)) for t in texts) / len(texts)
        deg = sum(degenerate(a.answer_ids) for a in res) / len(res)
        base = sum(bool(keyword_hits(t, pat)) for t in default) / len(default)
        out_units.append({"id": uid, **unit_json(replace(unit, keyword_share=kw, degenerate_share=deg)),
                          "default_keyword_share": base, "answers": texts})
        print(f"{uid:22s} keywords {kw:.2f} (default {base:.2f}) degenerate {deg:.2f}", file=sys.stderr)
    write_results(args.out, {
        "prompts": prompts, "seeds": list(SEEDS), "max_new_tokens": MAX_NEW_TOKENS, "default_answers": default,
        "units": out_units, "seconds": round(time.perf_counter() - t0, 1),
        "summary": {f"{u['id']}_keyword_share": u["keyword_share"] for u in out_units}},
        load_before=load0, command=["python", "packaging/corpus/measure_quiz_pool.py"])
    return 0


def write_pool_files(answers: Path) -> int:
    import json

    from desktop_sae.core.classroom.quiz_pool import choose_pool, unit_of, write_pool
    from desktop_sae.core.support.paths import default_sae_dir
    from desktop_sae.core.support.results_file import write_results

    data = json.loads(answers.read_text())
    units = [unit_of(u) for u in data["units"]]
    pool = choose_pool(units)
    write_pool(default_sae_dir(), pool, f"{answers.relative_to(ROOT)} ({data['meta']['date']})")
    write_results(ROOT / "docs" / "results" / "quiz" / "quiz_pool.json", {
        "units": [{"id": f"{u.concept}:{u.kind}", "recognisable": u.recognisable, "keyword_share": u.keyword_share}
                  for u in units],
        "pool": [f"{u.concept}:{u.kind}" for u in pool],
        "summary": {"units_measured": len(units), "sets_measured": sum(u.kind == "set" for u in units),
                    "features_measured": sum(u.kind == "feature" for u in units),
                    "recognisable_sets": sum(u.recognisable and u.kind == "set" for u in units),
                    "recognisable_features": sum(u.recognisable and u.kind == "feature" for u in units),
                    "pool_size": len(pool), "answers_per_unit": len(data["units"][0]["answers"]),
                    **{f"{u['id']}_keyword_answers": round(u["keyword_share"] * len(u["answers"]))
                       for u in data["units"]}}},
        command=["python", "packaging/corpus/measure_quiz_pool.py", "--pool"])
    print(f"pool: {', '.join(f'{u.concept}:{u.kind}' for u in pool)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
