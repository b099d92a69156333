"""TEMPORARY (replaced by the core-refactor branch)."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from ..gui.feature_data import FeatureCatalog  # noqa: F401


@dataclass(frozen=True)
class FeatureLogits:
    feature: int
    top: tuple
    bottom: tuple


def feature_logits(s, feature: int, n: int = 10) -> FeatureLogits:
    import torch

    with torch.inference_mode():
        W_U = s.lm.model.get_output_embeddings().weight
        v = (W_U @ s.sae.W_dec[feature].to(W_U.device, W_U.dtype)).float().cpu()
    tok = s.lm.tokenizer
    hi, lo = v.topk(n), (-v).topk(n)
    top = tuple((tok.decode([int(i)]), float(x)) for x, i in zip(hi.values, hi.indices))
    bot = tuple((tok.decode([int(i)]), -float(x)) for x, i in zip(lo.values, lo.indices))
    return FeatureLogits(feature, top, bot)


def load_dictionary(sae_path):
    if not sae_path:
        return None
    folder = Path(sae_path)
    folder = folder if folder.is_dir() else folder.parent
    try:
        from .training.dictionary import FeatureDictionary

        return FeatureDictionary.load(folder) if FeatureDictionary.exists(folder) else None
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return None
