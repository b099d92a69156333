"""What one feature does and which features a text uses, computed on a loaded ``core.engine.session.Session``.
Results are plain frozen data. Importing this module loads no torch (the functions
import it when they run), so an app can import the result types early."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..presets.demo_concepts import demo_feature_sets
from ..support.errors import SAEMismatchError
from .dictionary import load_dictionary
from .naming import demo_tag
from .user_labels import sae_folder

if TYPE_CHECKING:
    from ..engine.session import Session
    from ..sae.autoencoder import SAE


@dataclass(frozen=True)
class FeatureLogits:
    """The tokens a feature's decoder direction promotes (``top``) and suppresses (``bottom``), strongest first."""

    feature: int
    top: tuple[tuple[str, float], ...]
    bottom: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class FeatureHit:
    """One feature's activity over a text's ordinary tokens."""

    feature: int
    max: float
    mean: float  # over all ordinary tokens, zeros included
    tokens_active: int
    at_token: str  # the token where it peaks
    label: str  # the dictionary's label ("" without a dictionary)
    demo: str | None = None  # the bundled SAE's demo-set tag ('demo set: …'), if any


@dataclass(frozen=True)
class TextFeatures:
    tokens: tuple[str, ...]  # the text's ordinary tokens (BOS and other special tokens removed)
    features: tuple[FeatureHit, ...]  # strongest first


def _checked_sae(session: Session, feature: int | None = None) -> SAE:
    sae = session.sae
    if sae is None:
        raise SAEMismatchError("no SAE is loaded")
    if feature is not None and not 0 <= feature < sae.cfg.d_sae:
        raise ValueError(f"feature {feature} does not exist: this SAE has features 0..{sae.cfg.d_sae - 1}")
    return sae


def feature_logits(session: Session, feature: int, n: int = 10) -> FeatureLogits:
    """Direct logit effect of a feature: ``W_dec[feature] @ W_U`` (the unembedding, without the final norm)."""
    import torch

    sae = _checked_sae(session, feature)
    with torch.inference_mode():
        W_U = session.lm.model.get_output_embeddings().weight
        v = (W_U @ sae.W_dec[feature].to(W_U.device, W_U.dtype)).float().cpu()
    tok = session.lm.tokenizer
    hi, lo = v.topk(n), (-v).topk(n)
    top = tuple((tok.decode([int(i)]), float(x)) for x, i in zip(hi.values, hi.indices))
    bottom = tuple((tok.decode([int(i)]), -float(x)) for x, i in zip(lo.values, lo.indices))
    return FeatureLogits(feature, top, bottom)


def features_on_text(session: Session, text: str, top: int = 20) -> TextFeatures:
    """The ``top`` features that fire most strongly on ``text`` (plain text, no chat template, special tokens
    ignored), labelled from the dictionary beside the SAE."""
    sae = _checked_sae(session)
    toks, ids, acts = session.encode_text(text)
    return _ranked(session, sae, toks, ids, acts, top, "the text has no ordinary tokens")


def features_on_span(session: Session, ids: Sequence[int], start: int, end: int, top: int = 20) -> TextFeatures:
    """The ``top`` features that fire most strongly on positions ``start..end-1`` of the token sequence ``ids``,
    read in context (the whole prefix goes through the model; no steering): the same numbers as slicing an encode
    of the full sequence. Special tokens in the span are ignored; ``mean`` is over the span's ordinary tokens."""
    import torch

    sae = _checked_sae(session)
    ids = [int(i) for i in ids]
    if not 0 <= start < end <= len(ids):
        raise ValueError(f"the span {start}..{end} is not inside the {len(ids)} tokens")
    with torch.inference_mode():
        acts = sae.encode(session.activations(ids[:end])[start:end]).float().cpu().numpy()
    tok = session.lm.tokenizer
    span = ids[start:end]
    return _ranked(session, sae, [tok.decode([i]) for i in span], span, acts, top,
                   "the selection holds only special tokens")


def _ranked(session: Session, sae: SAE, toks: Sequence[str], ids: Sequence[int], acts: np.ndarray, top: int,
            empty: str) -> TextFeatures:
    """Features by their max over the ordinary tokens of ``acts`` [T, d_sae], labelled."""
    keep = np.array([i not in session.special_ids for i in ids], dtype=bool)
    if not keep.any():
        raise ValueError(empty)
    a = acts[keep]
    kept = tuple(t for t, k in zip(toks, keep) if k)
    mx, arg = a.max(0), a.argmax(0)
    order = [int(f) for f in np.argsort(-mx, kind="stable") if mx[f] > 0][:top]
    dic = load_dictionary(sae.source_path)
    demo = {f: demo_tag(t) for f, t in demo_feature_sets(sae_folder(sae.source_path)).items()}
    hits = tuple(
        FeatureHit(f, float(mx[f]), float(a[:, f].mean()), int((a[:, f] > 0).sum()), kept[int(arg[f])],
                   dic.labels[f] if dic else "", demo.get(f))
        for f in order
    )
    return TextFeatures(kept, hits)
