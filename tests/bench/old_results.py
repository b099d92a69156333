"""Give a results file measured before results files had ``meta`` and ``summary`` blocks both, in place.

The summary is the one the file's own benchmark computes today, from the raw measurements the file holds:
``desktop-sae bench engine`` (``bench_engine*.json``), ``bench_int8.py`` (``int8_effect_*.json``) and
``bench_gui_compare.py`` (``gui_structure_before_after.json``). A file without a ``meta`` block gets the date of the
commit that added it (here or at ``--old-path``), what the file itself recorded of the machine and its load, and a
note saying what was not recorded.

  python tests/bench/old_results.py docs/results/bench/bench_engine_sae8192.json \\
      --old-path tests/bench/results/bench_engine_sae8192.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _bench

NOTE = ("measured before results files carried a meta block: the date is that of the commit that added the file "
        "(then {old}); {unrecorded} not recorded ({command}); the summary was computed from the file's raw "
        "measurements by tests/bench/old_results.py")
COMMANDS = {"engine": "the command was desktop-sae bench engine with its defaults of the time, bfloat16 only",
            "int8": "the command was tests/bench/bench_int8.py, with --corpus for a corpus file",
            "gui_compare": "the command was tests/bench/bench_gui_compare.py against the base commit it names"}


def kind(path: Path) -> str:
    name = path.name
    if name.startswith("bench_engine"):
        return "engine"
    if name.startswith("int8_effect_"):
        return "int8"
    if name.startswith("gui_structure_"):
        return "gui_compare"
    raise SystemExit(f"{name}: not a results file this script knows")


def summarise(k: str, raw: dict[str, Any]) -> dict[str, Any]:
    if k == "engine":
        from desktop_sae.core.engine.benchmark import summarise as engine

        return engine(raw)
    if k == "int8":
        import bench_int8

        out = bench_int8.summarise({"sae_features": None, **raw})
        return {key: v for key, v in out.items() if v is not None}  # the SAE's width was not recorded
    import bench_gui_compare

    s = {name: bench_gui_compare.summary(raw["runs"][name]) for name in ("base", "this")}
    return {"statistic": f"median over {raw['rounds']} rounds", **s, "commits": raw["commits"],
            "ratio_this_over_base": {key: round(s["this"][key] / s["base"][key], 3) if s["base"][key] else None
                                     for key in s["this"]}}


def meta(path: Path, k: str, raw: dict[str, Any], old_paths: list[str]) -> dict[str, Any]:
    m = _bench.commit_meta(path, old_paths, "")
    if k == "gui_compare":  # the file recorded its machine and the load at its start
        m["machine"] = {"cpu": None, "cores": raw.get("cpus"), "system": raw.get("machine")}
        m["load_average_1min"] = {"before": raw.get("load_avg_at_start"), "after": None}
    unrecorded = [key for key in ("machine", "load_average_1min", "versions", "command") if m[key] is None]
    if k == "gui_compare":
        unrecorded.insert(0, "the load after the run")
    m["note"] = NOTE.format(old=", ".join(old_paths) or "-", unrecorded=", ".join(unrecorded), command=COMMANDS[k])
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--old-path", action="append", default=[], help="where the file lived before (for its date)")
    a = ap.parse_args()
    sys.path.insert(0, str(_bench.ROOT))  # this checkout's package
    from desktop_sae.core.support.atomic import atomic_write_text

    rec = json.loads(a.file.read_text(encoding="utf-8"))
    k = kind(a.file)
    raw = {key: v for key, v in rec.items() if key not in ("meta", "summary")}
    out = {"meta": rec.get("meta") or meta(a.file, k, raw, a.old_path), "summary": summarise(k, raw), **raw}
    atomic_write_text(a.file, json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(out["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
