"""What every ``tests/bench/bench_*.py`` script shares: ``--smoke`` (tiny sizes, a few seconds: CI runs each script
this way, ``tests/test_bench_smoke.py``, so that a benchmark cannot rot unnoticed) and ``--json PATH`` (the results
file; by default the script's own file under ``docs/results/bench/``, none with ``--smoke``), written by
``desktop_sae.core.support.results_file.write_results``: a ``meta`` block (date, machine, load before and after,
versions, command), a ``summary`` computed from the raw measurements, and the raw measurements.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results" / "bench"


def add_args(ap: argparse.ArgumentParser, default: Path | None) -> None:
    """``--smoke`` and ``--json``; ``default`` is the results file a full run writes (None: only with --json)."""
    where = f"default {default.relative_to(ROOT)}" if default else "none by default"
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, a few seconds: checks that the benchmark runs and writes its results")
    ap.add_argument("--json", default=None, help=f"the results file ({where}; none with --smoke)")


def out_path(args: argparse.Namespace, default: Path | None) -> Path | None:
    if args.json:
        return Path(args.json)
    return None if args.smoke else default


def start() -> float | None:
    """The 1-minute load average when a run starts (for the results file's meta block)."""
    from desktop_sae.core.support.results_file import load_average

    return load_average()


def write(args: argparse.Namespace, default: Path | None, summary: Mapping[str, Any], raw: Mapping[str, Any],
          load_before: float | None) -> Path | None:
    """Write ``{"meta", "summary", **raw}`` to the run's results file (if any) and return its path."""
    from desktop_sae.core.support.results_file import write_results

    path = out_path(args, default)
    if path is None:
        return None
    if not summary:
        raise ValueError("a results file needs a non-empty summary")
    data = {"summary": dict(summary), "smoke": bool(args.smoke), **raw}
    write_results(path, data, load_before=load_before,
                  command=["python", str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    print(f"results: {path}", flush=True)
    return path


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def rnd(x: float | None, nd: int) -> float | None:
    """``x`` rounded for a summary (None stays None)."""
    return None if x is None or not math.isfinite(x) else round(x, nd)


def commit_meta(path: Path, old_paths: Sequence[str], note: str) -> dict[str, Any]:
    """The meta block of a results file measured before meta blocks existed: the date of the commit that added it
    (here or at one of its ``old_paths``), ``None`` for what was not recorded, and a ``note`` saying so."""
    import subprocess

    rel = str(Path(path).resolve().relative_to(ROOT))
    dates = [d for p in (rel, *old_paths) for d in subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%aI", "--", p],
        capture_output=True, text=True, check=True).stdout.split()]
    return {"date": min(dates), "machine": None, "load_average_1min": None, "versions": None, "command": None,
            "note": note}
