"""Rows of a training activation store and the explained variance the trainer benchmarks report on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def store_rows(store_dir: str, lo: int, hi: int) -> torch.Tensor:
    """Rows [lo, hi) of the activation store in ``store_dir`` as float32."""
    meta = json.loads((Path(store_dir) / "meta.json").read_text())
    acts = np.memmap(Path(store_dir) / "acts.f16", dtype=np.float16, mode="r", shape=(int(meta["capacity"]), meta["d"]))
    return torch.from_numpy(np.asarray(acts[lo:hi]).astype(np.float32))


def ordinary_ev(x: torch.Tensor, recon: torch.Tensor) -> float:
    """Explained variance on ordinary rows: attention-sink rows (norm > 10 x median, ~0.03 %) would dominate it."""
    n = x.norm(dim=1)
    m = n <= 10 * n.median()
    x, recon = x[m], recon[m]
    return float(1 - (x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
