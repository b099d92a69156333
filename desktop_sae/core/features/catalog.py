"""Everything a feature browser knows about an SAE's features: statistics, names by one rule (user label >
explanation > automatic token label, ``core.features.naming``), demo-set tags, fast search, and per-conversation
activation totals fed from the token stream."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import user_labels
from .naming import Explained, LabelSource, demo_tag

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
                 explanations: Mapping[int, Explained] | None = None,
                 demo_sets: Mapping[int, tuple[str, ...]] | None = None) -> None:
        self.d_sae = d_sae
        nan = np.full(d_sae, np.nan, np.float32)
        self.max_activation = nan if max_activation is None else np.asarray(max_activation, np.float32)
        self.density = nan if density is None else np.asarray(density, np.float32)
        self.mean_activation = nan if mean_activation is None else np.asarray(mean_activation, np.float32)
        self.dictionary = dictionary
        self.sae_path = sae_path
        self.identity = identity
        self.auto_labels = _dictionary_labels(dictionary, d_sae)
        # explanations.json beside the SAE (core.explanations.store.Explanation values): the name unless the user's
        self.explanations = {int(f): e for f, e in (explanations or {}).items() if 0 <= int(f) < d_sae}
        # feature -> the titles of the demo sets it belongs to (the bundled SAE): a tag, searchable
        self.demo_sets = {int(f): tuple(v) for f, v in (demo_sets or {}).items() if 0 <= int(f) < d_sae and v}
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
        """The feature's name: the user's label, else its explanation, else the automatic token label ('' if none)."""
        return self.user_labels.get(f) or self.explanation_text(f) or self.auto_labels[f]

    def label_source(self, f: int) -> LabelSource:
        if self.user_labels.get(f):
            return LabelSource.USER
        return LabelSource.EXPLANATION if self.explanation_text(f) else LabelSource.TOKENS

    def explanation_text(self, f: int) -> str:
        e = self.explanations.get(f)
        return e.text if e is not None else ""

    def set_explanations(self, explanations: Mapping[int, Explained]) -> None:
        """Replace the explanations (their files beside the SAE were rewritten); search follows."""
        self.explanations = {int(f): e for f, e in explanations.items() if 0 <= int(f) < self.d_sae}
        self._lower = [self._row_text(f) for f in range(self.d_sae)]

    def demo_tag(self, f: int) -> str:
        """'demo set: Golden Gate Bridge' for a member of a demo set, else ''."""
        return demo_tag(self.demo_sets.get(f, ()))

    def has_stats(self) -> bool:
        return bool(np.isfinite(self.max_activation).any())

    def set_label(self, f: int, text: str) -> Path:
        """Set (or clear, with an empty text or the name shown without one) a user label and save all user labels
        atomically; returns the file written."""
        text = text.strip()[: user_labels.MAX_LABEL]
        if text and text not in (self.auto_labels[f], self.explanation_text(f)):
            self.user_labels[f] = text
        else:
            self.user_labels.pop(f, None)
        self._lower[f] = self._row_text(f)
        self.labels_path = user_labels.write_labels(self.labels_path, self.user_labels, self._fallback)
        return self.labels_path

    # --- search ----------------------------------------------------------------------------------------
    def _row_text(self, f: int) -> str:
        parts = (self.user_labels.get(f, ""), self.explanation_text(f), self.demo_tag(f), self.auto_labels[f],
                 self.top_tokens[f])
        return "\t".join(parts).lower()

    def search(self, query: str) -> np.ndarray:
        """Feature ids matching ``query``: '#12' or '12' matches the id exactly (plus text hits); otherwise every
        word must occur in the user's label, the explanation, the demo-set tag, the automatic label or the top
        tokens."""
        q = query.strip().lower()
        if not q:
            return np.arange(self.d_sae)
        exact = []
        qs = q.lstrip("#")
        if qs.isdigit() and int(qs) < self.d_sae:
            exact = [int(qs)]
            if q.startswith("#"):
                return np.array(exact)
        low = self._lower
        words = sorted(set(q.split()), key=len, reverse=True)  # the longest word first: it leaves the fewest
        hits = [f for f, t in enumerate(low) if words[0] in t]
        for w in words[1:]:
            hits = [f for f in hits if w in low[f]]
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
