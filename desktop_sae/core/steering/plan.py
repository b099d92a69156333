"""Steering with SAE features or vectors at the SAE's hook point (docs/MATHS.md, "Steering").

- additive:   x <- x + s * v                                  (v = W_dec[f], or a steering vector)
- clamp:      x <- x + (c - a_f(x)) * W_dec[f]                (error term kept; several features sum their terms)
- orthogonal: x <- (I - P) x + c * P x,  P = u u^T,  u = v / |v|
- cap:        x <- x - w * u * max(0, x.u - c)                (the projection on u never exceeds c; w = multiplier)

A row may be conditional (``SteerSpec.when``): its term is multiplied by 1 where the condition feature's
activation on the unsteered residual is above the threshold, else 0. All terms come from the unsteered x.
Strengths and their units are resolved by ``config.resolve_strength`` (the one place that rule lives).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..sae.autoencoder import SAE
from ..support.errors import SteeringError
from ..support.row_blocks import matmul_rows
from .specs import SteeringConfig, SteerSpec
from .strength import ResolvedSteer, resolve_strength, resolve_threshold

# one row of a plan being built: its resolved strength and its direction [d] (float32)
_Member = tuple[ResolvedSteer, torch.Tensor]
# one term of the change: (coefficients [..., n] or None for a constant, directions [n, d], shifts [n, d_sae])
_Term = tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]


class DecoderScaled(Protocol):
    """What applying a plan reads of the SAE: the per-row factor from decoder space to the input's space (an SAE,
    or the constant that stands in for one where the plan runs next to a remote model: core/remote/model_side.py)."""

    def decoder_scale(self, x: torch.Tensor) -> torch.Tensor | float: ...


@dataclass
class SteeringPlan:
    """Steering resolved against one SAE into tensors the hook can apply in a few ops per token."""

    resolved: list[ResolvedSteer] = field(default_factory=list)
    add_vec: torch.Tensor | None = None  # [d]
    clamp_idx: torch.Tensor | None = None  # [n]
    clamp_val: torch.Tensor | None = None  # [n]
    clamp_dirs: torch.Tensor | None = None  # [n, d] = W_dec[clamp_idx]
    orth_dirs: torch.Tensor | None = None  # [m, d] unit vectors
    orth_gain: torch.Tensor | None = None  # [m] (c - 1)
    cap_dirs: torch.Tensor | None = None  # [q, d] unit vectors
    cap_val: torch.Tensor | None = None  # [q] caps on x.u (residual units)
    cap_weight: torch.Tensor | None = None  # [q] fraction of the excess removed (the multiplier)
    # the same directions pushed through the encoder (SAEs whose pre-activations are affine in x), so the
    # steered activations cost a few multiply-adds instead of a second encoder pass
    add_shift: torch.Tensor | None = None  # [d_sae]
    clamp_shift: torch.Tensor | None = None  # [n, d_sae]
    orth_shift: torch.Tensor | None = None  # [m, d_sae]
    cap_shift: torch.Tensor | None = None  # [q, d_sae]
    # rows that steer only where a feature fires: (feature index [1], raw threshold, the rows' own plan)
    conditional: list[tuple[torch.Tensor, float, SteeringPlan]] = field(default_factory=list)

    @property
    def unconditional_empty(self) -> bool:
        return self.add_vec is None and self.clamp_idx is None and self.orth_dirs is None and self.cap_dirs is None

    @property
    def empty(self) -> bool:
        return self.unconditional_empty and not self.conditional


def plan_steering(cfg: SteeringConfig, sae: SAE | None, typical_norm: float | None = None) -> SteeringPlan:
    """Validate everything first and build the plan; raises SteeringError and applies nothing on bad input."""
    specs = cfg.active
    if not specs:
        return SteeringPlan()
    if sae is None:
        raise SteeringError("steering needs an SAE: load one first")
    if not math.isfinite(cfg.multiplier):
        raise SteeringError(f"the global multiplier must be finite, got {cfg.multiplier}")
    d_sae = sae.cfg.d_sae
    W_dec = sae.W_dec.detach()
    dec_norms = W_dec.float().norm(dim=-1)
    rows: list[ResolvedSteer] = []
    groups: dict[tuple[int, float] | None, list[_Member]] = {}
    for s in specs:
        if s.is_vector:
            direction = _vector_direction(s, W_dec.shape[-1])
            r = resolve_strength(s, cfg.multiplier, None, float(direction.norm()), typical_norm)
        else:
            if not 0 <= s.feature < d_sae:
                raise SteeringError(f"feature {s.feature} does not exist: this SAE has features 0..{d_sae - 1}")
            r = resolve_strength(s, cfg.multiplier, sae.max_activation(s.feature), float(dec_norms[s.feature]),
                                 typical_norm)
            if s.unit == "max" and s.method != "orth" and r.x_max is None:  # an orthogonal gain has no unit
                raise SteeringError(
                    f"feature {s.feature}: strength in × max activation needs feature statistics, which this SAE "
                    f"lacks (or the feature never fired); give a raw strength instead"
                )
            direction = W_dec[s.feature].float()
        rows.append(r)
        groups.setdefault(_condition(s, sae), []).append((r, direction))
    plan = _build(groups.pop(None, []), sae)
    plan.resolved = rows
    dev = W_dec.device
    for cond, members in groups.items():
        assert cond is not None  # the unconditional rows were popped above
        g, thr = cond
        plan.conditional.append((torch.tensor([g], device=dev), thr, _build(members, sae)))
    return plan


def _condition(s: SteerSpec, sae: SAE) -> tuple[int, float] | None:
    """The row's condition as (feature, raw threshold), checked against the SAE."""
    if s.when is None:
        return None
    g, t = s.when
    name = s.label or (f"vector {s.feature}" if s.is_vector else f"feature {s.feature}")
    if not 0 <= g < sae.cfg.d_sae:
        raise SteeringError(f"{name}: condition feature {g} does not exist (this SAE has 0..{sae.cfg.d_sae - 1})")
    thr = resolve_threshold(t, s.when_unit, sae.max_activation(g))
    if thr is None:
        raise SteeringError(f"{name}: a threshold in × max activation needs statistics for feature {g}, which "
                            f"this SAE lacks; give a raw threshold instead")
    return g, thr


def _build(members: list[_Member], sae: SAE) -> SteeringPlan:
    """Tensors for rows that share one condition (or none)."""
    plan = SteeringPlan()
    W_dec = sae.W_dec.detach()
    dev, dt = W_dec.device, W_dec.dtype
    add_terms, clamp_i, clamp_v, orth_d, orth_g, cap_d, cap_c, cap_w = [], [], [], [], [], [], [], []
    for r, direction in members:
        s = r.spec
        if s.method == "orth":
            orth_d.append(direction)
            orth_g.append(r.coefficient - 1.0)
        elif s.method == "cap":
            cap_d.append(direction)
            cap_c.append(r.coefficient)
            cap_w.append(r.weight)
        elif s.method == "add":
            add_terms.append((direction, r.coefficient))
        else:
            clamp_i.append(s.feature)
            clamp_v.append(r.coefficient)
    if add_terms:
        dirs = torch.stack([d.to(dev) for d, _ in add_terms])
        coefs = torch.tensor([c for _, c in add_terms], device=dev, dtype=torch.float32)
        plan.add_vec = (coefs[:, None] * dirs).sum(0).to(dt)
    if clamp_i:
        plan.clamp_idx = torch.tensor(clamp_i, device=dev)
        plan.clamp_val = torch.tensor(clamp_v, device=dev, dtype=dt)
        plan.clamp_dirs = W_dec[plan.clamp_idx]
    if orth_d:
        plan.orth_dirs = _unit(orth_d, dev, dt, "orthogonal steering")
        plan.orth_gain = torch.tensor(orth_g, device=dev, dtype=dt)
    if cap_d:
        plan.cap_dirs = _unit(cap_d, dev, dt, "a projection cap")
        plan.cap_val = torch.tensor(cap_c, device=dev, dtype=dt)
        plan.cap_weight = torch.tensor(cap_w, device=dev, dtype=dt)
    if sae.linear_input:
        with torch.no_grad():
            for name in ("add", "clamp", "orth", "cap"):
                dirs = getattr(plan, "add_vec" if name == "add" else f"{name}_dirs")
                setattr(plan, f"{name}_shift", None if dirs is None else sae.pre_shift(dirs))
    return plan


def _unit(dirs: list[torch.Tensor], dev: torch.device, dt: torch.dtype, what: str) -> torch.Tensor:
    v = torch.stack([d.to(dev) for d in dirs])
    norms = v.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        raise SteeringError(f"{what} needs a non-zero direction")
    return (v / norms).to(dt)


def _vector_direction(s: SteerSpec, d_in: int) -> torch.Tensor:
    assert s.vector is not None  # only called for vector rows
    if len(s.vector) != d_in:
        raise SteeringError(f"{s.label or f'vector {s.feature}'} has {len(s.vector)} dimensions, but this SAE's "
                            f"hook has {d_in}: it was made for another model or layer")
    return torch.tensor(s.vector, dtype=torch.float32)


def steering_delta(x: torch.Tensor, clamped_now: torch.Tensor | None, plan: SteeringPlan, sae: DecoderScaled,
                   mask: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(delta, pre_shift) of the plan's unconditional rows: the change to add to ``x`` [..., d], all terms computed
    from the un-steered x, and the change it causes in the SAE's pre-activations (None unless the plan has the
    encoder-side shifts). ``clamped_now`` [..., n] holds the current activations of the clamped features;
    ``mask`` [..., 1] zeroes the change at positions that must stay unsteered."""
    terms: list[_Term] = []
    if plan.add_vec is not None:
        terms.append((None, plan.add_vec, plan.add_shift))
    if plan.clamp_idx is not None:
        # _build sets a group's tensors together, and the caller reads the clamped activations when clamp_idx is set
        assert plan.clamp_val is not None and plan.clamp_dirs is not None and clamped_now is not None
        terms.append(((plan.clamp_val - clamped_now) * sae.decoder_scale(x), plan.clamp_dirs, plan.clamp_shift))
    if plan.orth_dirs is not None:
        assert plan.orth_gain is not None
        terms.append((matmul_rows(x, plan.orth_dirs.T) * plan.orth_gain, plan.orth_dirs, plan.orth_shift))
    if plan.cap_dirs is not None:
        assert plan.cap_val is not None and plan.cap_weight is not None
        excess = torch.relu(matmul_rows(x, plan.cap_dirs.T) - plan.cap_val)
        terms.append((-plan.cap_weight * excess, plan.cap_dirs, plan.cap_shift))
    if not terms:
        return None, None
    delta: torch.Tensor | None = None
    shift: torch.Tensor | None = None
    exact_shift = True
    for coef, dirs, sh in terms:
        d = dirs.expand_as(x) if coef is None else matmul_rows(coef, dirs)
        delta = d if delta is None else delta + d
        if sh is None:
            exact_shift = False
        elif exact_shift:
            s_ = sh if coef is None else matmul_rows(coef, sh)
            shift = s_ if shift is None else shift + s_
    assert delta is not None  # terms is not empty
    if mask is not None:
        delta = delta * mask
        shift = shift * mask if (exact_shift and shift is not None) else shift
    return delta, (shift if exact_shift else None)


def plan_delta(x: torch.Tensor, acts_of: Callable[[torch.Tensor], torch.Tensor], plan: SteeringPlan, sae: DecoderScaled,
               mask: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(delta, pre_shift) of the whole plan, conditional rows included. ``acts_of(idx)`` gives the activations
    [..., n] of features ``idx`` on the un-steered residual (clamp values and conditions both read them)."""
    now = None if plan.clamp_idx is None else acts_of(plan.clamp_idx)
    delta, shift = steering_delta(x, now, plan, sae, mask)
    if not plan.conditional:
        return delta, shift
    exact = delta is None or shift is not None
    for g, thr, sub in plan.conditional:
        gate = (acts_of(g) > thr).to(x.dtype)  # [..., 1]: 1 where the condition feature fires above thr
        sub_now = None if sub.clamp_idx is None else acts_of(sub.clamp_idx)
        d, s_ = steering_delta(x, sub_now, sub, sae, gate if mask is None else gate * mask)
        if d is None:
            continue
        delta = d if delta is None else delta + d
        if s_ is None:
            exact = False
        elif exact:
            shift = s_ if shift is None else shift + s_
    return delta, (shift if exact else None)
