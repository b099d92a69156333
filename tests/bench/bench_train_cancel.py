"""Benchmark: how fast Cancel stops the train-an-SAE job in each stage on the bundled model, and that Resume then
finishes the run. The app's job and ``TrainingRun`` on a plain-thread runner with the app's loader (bf16 on the
CPU, one thread fewer than the machine has):

  python tests/bench/bench_train_cancel.py --tokens 30000

writes docs/results/bench/train_cancel.json (``--json`` elsewhere; ``--smoke``: the smallest run the app allows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import _bench

DEFAULT = _bench.RESULTS / "train_cancel.json"

def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=30_000)
    ap.add_argument("--width", type=int, default=1024)
    _bench.add_args(ap, DEFAULT)
    args = ap.parse_args(argv)
    load_before = _bench.start()
    os.environ["DESKTOP_SAE_DATA_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-cancel-bench-")

    from desktop_sae.app.controller import Controller
    from desktop_sae.app.jobs import JobRunner
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.app.training_run import TrainingRun
    from desktop_sae.core.training.run_specs import MIN_TOKENS, RunSpec

    if args.smoke:
        args.tokens, args.width = MIN_TOKENS, 64

    runner = JobRunner()
    runner.start_thread()
    ctl = Controller(runner)
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 300, "the model")
    if not ctl.model.ready:
        print(ctl.notices.last_error, file=sys.stderr)
        return 1
    run = TrainingRun(ctl.jobs, ctl.model)
    spec = RunSpec("cancel-bench", "blocks.12.hook_resid_post", width=args.width, tokens=args.tokens, passes=4)
    latency: dict[str, float] = {}
    finished_before_cancel = None  # a stage too short to cancel (tiny runs): the run ended first
    # --smoke: the last stages of a tiny run are too short to cancel reliably: a cancel that lands as the SAE is
    # written is reported as a cancel, and the resume then finds the SAE there (seen on 2026-12-05)
    stages = ("corpus", "collect", "train") if args.smoke else ("corpus", "collect", "train", "dictionary", "evaluate")
    for stage in stages:
        (run.start if not latency else run.resume)(spec)
        at = 0.0 if stage == "corpus" else 0.3  # the corpus stage reports only its start and its end
        ctl.wait_until(lambda st=stage, at=at: not run.running or (run.stage == st and (run.fraction or 0) >= at
                                                                   and (at or run.fraction is not None)), 1800, stage)
        if run.running:
            t0 = time.monotonic()
            run.cancel()
            ctl.wait_until(lambda: not run.running, 60, "the cancel")
            if run.status != "done":
                latency[stage] = round(time.monotonic() - t0, 3)
        print(stage, latency.get(stage), run.status, file=sys.stderr)
        if run.status == "done" or not run.running and run.status != "cancelled":
            finished_before_cancel = stage
            break
    if run.status == "cancelled":
        run.resume(spec)
        ctl.wait_until(lambda: not run.running, 1800, "the last resume")
    report = {"tokens": args.tokens, "width": args.width, "cancel_latency_s": latency,
              "ended_before_a_cancel_in": finished_before_cancel, "status": run.status,
              "error": run.error, "evaluation": dict(run.outcome.evaluation or {}) if run.outcome else None,
              "curve_points": len(run.points)}
    print(json.dumps(report, indent=1))
    summary = {"cancel_latency_s_max": max(latency.values(), default=None), "cancel_latency_s": latency,
               "stages_cancelled": len(latency), "run_finished": run.status == "done"}
    _bench.write(args, DEFAULT, summary, report, load_before)
    runner.shutdown()
    runner.thread.join(30)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
