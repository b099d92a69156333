"""Everything a feature browser knows about an SAE's features: statistics, labels in layers (user > curated demo >
automatic), fast search, and per-conversation activation totals fed from the token stream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import user_labels

if TYPE_CHECKING:
    from ..engine.generation import TokenEvent
    from ..presets.file_format import SAEIdentity
    from .dictionary import FeatureDictionary

DENSE = 0.1  # features firing on more than 10 % of tokens are hidden from "active in this conversation"


class FeatureCatalog:
    """``dictionary`` is a ``core.features.dictionary.FeatureDictionary`` or None (ids and statistics only)."""

    def __init__(self, d_sae: int, max_activation: npt.ArrayLike | None = None, density: npt.ArrayLike | None = None,
                 mean_activation: npt.ArrayLike | None = None, dictionary: FeatureDictionary | None = None,
                 sae_path: str | None = None, identity: SAEIdentity | None = None,
                 curated_labels: dict[int, str] | None = None) -> None:
        self.d_sae = d_sae
        nan = np.full(d_sae, np.nan, np.float32)
        self.max_activation = nan if max_activation is None else np.asarray(max_activation, np.float32)
        self.density = nan if density is None else np.asarray(density, np.float32)
        self.mean_activation = nan if mean_activation is None else np.asarray(mean_activation, np.float32)
        self.dictionary = dictionary
        self.sae_path = sae_path
        self.identity = identity
        self.auto_labels = _dictionary_labels(dictionary, d_sae)
        # shipped with the SAE (e.g. the measured demo features): shown unless the user set a label; both searchable
        self.curated_labels = {int(f): str(v) for f, v in (curated_labels or {}).items() if 0 <= int(f) < d_sae}
        self.top_tokens = _dictionary_top_tokens(dictionary, d_sae)
        self.labels_path = user_labels.labels_path(sae_path, identity, d_sae)
        self.user_labels = user_labels.read_labels((self.labels_path, self._fallback), d_sae)
        self.conv_max = np.zeros(d_sae, np.float32)
        self.conv_sum = np.zeros(d_sae, np.float32)
        self._lower = [self._row_text(f) for f in range(d_sae)]

    @property
    def _fallback(self) -> Path:
        return user_labels.fallback_path(self.identity, self.d_sae)

    # --- labels ----------------------------------------------------------------------------------------
    def label(self, f: int) -> str:
        return self.user_labels.get(f) or self.curated_labels.get(f) or self.auto_labels[f]

    def has_stats(self) -> bool:
        return bool(np.isfinite(self.max_activation).any())

    def set_label(self, f: int, text: str) -> Path:
        """Set (or clear, with an empty text or the label already shown) a user label and save all user labels
        atomically; returns the file written."""
        text = text.strip()[: user_labels.MAX_LABEL]
        if text and text not in (self.auto_labels[f], self.curated_labels.get(f)):
            self.user_labels[f] = text
        else:
            self.user_labels.pop(f, None)
        self._lower[f] = self._row_text(f)
        self.labels_path = user_labels.write_labels(self.labels_path, self.user_labels, self._fallback)
        return self.labels_path

    # --- search ----------------------------------------------------------------------------------------
    def _row_text(self, f: int) -> str:
        return f"{self.label(f)}\t{self.curated_labels.get(f, '')}\t{self.auto_labels[f]}\t{self.top_tokens[f]}".lower()

    def search(self, query: str) -> np.ndarray:
        """Feature ids matching ``query``: '#12' or '12' matches the id exactly (plus text hits); otherwise every
        word must occur in the label or top tokens."""
        q = query.strip().lower()
        if not q:
            return np.arange(self.d_sae)
        exact = []
        qs = q.lstrip("#")
        if qs.isdigit() and int(qs) < self.d_sae:
            exact = [int(qs)]
            if q.startswith("#"):
                return np.array(exact)
        words = q.split()
        hits = [f for f, t in enumerate(self._lower) if all(w in t for w in words)]
        return np.array(exact + [f for f in hits if not exact or f != exact[0]], dtype=np.int64)

    # --- conversation activity -------------------------------------------------------------------------
    def observe(self, ev: TokenEvent) -> None:
        """Accumulate one ``core.engine.generation.TokenEvent`` (BOS / special tokens are skipped)."""
        if ev.is_special or ev.top_ids is None:
            return
        assert ev.top_vals is not None  # set together with top_ids
        np.maximum.at(self.conv_max, ev.top_ids, ev.top_vals)
        np.add.at(self.conv_sum, ev.top_ids, ev.top_vals)

    def reset_conversation(self) -> None:
        self.conv_max[:] = 0
        self.conv_sum[:] = 0

    def active_ids(self, by: str = "max") -> np.ndarray:
        """Features seen in this conversation, strongest first; very dense features are hidden."""
        score = self.conv_max if by == "max" else self.conv_sum
        dense = np.nan_to_num(self.density, nan=0.0) > DENSE
        ids = np.nonzero((score > 0) & ~dense)[0]
        return ids[np.argsort(-score[ids], kind="stable")]

    # --- dictionary entries -----------------------------------------------------------------------------
    def entry(self, f: int) -> dict | None:
        """The dictionary's entry for ``f``, or None without a dictionary."""
        d = self.dictionary
        return d.entry(f) if d is not None and 0 <= f < len(d) else None


def _dictionary_labels(d: FeatureDictionary | None, n: int) -> list[str]:
    """Automatic labels (the dictionary's own, before any user edits)."""
    labels = [""] * n
    if d is not None:
        for i, v in enumerate(d.meta["labels"][:n]):
            labels[i] = "" if v == "(dead)" else str(v)
    return labels


def _dictionary_top_tokens(d: FeatureDictionary | None, n: int) -> list[str]:
    """Per feature: its max-activating tokens and top logit tokens, for search (vectorised over features)."""
    out = [""] * n
    if d is None or "ex_values" not in d.a:
        return out
    a = d.a
    vals, toks, cnt = a["ex_values"], a["ex_tokens"], a["ex_count"][:, 0]
    arg = vals.astype(np.float32).argmax(-1)  # [S, N]
    best = np.take_along_axis(toks, arg[..., None], -1)[..., 0]  # [S, N]
    logit_ids = a["top_logit_ids"][:, :5]
    cache: dict[int, str] = {}

    def t(i: int) -> str:
        s = cache.get(i)
        if s is None:
            s = cache[i] = d.tok(i).strip()
        return s

    for f in range(min(n, len(best))):
        words = dict.fromkeys(t(int(i)) for i in best[f, : int(cnt[f])])
        words.update(dict.fromkeys(t(int(i)) for i in logit_ids[f]))
        out[f] = " ".join(w for w in words if w)
    return out
