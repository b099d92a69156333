"""Contexts per feature (docs/EXPLANATIONS.md, "What the explainer sees" and "Held-out scoring contexts").

``ContextBank.build`` runs token windows through the model to the SAE's hook point once and keeps the SAE's sparse
activations; ``bank.contexts(f)`` then gives feature ``f``'s explaining contexts (strongest and quantile-sampled,
from explaining windows only) and its held-out scoring contexts (activating ones across quantile bins and
non-activating ones, from scoring windows only). Which windows are held out depends on their tokens and a seed
alone (``is_scoring_window``), so no scoring context is ever shown to an explainer, whatever the feature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..engine.hooks import StopForward, hooks
from ..support.errors import Cancelled
from . import protocol

if TYPE_CHECKING:
    from ..sae.autoencoder import SAE


@dataclass(frozen=True)
class Context:
    """One window of text with the feature's value at each token."""

    window: int  # row of the bank's windows
    tokens: tuple[str, ...]
    values: tuple[float, ...]
    start: int = 0  # position in the window of the first token shown (an excerpt of ``SHOWN`` tokens)

    @property
    def max_value(self) -> float:
        return max(self.values, default=0.0)


@dataclass(frozen=True)
class FeatureContexts:
    feature: int
    density: float  # share of scanned tokens on which the feature fires (>= FIRE_FRACTION x its max)
    max_activation: float
    explain_top: tuple[Context, ...]
    explain_quantile: tuple[Context, ...]
    score_activating: tuple[Context, ...]
    score_non_activating: tuple[Context, ...]
    promoted: tuple[str, ...]  # output tokens the decoder direction raises most (empty without an unembedding)
    suppressed: tuple[str, ...]

    @property
    def dead(self) -> bool:
        return not self.explain_top


def is_scoring_window(tokens: np.ndarray, seed: int) -> bool:
    """The held-out rule: a window is for scoring when BLAKE2b(seed, its token ids as little-endian int32) read as
    an integer is divisible by ``SCORE_SHARE``."""
    h = hashlib.blake2b(np.asarray(tokens, dtype="<i4").tobytes(), digest_size=8, key=str(seed).encode())
    return int.from_bytes(h.digest(), "little") % protocol.SCORE_SHARE == 0


def excerpt_start(center: int, length: int) -> int:
    """Where the ``SHOWN``-token excerpt around ``center`` starts: ``SHOWN_BEFORE`` tokens before it, moved to stay
    inside the window and after its first position (BOS)."""
    return max(1, min(center - protocol.SHOWN_BEFORE, length - protocol.SHOWN))


def _tok_str(tokenizer: Any, i: int) -> str:  # a transformers tokenizer
    return str(tokenizer.convert_tokens_to_string([tokenizer.convert_ids_to_tokens(int(i))]))


class ContextBank:
    """Sparse SAE activations of ``windows`` [n, T] (token ids; BOS and other ``skip_ids`` positions are never
    active), sorted by feature for quick per-feature look-ups."""

    def __init__(self, windows: np.ndarray, feats: np.ndarray, rows: np.ndarray, vals: np.ndarray,
                 token_text: Callable[[int], str], d_sae: int, n_tokens: int, seed: int = 0,
                 logit_ids: tuple[np.ndarray, np.ndarray] | None = None, skip_ids: tuple[int, ...] = ()) -> None:
        order = np.argsort(feats, kind="stable")
        self.windows = np.asarray(windows)
        self.feats, self.rows, self.vals = feats[order], rows[order], vals[order]
        self.bounds = np.searchsorted(self.feats, np.arange(d_sae + 1))
        self.d_sae, self.n_tokens, self.seed = d_sae, n_tokens, seed
        self.token_text = token_text
        self.scoring = np.array([is_scoring_window(w, seed) for w in self.windows], dtype=bool)
        self.logit_ids = logit_ids
        self.skip_ids = frozenset(skip_ids)

    # --- building ----------------------------------------------------------------------------------------
    @classmethod
    @torch.inference_mode()
    def build(cls, model: Any, tokenizer: Any, sae: SAE, hook_name: str, windows: np.ndarray, seed: int = 0,
              skip_ids: tuple[int, ...] = (), unembedding: torch.Tensor | None = None, batch: int = 16,
              progress: Callable[[float, str], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> ContextBank:
        """Run ``windows`` through ``model`` (a transformers causal LM) up to ``hook_name`` and encode with
        ``sae``. ``unembedding`` [vocab, d_model] gives promoted/suppressed tokens. ``cancel()`` is checked per
        batch and raises ``Cancelled``."""
        windows = np.asarray(windows, dtype=np.int64)
        n, T = windows.shape
        dev = next(model.parameters()).device
        feats, rows, vals = [], [], []
        grabbed: list[torch.Tensor] = []

        def grab(x: torch.Tensor) -> None:
            grabbed.append(x.detach())
            raise StopForward

        n_tokens = 0
        with hooks(model, {hook_name: grab}):
            for s in range(0, n, batch):
                if cancel is not None and cancel():
                    raise Cancelled("collecting feature contexts was cancelled")
                ids = torch.from_numpy(windows[s : s + batch])
                grabbed.clear()
                try:
                    model(input_ids=ids.to(dev), use_cache=False)
                except StopForward:
                    pass
                x = grabbed[0].reshape(-1, grabbed[0].shape[-1])
                v, i = sae.encode_sparse(x)
                keep = (v > 0).cpu() & ~torch.isin(ids.reshape(-1), torch.tensor(skip_ids, dtype=torch.int64))[:, None]
                n_tokens += int((~torch.isin(ids, torch.tensor(skip_ids, dtype=torch.int64))).sum())
                flat = torch.nonzero(keep)[:, 0]
                feats.append(i.cpu()[keep].numpy().astype(np.int32))
                rows.append((flat + s * T).numpy().astype(np.int32))
                vals.append(v.float().cpu()[keep].numpy().astype(np.float32))
                if progress is not None:
                    progress(min(s + batch, n) / n, "reading activations")
        logit_ids = None
        if unembedding is not None:
            W = sae.W_dec.detach().float()
            lg = W @ unembedding.detach().to(device=W.device, dtype=torch.float32).T
            logit_ids = (lg.topk(protocol.N_LOGITS, dim=1).indices.cpu().numpy(),
                         (-lg).topk(protocol.N_LOGITS, dim=1).indices.cpu().numpy())
        cache: dict[int, str] = {}

        def text(i: int) -> str:
            if i not in cache:
                cache[i] = _tok_str(tokenizer, i)
            return cache[i]

        empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0, np.float32)
        return cls(windows, np.concatenate(feats) if feats else empty_i,
                   np.concatenate(rows) if rows else empty_i,
                   np.concatenate(vals) if vals else empty_f, text, sae.cfg.d_sae, n_tokens, seed, logit_ids,
                   skip_ids)

    # --- per feature ---------------------------------------------------------------------------------------
    def _context(self, window: int, values: np.ndarray, center: int | None = None) -> Context:
        """The excerpt of ``window`` around ``center`` (default: its strongest position). Special tokens (BOS) are
        shown as empty text; positions stay aligned with ``values``."""
        T = self.windows.shape[1]
        a = excerpt_start(int(np.argmax(values)) if center is None else center, T)
        b = min(a + protocol.SHOWN, T)
        return Context(window, tuple("" if int(t) in self.skip_ids else self.token_text(int(t))
                                     for t in self.windows[window][a:b]),
                       tuple(round(float(v), 3) for v in values[a:b]), a)

    def max_activation(self, f: int) -> float:
        """``f``'s highest value over all scanned tokens (0 when it never activates)."""
        a, b = self.bounds[f], self.bounds[f + 1]
        return float(self.vals[a:b].max()) if b > a else 0.0

    def _firing(self, f: int) -> np.ndarray:
        """Mask over ``f``'s stored activations: those that fire (>= FIRE_FRACTION x its max)."""
        a, b = self.bounds[f], self.bounds[f + 1]
        return self.vals[a:b] >= protocol.FIRE_FRACTION * self.max_activation(f)

    def is_live(self, f: int) -> bool:
        """Whether ``f`` fires in any explaining window (else it is dead: nothing to explain it from)."""
        a, b = self.bounds[f], self.bounds[f + 1]
        rows = self.rows[a:b][self._firing(f)]
        return b > a and bool((~self.scoring[rows // self.windows.shape[1]]).any())

    def _window_values(self, f: int) -> dict[int, np.ndarray]:
        """Per window where ``f`` is active: its values at each position."""
        a, b = self.bounds[f], self.bounds[f + 1]
        T = self.windows.shape[1]
        out: dict[int, np.ndarray] = {}
        for r, v in zip(self.rows[a:b], self.vals[a:b]):
            w = int(r) // T
            out.setdefault(w, np.zeros(T, np.float32))[int(r) % T] = v
        return out

    def contexts(self, f: int) -> FeatureContexts:
        """Feature ``f``'s contexts; the random draws are seeded by the bank's seed and ``f``."""
        rng = np.random.default_rng([self.seed, f])
        per_window = self._window_values(f)
        top = self.max_activation(f)
        active = sorted((w for w in per_window if per_window[w].max() >= protocol.FIRE_FRACTION * top),
                        key=lambda w: (-float(per_window[w].max()), w))
        explain = [w for w in active if not self.scoring[w]]
        score = [w for w in active if self.scoring[w]]
        strongest = explain[: protocol.N_EXPLAIN_TOP]
        quant = _across_quantiles(explain[protocol.N_EXPLAIN_TOP :], protocol.N_EXPLAIN_QUANTILE, rng)
        score_act = _across_quantiles(score, protocol.N_SCORE_ACTIVATING, rng)
        quiet = np.nonzero(self.scoring)[0]
        quiet = quiet[~np.isin(quiet, list(per_window))]
        n_non = min(len(score_act), protocol.N_SCORE_NON_ACTIVATING, len(quiet))
        non = sorted(int(w) for w in rng.choice(quiet, size=n_non, replace=False)) if n_non else []
        T = self.windows.shape[1]
        centers = [int(c) for c in rng.integers(1, T, size=len(non))]  # where a negative's excerpt is taken
        zeros = np.zeros(self.windows.shape[1], np.float32)
        promoted: tuple[str, ...] = ()
        suppressed: tuple[str, ...] = ()
        if self.logit_ids is not None:
            promoted = tuple(self.token_text(int(i)) for i in self.logit_ids[0][f][: protocol.N_LOGITS])
            suppressed = tuple(self.token_text(int(i)) for i in self.logit_ids[1][f][: protocol.N_LOGITS])
        return FeatureContexts(
            f, int(self._firing(f).sum()) / max(self.n_tokens, 1), top,
            tuple(self._context(w, per_window[w]) for w in strongest),
            tuple(self._context(w, per_window[w]) for w in quant),
            tuple(self._context(w, per_window[w]) for w in score_act),
            tuple(self._context(w, zeros, c) for w, c in zip(non, centers)), promoted, suppressed)


def _across_quantiles(ranked: list[int], n: int, rng: np.random.Generator) -> list[int]:
    """Up to ``n`` of ``ranked`` (strongest first), drawn evenly from ``N_QUANTILE_BINS`` equal-count bins of
    the ranking (so weak activations are represented as well as strong ones), strongest first."""
    if len(ranked) <= n:
        return list(ranked)
    bins = np.array_split(np.arange(len(ranked)), protocol.N_QUANTILE_BINS)
    k_bins = protocol.N_QUANTILE_BINS
    per = [n // k_bins + (1 if i < n % k_bins else 0) for i in range(k_bins)]
    picks: list[int] = []
    for b, k in zip(bins, per):
        picks += [int(j) for j in rng.choice(b, size=min(k, len(b)), replace=False)]
    return [ranked[j] for j in sorted(picks)]
