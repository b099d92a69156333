"""Pilot: which feature (or small set of features) and strength put answers on a concept, on the selection split only.

Each candidate is a '+'-joined feature set; every feature of a set gets the same strength (x its max activation).
Prints, per candidate and strength, the share of answers whose text matches the concept regex and the mean NLL
under the unsteered model; the report split is never read here, so eval-steering can report on it afterwards.

Usage: python packaging/corpus/pilot_steering.py --sets 83,3103,83+4589 --strengths 2,4,8 \
           --regex "golden gate|san francisco" [--n-prompts 4] [--seeds 0] [--method add] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", required=True, help="comma-separated candidates; a candidate is F or F+G+...")
    ap.add_argument("--strengths", default="2,4,8")
    ap.add_argument("--regex", required=True, help="the concept's pattern (case-insensitive)")
    ap.add_argument("--n-prompts", type=int, default=4)
    ap.add_argument("--skip-prompts", type=int, default=0, help="start at this selection prompt")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--method", default="add")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--show", type=int, default=1, help="example answers to print per row")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    from desktop_sae.core.support.results_file import load_average

    load = load_average()
    torch.set_num_threads(a.threads)
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.steer_eval.answers import generate_answer
    from desktop_sae.core.steer_eval.data import load_splits
    from desktop_sae.core.steer_eval.reading import answer_logprobs, mean_nll
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

    s = open_session()
    prompts = load_splits().selection[a.skip_prompts: a.skip_prompts + a.n_prompts]
    seeds = [int(x) for x in a.seeds.split(",")]
    pat = re.compile(a.regex, re.I)
    rows = []
    for cand in a.sets.split(","):
        feats = [int(f) for f in cand.split("+")]
        for strength in (float(x) for x in a.strengths.split(",")):
            st = SteeringConfig(tuple(SteerSpec(f, strength, "max", a.method) for f in feats))
            t0, hits, nlls, texts = time.perf_counter(), 0, [], []
            for p in prompts:
                for seed in seeds:
                    r = generate_answer(s, p, seed, a.max_tokens, st)
                    hits += bool(pat.search(r.text))
                    nlls.append(mean_nll(answer_logprobs(s, s.prompt_ids(p), r.answer_ids)))
                    texts.append(r.text)
            n = len(texts)
            row = {"features": feats, "strength": strength, "method": a.method, "on": hits / n,
                   "nll": float(np.nanmean(nlls)), "n": n, "texts": texts}
            rows.append(row)
            print(f"{cand:>16} x{strength:<4g} on {hits}/{n}  nll {row['nll']:.2f}  ({time.perf_counter() - t0:.0f}s)",
                  flush=True)
            for t in texts[: a.show]:
                print("      ", repr(t[:150]), flush=True)
    if a.out:
        from desktop_sae.core.steer_eval.summary import pilot_summary
        from desktop_sae.core.support.results_file import write_results

        rec = {"prompts": list(prompts), "seeds": seeds, "regex": a.regex, "rows": rows}
        write_results(a.out, {"summary": pilot_summary(rec), **rec}, load_before=load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
