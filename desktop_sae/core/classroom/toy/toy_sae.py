"""A small sparse autoencoder trained on the toy model's hidden vectors h = W x: it sees only h (2-D for m = 2)
yet, with more latents than dimensions and a sparsity penalty, finds the n feature directions packed into it.

Encoder a = ReLU((h - b_dec) W_enc + b_enc); decoder h' = a W_dec + b_dec with unit-norm decoder rows.
Loss = mean ||h - h'||^2 / Var(h) + l1 * mean sum_j a_j (the L1 penalty of Bricken et al. 2023). Recovery is
scored by the best-match cosine between each true column of W and the learned decoder rows. Deterministic for
a seed; cancelling raises ``core.support.errors.Cancelled``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from ...support.errors import Cancelled
from .superposition import Progress, ToyConfig, ToyError, check_ranges, sample_batch

RECOVERED_COSINE = 0.9


@dataclass(frozen=True)
class ToySAEConfig:
    latents: int = 10
    l1: float = 1.0
    steps: int = 1500
    batch: int = 512
    lr: float = 1e-2
    seed: int = 0

    def validate(self) -> ToySAEConfig:
        checks = [
            (1 <= self.latents <= 1024, f"latents must be in [1, 1024], got {self.latents}"),
            (0.0 <= self.l1 <= 10.0, f"l1 must be in [0, 10], got {self.l1}"),
        ]
        check_ranges(checks, self.steps, self.batch, self.lr)
        return self


@dataclass(frozen=True)
class Recovery:
    best_cosine: tuple[float, ...]  # per true column: cosine with its closest decoder row
    best_latent: tuple[int, ...]  # per true column: which latent that is
    fraction: float  # share of true columns with best_cosine >= threshold
    threshold: float = RECOVERED_COSINE


@dataclass(frozen=True)
class ToySAESnapshot:
    step: int
    W_dec: np.ndarray  # latents x m
    loss: float


@dataclass(frozen=True)
class ToySAEResult:
    config: ToySAEConfig
    W_enc: np.ndarray  # m x latents
    b_enc: np.ndarray  # latents
    W_dec: np.ndarray  # latents x m, unit rows
    b_dec: np.ndarray  # m
    losses: np.ndarray
    l0: float  # mean number of active latents per input, on a fresh batch
    fvu: float  # fraction of variance of h left unexplained, on the same batch
    alive: tuple[int, ...]  # latents that fired at least once on that batch
    recovery: Recovery
    seconds: float


def recovery_score(
    decoder_rows: npt.ArrayLike, true_columns: npt.ArrayLike, threshold: float = RECOVERED_COSINE,
    among: Iterable[int] | None = None,
) -> Recovery:
    """Best-match cosine for each true direction (a column of ``true_columns``, m x n) among the rows of
    ``decoder_rows`` (latents x m), optionally only the rows listed in ``among``; plus the share at or above
    ``threshold``."""
    D = np.asarray(decoder_rows, dtype=np.float64)
    T = np.asarray(true_columns, dtype=np.float64)
    idx = np.arange(D.shape[0]) if among is None else np.asarray(list(among), dtype=int)
    if idx.size == 0 or T.shape[1] == 0:
        return Recovery(tuple(0.0 for _ in range(T.shape[1])), tuple(-1 for _ in range(T.shape[1])), 0.0, threshold)
    Du = D[idx] / np.maximum(np.linalg.norm(D[idx], axis=1, keepdims=True), 1e-12)
    Tu = T / np.maximum(np.linalg.norm(T, axis=0, keepdims=True), 1e-12)
    cos = Du @ Tu  # rows x true
    best = cos.argmax(0)
    vals = cos[best, np.arange(T.shape[1])]
    return Recovery(
        tuple(float(v) for v in vals), tuple(int(idx[i]) for i in best), float(np.mean(vals >= threshold)), threshold
    )


def _normalise_rows(W_dec: torch.Tensor) -> None:
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)


def train_toy_sae(
    W_toy: npt.ArrayLike,
    toy: ToyConfig,
    cfg: ToySAEConfig = ToySAEConfig(),
    progress: Progress | None = None,
    partial: Callable[[ToySAESnapshot], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    every: int = 50,
) -> ToySAEResult:
    """Train an SAE on h = W_toy x, x drawn as the toy model's data (``toy`` gives n, sparsity and the seed of
    the data stream is ``cfg.seed``). Callbacks as in ``train_toy``."""
    cfg.validate()
    toy.validate()
    t0 = time.perf_counter()
    W_toy_t = torch.tensor(np.asarray(W_toy), dtype=torch.float32)
    m, n = W_toy_t.shape
    if n != toy.n:
        raise ToyError(f"W has {n} columns but the toy config has n = {toy.n}")
    gen = torch.Generator().manual_seed(cfg.seed)
    W_dec = torch.randn(cfg.latents, m, generator=gen)
    _normalise_rows(W_dec)
    W_enc = W_dec.T.clone().requires_grad_(True)
    W_dec.requires_grad_(True)
    b_enc = torch.zeros(cfg.latents, requires_grad=True)
    b_dec = torch.zeros(m, requires_grad=True)
    opt = torch.optim.AdamW([W_enc, b_enc, W_dec, b_dec], lr=cfg.lr, weight_decay=0.0)

    def hidden(batch: int) -> torch.Tensor:
        return sample_batch(toy, batch, gen) @ W_toy_t.T

    var = hidden(4096).var(0).sum().clamp_min(1e-8)
    losses = np.empty(cfg.steps, dtype=np.float64)
    for step in range(cfg.steps):
        if cancelled is not None and cancelled():
            raise Cancelled("toy SAE training cancelled")
        h = hidden(cfg.batch)
        a = torch.relu((h - b_dec) @ W_enc + b_enc)
        rec = a @ W_dec + b_dec
        loss = ((h - rec) ** 2).sum(1).mean() / var + cfg.l1 * a.sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # keep rows unit-norm: drop the gradient along each row, then renormalise
            assert W_dec.grad is not None  # filled by backward()
            W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        _normalise_rows(W_dec)
        losses[step] = loss.item()
        if (step + 1) % every == 0 or step == cfg.steps - 1:
            if partial is not None:
                partial(ToySAESnapshot(step + 1, W_dec.detach().numpy().copy(), losses[step]))
            if progress is not None:
                progress((step + 1) / cfg.steps, f"SAE step {step + 1}/{cfg.steps}, loss {losses[step]:.4f}")
    with torch.no_grad():
        h = hidden(8192)
        a = torch.relu((h - b_dec) @ W_enc + b_enc)
        rec = a @ W_dec + b_dec
        fvu = float(((h - rec) ** 2).sum() / ((h - h.mean(0)) ** 2).sum().clamp_min(1e-12))
        l0 = float((a > 0).float().sum(1).mean())
        alive = tuple(int(i) for i in torch.nonzero((a > 0).any(0)).flatten())
    dec = W_dec.detach().numpy().copy()
    return ToySAEResult(
        cfg,
        W_enc.detach().numpy().copy(),
        b_enc.detach().numpy().copy(),
        dec,
        b_dec.detach().numpy().copy(),
        losses,
        l0,
        fvu,
        alive,
        recovery_score(dec, W_toy, among=alive),
        time.perf_counter() - t0,
    )
