"""The features a blind score is reported on: a seeded random sample drawn, and committed, before any
explanation is written, so that nobody can pick which features the headline figures come from
(docs/EXPLANATIONS.md, "The reported sample")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FORMAT = "desktop-sae-score-sample"


def draw_sample(d_sae: int, n: int, seed: int, live: Sequence[int] | None = None) -> list[int]:
    """``n`` features drawn without replacement from ``live`` (default: all ``d_sae``) with NumPy's
    ``default_rng(seed)``, sorted."""
    pool = np.arange(d_sae) if live is None else np.asarray(sorted(set(live)), dtype=np.int64)
    if n > len(pool):
        raise ValueError(f"cannot draw {n} of {len(pool)} features")
    return sorted(int(f) for f in np.random.default_rng(seed).choice(pool, size=n, replace=False))


def read_sample(path: str | Path) -> list[int]:
    """The features of a sample file written by ``desktop-sae explanations sample``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("features"), list):
        raise ValueError(f"{path} is not a score sample file (format {FORMAT})")
    return [int(f) for f in data["features"]]
