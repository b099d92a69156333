"""The rainbow analogy: why a wide sparse layer beats a narrow dense bottleneck at naming things.

Inputs are the colours of the spectrum, each a smooth bump over wavelength bins (times a random brightness).
(a) A dense autoencoder squeezes every colour through 3 units, like RGB: each colour becomes a mix of the three,
    codes change smoothly along the spectrum, and the reconstruction blurs.
(b) A wide sparse layer keeps only the strongest unit per input (TopK, k = 1): each colour gets a unit of its own
    and comes back almost exactly. Units that stop firing are re-aimed at the worst-reconstructed colour (dead-unit
    resampling), so no colour is left sharing a unit by a bad start.
Deterministic for a seed; cancelling raises ``core.support.errors.Cancelled``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...support.errors import Cancelled
from .superposition import Progress, check_ranges

VIOLET_NM, RED_NM = 400.0, 700.0


@dataclass(frozen=True)
class RainbowConfig:
    colours: int = 16
    bins: int = 48
    width_nm: float = 25.0  # standard deviation of each colour's bump
    bottleneck: int = 3
    units: int = 32
    steps: int = 800
    batch: int = 128
    lr: float = 2e-2
    seed: int = 0

    def validate(self) -> RainbowConfig:
        checks = [
            (2 <= self.colours <= 64, f"colours must be in [2, 64], got {self.colours}"),
            (8 <= self.bins <= 512, f"bins must be in [8, 512], got {self.bins}"),
            (1.0 <= self.width_nm <= 150.0, f"width_nm must be in [1, 150], got {self.width_nm}"),
            (1 <= self.bottleneck <= 16, f"bottleneck must be in [1, 16], got {self.bottleneck}"),
            (self.colours <= self.units <= 1024, f"units must be in [colours, 1024], got {self.units}"),
        ]
        check_ranges(checks, self.steps, self.batch, self.lr, max_steps=100_000)
        return self


@dataclass(frozen=True)
class RainbowResult:
    """Per-colour data for plots. Errors are relative: ||x - x'||^2 / ||x||^2 at full brightness."""

    config: RainbowConfig
    wavelengths: np.ndarray  # bins, nm
    centres: np.ndarray  # colours, nm
    display_rgb: np.ndarray  # colours x 3 in [0, 1]: how to paint each colour on screen
    spectra: np.ndarray  # colours x bins, the inputs at brightness 1
    codes: np.ndarray  # colours x bottleneck: the dense model's code
    dense_recon: np.ndarray  # colours x bins
    sparse_recon: np.ndarray  # colours x bins
    dense_error: np.ndarray  # colours
    sparse_error: np.ndarray  # colours
    sparse_acts: np.ndarray  # colours x units
    sparse_unit: np.ndarray  # colours: the unit that fires for each colour (-1: none)
    dense_losses: np.ndarray
    sparse_losses: np.ndarray
    seconds: float

    @property
    def units_used(self) -> int:
        return len({int(u) for u in self.sparse_unit if u >= 0})

    @property
    def distinct_fraction(self) -> float:
        """Share of colours whose unit no other colour uses."""
        u = [int(v) for v in self.sparse_unit]
        return float(np.mean([v >= 0 and u.count(v) == 1 for v in u]))


def wavelength_to_rgb(nm: float) -> tuple[float, float, float]:
    """Approximate screen colour of a visible wavelength (after Dan Bruton's piecewise-linear table)."""
    if nm < 440:
        r, g, b = (440 - nm) / 60, 0.0, 1.0
    elif nm < 490:
        r, g, b = 0.0, (nm - 440) / 50, 1.0
    elif nm < 510:
        r, g, b = 0.0, 1.0, (510 - nm) / 20
    elif nm < 580:
        r, g, b = (nm - 510) / 70, 1.0, 0.0
    elif nm < 645:
        r, g, b = 1.0, (645 - nm) / 65, 0.0
    else:
        r, g, b = 1.0, 0.0, 0.0
    fade = 0.3 + 0.7 * (nm - 380) / 40 if nm < 420 else 0.3 + 0.7 * (780 - nm) / 80 if nm > 700 else 1.0
    r, g, b = (float(np.clip(c * fade, 0.0, 1.0)) for c in (r, g, b))
    return r, g, b


def spectra(cfg: RainbowConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelength bins, colour centres, colours x bins spectra with peak 1)."""
    wl = np.linspace(VIOLET_NM - 20, RED_NM + 20, cfg.bins)
    centres = np.linspace(VIOLET_NM, RED_NM, cfg.colours)
    return wl, centres, np.exp(-0.5 * ((wl[None, :] - centres[:, None]) / cfg.width_nm) ** 2)


RESTARTS = 3


def train_rainbow(
    cfg: RainbowConfig = RainbowConfig(), progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
) -> RainbowResult:
    """Train both models on the same stream of colours and return what a lesson plots.

    A TopK-1 layer can settle with two neighbouring colours sharing a unit (which seed does so differs between
    CPUs, as summation order does), so the pair is trained from ``RESTARTS`` random starts and the one whose sparse
    layer reconstructs best over its last steps is kept: each start takes about a second."""
    cfg.validate()
    t0 = time.perf_counter()
    runs = []
    for i in range(RESTARTS):
        part = None if progress is None else (lambda f, m, i=i: progress((i + f) / RESTARTS, m))
        runs.append(_train_once(cfg, cfg.seed + 1000 * i, part, cancelled))
    best = min(runs, key=lambda r: float(np.mean(r.sparse_losses[-max(1, cfg.steps // 10):])))
    return dataclasses.replace(best, seconds=time.perf_counter() - t0)


def _train_once(
    cfg: RainbowConfig, seed: int, progress: Progress | None, cancelled: Callable[[], bool] | None
) -> RainbowResult:
    t0 = time.perf_counter()
    wl, centres, spec = spectra(cfg)
    X = torch.tensor(spec, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)

    # (a) dense: code = x E, x' = ReLU(code D + c)
    E = (torch.randn(cfg.bins, cfg.bottleneck, generator=gen) / cfg.bins**0.5).requires_grad_(True)
    D = (torch.randn(cfg.bottleneck, cfg.bins, generator=gen) / cfg.bottleneck**0.5).requires_grad_(True)
    c = torch.zeros(cfg.bins, requires_grad=True)
    # (b) sparse: a = TopK_1(ReLU(x U + u)), x' = a V, rows of V unit-norm
    V = torch.randn(cfg.units, cfg.bins, generator=gen).abs()
    V /= V.norm(dim=1, keepdim=True)
    U = V.T.clone().requires_grad_(True)
    V.requires_grad_(True)
    u = torch.zeros(cfg.units, requires_grad=True)
    opt_d = torch.optim.AdamW([E, D, c], lr=cfg.lr, weight_decay=0.0)
    opt_s = torch.optim.AdamW([U, V, u], lr=cfg.lr, weight_decay=0.0)
    dense_losses = np.empty(cfg.steps)
    sparse_losses = np.empty(cfg.steps)
    last_fired = torch.zeros(cfg.units, dtype=torch.long)
    window = max(20, cfg.steps // 20)

    def sparse_code(x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(x @ U + u)
        top = pre.topk(1, dim=1)
        return torch.zeros_like(pre).scatter(1, top.indices, top.values)

    for step in range(cfg.steps):
        if cancelled is not None and cancelled():
            raise Cancelled("rainbow training cancelled")
        idx = torch.randint(cfg.colours, (cfg.batch,), generator=gen)
        x = X[idx] * (0.5 + 0.5 * torch.rand(cfg.batch, 1, generator=gen))
        loss_d = ((torch.relu(x @ E @ D + c) - x) ** 2).sum(1).mean()
        a = sparse_code(x)
        loss_s = ((a @ V - x) ** 2).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        opt_s.zero_grad(set_to_none=True)
        (loss_d + loss_s).backward()
        with torch.no_grad():
            assert V.grad is not None  # filled by backward()
            V.grad -= (V.grad * V).sum(1, keepdim=True) * V
        opt_d.step()
        opt_s.step()
        with torch.no_grad():
            V /= V.norm(dim=1, keepdim=True).clamp_min(1e-8)
            last_fired[(a > 0).any(0)] = step
            if (step + 1) % window == 0 and step + 1 < cfg.steps * 0.8:
                _resample_dead(X, V, U, u, last_fired, step, window, sparse_code)
        dense_losses[step], sparse_losses[step] = loss_d.item(), loss_s.item()
        if progress is not None and ((step + 1) % 50 == 0 or step == cfg.steps - 1):
            progress((step + 1) / cfg.steps, f"step {step + 1}/{cfg.steps}")

    with torch.no_grad():
        codes = X @ E
        dense_recon = torch.relu(codes @ D + c)
        acts = sparse_code(X)
        sparse_recon = acts @ V
    norm2 = (X**2).sum(1)
    unit = torch.where(acts.max(1).values > 0, acts.argmax(1), torch.full((cfg.colours,), -1))
    return RainbowResult(
        cfg,
        wl,
        centres,
        np.array([wavelength_to_rgb(float(nm)) for nm in centres]),
        spec,
        codes.numpy(),
        dense_recon.numpy(),
        sparse_recon.numpy(),
        (((dense_recon - X) ** 2).sum(1) / norm2).numpy(),
        (((sparse_recon - X) ** 2).sum(1) / norm2).numpy(),
        acts.numpy(),
        unit.numpy(),
        dense_losses,
        sparse_losses,
        time.perf_counter() - t0,
    )


def _resample_dead(
    X: torch.Tensor, V: torch.Tensor, U: torch.Tensor, u: torch.Tensor, last_fired: torch.Tensor, step: int,
    window: int, sparse_code: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    """Point units silent for ``window`` steps at the colours reconstructed worst, worst first."""
    dead = torch.nonzero(last_fired < step - window + 1).flatten()
    if dead.numel() == 0:
        return
    err = ((sparse_code(X) @ V - X) ** 2).sum(1)
    worst = err.argsort(descending=True)
    for j, colour in zip(dead.tolist(), worst.tolist()):
        if err[colour] <= 1e-3 * (X[colour] ** 2).sum():
            break
        d = X[colour] / X[colour].norm()
        V[j] = d
        U[:, j] = d
        u[j] = 0.0
        last_fired[j] = step
