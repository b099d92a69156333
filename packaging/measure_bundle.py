"""Measure the desktop bundle that ``packaging/build_bundle.sh`` built in ``dist/desktop-sae/``: its size (``du``),
torch's share of it, the GGUF's size, and how long it takes, in a fresh home (empty config, data and cache folders,
offscreen), to show its window and to be ready to chat: on a first start (the GGUF is converted once) and on later
starts. Later starts alternate with the same ``selftest --quick`` run from this checkout's Python environment, in
the same home, as the baseline measured in the same minutes. Writes docs/results/bench/bundle.json.

  .venv/bin/python packaging/measure_bundle.py [--first 2] [--later 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_sae.core.support.results_file import load_average, write_results  # noqa: E402

DEFAULT = ROOT / "docs" / "results" / "bench" / "bundle.json"


def du_bytes(path: Path) -> int:
    """Disk usage in bytes, as ``du -sb`` reports it."""
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def sizes(bundle: Path) -> dict:
    internal = bundle / "_internal"
    torch_dir = internal / "torch"
    libtorch = next(iter(sorted(torch_dir.rglob("libtorch_cpu.so*"))), None)
    gguf = next(iter(sorted(bundle.rglob("*.gguf"))), None)
    return {"bundle_bytes": du_bytes(bundle), "torch_folder_bytes": du_bytes(torch_dir) if torch_dir.is_dir() else None,
            "libtorch_cpu_bytes": libtorch.stat().st_size if libtorch else None,
            "gguf_bytes": gguf.stat().st_size if gguf else None, "gguf": gguf.name if gguf else None}


def selftest(command: list[str], home: Path, extra_env: dict[str, str] | None = None) -> dict:
    """``selftest --quick --json`` as a new user runs it: nothing but PATH, the home and its XDG folders."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local" / "share"),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8", **(extra_env or {})}
    out = subprocess.run([*command, "selftest", "--quick", "--json"], env=env, capture_output=True, text=True,
                         timeout=900)
    start = out.stdout.find("{")
    if out.returncode != 0 or start < 0:
        raise RuntimeError(f"selftest failed (rc {out.returncode}): {out.stderr[-2000:]}")
    res = json.loads(out.stdout[start:])
    return res["times"]


def summarise(raw: dict) -> dict:
    mb = lambda b: None if b is None else round(b / 1e6)  # noqa: E731
    s = raw["sizes"]
    out: dict = {"statistic": "sizes as du -sb reports them (MB = 10^6 bytes); times: median and range of the runs",
                 "bundle_mb": mb(s["bundle_bytes"]), "torch_folder_mb": mb(s["torch_folder_bytes"]),
                 "libtorch_cpu_mb": mb(s["libtorch_cpu_bytes"]), "gguf_mb": mb(s["gguf_bytes"]),
                 "first_starts": len(raw["first"]), "later_starts": len(raw["later"]["bundle"])}
    for name, runs in (("first_start", raw["first"]), ("later_start", raw["later"]["bundle"]),
                       ("venv_later_start", raw["later"]["venv"])):
        for stage in ("window", "ready"):
            xs = [r[stage] for r in runs]
            if xs:
                out[f"{name}_{stage}_s_median"] = round(statistics.median(xs), 2)
                out[f"{name}_{stage}_s_min"], out[f"{name}_{stage}_s_max"] = min(xs), max(xs)
    if raw["later"]["venv"]:
        out["later_ready_bundle_over_venv_median"] = round(
            out["later_start_ready_s_median"] / out["venv_later_start_ready_s_median"], 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=str(ROOT / "dist" / "desktop-sae"))
    ap.add_argument("--first", type=int, default=2, help="first starts, each in a new empty home")
    ap.add_argument("--later", type=int, default=5, help="later starts of the bundle and of the venv, alternating")
    ap.add_argument("--json", default=str(DEFAULT))
    ap.add_argument("--note", default=None, help="how this bundle was built, if not by build_bundle.sh as it is")
    a = ap.parse_args()
    load_before = load_average()
    bundle = Path(a.bundle)
    exe = bundle / "desktop-sae"
    if not exe.is_file():
        ap.error(f"no bundle at {bundle}: build it with bash packaging/build_bundle.sh")
    raw: dict = {"sizes": sizes(bundle), "first": [], "later": {"bundle": [], "venv": []}}
    print(json.dumps(raw["sizes"]), flush=True)
    venv = [sys.executable, "-m", "desktop_sae"]
    with tempfile.TemporaryDirectory(prefix="bundle-home-") as tmp:
        for i in range(a.first):
            home = Path(tmp) / f"first{i}"
            raw["first"].append(selftest([str(exe)], home))
            print("first start", raw["first"][-1], flush=True)
        home = Path(tmp) / "first0"  # its cache holds the converted model now: later starts
        for _ in range(a.later):
            raw["later"]["bundle"].append(selftest([str(exe)], home))
            raw["later"]["venv"].append(selftest(venv, home, {"PYTHONPATH": str(ROOT)}))
            print("later start: bundle", raw["later"]["bundle"][-1], "venv", raw["later"]["venv"][-1], flush=True)
    summary = summarise(raw)
    print(json.dumps(summary, indent=1))
    extra = {"build_note": a.note} if a.note else {}
    write_results(a.json, {"summary": summary, **extra, **raw}, load_before=load_before,
                  command=["python", "packaging/measure_bundle.py", *sys.argv[1:]])
    print(f"results: {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
