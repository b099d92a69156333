"""A strength sweep one answer at a time against in one batch (core/engine/batch_generation.py), on the bundled model
with its SAE, in one run.

For each dtype (``--dtypes``, default bfloat16 and int8) and each sampling (greedy, and the app's default sampling
with seed 42): one feature (``--feature``, default the music concept's lead feature) at 9 strengths (``--strengths``,
default the sweep dialog's: 0.5 to 64 x max activation, log-spaced), 32 new tokens (``--max-new-tokens``), on the
sweep dialog's prompt. Each round makes the sweep's answers one at a time (``Session.generate`` per strength) and
then in one batch (``Session.generate_rows``), and measures them (the sweep's NLL, relevance and KL reads) one
answer per forward and then ``--batch`` per forward; rounds alternate the two ways (ABAB), ``--rounds`` of them.
Reported per dtype and sampling: every round's seconds, their medians, the ratios (one at a time / batched) of the
answers, of the measures and of both together (the sweep job), and how many batched rows' tokens equal the
one-at-a-time tokens (same prompt: no padding). ``padded``: 9 prompts of the evaluation's selection split, one
steering, greedy, one at a time against one batch (the shorter prompts padded): the rows whose tokens agree.

  python tests/bench/bench_sweep_batch.py [--dtypes bfloat16,int8] [--rounds 3] [--batch 16]

writes docs/results/bench/sweep_batch.json (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse
import time

import _bench

DEFAULT = _bench.RESULTS / "sweep_batch.json"
PROMPT = "What should I do this weekend?"  # the sweep dialog's default prompt
OTHER = "Tell me about the history of tea."  # relevance compares with another prompt


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _equal(a, b) -> int:
    return sum(x.answer_ids == y.answer_ids for x, y in zip(a, b))


def sweep_round(s, rows, steerings, strengths, batch: int, feature: int) -> dict:
    """One round: the answers and their measures, one at a time and then batched."""
    from desktop_sae.core.engine.batch_generation import one_at_a_time
    from desktop_sae.core.steer_eval.sweep import SweepRefs, sweep_points, sweep_references

    single, t_single = _timed(lambda: one_at_a_time(s, rows))
    together, t_batch = _timed(lambda: s.generate_rows(rows, chunk=batch))
    seed = rows[0].sampling.seed or 0
    ref: SweepRefs = sweep_references(s, PROMPT, together[0], seed, (), (feature,), (), OTHER, threshold=5.0)
    measure = lambda chunk: sweep_points(s, PROMPT, together[1:], seed, steerings, strengths, ref, (),  # noqa: E731
                                         (feature,), chunk)
    points_1, m_single = _timed(lambda: measure(1))
    points_b, m_batch = _timed(lambda: measure(batch))
    return {"answers_one_at_a_time_s": round(t_single, 3), "answers_batched_s": round(t_batch, 3),
            "measures_one_at_a_time_s": round(m_single, 3), "measures_batched_s": round(m_batch, 3),
            "equal_rows": _equal(together, single), "rows": len(rows),
            "nll_max_abs_diff": max(abs(p.measured.nll - q.measured.nll) for p, q in zip(points_1, points_b)),
            "kl_max_abs_diff": max(abs(p.kl - q.kl) for p, q in zip(points_1, points_b))}


def padded_round(s, prompts, steering, sampling, batch: int) -> dict:
    from desktop_sae.core.engine.batch_generation import one_at_a_time
    from desktop_sae.core.engine.batch_rows import BatchRow

    rows = [BatchRow(tuple(s.prompt_ids(p)), sampling, steering) for p in prompts]
    single, t_single = _timed(lambda: one_at_a_time(s, rows))
    together, t_batch = _timed(lambda: s.generate_rows(rows, chunk=batch))
    return {"one_at_a_time_s": round(t_single, 3), "batched_s": round(t_batch, 3),
            "equal_rows": _equal(together, single), "rows": len(rows),
            "prompt_tokens": sorted(len(r.prompt_ids) for r in rows)}


def _medians(rounds: list[dict], keys: tuple[str, ...]) -> dict:
    return {k: _bench.rnd(_bench.median([r[k] for r in rounds]), 3) for k in keys}


def summarise(out: dict) -> dict:
    """Per dtype and sampling: the medians, the speed-ups and the fewest equal rows over rounds."""
    summary: dict = {"statistic": f"median of {out['rounds']} rounds, one at a time and batched alternating",
                     "strengths": out["strengths"], "max_new_tokens": out["max_new_tokens"], "batch": out["batch"]}
    for dtype, runs in out["results"].items():
        d: dict = {}
        for name, rounds in runs["sweep"].items():
            med = _medians(rounds, ("answers_one_at_a_time_s", "answers_batched_s", "measures_one_at_a_time_s",
                                    "measures_batched_s"))
            whole_1 = med["answers_one_at_a_time_s"] + med["measures_one_at_a_time_s"]
            whole_b = med["answers_batched_s"] + med["measures_batched_s"]
            ratio = lambda one, batched: _bench.rnd(one / batched, 2)  # noqa: E731
            d[name] = {**med,
                       "answers_speedup_median": ratio(med["answers_one_at_a_time_s"], med["answers_batched_s"]),
                       "measures_speedup_median": ratio(med["measures_one_at_a_time_s"], med["measures_batched_s"]),
                       "sweep_speedup_median": ratio(whole_1, whole_b),
                       "equal_rows": f"{min(r['equal_rows'] for r in rounds)}/{rounds[0]['rows']}"}
        pad = runs["padded"]
        d["padded"] = {**_medians(pad, ("one_at_a_time_s", "batched_s")),
                       "equal_rows": f"{min(r['equal_rows'] for r in pad)}/{pad[0]['rows']}"}
        summary[dtype] = d
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtypes", default="bfloat16,int8", help="comma-separated: bfloat16, int8, float32, ...")
    ap.add_argument("--feature", type=int, default=None, help="default: the music demo concept's lead feature")
    ap.add_argument("--strengths", default=None, help="x max activation, comma-separated (default 0.5..64, 9 points)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16, help="rows per batch")
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args(argv)
    load_before = _bench.start()
    from desktop_sae.core.assets.opening import open_session
    from desktop_sae.core.engine.batch_rows import BatchRow
    from desktop_sae.core.engine.sampling import SamplingConfig
    from desktop_sae.core.presets.demo_concepts import load_demo_concepts
    from desktop_sae.core.steer_eval.data import load_splits
    from desktop_sae.core.steer_eval.scoring import log_strengths
    from desktop_sae.core.steering.specs import NO_STEERING, SteeringConfig, SteerSpec

    concepts = load_demo_concepts() or {}
    feature = a.feature if a.feature is not None else concepts["music"].feature
    strengths = ([float(x) for x in a.strengths.split(",")] if a.strengths else log_strengths(0.5, 64.0, 9))
    n_prompts = 9
    if a.smoke:
        a.dtypes, a.rounds, a.max_new_tokens, strengths, n_prompts = "bfloat16", 1, 4, strengths[:3], 3
    samplings = {"greedy": SamplingConfig(temperature=0.0, max_new_tokens=a.max_new_tokens),
                 "seed_42": SamplingConfig(seed=42, max_new_tokens=a.max_new_tokens)}
    steerings = [SteeringConfig((SteerSpec(feature, x, "max"),)) for x in strengths]
    prompts = load_splits().selection[:n_prompts]
    out: dict = {"feature": feature, "strengths": strengths, "max_new_tokens": a.max_new_tokens, "batch": a.batch,
                 "rounds": a.rounds, "prompt": PROMPT, "padded_prompts": list(prompts), "results": {}}
    for dtype in a.dtypes.split(","):
        s = open_session(dtype=dtype)
        ids = tuple(s.prompt_ids(PROMPT))
        res: dict = {"dtype": str(s.lm.dtype).replace("torch.", ""), "sweep": {name: [] for name in samplings},
                     "row_kernel": getattr(s.lm.model, "row_kernel", None), "padded": []}
        warm = [BatchRow(ids, samplings["greedy"], st) for st in steerings[:2]]
        s.generate_rows(warm, chunk=1), s.generate_rows(warm, chunk=a.batch)  # first use: kernels, caches
        for r in range(a.rounds):
            for name, sampling in samplings.items():
                rows = [BatchRow(ids, sampling, NO_STEERING), *(BatchRow(ids, sampling, st) for st in steerings)]
                one = sweep_round(s, rows, steerings, strengths, a.batch, feature)
                res["sweep"][name].append(one)
                print(f"{dtype} {name} round {r + 1}: answers {one['answers_one_at_a_time_s']:.2f} s one at a time, "
                      f"{one['answers_batched_s']:.2f} s batched; measures {one['measures_one_at_a_time_s']:.2f} s / "
                      f"{one['measures_batched_s']:.2f} s; equal rows {one['equal_rows']}/{one['rows']}", flush=True)
            pad = padded_round(s, prompts, steerings[len(steerings) // 2], samplings["greedy"], a.batch)
            res["padded"].append(pad)
            print(f"{dtype} padded round {r + 1}: {pad['one_at_a_time_s']:.2f} s / {pad['batched_s']:.2f} s, equal "
                  f"rows {pad['equal_rows']}/{pad['rows']}", flush=True)
        out["results"][dtype] = res
        del s
    _bench.write(a, DEFAULT, summarise(out), out, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
