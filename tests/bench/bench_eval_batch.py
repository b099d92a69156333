"""Steering-evaluation speed, one answer at a time against batched answers, on the bundled model in one run.

The same small evaluation (a demo concept, one strength, no baselines) runs with ``--batch 1`` and with each batch
size given, alternating, ``--repeats`` times each; reported: median seconds, the ratio to batch 1, and how many
answers came out identical to the one-at-a-time run (sampled answers can part after a near-tie in batched
arithmetic).

  python tests/bench/bench_eval_batch.py [--concept music] [--batches 8,16] [--n-prompts 4] [--seeds 2]

writes docs/results/bench/eval_batch.json (``--json`` elsewhere; ``--smoke``: a few seconds).
``--summarise FILE`` adds the summary to a results file written before summaries existed, from its own rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import _bench

DEFAULT = _bench.RESULTS / "eval_batch.json"


def summarise(out: dict) -> dict:
    """Batch 1's median seconds, each batch size's speed-up over it and its answers identical to batch 1's."""
    rows = {r["batch"]: r for r in out["rows"]}
    summary: dict = {"statistic": f"median of {out['repeats']} runs", "answers": out["n_answers"],
                     "batch_1_s_median": rows[1]["seconds_median"]}
    for b, r in rows.items():
        if b != 1:
            summary[f"batch_{b}_speedup_median"] = r["speedup_vs_batch_1"]
            summary[f"batch_{b}_identical_answers"] = r["identical_answers"]
    return summary


def resummarise(path: Path) -> None:
    """Add (or refresh) the summary of an existing results file from its rows; nothing else changes."""
    rec = json.loads(path.read_text(encoding="utf-8"))
    meta = rec.pop("meta", None) or _bench.commit_meta(
        path, ["tests/bench/results/eval_batch.json"],
        "measured before results files carried a meta block: the date is that of the commit that added the file "
        "(then tests/bench/results/eval_batch.json); the machine, load, versions and command were not recorded")
    rec = {"meta": meta, "summary": summarise(rec), **{k: v for k, v in rec.items() if k != "summary"}}
    path.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concept", default="music")
    ap.add_argument("--batches", default="8,16")
    ap.add_argument("--n-prompts", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=32, help="tokens per answer (the evaluation's default)")
    _bench.add_args(ap, DEFAULT)
    ap.add_argument("--summarise", default=None, metavar="FILE", help="only add the summary to an existing file")
    a = ap.parse_args(argv)
    if a.summarise:
        resummarise(Path(a.summarise))
        return 0
    load_before = _bench.start()
    if a.smoke:
        a.batches, a.n_prompts, a.seeds, a.repeats, a.max_new_tokens = "2", 2, 1, 1, 4
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.presets.demo_concepts import load_demo_concepts
    from desktop_sae.core.steer_eval.data import load_concept, load_splits
    from desktop_sae.core.steer_eval.evaluate import EvalSettings, evaluate_steering

    s = open_session()
    concept = load_concept(a.concept)
    splits = load_splits(n_prompts=a.n_prompts)
    strength = load_demo_concepts()[a.concept].strength
    sizes = [1] + [int(b) for b in a.batches.split(",")]
    times: dict[int, list[float]] = {b: [] for b in sizes}
    texts: dict[int, list[str]] = {}
    for _ in range(a.repeats):
        for b in sizes:
            cfg = EvalSettings(strengths=(strength,), seeds=tuple(range(a.seeds)), baselines=False, batch=b,
                               max_new_tokens=a.max_new_tokens)
            t0 = time.perf_counter()
            res = evaluate_steering(s, concept, splits, cfg)
            times[b].append(time.perf_counter() - t0)
            rows = [res["selection"]["default"], *res["selection"]["feature"], res["report"]["default"],
                    res["report"]["feature"]]
            texts[b] = [x["text"] for r in rows for x in r["answers"]]
    base = statistics.median(times[1])
    out = {"concept": a.concept, "strength": strength, "max_new_tokens": a.max_new_tokens,
           "n_answers": len(texts[1]), "repeats": a.repeats,
           "device": str(s.lm.device), "dtype": str(s.lm.dtype).replace("torch.", ""), "rows": []}
    for b in sizes:
        med = statistics.median(times[b])
        same = sum(x == y for x, y in zip(texts[b], texts[1]))
        out["rows"].append({"batch": b, "seconds_median": round(med, 2), "speedup_vs_batch_1": round(base / med, 2),
                            "identical_answers": f"{same}/{len(texts[1])}"})
        print(f"batch {b:>3}: {med:6.1f} s  {base / med:4.2f}x  identical answers {same}/{len(texts[1])}", flush=True)
    _bench.write(a, DEFAULT, summarise(out), out, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
