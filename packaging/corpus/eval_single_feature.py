"""A demo concept steered by one feature instead of its set, under run_demo_eval.py's protocol (its N_SELECTION,
N_REPORT and SEEDS: strength chosen on 8 selection prompts, reported on 10 report prompts x 2 seeds; the concept's
keywords, answers and baselines as for the set). Used for the Golden Gate concept with #1088, the one member that
steered alone in pilot_steering.py (docs/results/corpus/golden_gate_single_1088_eval.json): on the selection split it
scored below the set, so the set was kept.

Usage: python packaging/corpus/eval_single_feature.py --concept golden_gate --feature 1088 --strengths 2,3,4 --out F
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from run_demo_eval import N_REPORT, N_SELECTION, SEEDS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concept", required=True)
    ap.add_argument("--feature", type=int, required=True)
    ap.add_argument("--strengths", default="2,3,4", help="x the feature's max activation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from desktop_sae.core.support.results_file import load_average

    load = load_average()
    torch.set_num_threads(a.threads)
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.steer_eval.data import Splits, load_concept, load_splits
    from desktop_sae.core.steer_eval.evaluate import EvalSettings, evaluate_steering, json_ready

    s = open_session()
    full = load_splits()
    splits = Splits(full.selection[:N_SELECTION], full.report[:N_REPORT])
    concept = dataclasses.replace(load_concept(a.concept), features=(a.feature,), weights=(1.0,))
    grid = tuple(float(x) for x in a.strengths.split(","))
    res = evaluate_steering(s, concept, splits, EvalSettings(strengths=grid, seeds=SEEDS))
    from desktop_sae.core.steer_eval.summary import eval_summary
    from desktop_sae.core.support.results_file import write_results

    res = json_ready(res)
    write_results(a.out, {"summary": eval_summary(res), **res}, load_before=load)
    for row in res["selection"]["feature"]:
        print(f"selection x{row['strength']:g}: keywords {row['keyword_share']:.2f}, nll {row['nll_mean']:.2f}, "
              f"combined {row['combined']:.3f}")
    f = res["report"]["feature"]
    print(f"report x{f['strength']:g}: keywords {f['keyword_share']:.2f}, nll {f['nll_mean']:.2f}, "
          f"combined {f['combined']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
