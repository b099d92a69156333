"""The strength-unit rule: one row's strength after the global multiplier as a raw coefficient, as a multiple of
the feature's max activation and as a share of the hook's typical residual norm (docs/MATHS.md, "Steering"). The
GUI shows these beside each slider; the steering plan applies the raw coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .specs import SteerSpec


@dataclass
class ResolvedSteer:
    spec: SteerSpec
    coefficient: float  # raw additive strength, clamp target, or orthogonal gain (after the multiplier)
    x_max: float | None  # the same as a multiple of max activation (add/clamp), if stats exist
    pct_norm: float | None  # |coefficient * W_dec[f]| as % of the hook's typical residual norm (add/clamp)
    weight: float = 1.0  # cap only: the fraction of the excess above the cap that is removed (the multiplier)

    def units(self) -> dict[str, float | None]:
        return {"raw": self.coefficient, "x_max": self.x_max, "pct_norm": self.pct_norm}


def resolve_strength(spec: SteerSpec, multiplier: float, max_act: float | None, dec_norm: float | None,
                     typical_norm: float | None) -> ResolvedSteer:
    """One feature's strength after the global multiplier m, in all three units (the GUI shows these beside each
    slider). Additive and clamp strengths scale as s*m; an orthogonal gain c becomes 1 + m*(c - 1), so m = 0 is
    always "no steering". A 'max' strength is a multiple of the feature's max activation; without a usable max
    (missing, non-finite or <= 0) ``x_max`` is None and the strength stays raw.

    A cap is a bound on the projection x·u (u the unit direction), in residual units: raw, or a multiple of
    max activation × |W_dec[f]| (the projection the feature's largest activation contributes). The multiplier does
    not move the cap: it scales the excess removed (``weight``), so m = 0 is no steering and m = 1 an exact cap."""
    if spec.method == "orth":
        return ResolvedSteer(spec, 1.0 + multiplier * (spec.strength - 1.0), None, None)
    usable = _usable(max_act)
    if spec.method == "cap":
        full = usable * dec_norm if (usable is not None and dec_norm) else None
        cap = spec.strength * full if (spec.unit == "max" and full) else spec.strength
        return ResolvedSteer(spec, cap, cap / full if full else None,
                             100.0 * abs(cap) / typical_norm if typical_norm else None, multiplier)
    coef = (spec.strength * usable if (spec.unit == "max" and usable is not None) else spec.strength) * multiplier
    return ResolvedSteer(
        spec,
        coef,
        coef / usable if usable is not None else None,
        100.0 * abs(coef) * dec_norm / typical_norm if (typical_norm and dec_norm is not None) else None,
    )


def resolve_threshold(threshold: float, unit: str, max_act: float | None) -> float | None:
    """A condition's threshold in raw activation units: as given, or ``threshold`` x the condition feature's max
    activation ('max'); None when a 'max' threshold has no usable statistics."""
    if unit != "max":
        return float(threshold)
    usable = _usable(max_act)
    return float(threshold) * usable if usable is not None else None


def _usable(max_act: float | None) -> float | None:
    """``max_act`` when it can serve as a unit (present, finite and > 0), else None."""
    return max_act if (max_act is not None and math.isfinite(max_act) and max_act > 0) else None
