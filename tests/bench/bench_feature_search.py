"""Feature-list search over an SAE's features with explanations (every keystroke in the search box runs one):
``FeatureCatalog.search`` on a catalog of ``--features`` features shaped like a real one (token labels, an
explanation for 9 in 10, a demo set; tests/explained.py), for each query of ``explained.QUERIES`` (one word, several,
a demo-set tag, an id, no hit, one letter), ``--repeats`` times each. Goal: median ≤ 10 ms at 8 192 features.

  python tests/bench/bench_feature_search.py --features 8192 --repeats 50

writes docs/results/bench/feature_search.json (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse
import sys
import time

import _bench
import numpy as np

sys.path.insert(0, str(_bench.ROOT / "tests"))  # tests/explained.py: the synthetic catalog the tests use too

DEFAULT = _bench.RESULTS / "feature_search.json"
GOAL_MS = 10.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=50)
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args()
    load_before = _bench.start()
    if a.smoke:
        a.repeats = 3
    from explained import QUERIES, synthetic_catalog

    t0 = time.perf_counter()
    cat = synthetic_catalog(a.features)
    build_s = time.perf_counter() - t0
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    hits = {q: len(cat.search(q)) for q in QUERIES}  # and a warm-up
    for _ in range(a.repeats):
        for q in QUERIES:
            t = time.perf_counter()
            cat.search(q)
            per_query[q].append(1000 * (time.perf_counter() - t))
    every = [x for xs in per_query.values() for x in xs]
    median, p99 = float(np.median(every)), float(np.percentile(every, 99))
    print(f"{a.features} features, {len(every)} searches: median {median:.2f} ms, p99 {p99:.2f} ms "
          f"(goal ≤ {GOAL_MS:g} ms); catalog built in {build_s:.2f} s", flush=True)
    summary = {"features": a.features, "median_ms": _bench.rnd(median, 3), "p99_ms": _bench.rnd(p99, 3),
               "goal_ms": GOAL_MS, "median_within_goal": median <= GOAL_MS, "catalog_build_s": _bench.rnd(build_s, 3)}
    raw = {"queries": {q: {"hits": hits[q], "median_ms": _bench.rnd(_bench.median(xs), 3)}
                       for q, xs in per_query.items()},
           "searches_ms": [round(x, 4) for x in every]}
    _bench.write(a, DEFAULT, summary, raw, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
