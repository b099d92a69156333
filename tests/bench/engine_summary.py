"""(Re)compute the ``summary`` of a ``desktop-sae bench engine`` results file from its raw rows, in place.

For runs written before results files had a summary (``docs/results/bench/bench_engine_sae8192.json``): the
summary is :func:`desktop_sae.core.engine.benchmark.summarise` of the file's own measurements, and a file without
a ``meta`` block gets the date of the commit that added it and a note saying what was not recorded.

  python tests/bench/engine_summary.py docs/results/bench/bench_engine_sae8192.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _bench

NOTE = ("measured before results files carried a meta block: the date is that of the commit that added the file "
        "(then {old}); the machine, load, versions and command were not recorded (the command was desktop-sae "
        "bench engine with its defaults of the time, bfloat16 only); the summary was computed from the raw rows "
        "by tests/bench/engine_summary.py")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--old-path", action="append", default=[], help="where the file lived before (for its date)")
    a = ap.parse_args()
    sys.path.insert(0, str(_bench.ROOT))  # this checkout's package
    from desktop_sae.core.engine.benchmark import summarise
    from desktop_sae.core.support.atomic import atomic_write_text

    rec = json.loads(a.file.read_text(encoding="utf-8"))
    raw = {k: v for k, v in rec.items() if k not in ("meta", "summary")}
    meta = rec.get("meta") or _bench.commit_meta(a.file, a.old_path, NOTE.format(old=", ".join(a.old_path) or "-"))
    out = {"meta": meta, "summary": summarise(raw), **raw}
    atomic_write_text(a.file, json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(out["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
