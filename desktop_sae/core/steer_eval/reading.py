"""The model-side measures of an answer: its log-likelihood under the unsteered model (fluency, relevance), the
feature re-read on it, and how far steering moves the next-token distributions along it (KL)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..engine.batch_generation import row_plans, row_tap
from ..engine.batch_rows import DEFAULT_CHUNK
from ..engine.hooks import hooks
from ..steering.specs import NO_STEERING, SteeringConfig
from .scoring import FIRE_FRACTION

if TYPE_CHECKING:
    from ..engine.session import Session


@torch.inference_mode()
def _log_probs_rows(session: Session, seqs: Sequence[Sequence[int]], steerings: Sequence[SteeringConfig | None],
                    keeps: Sequence[int]) -> list[torch.Tensor]:
    """log-softmax of the model's logits at the last ``keeps[i]`` positions of each ``seqs[i]`` ([keep, V], float32),
    all in one forward, each row steered by its own ``steerings[i]`` (None: not) with the plan and special-token mask
    generation uses. Shorter rows are padded on the right: a causal model's positions never read what follows."""
    dev = session.lm.device
    width = max(len(q) for q in seqs)
    x = torch.tensor([list(q) + [q[-1]] * (width - len(q)) for q in seqs], device=dev)
    cfgs = [s if s is not None else NO_STEERING for s in steerings]
    tap, fns = row_tap(session, row_plans(session, cfgs))
    if tap is not None:
        special = set(session.special_ids)
        tap.mask = torch.tensor([[0.0 if j >= len(q) or (c.skip_special and t in special) else 1.0
                                  for j, t in enumerate(row)] for q, c, row in zip(seqs, cfgs, x.tolist())], device=dev)
    keep = max(width - len(q) + k for q, k in zip(seqs, keeps))
    with hooks(session.lm.model, fns):
        logits = session.lm.model(input_ids=x, logits_to_keep=keep).logits
    return [torch.log_softmax(logits[i, keep - width + len(q) - k: keep - width + len(q)].float(), -1)
            for i, (q, k) in enumerate(zip(seqs, keeps))]


def _log_probs(session: Session, ids: Sequence[int], steering: SteeringConfig | None = None,
               keep: int = 0) -> torch.Tensor:
    """log-softmax of the model's logits at the last ``keep`` positions of ``ids`` (all when 0) ([T, V], float32),
    steered if asked (with the same plan and special-token mask as generation uses)."""
    return _log_probs_rows(session, [ids], [steering], [keep or len(ids)])[0]


def _gathered(lp: torch.Tensor, answer: Sequence[int]) -> np.ndarray:
    """The log-probability of each answer token from the log-probabilities ``lp`` [len(answer) + 1, V] at the
    positions before each one (and after the last)."""
    a = torch.tensor(list(answer), device=lp.device)
    return lp[:-1].gather(1, a[:, None])[:, 0].double().cpu().numpy()


def answer_logprobs_rows(session: Session, pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
                         chunk: int = DEFAULT_CHUNK) -> list[np.ndarray]:
    """``answer_logprobs`` of each (prefix, answer), ``chunk`` of them per forward."""
    out: list[np.ndarray] = [np.zeros(0, np.float64)] * len(pairs)
    todo = [i for i, (p, a) in enumerate(pairs) if a]
    if any(not pairs[i][0] for i in todo):
        raise ValueError("an answer needs a non-empty prefix (the prompt) to be scored")
    for at in range(0, len(todo), chunk):
        part = todo[at: at + chunk]
        seqs = [list(pairs[i][0]) + list(pairs[i][1]) for i in part]
        lps = _log_probs_rows(session, seqs, [None] * len(part), [len(pairs[i][1]) + 1 for i in part])
        for i, lp in zip(part, lps):
            out[i] = _gathered(lp, pairs[i][1])
    return out


def answer_logprobs(session: Session, prefix_ids: Sequence[int], answer_ids: Sequence[int]) -> np.ndarray:
    """log p(answer token t | prefix, answer tokens before t) under the unsteered model, one per answer token."""
    return answer_logprobs_rows(session, [(prefix_ids, answer_ids)])[0]


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


def kl_and_logprobs_rows(session: Session, items: Sequence[tuple[Sequence[int], Sequence[int], SteeringConfig]],
                         chunk: int = DEFAULT_CHUNK) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each (prefix, answer, steering): ``kl_along`` and ``answer_logprobs`` after that prefix, both from the
    same unsteered forward; ``chunk`` answers per pair of forwards (steered, unsteered)."""
    empty = np.zeros(0, np.float64)
    out: list[tuple[np.ndarray, np.ndarray]] = [(empty, empty)] * len(items)
    todo = [i for i, (_p, a, _s) in enumerate(items) if a]
    for at in range(0, len(todo), chunk):
        part = todo[at: at + chunk]
        seqs = [list(items[i][0]) + list(items[i][1]) for i in part]
        keeps = [len(items[i][1]) + 1 for i in part]
        steered = _log_probs_rows(session, seqs, [items[i][2] for i in part], keeps)
        default = _log_probs_rows(session, seqs, [None] * len(part), keeps)
        for i, s, d in zip(part, steered, default):
            kl = (s[:-1].exp() * (s[:-1] - d[:-1])).sum(-1).clamp_min(0.0).double().cpu().numpy()
            out[i] = (kl, _gathered(d, items[i][1]))
    return out


def kl_along_rows(session: Session, items: Sequence[tuple[Sequence[int], Sequence[int], SteeringConfig]],
                  chunk: int = DEFAULT_CHUNK) -> list[np.ndarray]:
    """``kl_along`` of each (prefix, answer, steering), ``chunk`` of them per pair of forwards (steered, default)."""
    return [kl for kl, _lp in kl_and_logprobs_rows(session, items, chunk)]


def kl_along(session: Session, prefix_ids: Sequence[int], answer_ids: Sequence[int],
             steering: SteeringConfig) -> np.ndarray:
    """KL(steered || default) of the next-token distributions at each answer position (teacher-forced on the
    steered answer), nats."""
    return kl_along_rows(session, [(prefix_ids, answer_ids, steering)])[0]


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
