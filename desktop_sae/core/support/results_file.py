"""Results files: every figure the README or docs quote comes from one of these JSON files under ``docs/results/``.

Each file carries a ``meta`` block saying where and when it was measured — the machine (CPU, cores), the load
average before and after, the versions of the packages that matter, the date and the command — so that a reader
can judge a figure and regenerate it. Files are written atomically: an interrupted benchmark leaves the previous one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from desktop_sae.core.support.atomic import atomic_write_text

# Packages whose version can move a figure; read from the installed metadata, never imported.
VERSIONED = ("desktop-sae", "torch", "transformers", "numpy", "PySide6", "pyqtgraph", "sae-lens")


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says)."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), name)
    except OSError:
        return name


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none (Windows)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_meta(command: Sequence[str] | None = None, load_before: float | None = None) -> dict[str, Any]:
    """The ``meta`` block of a results file; ``load_before`` is :func:`load_average` taken when the run started."""
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}"},
        "load_average_1min": {"before": load_before, "after": load_average()},
        "versions": package_versions(),
        "command": " ".join(command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def write_results(path: str | os.PathLike[str], data: Mapping[str, Any], *, load_before: float | None = None,
                  command: Sequence[str] | None = None) -> Path:
    """Write ``{"meta": …, **data}`` to ``path`` atomically (folders made as needed) and return the path."""
    if "meta" in data:
        raise ValueError("results data must not carry its own 'meta' key")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"meta": run_meta(command, load_before), **data}
    atomic_write_text(out, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return out
