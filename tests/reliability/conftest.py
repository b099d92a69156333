"""Hypothesis profiles for the reliability suite and a per-target tally printed at the end of the run.

Profiles: ``ci`` (default; ≥ 2 000 examples per fuzz target) and ``heavy`` (≥ 10 000), chosen by the environment
variable ``DESKTOP_SAE_FUZZ=heavy``. Both are derandomized (the same cases on every run) with no example database,
so a CI failure reproduces locally with the same command.

With ``DESKTOP_SAE_RELIABILITY_RESULTS=DIR`` (``run_heavy.sh`` sets ``docs/results/reliability``) the run's tally, test
outcomes, wall and CPU time and peak memory are written to ``DIR/<profile>_profile.json`` at the end (when any fuzz
or crash test ran), whatever the outcome; the soak writes its own file.
"""

from __future__ import annotations

import collections
import resource
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
_LOAD_BEFORE = ru.load_average()
_DURATIONS: dict[str, float] = collections.defaultdict(float)  # test -> seconds (setup, call and teardown)


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: fuzzing, crash-safety and security suite (tests/reliability)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "reliability" in item.nodeid.split("::")[0].split("/"):
            item.add_marker("reliability")


def pytest_runtest_logreport(report):
    _DURATIONS[report.nodeid] += report.duration


def _outcomes(stats) -> dict[str, int]:
    return {k: len([r for r in stats.get(k, ()) if getattr(r, "when", "call") in ("call", "setup")])
            for k in ("passed", "failed", "skipped", "error")}


def _write_results(stats) -> None:
    wall = time.perf_counter() - _T0
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    tests = _outcomes(stats)
    tally = {t: {"cases": sum(c.values()), **dict(sorted(c.items()))} for t, c in sorted(ru.TALLY.items())}
    summary = {
        "profile": ru.PROFILE, "examples_per_fuzz_target": ru.HEAVY_EXAMPLES if ru.HEAVY else ru.CI_EXAMPLES,
        "random_kills_per_writer": ru.CRASH_TRIALS, **{f"tests_{k}": v for k, v in tests.items()},
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(usage[0].ru_maxrss / 1024),  # Linux: kB; the suite's own process
        "tally": tally, **{k: dict(v) for k, v in sorted(ru.FIGURES.items())},
    }
    cpu_detail = {"self_user": usage[0].ru_utime, "self_system": usage[0].ru_stime,
                  "child_processes": usage[1].ru_utime + usage[1].ru_stime}
    ru.write(f"{ru.PROFILE}_profile.json", {
        "summary": summary, "cpu_s": {k: round(v, 1) for k, v in cpu_detail.items()},
        "failed_tests": sorted({r.nodeid for k in ("failed", "error") for r in stats.get(k, ())}),
        "test_seconds": {k: round(v, 2) for k, v in sorted(_DURATIONS.items())}, "notes": ru.NOTES}, _LOAD_BEFORE)


def pytest_terminal_summary(terminalreporter):
    if ru.RESULTS_DIR and ru.TALLY:
        _write_results(terminalreporter.stats)
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
