"""The GUI benchmark (``bench_gui.py``) on two checkouts, alternating, in one run (these machines are noisy):

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_gui_compare.py --base /path/to/other/checkout \
        [--rounds 3] [--tokens 200] --json docs/results/bench/NAME.json

Each round runs the base checkout's ``bench_gui.py`` and then this one's, each in a fresh process with its own
package on ``PYTHONPATH`` (the same venv, model cache and bundled SAE). Reported per checkout: the median over the
rounds of launch → first paint and → ready (each round's own median of three launches), and of the stall test's
p99 and largest gap between event-loop ticks while 200 tokens stream; the ratio this / base of each. Written to
``--json`` only (a comparison names its own file); ``--smoke`` compares this checkout with itself, one round,
one launch, a few tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench

HERE = Path(__file__).resolve().parents[2]


def one_run(checkout: Path, tokens: int, launches: int, smoke: bool = False) -> dict:
    script = checkout / "tests" / "bench" / "bench_gui.py"
    text = script.read_text(encoding="utf-8")  # an older checkout's script may lack the newer options
    extra = (["--launches", str(launches)] if "--launches" in text else []) + (
        ["--smoke"] if smoke and "--smoke" in text else [])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        env = {**os.environ, "PYTHONPATH": str(checkout), "QT_QPA_PLATFORM": "offscreen",
               "DESKTOP_SAE_CONFIG_DIR": str(Path(tmp) / "config")}
        subprocess.run([sys.executable, str(script), "--skip", "search", "--tokens", str(tokens), "--json", str(out),
                        *extra], check=True, env=env, cwd=checkout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(out.read_text())


def summary(runs: list[dict]) -> dict:
    med = statistics.median
    return {
        "first_paint_s_median": round(med(med(r["launch"]["first_paint_s"]) for r in runs), 3),
        "ready_s_median": round(med(med(r["launch"]["ready_s"]) for r in runs), 3),
        "stall_gap_p99_ms_median": round(med(r["stall"]["gap_p99_ms"] for r in runs), 2),
        "stall_gap_max_ms_median": round(med(r["stall"]["gap_max_ms"] for r in runs), 2),
        "tokens_per_s_median": round(med(r["stall"]["tok_per_s"] for r in runs), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=None, help="the other checkout (e.g. a git worktree of an earlier commit)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=200)
    _bench.add_args(ap, None)
    a = ap.parse_args()
    load_before = _bench.start()
    launches = 3
    if a.smoke:
        a.rounds, a.tokens, launches, a.base = 1, 8, 1, a.base or str(HERE)
    if a.base is None:
        ap.error("--base is required (the checkout to compare this one with)")
    base, this = Path(a.base).resolve(), HERE
    runs: dict[str, list[dict]] = {"base": [], "this": []}
    for i in range(a.rounds):
        for name, where in (("base", base), ("this", this)):
            t0 = time.time()
            runs[name].append(one_run(where, a.tokens, launches, a.smoke))
            print(f"round {i + 1} {name}: {time.time() - t0:.0f} s", flush=True)
    s = {k: summary(v) for k, v in runs.items()}
    commit = {k: subprocess.run(["git", "-C", str(p), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() for k, p in (("base", base), ("this", this))}
    res = {"rounds": a.rounds, "tokens": a.tokens, "commits": commit, "statistic": "median over rounds", **s,
           "ratio_this_over_base": {k: round(s["this"][k] / s["base"][k], 3) if s["base"][k] else None
                                    for k in s["this"]},
           "runs": runs}
    print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=1))
    summ = {"statistic": f"median over {a.rounds} rounds", "base": s["base"], "this": s["this"],
            "ratio_this_over_base": res["ratio_this_over_base"], "commits": commit}
    _bench.write(a, None, summ, res, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
