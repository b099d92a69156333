"""Decoding while another process keeps one core busy (a browser, a video call), against an idle machine.

Configurations, interleaved, the bundled model in bfloat16, batch 1, greedy, ``--tokens`` new tokens:
  governor  — the engine's default: the thread count chosen by measured step times (core/engine/step_threads.py)
  fixed N   — torch's N threads for every step (N = all threads, and 1)
each with and without a busy process (a pure-Python spin loop in a subprocess). Medians of ``--repeats``.

  python tests/bench/bench_contention.py --tokens 64 --repeats 3

writes docs/results/bench/contention.json (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import _bench
import torch

DEFAULT = _bench.RESULTS / "contention.json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args()
    load_before = _bench.start()
    if a.smoke:
        a.tokens, a.repeats = 4, 1
    from desktop_sae.core.engine.benchmark import PROMPT, _engine_run
    from desktop_sae.core.engine.models import load_model
    from desktop_sae.core.engine.session import Session
    from desktop_sae.core.engine.step_threads import GOVERNOR
    from desktop_sae.core.steering.specs import SteeringConfig

    full = torch.get_num_threads()
    s = Session(load_model(dtype="bfloat16"))
    ids = s.prompt_ids(PROMPT)

    def run(mode: str) -> float:
        GOVERNOR.enabled = mode == "governor"
        torch.set_num_threads(1 if mode == "fixed 1" else full)
        try:
            return _engine_run(s, ids, a.tokens, SteeringConfig())
        finally:
            torch.set_num_threads(full)
            GOVERNOR.enabled = True

    modes = ["governor", f"fixed {full}", "fixed 1"] if full > 1 else ["governor"]
    rates: dict[str, list[float]] = {}
    for busy in (False, True):
        spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            time.sleep(0.5)
            for m in modes:
                run(m)  # warm-up
            for _ in range(a.repeats):
                for m in modes:
                    rates.setdefault(f"{'one core busy' if busy else 'idle'}: {m}", []).append(run(m))
        finally:
            if spin is not None:
                spin.kill()
                spin.wait()
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"{k:32s} {v:6.1f} tok/s   (all: {', '.join(f'{x:.1f}' for x in rates[k])})")
    summary: dict = {"statistic": f"median of {a.repeats} runs each", "tokens": a.tokens, "threads": full,
                     "tok_s_median": {k: round(v, 1) for k, v in med.items()}}
    for state in ("idle", "one core busy"):
        runs = [x for k, v in rates.items() if k.startswith(f"{state}: fixed {full}") for x in v]
        if runs and full > 1:
            summary[f"{state.replace(' ', '_')}_fixed_{full}_tok_s_min"] = round(min(runs), 1)
            summary[f"{state.replace(' ', '_')}_fixed_{full}_tok_s_max"] = round(max(runs), 1)
    _bench.write(a, DEFAULT, summary, {"tokens": a.tokens, "threads": full, "median_tok_s": med, "all": rates},
                 load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
