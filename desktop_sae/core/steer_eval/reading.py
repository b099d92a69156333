"""The model-side measures of an answer: its log-likelihood under the unsteered model (fluency, relevance), the
feature re-read on it, and how far steering moves the next-token distributions along it (KL)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..engine.hooks import HookFn, hooks
from ..engine.sae_tap import SAETap
from ..steering.specs import SteeringConfig
from .scoring import FIRE_FRACTION

if TYPE_CHECKING:
    from ..engine.session import Session


@torch.inference_mode()
def _log_probs(session: Session, ids: Sequence[int], steering: SteeringConfig | None = None,
               keep: int = 0) -> torch.Tensor:
    """log-softmax of the model's logits at the last ``keep`` positions of ``ids`` (all when 0) ([T, V], float32),
    steered if asked (with the same plan and special-token mask as generation uses)."""
    dev = session.lm.device
    x = torch.tensor([list(ids)], device=dev)
    fns: dict[str, HookFn] = {}
    if steering is not None and steering.active and session.sae is not None:
        tap = SAETap(session.sae, session.plan(steering))
        tap.record = False
        if steering.skip_special:
            special = set(session.special_ids)
            tap.mask = torch.tensor([[0.0 if i in special else 1.0 for i in ids]], device=dev)
        assert session.hook_name is not None  # attaching the SAE set it
        fns = tap.hook_fns(session.hook_name, session.steer_hook_name)
    with hooks(session.lm.model, fns):
        logits = session.lm.model(input_ids=x, logits_to_keep=keep).logits[0]
    return torch.log_softmax(logits.float(), -1)


def answer_logprobs(session: Session, prefix_ids: Sequence[int], answer_ids: Sequence[int]) -> np.ndarray:
    """log p(answer token t | prefix, answer tokens before t) under the unsteered model, one per answer token."""
    p, a = list(prefix_ids), list(answer_ids)
    if not a:
        return np.zeros(0, np.float64)
    if not p:
        raise ValueError("an answer needs a non-empty prefix (the prompt) to be scored")
    lp = _log_probs(session, p + a, keep=len(a) + 1)[:-1]
    return lp.gather(1, torch.tensor(a, device=lp.device)[:, None])[:, 0].double().cpu().numpy()


def mean_nll(logprobs: np.ndarray) -> float:
    """Mean per-token negative log-likelihood (nats); NaN for an empty answer."""
    return float(-np.mean(logprobs)) if len(logprobs) else float("nan")


def relevance(own: np.ndarray, other: np.ndarray) -> float:
    """Mean log p(answer | its own prompt) - mean log p(answer | another prompt), nats/token: positive when the
    answer is more expected after its own question than after an unrelated one."""
    if len(own) == 0 or len(own) != len(other):
        return float("nan")
    return float(np.mean(own) - np.mean(other))


@torch.inference_mode()
def feature_reread(session: Session, text: str, features: Sequence[int], weights: Sequence[float] = ()) -> float:
    """The answer read back without steering (plain text): the largest activation of ``features`` over its ordinary
    tokens, as a fraction of each feature's max activation (raw activation without statistics). With ``weights``
    (a weighted set) it is the largest, over tokens, of the weighted mean of those fractions: the set reads as
    present only where its members fire together, not where one generic member does."""
    if session.sae is None or not text.strip():
        return 0.0
    ids = session.prompt_ids(text, chat=False)
    keep = [i for i, t in enumerate(ids) if t not in session.special_ids]
    if not keep:
        return 0.0
    acts = session.sae.encode(session.activations(ids)).float()[keep][:, list(features)].cpu().numpy()
    stats = session.sae.stats
    scale = np.ones(len(features))
    if stats is not None:
        m = np.asarray(stats.max_activation, np.float64)[list(features)]
        scale = np.where(np.isfinite(m) & (m > 0), m, 1.0)
    rel = acts / scale
    if len(weights):
        w = np.asarray(weights, np.float64)
        return float((rel @ w / w.sum()).max())
    return float(rel.max())


def fires(fraction: float, has_stats: bool, threshold: float = FIRE_FRACTION) -> bool:
    """The re-read counts as the feature firing above ``threshold`` x max activation (> 0 without statistics)."""
    return fraction > (threshold if has_stats else 0.0)


def kl_along(session: Session, prefix_ids: Sequence[int], answer_ids: Sequence[int],
             steering: SteeringConfig) -> np.ndarray:
    """KL(steered || default) of the next-token distributions at each answer position (teacher-forced on the
    steered answer), nats."""
    p, a = list(prefix_ids), list(answer_ids)
    if not a:
        return np.zeros(0, np.float64)
    ids = p + a
    s = _log_probs(session, ids, steering, keep=len(a) + 1)[:-1]
    d = _log_probs(session, ids, keep=len(a) + 1)[:-1]
    kl = (s.exp() * (s - d)).sum(-1).clamp_min(0.0)
    return kl.double().cpu().numpy()


def human_text_nll(session: Session, texts: Sequence[str]) -> float:
    """Mean per-token NLL of human-written texts read as plain text (tokens after the first, as the model reads
    them with nothing before): the reference for 'fluent but not the model's own words'."""
    total, n = 0.0, 0
    for t in texts:
        ids = session.prompt_ids(t, chat=False)
        if len(ids) < 3:
            continue
        lp = answer_logprobs(session, ids[:2], ids[2:])
        total, n = total - float(lp.sum()), n + len(lp)
    return total / n if n else math.nan


@torch.inference_mode()
def reread_along(session: Session, ids: Sequence[int], positions: Sequence[int], steering: SteeringConfig) -> float:
    """How far the tokens at ``positions`` of ``ids`` (an answer in its conversation) point the way ``steering``
    pushes, read back without steering: at the SAE's hook, each active feature row's encoder pre-activation (as a
    fraction of its max activation when the SAE has statistics) and each vector row's projection on its unit vector,
    signed by the row's strength and weighted by its size, averaged over the positions. Of two answers to the same
    prompt and seed, the one steered in a direction reads higher along it than the default one: this works on a
    random model too, where the sparse activations themselves rarely fire."""
    rows = [s for s in steering.active if s.strength * steering.multiplier != 0]
    if session.sae is None or not rows or not positions:
        return 0.0
    x = session.activations(list(ids)).float()[list(positions)]
    pre = session.sae.pre_activations(x.to(session.sae.dtype)).float()
    stats = session.sae.stats
    total = weight = 0.0
    for s in rows:
        w = s.strength * steering.multiplier
        if s.vector is not None:
            v = torch.tensor(s.vector, dtype=torch.float32, device=x.device)
            along = (x @ (v / v.norm().clamp_min(1e-12))).mean()
        else:
            m = float(stats.max_activation[s.feature]) if stats is not None else 1.0
            along = pre[:, s.feature].mean() / (m if math.isfinite(m) and m > 0 else 1.0)
        total, weight = total + w * float(along), weight + abs(w)
    return total / weight
