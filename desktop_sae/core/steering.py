"""Steering with SAE features at the SAE's hook point (docs/MATHS.md, "Steering").

- additive:   x <- x + s * W_dec[f]
- clamp:      x <- x + (c - a_f(x)) * W_dec[f]          (error term kept; several features sum their terms)
- orthogonal: x <- (I - P) x + c * P x,  P = v v^T / |v|^2, v = W_dec[f]

Strengths and their units are resolved by ``config.resolve_strength`` (the one place that rule lives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .config import ResolvedSteer, SteeringConfig, resolve_strength
from .errors import SteeringError
from .sae import SAE


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
    # the same directions pushed through the encoder (SAEs whose pre-activations are affine in x), so the
    # steered activations cost a few multiply-adds instead of a second encoder pass
    add_shift: torch.Tensor | None = None  # [d_sae]
    clamp_shift: torch.Tensor | None = None  # [n, d_sae]
    orth_shift: torch.Tensor | None = None  # [m, d_sae]

    @property
    def empty(self) -> bool:
        return self.add_vec is None and self.clamp_idx is None and self.orth_dirs is None


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
    m = cfg.multiplier
    W_dec = sae.W_dec.detach()
    plan = SteeringPlan()
    add_terms, clamp_i, clamp_v, orth_d, orth_g = [], [], [], [], []
    dec_norms = W_dec.float().norm(dim=-1)
    for s in specs:
        if s.is_vector:
            direction = _vector_direction(s, W_dec.shape[-1])
            r = resolve_strength(s, m, None, float(direction.norm()), typical_norm)
            plan.resolved.append(r)
            if s.method == "orth":
                orth_d.append(direction)
                orth_g.append(r.coefficient - 1.0)
            else:
                add_terms.append((direction, r.coefficient))
            continue
        if not 0 <= s.feature < d_sae:
            raise SteeringError(f"feature {s.feature} does not exist: this SAE has features 0..{d_sae - 1}")
        r = resolve_strength(s, m, sae.max_activation(s.feature), float(dec_norms[s.feature]), typical_norm)
        if s.unit == "max" and s.method != "orth" and r.x_max is None:  # an orthogonal gain has no unit
            raise SteeringError(
                f"feature {s.feature}: strength in × max activation needs feature statistics, which this SAE lacks "
                f"(or the feature never fired); give a raw strength instead"
            )
        plan.resolved.append(r)
        if s.method == "orth":
            orth_d.append(W_dec[s.feature].float())
            orth_g.append(r.coefficient - 1.0)
        elif s.method == "add":
            add_terms.append((W_dec[s.feature].float(), r.coefficient))
        else:
            clamp_i.append(s.feature)
            clamp_v.append(r.coefficient)
    dev, dt = W_dec.device, W_dec.dtype
    if add_terms:
        dirs = torch.stack([d.to(dev) for d, _ in add_terms])
        coefs = torch.tensor([c for _, c in add_terms], device=dev, dtype=torch.float32)
        plan.add_vec = (coefs[:, None] * dirs).sum(0).to(dt)
    if clamp_i:
        plan.clamp_idx = torch.tensor(clamp_i, device=dev)
        plan.clamp_val = torch.tensor(clamp_v, device=dev, dtype=dt)
        plan.clamp_dirs = W_dec[plan.clamp_idx]
    if orth_d:
        v = torch.stack([d.to(dev) for d in orth_d])
        norms = v.norm(dim=-1, keepdim=True)
        if (norms == 0).any():
            raise SteeringError("orthogonal steering needs a non-zero decoder direction")
        plan.orth_dirs = (v / norms).to(dt)
        plan.orth_gain = torch.tensor(orth_g, device=dev, dtype=dt)
    if sae.linear_input:
        with torch.no_grad():
            plan.add_shift = None if plan.add_vec is None else sae.pre_shift(plan.add_vec)
            plan.clamp_shift = None if plan.clamp_dirs is None else sae.pre_shift(plan.clamp_dirs)
            plan.orth_shift = None if plan.orth_dirs is None else sae.pre_shift(plan.orth_dirs)
    return plan


def _vector_direction(s, d_in: int) -> torch.Tensor:
    if len(s.vector) != d_in:
        raise SteeringError(f"{s.label or f'vector {s.feature}'} has {len(s.vector)} dimensions, but this SAE's "
                            f"hook has {d_in}: it was made for another model or layer")
    return torch.tensor(s.vector, dtype=torch.float32)


def steering_delta(x: torch.Tensor, clamped_now: torch.Tensor | None, plan: SteeringPlan, sae: SAE, mask=None):
    """(delta, pre_shift): the change to add to ``x`` [..., d], all terms computed from the un-steered x, and
    the change it causes in the SAE's pre-activations (None unless the plan has the encoder-side shifts).
    ``clamped_now`` [..., n] holds the current activations of the clamped features; ``mask`` [..., 1] zeroes
    the change at positions that must stay unsteered."""
    terms = []  # (coefficients [..., n] or None for a constant, directions [n, d], shifts [n, d_sae])
    if plan.add_vec is not None:
        terms.append((None, plan.add_vec, plan.add_shift))
    if plan.clamp_idx is not None:
        coef = (plan.clamp_val - clamped_now) * sae.decoder_scale(x)
        terms.append((coef, plan.clamp_dirs, plan.clamp_shift))
    if plan.orth_dirs is not None:
        terms.append(((x @ plan.orth_dirs.T) * plan.orth_gain, plan.orth_dirs, plan.orth_shift))
    if not terms:
        return None, None
    delta = shift = None
    exact_shift = True
    for coef, dirs, sh in terms:
        d = dirs.expand_as(x) if coef is None else coef @ dirs
        delta = d if delta is None else delta + d
        if sh is None:
            exact_shift = False
        elif exact_shift:
            s_ = sh if coef is None else coef @ sh
            shift = s_ if shift is None else shift + s_
    if mask is not None:
        delta = delta * mask
        shift = shift * mask if (exact_shift and shift is not None) else shift
    return delta, (shift if exact_shift else None)
