"""Evaluate every demo concept with the steering evaluation (desktop_sae.core.steer_eval) and write one result per
concept to docs/results/steer_eval/<concept>.json (with its meta and summary blocks); then
`desktop-sae eval-steering --table docs/results/steer_eval/*.json --update-demo` rebuilds
the README's demo table and resources/demo_features.json from them.

Strengths (x the lead feature's max activation) are, per concept, those that give the set's nominal shift
|sum of strength x weight x max activation x decoder row| a length of NORM_FRACTIONS x the typical residual norm at
the hook: the same geometric grid for every concept, whatever its weights. The strength is chosen on the first
N_SELECTION selection prompts and reported on the first N_REPORT report prompts, SEEDS seeds each.

--recheck calibrates the steering re-check (desktop_sae.core.steer_eval.recheck): the two concepts with the largest
keyword gain on the report split, at their measured strength, on the re-check's calibration prompts and seeds, written
to docs/results/steer_eval/checks/recheck.json; the integration test draws other prompts and seeds and asserts the
rate measured here, within a binomial tolerance.

--fix-code measures the fix-code check again with the settings of its record in resources/demo_features.json and
writes docs/results/steer_eval/checks/fix_code.json (every answer kept).

--summarise recomputes the summary block of every steering results file from the raw data it holds (files measured
before meta blocks existed get one with the date of the commit that added their data).

Usage: python packaging/corpus/run_demo_eval.py [--concepts golden_gate,music] [--out-dir docs/results/steer_eval]
       python packaging/corpus/run_demo_eval.py --recheck | --fix-code
       python packaging/corpus/run_demo_eval.py --summarise
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

NORM_FRACTIONS = (0.3, 0.5, 0.75)
N_SELECTION, N_REPORT, SEEDS = 8, 10, (0, 1)
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
CHECKS = RESULTS / "steer_eval" / "checks"
_NOT_RECORDED = ("before results files carried a meta block: the machine, the load average and the package versions "
                 "were not recorded. The summary was computed afterwards from the raw data in this file by "
                 "`python packaging/corpus/run_demo_eval.py --summarise`.")
# file (relative to docs/results) -> (date of the commit that added its data, that commit, command, why not re-run)
OLD_FILES = {
    **{f"steer_eval/{c}.json": ("2026-11-26T21:43:43+00:00", "52793d2", "python packaging/corpus/run_demo_eval.py",
                                "A re-run of the eight concepts takes about 45 minutes of two CPU cores.")
       for c in ("bugs", "code", "food", "golden_gate", "music", "religion", "scam", "secrets")},
    "corpus/golden_gate_k12_eval.json": (
        "2026-11-26T21:43:43+00:00", "52793d2",
        "python packaging/corpus/run_demo_eval.py --concepts golden_gate (with a 12-feature set)",
        "The 12-feature set was never shipped, so it cannot be rebuilt from the shipped files alone."),
    "corpus/golden_gate_single_1088_eval.json": (
        "2026-11-26T21:43:43+00:00", "52793d2",
        "python packaging/corpus/eval_single_feature.py --concept golden_gate --feature 1088 --strengths 2,3,4",
        "A re-run takes about 6 minutes of two CPU cores; the data is kept as measured."),
    "corpus/golden_gate_single_features_pilot.json": (
        "2026-11-26T18:30:09+00:00", "7644957",
        "python packaging/corpus/pilot_steering.py (previous 4 608-feature SAE, 12 features x 3 and 6 x max)",
        "The previous SAE is no longer shipped (it is in git history before 2026-11-26)."),
    "corpus/golden_gate_single_features_pilot_8192.json": (
        "2026-11-26T21:43:43+00:00", "52793d2",
        "python packaging/corpus/pilot_steering.py --sets 3847,3236,3861,5405,1732,1088,4962,2107 --strengths 3,6 "
        "--regex 'golden gate|san francisco' --n-prompts 4 --seeds 0",
        "The data is kept as measured."),
    "corpus/set_alignment.json": (
        "2026-11-26T21:43:43+00:00", "52793d2",
        "python packaging/corpus/set_alignment.py PREVIOUS_SAE_DIR resources/sae/smollm2-135m-instruct",
        "The previous SAE is no longer shipped (it is in git history before 2026-11-26)."),
}


def _summary_of(rel: str, rec: dict) -> dict:
    from desktop_sae.core.steer_eval import summary as sm

    if rel.endswith("recheck.json"):
        from desktop_sae.core.steer_eval.recheck import calibration_summary

        return calibration_summary(rec["rows"])
    if rel.endswith("fix_code.json"):
        return sm.fix_code_summary(rec["record"])
    if "pilot" in rel:
        return sm.pilot_summary(rec)
    if rel.endswith("set_alignment.json"):
        return sm.alignment_summary(rec)
    return sm.eval_summary(rec)


def summarise(results: Path = RESULTS) -> list[Path]:
    """(Re)write the summary of every file in OLD_FILES (and of any other steer_eval result) from its raw data."""
    from desktop_sae.core.steer_eval.summary import recorded_meta, with_blocks
    from desktop_sae.core.support.atomic import atomic_write_text

    others = (str(p.relative_to(results)) for p in sorted([*results.glob("steer_eval/*.json"),
                                                             *results.glob("steer_eval/checks/*.json")]))
    rels = dict.fromkeys([*OLD_FILES, *others])
    written = []
    for rel in rels:
        path = results / rel
        rec = json.loads(path.read_text(encoding="utf-8"))
        date, commit, command, why = OLD_FILES.get(rel, (None, None, "", ""))
        meta = recorded_meta(date, command, f"Measured at commit {commit} ({date}) {_NOT_RECORDED} {why}") \
            if date else {}
        if not meta and "meta" not in rec:
            raise ValueError(f"{rel}: no meta block and not a known old file")
        atomic_write_text(path, json.dumps(with_blocks(rec, meta, _summary_of(rel, rec)), ensure_ascii=False,
                                           indent=1) + "\n")
        written.append(path)
    return written


def recheck(out: Path = CHECKS / "recheck.json") -> Path:
    """Calibrate the steering re-check on its calibration prompts and seeds (see the module docstring)."""
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.steer_eval import recheck as rc
    from desktop_sae.core.steer_eval.data import demo_concepts, load_concept
    from desktop_sae.core.steer_eval.evaluate import feature_steering
    from desktop_sae.core.support.results_file import load_average, write_results

    load = load_average()
    t0 = time.perf_counter()
    s = open_session()
    pairs = [(p, seed) for p in rc.CALIBRATION_PROMPTS for seed in rc.CALIBRATION_SEEDS]
    rows = []
    for entry in rc.recheck_concepts(demo_concepts()):
        concept = load_concept(entry["concept"])
        t = rc.tally(s, concept, feature_steering(concept, entry["strength"], entry["method"]), entry["strength"],
                     pairs)
        rows.append({"concept": t.concept, "strength_x_max": t.strength, "method": entry["method"], "n": t.n,
                     "steered_on_concept": t.steered, "default_on_concept": t.default, "answers": list(t.answers)})
        print(f"{t.concept} x{t.strength:g}: steered {t.steered}/{t.n}, default {t.default}/{t.n} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    data = {"summary": rc.calibration_summary(rows),
            "settings": {"prompts": list(rc.CALIBRATION_PROMPTS), "seeds": list(rc.CALIBRATION_SEEDS),
                         "max_new_tokens": 32, "sampling": "the app's defaults (temperature 0.5, frequency penalty 1)",
                         "on_concept": "a concept keyword in the answer (scoring.keyword_hits)"},
            "rows": rows, "seconds": time.perf_counter() - t0}
    return write_results(out, data, load_before=load, command=["python", "packaging/corpus/run_demo_eval.py",
                                                                "--recheck"])


def fix_code(out: Path = CHECKS / "fix_code.json") -> Path:
    """Measure the fix-code check again with the settings of the shipped record (resources/demo_features.json,
    "code_fix") and write it with meta, summary, the record-shaped block and every answer."""
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.steer_eval.code_fix import FixSettings, demo_record, evaluate_code_fix, load_snippets
    from desktop_sae.core.steer_eval.evaluate import json_ready
    from desktop_sae.core.steer_eval.summary import fix_code_summary
    from desktop_sae.core.support.paths import resources_dir
    from desktop_sae.core.support.results_file import load_average, write_results

    load = load_average()
    rec = json.loads((resources_dir() / "demo_features.json").read_text(encoding="utf-8"))["code_fix"]
    settings = FixSettings(tuple(rec["features"]), tuple(rec["strengths"]), seeds=tuple(rec["seeds"]))
    res = json_ready(evaluate_code_fix(open_session(), load_snippets(), settings))
    record = demo_record(res, time.strftime("%Y-%m-%d"), rec["command"])
    return write_results(out, {"summary": fix_code_summary(record), "record": record, "result": res},
                         load_before=load, command=["python", "packaging/corpus/run_demo_eval.py", "--fix-code"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concepts", default="")
    ap.add_argument("--out-dir", default="docs/results/steer_eval")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--summarise", action="store_true", help="recompute the summaries of the saved results")
    ap.add_argument("--recheck", action="store_true", help="calibrate the steering re-check")
    ap.add_argument("--fix-code", action="store_true", help="measure the fix-code check again (its record's settings)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.summarise:
        for p in summarise():
            print(f"summarised {p.relative_to(ROOT)}")
        return 0
    if a.recheck:
        print(f"wrote {recheck()}")
        return 0
    if a.fix_code:
        print(f"wrote {fix_code(Path(a.out_dir) / 'checks' / 'fix_code.json')}")
        return 0
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.features.contrast import set_strength
    from desktop_sae.core.steer_eval.data import Splits, demo_concepts, load_concept, load_splits
    from desktop_sae.core.steer_eval.evaluate import EvalSettings, evaluate_steering, json_ready
    from desktop_sae.core.steer_eval.summary import eval_summary
    from desktop_sae.core.support.results_file import load_average, write_results

    s = open_session()
    full = load_splits()
    splits = Splits(full.selection[:N_SELECTION], full.report[:N_REPORT])
    names = a.concepts.split(",") if a.concepts else list(demo_concepts())
    out = Path(a.out_dir)
    for name in names:
        load, t0 = load_average(), time.perf_counter()
        concept = load_concept(name)
        grid = tuple(set_strength(s, concept.features, [concept.weight(i) for i in range(len(concept.features))], x)
                     for x in NORM_FRACTIONS)
        res = evaluate_steering(s, concept, splits, EvalSettings(strengths=grid, seeds=SEEDS))
        res["settings"]["strength_grid"] = {"norm_fractions": list(NORM_FRACTIONS), "typical_norm": s.typical_norm}
        res = json_ready(res)
        write_results(out / f"{name}.json", {"summary": eval_summary(res), **res}, load_before=load,
                      command=["python", "packaging/corpus/run_demo_eval.py", "--concepts", name])
        f = res["report"]["feature"]
        print(f"{name}: grid {grid}, chose x{f['strength']:g}: keywords {f['keyword_share']:.2f}, "
              f"nll {f['nll_mean']:.2f}, combined {f['combined']:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
