"""Contrastive discovery: which SAE features separate positive texts from negative ones, and the mean-difference
steering vector between them (the baseline that SAE steering should beat, AxBench-style).

Each text counts once: its activations are averaged over its ordinary tokens (special tokens and attention-sink
positions skipped), then texts are averaged per side. Results are plain frozen data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..steering.vectors import SteeringVector
from ..support.errors import SAEMismatchError

if TYPE_CHECKING:
    from ..engine.session import Session
    from ..steering.specs import SteeringConfig

SINK_FACTOR = 10.0  # a token whose residual norm exceeds this x the text's median is an attention sink
SET_SIZE = 6  # features in a steering set made from a contrast (chosen on the Golden Gate pilot, docs/STEERING_EVAL.md)
SET_NORM_FRACTION = 0.5  # a set's default nominal shift, x the typical residual norm at the hook


@dataclass(frozen=True)
class ContrastHit:
    feature: int
    score: float  # (pos_mean - neg_mean) / the feature's max activation (raw difference without statistics)
    pos_mean: float  # mean activation over positive texts (each text's mean over its tokens)
    neg_mean: float
    pos_frac: float  # share of positive texts on which the feature fires at all
    neg_frac: float
    label: str = ""


@dataclass(frozen=True)
class ContrastResult:
    hits: tuple[ContrastHit, ...]  # best separating first
    vector: SteeringVector  # mean activation on positives - on negatives, at the hook steering writes to
    n_pos: int
    n_neg: int
    set_features: tuple[int, ...] = ()  # the first SET_SIZE hits as one weighted steering set (feature_set)
    set_weights: tuple[float, ...] = ()
    set_strength: float | None = None  # x the lead's max activation: a nominal shift of SET_NORM_FRACTION x typical


@dataclass(frozen=True)
class TextMeans:
    features: np.ndarray  # [n_texts, d_sae] each text's mean SAE activation over its ordinary tokens
    fires: np.ndarray  # [n_texts, d_sae] bool: the feature fired somewhere in the text
    resid: np.ndarray  # [n_texts, d] each text's mean activation at the hook steering writes to (the SAE's hook;
    # a transcoder's output hook), over the same tokens


def _check_texts(texts: Sequence[str], side: str) -> list[str]:
    out = [t for t in texts if isinstance(t, str) and t.strip()]
    if not out:
        raise ValueError(f"give at least one non-empty {side} text")
    return out


def text_means(session: Session, texts: Sequence[str], progress: Callable[[float, str], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> TextMeans:
    """Per-text mean SAE activations (read at the SAE's input hook) and mean activations at the hook steering
    writes to (``session.steer_hook_name``: the same hook, except for a transcoder), no steering, plain text."""
    import torch

    sae = session.sae
    if sae is None:
        raise SAEMismatchError("no SAE is loaded")
    feats, fires, resid = [], [], []
    for i, text in enumerate(texts):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        ids = session.prompt_ids(text, chat=False)
        with torch.inference_mode():
            x = session.activations(ids).float()
            out_hook = session.steer_hook_name
            y = x if out_hook in (None, session.hook_name) else session.activations(ids, out_hook).float()
            keep = torch.tensor([t not in session.special_ids for t in ids], device=x.device)
            norms = x.norm(dim=-1)
            if keep.any():
                keep &= norms <= SINK_FACTOR * norms[keep].median()
            if not keep.any():
                raise ValueError(f"text {i + 1} has no ordinary tokens")
            x = x[keep]
            a = sae.encode(x.to(sae.W_dec.dtype)).float()
        feats.append(a.mean(0).cpu().numpy())
        fires.append((a > 0).any(0).cpu().numpy())
        resid.append(y[keep].mean(0).cpu().numpy())
        if progress is not None:
            progress((i + 1) / len(texts), f"Reading text {i + 1} of {len(texts)}")
    return TextMeans(np.stack(feats), np.stack(fires), np.stack(resid))


def mean_difference(pos: TextMeans, neg: TextMeans, name: str = "mean difference", hook: str = "",
                    model: str = "") -> SteeringVector:
    """Mean on ``pos`` - mean on ``neg`` at the hook steering writes to; ``hook`` names it (use
    ``session_mean_difference`` for the session's)."""
    v = pos.resid.mean(0) - neg.resid.mean(0)
    return SteeringVector.from_array(name, v, hook=hook, model=model,
                                     source=f"mean difference: {len(pos.resid)} positive vs {len(neg.resid)} "
                                            f"negative texts")


def session_mean_difference(session: Session, pos: TextMeans, neg: TextMeans, name: str) -> SteeringVector:
    """The mean-difference vector of ``text_means`` read in ``session``, named by the hook it is added at (a
    transcoder's output hook) and the session's model."""
    return mean_difference(pos, neg, name, session.steer_hook_name or "", session.lm.name)


def rank_features(pos: TextMeans, neg: TextMeans, max_activation: np.ndarray | None = None,
                  labels: Sequence[str] | None = None, top: int = 50) -> tuple[ContrastHit, ...]:
    """Features by (mean on positives - mean on negatives), in units of each feature's max activation when
    statistics exist, so that a few very loud features do not crowd out specific ones."""
    p, n = pos.features.mean(0), neg.features.mean(0)
    diff = p - n
    scale = np.ones_like(diff)
    if max_activation is not None:
        m = np.asarray(max_activation, dtype=np.float64)
        ok = np.isfinite(m) & (m > 0)
        scale[ok] = m[ok]
    score = diff / scale
    order = [int(f) for f in np.argsort(-score, kind="stable")[:top] if score[f] > 0]
    pf, nf = pos.fires.mean(0), neg.fires.mean(0)
    return tuple(
        ContrastHit(f, float(score[f]), float(p[f]), float(n[f]), float(pf[f]), float(nf[f]),
                    labels[f] if labels is not None and f < len(labels) else "")
        for f in order
    )


def feature_set(hits: Sequence[ContrastHit], k: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The first ``k`` ranked features as one steering set, each weighted by its score relative to the first's:
    strength s steers feature f at s x weight_f x its max activation, so the set's direction is the part of the
    mean activation difference that these features carry (a sparse, named mean difference)."""
    top = [h for h in hits[:k] if h.score > 0]
    if not top:
        raise ValueError("no feature fires more on the positive texts than on the negative ones")
    lead = top[0].score
    return tuple(h.feature for h in top), tuple(round(h.score / lead, 4) for h in top)


def set_strength(session: Session, features: Sequence[int], weights: Sequence[float],
                 fraction: float = SET_NORM_FRACTION) -> float | None:
    """The strength (x the lead feature's max activation) at which a weighted set's nominal shift
    |sum of strength x weight x max activation x decoder row| is ``fraction`` x the typical residual norm; None
    without statistics or a typical norm."""
    from ..steering.specs import SteeringConfig, SteerSpec, weighted_rows

    sae, tn = session.sae, session.typical_norm
    if sae is None or sae.stats is None or not tn:
        return None
    rows = weighted_rows(SteerSpec(int(features[0]), 1.0, "max"), zip(features, weights))
    n = nominal_shift(session, SteeringConfig(rows))
    return float(f"{fraction * tn / n:.2g}") if n > 0 and math.isfinite(n) else None


def nominal_shift(session: Session, steering: SteeringConfig) -> float:
    """Length of a feature steer's nominal residual shift: |sum of coefficient x decoder row| (coefficients as
    the steering plan resolves them)."""
    assert session.sae is not None  # callers check for an SAE first
    w = session.sae.W_dec.detach().float().cpu().numpy()
    v = sum(r.coefficient * w[r.spec.feature] for r in session.plan(steering).resolved)
    return float(np.linalg.norm(v))


def contrast(session: Session, positives: Sequence[str], negatives: Sequence[str], top: int = 50,
             progress: Callable[[float, str], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> ContrastResult:
    """Rank the loaded SAE's features by how much more they fire on ``positives`` than on ``negatives``, and the
    mean-difference vector between the two sets."""
    from .readout import load_dictionary

    positives, negatives = _check_texts(positives, "positive"), _check_texts(negatives, "negative")
    total = len(positives) + len(negatives)

    def part(offset: int, n: int) -> Callable[[float, str], None] | None:
        if progress is None:
            return None
        return lambda f, msg: progress((offset + f * n) / total, msg)

    pos = text_means(session, positives, part(0, len(positives)), cancelled)
    neg = text_means(session, negatives, part(len(positives), len(negatives)), cancelled)
    sae = session.sae
    assert sae is not None  # text_means raised without an SAE
    stats = sae.stats
    dic = load_dictionary(sae.source_path)
    hits = rank_features(pos, neg, stats.max_activation if stats else None, dic.labels if dic else None, top)
    first = positives[0] if len(positives[0]) < 40 else positives[0][:37] + "..."
    vec = session_mean_difference(session, pos, neg, f"mean difference ({first})")
    feats: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    strength: float | None = None
    if hits and hits[0].score > 0:
        feats, weights = feature_set(hits, SET_SIZE)
        strength = set_strength(session, feats, weights) if stats is not None else None
    return ContrastResult(hits, vec, len(positives), len(negatives), feats, weights, strength)


def matched_strength(vector: SteeringVector, feature_norm: float, feature_strength: float) -> float:
    """The raw strength that gives ``vector`` the same length as ``feature_strength`` x a decoder row of norm
    ``feature_norm`` (a baseline at matched norm)."""
    n = vector.norm
    if n == 0 or not math.isfinite(n):
        raise ValueError("the mean-difference vector is zero: the two text sets read the same at this hook")
    return abs(feature_strength) * feature_norm / n
