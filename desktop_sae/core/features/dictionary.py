"""The feature dictionary that ships beside an SAE (docs/MATHS.md, "Evaluation and the feature dictionary"): per-
feature statistics, histogram, max-activating and quantile examples with per-token values, top/bottom logits and
an automatic short label. ``training/dictionary_builder.py`` writes it.

Files beside the SAE: ``dictionary.safetensors`` (arrays) and ``dictionary.json`` (labels, token strings, meta).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from .user_labels import USER_LABELS, read_labels, sae_folder

ARRAYS, META = "dictionary.safetensors", "dictionary.json"


class FeatureDictionary:
    """A loaded dictionary: ``entry(f)``; ``labels`` are the automatic labels with the user's edits
    (``core.features.user_labels``) applied, ``meta["labels"]`` the automatic ones alone."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.a, self.meta = arrays, meta
        self.labels: list[str] = list(meta["labels"])
        self.vocab = {int(k): v for k, v in meta["vocab"].items()}

    @classmethod
    def load(cls, folder: str | Path) -> FeatureDictionary:
        folder = Path(folder)
        d = cls(load_file(str(folder / ARRAYS)), json.loads((folder / META).read_text(encoding="utf-8")))
        for f, label in read_labels([folder / USER_LABELS], len(d.labels)).items():
            d.labels[f] = label
        return d

    @staticmethod
    def exists(folder: str | Path) -> bool:
        return (Path(folder) / ARRAYS).exists() and (Path(folder) / META).exists()

    def __len__(self) -> int:
        return len(self.labels)

    def tok(self, i: int) -> str:
        return self.vocab.get(int(i), f"<{int(i)}>")

    def entry(self, f: int) -> dict:
        """A JSON-able dictionary entry for feature f."""
        if not 0 <= f < len(self):
            raise IndexError(f"feature {f} out of range 0..{len(self) - 1}")
        a = self.a
        n_top, n_q = (int(x) for x in a["ex_count"][f])

        def ex(e: int) -> dict[str, object]:
            return {"activation": float(a["ex_act"][f, e]), "tokens": [self.tok(t) for t in a["ex_tokens"][f, e]],
                    "values": [round(float(v), 3) for v in a["ex_values"][f, e]]}

        return {"id": f, "label": self.labels[f], "max_activation": float(a["max_activation"][f]),
                "mean_activation": float(a["mean_activation"][f]), "density": float(a["density"][f]),
                "histogram": {"counts": a["histogram"][f].tolist(), "range": [0.0, float(a["max_activation"][f])]},
                "top_examples": [ex(e) for e in range(n_top)],
                "quantile_examples": [ex(e) for e in range(n_top, n_top + n_q)],
                "top_logits": [(self.tok(i), float(v))
                               for i, v in zip(a["top_logit_ids"][f], a["top_logit_values"][f])],
                "bottom_logits": [(self.tok(i), float(v))
                                  for i, v in zip(a["bottom_logit_ids"][f], a["bottom_logit_values"][f])]}


def load_dictionary(sae_path: str | Path | None) -> FeatureDictionary | None:
    """The ``FeatureDictionary`` beside an SAE (``sae_path`` names its folder or a file in
    it), or None when there is none or it cannot be read (a warning says why): callers then show ids and
    statistics only."""
    folder = sae_folder(sae_path)
    if folder is None:
        return None
    if not FeatureDictionary.exists(folder):
        return None
    try:
        return FeatureDictionary.load(folder)
    except Exception as e:  # noqa: BLE001 - a damaged dictionary must not stop the SAE from loading
        warnings.warn(f"could not read the feature dictionary in {folder}: {e}", stacklevel=2)
        return None
