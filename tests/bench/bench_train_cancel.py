"""Benchmark: how fast Cancel stops the train-an-SAE job in each stage on the bundled model, and that Resume then
finishes the run. The app's job and ``TrainingRun`` on a plain-thread runner with the app's loader (bf16 on the
CPU, one thread fewer than the machine has):

  python tests/bench/bench_train_cancel.py --tokens 30000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=30_000)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    os.environ["DESKTOP_SAE_DATA_DIR"] = tempfile.mkdtemp(prefix="desktop-sae-cancel-bench-")

    from desktop_sae.app.controller import Controller
    from desktop_sae.app.jobs import JobRunner
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.app.training_run import TrainingRun
    from desktop_sae.core.training.run_specs import RunSpec

    runner = JobRunner()
    runner.start_thread()
    ctl = Controller(runner)
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 300, "the model")
    if not ctl.model.ready:
        print(ctl.notices.last_error, file=sys.stderr)
        return 1
    run = TrainingRun(ctl)
    spec = RunSpec("cancel-bench", "blocks.12.hook_resid_post", width=args.width, tokens=args.tokens, passes=4)
    latency = {}
    for stage in ("corpus", "collect", "train", "dictionary", "evaluate"):
        (run.start if not latency else run.resume)(spec)
        at = 0.0 if stage == "corpus" else 0.3  # the corpus stage reports only its start and its end
        ctl.wait_until(lambda st=stage, at=at: not run.running or (run.stage == st and (run.fraction or 0) >= at
                                                                   and (at or run.fraction is not None)), 1800, stage)
        if not run.running:
            print(f"the run ended before {stage} could be cancelled: {run.status} {run.error}", file=sys.stderr)
            return 1
        t0 = time.monotonic()
        run.cancel()
        ctl.wait_until(lambda: not run.running, 60, "the cancel")
        latency[stage] = round(time.monotonic() - t0, 3)
        print(stage, latency[stage], run.status, file=sys.stderr)
    run.resume(spec)
    ctl.wait_until(lambda: not run.running, 1800, "the last resume")
    report = {"cancel_latency_s": latency, "status": run.status, "error": run.error,
              "evaluation": dict(run.outcome.evaluation or {}) if run.outcome else None,
              "curve_points": len(run.points), "loadavg": os.getloadavg()}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    runner.shutdown()
    runner.thread.join(30)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
