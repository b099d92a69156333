"""What runs next to the model during an nnsight generation: on NDIF's server, or in this process for a local model.

The trace body (core/remote/nnsight_session.py) calls ``ModelSideStep`` at the SAE's hook point and at the logits of
every forward. At the hook it applies the steering plan (``plan_delta``, the same maths as the local tap) and keeps the
steered residual of the new positions; at the logits it picks the next token with the app's ``Sampler``, keeps the
numbers of its alternatives and hands transformers' greedy loop logits that can only pick that token. The clamp and
conditional rows read a few features' activations from a slice of the SAE shipped with the request.

This module, and the few it uses, ship by value with each request (``SHIPPED_MODULES``): the server has nnsight and
torch but not Desktop SAE. Keep them free of anything else of the app.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..engine.sampler import Sampler, alternative_numbers
from ..engine.sampling import SamplingConfig
from ..steering.plan import SteeringPlan, plan_delta

# the modules whose code is pickled by value into a request (what the request references of them)
SHIPPED_MODULES = (
    "desktop_sae.core.remote.model_side",
    "desktop_sae.core.engine.sampler",
    "desktop_sae.core.engine.sampling",
    "desktop_sae.core.steering.plan",
    "desktop_sae.core.support.row_blocks",
)


class ConstantDecoderScale:
    """Stands in for the SAE where the plan reads its decoder scale: a constant for SAEs whose input is scaled
    linearly (the only ones whose clamp rows run remotely)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def decoder_scale(self, x: torch.Tensor) -> float:
        return self.value


@dataclass
class FeatureProbe:
    """The activations of a few SAE features, read from the raw residual x:
    ``a = relu(z * slope + offset) * (z > gate)`` with ``z = x @ weights + bias`` (the pre-activations); with ``k``
    set (TopK) a feature counts only where z reaches the k-th largest of all, so ``weights`` then covers every
    feature. Built from the SAE by core/remote/wire.py, whose test holds it equal to the SAE's own rule."""

    weights: torch.Tensor  # [d, m]
    bias: torch.Tensor  # [m]
    slope: torch.Tensor  # [m]
    offset: torch.Tensor  # [m]
    gate: torch.Tensor  # [m]
    k: int | None = None

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weights.to(device=x.device)
        return x.to(w.dtype) @ w + self.bias.to(x.device)

    def activations(self, z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The activations [..., n] of features ``idx`` from the pre-activations ``z`` [..., m]."""
        idx = idx.to(z.device)
        sel = z[..., idx]
        slope, offset, gate = (t.to(z.device)[idx] for t in (self.slope, self.offset, self.gate))
        a = torch.relu(sel * slope + offset) * (sel > gate).to(z.dtype)
        if self.k is not None:
            a = a * (sel >= z.topk(self.k, dim=-1).values[..., -1:]).to(z.dtype)
        return a


@dataclass
class StepOrders:
    """Everything the model side needs, built on the client (core/remote/wire.py) and pickled into the request."""

    prompt_ids: tuple[int, ...]
    sampling: SamplingConfig
    vocab: int  # the tokenizer's size: logits beyond it are padding rows
    plan: SteeringPlan  # features renumbered to ``probe``'s rows; no encoder-side shifts
    probe: FeatureProbe | None  # the features the plan reads activations of (None: it reads none)
    decoder_scale: float
    special_ids: frozenset[int]
    stop_ids: frozenset[int]
    skip_special: bool
    alternatives: int


class ModelSideStep:
    """The per-forward work of one generation. ``residuals`` (steered, [T, d] per forward), ``tokens``,
    ``alternative_ids`` / ``alternative_probs`` / ``probs`` (one per token) are what comes back; ``done`` turns true
    once the last token's residual is kept (its forward need not go on)."""

    def __init__(self, orders: StepOrders, reads_hook: bool = True) -> None:
        self.orders = orders
        self.reads_hook = reads_hook  # without a hook (no SAE) the run ends once the last token is picked
        self.sampler = Sampler(orders.sampling, orders.vocab, orders.prompt_ids)
        self.scale = ConstantDecoderScale(orders.decoder_scale)
        self.pending: list[int] = list(orders.prompt_ids)  # the ids the next forward consumes
        self.residuals: list[torch.Tensor] = []
        self.tokens: list[int] = []
        self.alternative_ids: list[list[int]] = []
        self.alternative_probs: list[list[float]] = []
        self.probs: list[float] = []
        self.done = not reads_hook and orders.sampling.max_new_tokens == 0

    def _mask(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.orders.skip_special:
            return None
        keep = [0.0 if i in self.orders.special_ids else 1.0 for i in self.pending]
        return torch.tensor(keep, device=x.device, dtype=x.dtype)[None, :, None]

    def at_hook(self, x: torch.Tensor) -> torch.Tensor | None:
        """The residual at the hook [1, T, d]: the steered replacement (None: unchanged). Keeps row 0's residual."""
        orders, out = self.orders, None
        if not orders.plan.empty:
            probe = orders.probe
            pre = probe.pre(x) if probe is not None else None

            def acts_of(idx: torch.Tensor) -> torch.Tensor:
                assert probe is not None and pre is not None  # a plan that reads activations ships its probe
                return probe.activations(pre, idx).to(x.dtype)

            delta, _ = plan_delta(x, acts_of, _on(orders.plan, x), self.scale, self._mask(x))
            out = None if delta is None else x + delta
        self.residuals.append((x if out is None else out)[0].detach().cpu())
        self.done = self._final()
        return out

    def _final(self) -> bool:
        """Whether the last token is picked (a stop token, or as many as asked for)."""
        t = self.tokens
        return (bool(t) and t[-1] in self.orders.stop_ids) or len(t) >= self.orders.sampling.max_new_tokens

    def at_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Pick the next token from ``logits`` [1, T, V] (the last position); return logits that make a greedy
        loop pick it."""
        last = logits[0, -1]
        tok = self.sampler(last)
        if self.orders.alternatives:
            vocab = last[: self.orders.vocab].float()
            ids, probs, prob = alternative_numbers(vocab, torch.logsumexp(vocab, -1), self.orders.alternatives, tok)
            self.alternative_ids.append(ids)
            self.alternative_probs.append(probs)
            self.probs.append(prob)
        self.tokens.append(tok)
        self.pending = [tok]
        self.done = not self.reads_hook and self._final()
        forced = torch.full_like(logits, float("-inf"))
        forced[..., tok] = 0.0
        return forced


def _on(plan: SteeringPlan, x: torch.Tensor) -> SteeringPlan:
    """The plan's tensors on ``x``'s device and dtype (the server's model may sit on a GPU, in bfloat16)."""
    if plan.empty or _placed(plan, x):
        return plan
    return move_plan(plan, x.device, x.dtype)


def _placed(plan: SteeringPlan, x: torch.Tensor) -> bool:
    t = next((v for v in _tensors(plan) if v.is_floating_point()), None)
    return t is None or (t.device == x.device and t.dtype == x.dtype)


def _tensors(plan: SteeringPlan) -> list[torch.Tensor]:
    return [v for v in vars(plan).values() if isinstance(v, torch.Tensor)]


def move_plan(plan: SteeringPlan, device: torch.device | str, dtype: torch.dtype | None,
              keep_shifts: bool = True) -> SteeringPlan:
    """A copy of ``plan`` with its tensors on ``device`` (float tensors in ``dtype`` when given); without
    ``keep_shifts`` the encoder-side shifts ([..., d_sae], needed only for the local readout) and the resolved rows
    (what the panels show) are dropped."""
    moved = SteeringPlan(resolved=list(plan.resolved) if keep_shifts else [])
    for name, value in vars(plan).items():
        if not isinstance(value, torch.Tensor) or (not keep_shifts and name.endswith("_shift")):
            continue
        cast = dtype if (dtype is not None and value.is_floating_point()) else value.dtype
        setattr(moved, name, value.to(device=device, dtype=cast))
    moved.conditional = [(g.to(device), thr, move_plan(sub, device, dtype, keep_shifts))
                         for g, thr, sub in plan.conditional]
    return moved
