"""Stop latency (not a timed test; run it by hand):

    python tests/bench/bench_stop.py [--trials 40] [--json out.json]

The bundled model answers through the real job runner and controller; at a random moment (0.1–1.5 s into the
answer) Stop is pressed, and we measure the time until the worker is idle (no live job) and until the app has
the stopped answer (``state.busy`` false). Goal: p99 < 150 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from desktop_sae.app.controller import Controller
    from desktop_sae.app.jobs import JobRunner
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.core.engine.sampling import SamplingConfig

    runner = JobRunner()
    runner.start_thread()
    ctl = Controller(runner)
    ctl.model.load(LoadRequest())
    ctl.wait_until(lambda: ctl.model.ready or ctl.notices.last_error, 300, "the model")
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.8, seed=None, max_new_tokens=400))
    ctl.steering.steer(2107, 2.0)
    rng = random.Random(0)
    idle_ms, app_ms = [], []
    for i in range(a.trials):
        ctl.conversation.clear()
        ctl.conversation.send("Write a long story about a lighthouse keeper.")
        ctl.wait_until(lambda: sum(map(len, ctl.conversation.stream.values())) > 0, 120, "the first token")
        time.sleep(rng.uniform(0.1, 1.5))
        t0 = time.perf_counter()
        ctl.conversation.stop()
        while runner.live("generate"):
            time.sleep(0.0005)
        t1 = time.perf_counter()
        while ctl.conversation.busy:
            ctl.poll(0.05)
            time.sleep(0.0005)
        t2 = time.perf_counter()
        idle_ms.append(1000 * (t1 - t0))
        app_ms.append(1000 * (t2 - t0))
        print(
            f"trial {i}: worker idle after {idle_ms[-1]:.1f} ms, answer delivered after {app_ms[-1]:.1f} ms", flush=True
        )
    runner.shutdown()
    res = {
        k: {
            "p50": round(float(np.percentile(v, 50)), 1),
            "p99": round(float(np.percentile(v, 99)), 1),
            "max": round(max(v), 1),
        }
        for k, v in (("worker_idle_ms", idle_ms), ("answer_delivered_ms", app_ms))
    }
    res["trials"] = a.trials
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
