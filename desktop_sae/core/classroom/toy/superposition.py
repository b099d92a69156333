"""Toy model of superposition (Elhage et al. 2022): n sparse features squeezed through m < n hidden dimensions.

Data: each feature x_i is 0 with probability S (``sparsity``), else uniform on [0, 1]. Importance I_i = r**i.
Model: h = W x (W is m x n), x' = ReLU(W^T h + b). Loss: batch mean of sum_i I_i (x_i - x'_i)^2.
Dense data keeps only the most important m features (orthogonal); sparse data packs all n in, for n=5, m=2 as a
regular pentagon. Training is deterministic for a seed (CPU, AdamW). Cancelling raises ``core.support.errors.Cancelled``
(the last ``partial`` snapshot has already been delivered by then).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ...support.errors import Cancelled, DesktopSAEError

Progress = Callable[[float, str], None]

REPRESENTED_NORM = 0.5  # a feature counts as represented when its column of W is longer than this


class ToyError(DesktopSAEError):
    """A toy-model configuration is out of range."""


def check_ranges(
    checks: Iterable[tuple[bool, str]], steps: int, batch: int, lr: float, max_steps: int = 200_000
) -> None:
    """Raise ToyError for the first failed ``(ok, message)`` check, the shared training ranges included."""
    checks = [
        *checks,
        (1 <= steps <= max_steps, f"steps must be in [1, {max_steps}], got {steps}"),
        (1 <= batch <= 65_536, f"batch must be in [1, 65536], got {batch}"),
        (0.0 < lr <= 1.0, f"lr must be in (0, 1], got {lr}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ToyError(msg)


@dataclass(frozen=True)
class ToyConfig:
    n: int = 5
    m: int = 2
    sparsity: float = 0.9
    importance_decay: float = 0.9
    steps: int = 1500
    batch: int = 512
    lr: float = 2e-2
    seed: int = 0

    def validate(self) -> ToyConfig:
        checks = [
            (1 <= self.m <= 64, f"m must be in [1, 64], got {self.m}"),
            (self.m <= self.n <= 256, f"n must be in [m, 256], got {self.n}"),
            (0.0 <= self.sparsity < 1.0, f"sparsity must be in [0, 1), got {self.sparsity}"),
            (0.0 < self.importance_decay <= 1.0, f"importance_decay must be in (0, 1], got {self.importance_decay}"),
        ]
        check_ranges(checks, self.steps, self.batch, self.lr)
        return self

    def importance(self) -> np.ndarray:
        return self.importance_decay ** np.arange(self.n, dtype=np.float64)


@dataclass(frozen=True)
class ToySnapshot:
    """What ``partial`` receives while training: copies, safe to keep and hand to another thread."""

    step: int
    W: np.ndarray  # m x n
    b: np.ndarray  # n
    loss: float


@dataclass(frozen=True)
class ToyResult:
    config: ToyConfig
    W: np.ndarray  # m x n, column i = where feature i points in the hidden space
    b: np.ndarray  # n
    losses: np.ndarray  # loss per step
    seconds: float

    @property
    def final_loss(self) -> float:
        return float(self.losses[-10:].mean())


def sample_batch(cfg: ToyConfig, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Sparse inputs: each entry 0 with probability ``cfg.sparsity``, else uniform on [0, 1]."""
    x = torch.rand(batch, cfg.n, generator=gen)
    keep = torch.rand(batch, cfg.n, generator=gen) >= cfg.sparsity
    return x * keep


def train_toy(
    cfg: ToyConfig,
    progress: Progress | None = None,
    partial: Callable[[ToySnapshot], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    every: int = 50,
) -> ToyResult:
    """Train one toy model. ``partial(snapshot)`` every ``every`` steps and at the end; ``progress(fraction, msg)``
    as often; ``cancelled()`` every step (True raises ``Cancelled``)."""
    cfg.validate()
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    W = torch.empty(cfg.m, cfg.n)
    torch.nn.init.xavier_normal_(W, generator=gen)
    W.requires_grad_(True)
    b = torch.zeros(cfg.n, requires_grad=True)
    imp = torch.tensor(cfg.importance(), dtype=torch.float32)
    opt = torch.optim.AdamW([W, b], lr=cfg.lr, weight_decay=0.0)
    losses = np.empty(cfg.steps, dtype=np.float64)
    for step in range(cfg.steps):
        if cancelled is not None and cancelled():
            raise Cancelled("toy model training cancelled")
        x = sample_batch(cfg, cfg.batch, gen)
        out = torch.relu((x @ W.T) @ W + b)
        loss = ((x - out) ** 2 * imp).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.item()
        last = step == cfg.steps - 1
        if (step + 1) % every == 0 or last:
            if partial is not None:
                partial(ToySnapshot(step + 1, W.detach().numpy().copy(), b.detach().numpy().copy(), losses[step]))
            if progress is not None:
                progress((step + 1) / cfg.steps, f"step {step + 1}/{cfg.steps}, loss {losses[step]:.4f}")
    return ToyResult(cfg, W.detach().numpy().copy(), b.detach().numpy().copy(), losses, time.perf_counter() - t0)


# --- geometry ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    norms: tuple[float, ...]  # length of each feature's column
    represented: tuple[int, ...]  # features with norm > REPRESENTED_NORM
    nearest_angle: tuple[float, ...]  # per represented feature: degrees to its nearest represented neighbour
    antipodal_pairs: tuple[tuple[int, int], ...]  # represented pairs pointing opposite ways (> 165 degrees)
    is_polygon: bool  # m=2 and >= 3 represented directions spread evenly around the circle

    def to_dict(self) -> dict:
        return {
            "norms": list(self.norms),
            "represented": list(self.represented),
            "nearest_angle": list(self.nearest_angle),
            "antipodal_pairs": [list(p) for p in self.antipodal_pairs],
            "is_polygon": self.is_polygon,
        }


def column_norms(W: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(W, dtype=np.float64), axis=0)


def represented_features(W: np.ndarray, threshold: float = REPRESENTED_NORM) -> list[int]:
    return [int(i) for i in np.flatnonzero(column_norms(W) > threshold)]


def angles_between(W: np.ndarray, features: list[int] | None = None) -> np.ndarray:
    """Pairwise angles in degrees between the columns ``features`` (default: all) of W."""
    W = np.asarray(W, dtype=np.float64)
    cols = W[:, features] if features is not None else W
    unit = cols / np.maximum(np.linalg.norm(cols, axis=0), 1e-12)
    return np.degrees(np.arccos(np.clip(unit.T @ unit, -1.0, 1.0)))


def is_regular_polygon(W: np.ndarray, features: list[int], tol_deg: float = 8.0) -> bool:
    """m = 2 only: the directions of ``features`` (>= 3) split the circle into equal gaps within ``tol_deg``."""
    W = np.asarray(W, dtype=np.float64)
    if W.shape[0] != 2 or len(features) < 3:
        return False
    theta = np.sort(np.degrees(np.arctan2(W[1, features], W[0, features])) % 360.0)
    gaps = np.diff(np.append(theta, theta[0] + 360.0))
    return bool(np.all(np.abs(gaps - 360.0 / len(features)) <= tol_deg))


def geometry(W: np.ndarray, threshold: float = REPRESENTED_NORM, tol_deg: float = 8.0) -> Geometry:
    """Summary a lesson can show: which features made it in and how their directions are arranged."""
    norms = column_norms(W)
    rep = represented_features(W, threshold)
    ang = angles_between(W, rep)
    nearest = []
    for i in range(len(rep)):
        others = np.delete(ang[i], i)
        nearest.append(float(others.min()) if others.size else math.nan)
    anti = tuple((rep[i], rep[j]) for i in range(len(rep)) for j in range(i + 1, len(rep)) if ang[i, j] > 180 - 15)
    return Geometry(
        tuple(float(v) for v in norms), tuple(rep), tuple(nearest), anti, is_regular_polygon(W, rep, tol_deg)
    )
