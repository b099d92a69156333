"""Resident memory as the soak and its probes read it: after ``gc.collect()`` and glibc's ``malloc_trim(0)``."""

from __future__ import annotations

import ctypes
import gc


def trim() -> None:
    """Hand memory that is freed but kept by glibc's allocator back to the system, so that RSS counts what is in use
    (without it, reloading the 8 192-feature SAE raises RSS by tens of MB each time for several reloads)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS as it is
        pass


def rss_mb() -> float:
    """This process's resident memory in MB (NaN where ``/proc`` has no ``VmRSS``)."""
    gc.collect()
    trim()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
