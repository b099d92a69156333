"""Shared pieces of the reliability suite: profile sizes, the outcome tally, hostile JSON values and helpers."""

from __future__ import annotations

import collections
import copy
import json
import math
import os
import re

from hypothesis import strategies as st

from desktop_sae.core.support.errors import DesktopSAEError

PROFILE = "heavy" if os.environ.get("DESKTOP_SAE_FUZZ", "").strip().lower() == "heavy" else "ci"
HEAVY = PROFILE == "heavy"
CI_EXAMPLES, HEAVY_EXAMPLES = 2_000, 10_000
CRASH_TRIALS = 100 if HEAVY else 20  # random SIGKILLs per writer

# target -> outcome -> count (printed by conftest at the end of the run, and written to the results file)
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
NOTES: list[str] = []  # other figures for the summary
FIGURES: dict[str, dict[str, int]] = collections.defaultdict(dict)  # e.g. temporary files left per writer

# DESKTOP_SAE_RELIABILITY_RESULTS=DIR: write the run's results files there (run_heavy.sh: docs/results/reliability)
RESULTS_DIR = os.environ.get("DESKTOP_SAE_RELIABILITY_RESULTS", "").strip() or None


def load_average() -> float | None:
    from desktop_sae.core.support.results_file import load_average as la

    return la()


def write(name: str, data: dict, load_before: float | None) -> None:
    """Write ``RESULTS_DIR/name`` (meta block, then ``data``) with the pytest command line that ran."""
    import sys

    from desktop_sae.core.support.results_file import write_results

    command = os.environ.get("DESKTOP_SAE_RELIABILITY_COMMAND")  # set by run_heavy.sh
    if not command:
        env = [f"{k}={os.environ[k]}" for k in ("DESKTOP_SAE_FUZZ", "DESKTOP_SAE_SOAK", "DESKTOP_SAE_SOAK_REAL",
                                                "DESKTOP_SAE_RELIABILITY_RESULTS") if os.environ.get(k)]
        command = " ".join([*env, "python -m pytest", *sys.argv[1:]])
    write_results(os.path.join(str(RESULTS_DIR), name), data, load_before=load_before, command=[command])


def tally(target: str, outcome: str) -> None:
    TALLY[target][outcome] += 1


def refused(target: str, err: BaseException, kinds=(DesktopSAEError,)) -> None:
    """An expected refusal: one of the project's error types with a message a user can read."""
    assert isinstance(err, kinds), f"{type(err).__name__} escaped: {err!r}"
    msg = str(err)
    assert msg.strip(), f"{type(err).__name__} without a message"
    assert len(msg) < 2_000, f"an unreadably long message ({len(msg)} characters)"
    tally(target, type(err).__name__)


# --- hostile JSON values ----------------------------------------------------------------------------------
DEEP = "@@DEEP:{}@@"  # placeholder replaced by deeply nested brackets after json.dumps
_DEEP_RE = re.compile(r'"@@DEEP:(\d+)@@"')


def deep_marker(depth: int) -> str:
    return DEEP.format(depth)


def dumps(obj) -> str:
    """json.dumps that also writes NaN/Infinity and expands deep-nesting markers into raw brackets."""
    return _DEEP_RE.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), json.dumps(obj, allow_nan=True))


SPECIAL_STRINGS = [
    "", " ", "\x00", "\ud800", "a\udfffb", "..", "../../etc/passwd", "..\\..\\x", "/abs/path", "C:\\x",
    "recent", "CON", "é" * 90, "🙂" * 81, "x" * 100_001, "\u202eevil", "NaN", "1e999", "true", "null",
    "standard", "topk", "jumprelu", "gated", "none", "layer_norm", "constant_norm_rescale",
    "expected_average_only_in", "blocks.1.hook_resid_post", "blocks.99999999999999999999.hook_resid_post",
]
SPECIAL_NUMBERS = [
    0, 1, -1, 2, 3, 4, 7, 8, 16, 63, 64, 65, 2**31, 2**63 - 1, 2**63, 2**64, 10**400, -10**400,
    math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.5, 1e-9, 1e6, 1e6 + 1, 100.0, 100.5,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(SPECIAL_NUMBERS),
    st.floats(),
    st.text(max_size=12),
    st.text(st.characters(categories=["Cs", "Lu", "Ll", "Zs", "Cc", "So", "Mn"]), max_size=6),  # lone surrogates too
    st.sampled_from(SPECIAL_STRINGS),
)
containers = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
nasty = st.one_of(scalars, containers, st.integers(100, 200_000).map(deep_marker))
any_json = st.one_of(containers, st.integers(1, 200_000).map(deep_marker))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate(data, obj, n_max: int = 4, values=nasty, keys=st.text(max_size=10)):
    """Apply 1..n_max random edits to a JSON-like object (set/delete/insert/wrap at a random path). In place."""
    for _ in range(data.draw(st.integers(1, n_max), label="n edits")):
        paths = list(_paths(obj))
        path = data.draw(st.sampled_from(paths), label="path")
        if not path:
            continue  # leave the root an object; the arbitrary-JSON targets cover other roots
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = data.draw(st.sampled_from(["set", "set", "set", "delete", "insert", "wrap"]), label="op")
        if op == "set":
            parent[key] = copy.deepcopy(data.draw(values, label="value"))
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = data.draw(st.sampled_from([[parent[key]], {"value": parent[key]}, str(parent[key])]))
        elif isinstance(parent, dict):
            parent[data.draw(keys, label="new key")] = copy.deepcopy(data.draw(values, label="value"))
        else:
            parent.insert(key, copy.deepcopy(data.draw(values, label="value")))
    return obj
