"""Hypothesis profiles for the reliability suite and a per-target tally printed at the end of the run.

Profiles: ``ci`` (default; ≥ 2 000 examples per fuzz target) and ``heavy`` (≥ 10 000), chosen by the environment
variable ``DESKTOP_SAE_FUZZ=heavy``. Both are derandomized (the same cases on every run) with no example database,
so a CI failure reproduces locally with the same command.
"""

from __future__ import annotations

import time

import reliability_util as ru
from hypothesis import HealthCheck, settings

_COMMON = dict(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture],
)
settings.register_profile("ci", max_examples=ru.CI_EXAMPLES, **_COMMON)
settings.register_profile("heavy", max_examples=ru.HEAVY_EXAMPLES, **_COMMON)
settings.load_profile(ru.PROFILE)

_T0 = time.perf_counter()


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: fuzzing, crash-safety and security suite (tests/reliability)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "reliability" in item.nodeid.split("::")[0].split("/"):
            item.add_marker("reliability")


def pytest_terminal_summary(terminalreporter):
    if not ru.TALLY and not ru.NOTES:
        return
    tr = terminalreporter
    tr.section(f"reliability ({ru.PROFILE} profile)")
    for target in sorted(ru.TALLY):
        outcomes = ru.TALLY[target]
        total = sum(outcomes.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        tr.write_line(f"{target:34s} {total:6d} cases  ({detail})")
    for note in ru.NOTES:
        tr.write_line(note)
    tr.write_line(f"wall time since the suite's conftest loaded: {time.perf_counter() - _T0:.1f} s")
