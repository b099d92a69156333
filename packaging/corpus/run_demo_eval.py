"""Evaluate every demo concept with the steering evaluation (desktop_sae.core.steer_eval) and write one result per
concept to docs/results/steer_eval/<concept>.json; then
`desktop-sae eval-steering --table docs/results/steer_eval/*.json --update-demo` rebuilds
the README's demo table and resources/demo_features.json from them.

Strengths (x the lead feature's max activation) are, per concept, those that give the set's nominal shift
|sum of strength x weight x max activation x decoder row| a length of NORM_FRACTIONS x the typical residual norm at
the hook: the same geometric grid for every concept, whatever its weights. The strength is chosen on the first
N_SELECTION selection prompts and reported on the first N_REPORT report prompts, SEEDS seeds each.

Usage: python packaging/corpus/run_demo_eval.py [--concepts golden_gate,music] [--out-dir docs/results/steer_eval]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

NORM_FRACTIONS = (0.3, 0.5, 0.75)
N_SELECTION, N_REPORT, SEEDS = 8, 10, (0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concepts", default="")
    ap.add_argument("--out-dir", default="docs/results/steer_eval")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.features.contrast import set_strength
    from desktop_sae.core.steer_eval.data import Splits, demo_concepts, load_concept, load_splits
    from desktop_sae.core.steer_eval.evaluate import EvalSettings, evaluate_steering, json_ready
    from desktop_sae.core.support.atomic import atomic_write_text

    s = open_session()
    full = load_splits()
    splits = Splits(full.selection[:N_SELECTION], full.report[:N_REPORT])
    names = a.concepts.split(",") if a.concepts else list(demo_concepts())
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        concept = load_concept(name)
        grid = tuple(set_strength(s, concept.features, [concept.weight(i) for i in range(len(concept.features))], x)
                     for x in NORM_FRACTIONS)
        res = evaluate_steering(s, concept, splits, EvalSettings(strengths=grid, seeds=SEEDS))
        res["settings"]["strength_grid"] = {"norm_fractions": list(NORM_FRACTIONS), "typical_norm": s.typical_norm}
        atomic_write_text(out / f"{name}.json", json.dumps(json_ready(res), ensure_ascii=False, indent=1) + "\n")
        f = res["report"]["feature"]
        print(f"{name}: grid {grid}, chose x{f['strength']:g}: keywords {f['keyword_share']:.2f}, "
              f"nll {f['nll_mean']:.2f}, combined {f['combined']:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
