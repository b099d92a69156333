"""Plain settings shared by the CLI, the app and the engine: sampling, steering specs and the strength-unit rule.

Imports neither torch nor anything heavy, so a GUI or a CLI parser can build and validate settings before the
engine loads (docs/MATHS.md, "Steering", gives the maths behind the units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .errors import SteeringError

METHODS = ("add", "clamp", "orth", "cap")
VECTOR_METHODS = ("add", "orth", "cap")  # methods that need only a direction, not an SAE feature's activation
UNITS = ("raw", "max")
METHOD_ALIASES = {"add": "add", "additive": "add", "clamp": "clamp", "orth": "orth", "orthogonal": "orth",
                  "cap": "cap", "projection_cap": "cap"}
STEER_SYNTAX = "FEATURE=VALUE[x][:add|clamp|orth|cap][@COND>THRESHOLD[x]]"


@dataclass(frozen=True)
class SamplingConfig:
    """Defaults follow Neuronpedia's steering page: temperature 0.5, frequency penalty 1.0, fixed seed."""

    temperature: float = 0.5  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    frequency_penalty: float = 1.0  # subtracted per previous occurrence in the answer (OpenAI convention)
    repetition_penalty: float = 1.0  # HF convention, over prompt + answer
    seed: int | None = 42
    max_new_tokens: int = 128

    def validate(self) -> SamplingConfig:
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.max_new_tokens < 0:
            raise ValueError("top_k and max_new_tokens must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        return self


@dataclass(frozen=True)
class SteerSpec:
    feature: int
    strength: float
    unit: str = "raw"  # 'raw' | 'max' (multiple of the feature's max activation)
    method: str = "add"  # 'add' | 'clamp' | 'orth' | 'cap'
    enabled: bool = True
    label: str = ""
    # a steering vector instead of an SAE feature (Neuronpedia's custom vectors, a mean-difference vector): the
    # direction itself, in the hook's residual basis; ``feature`` is then a negative key (-1, -2, ...) that names
    # the row in the steering set, the strength a raw coefficient on this vector as stored
    vector: tuple[float, ...] | None = None
    # conditional steering: (feature g, threshold T): the row steers only at positions where g's activation on
    # the unsteered residual is above T (raw activation, or T x g's max activation when ``when_unit`` is 'max')
    when: tuple[int, float] | None = None
    when_unit: str = "raw"

    def __post_init__(self):
        if self.method not in METHODS:
            raise SteeringError(f"unknown steering method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.unit not in UNITS:
            raise SteeringError(f"unknown strength unit {self.unit!r}; use 'raw' or 'max'")
        if not math.isfinite(self.strength):
            raise SteeringError(f"feature {self.feature}: strength must be a finite number, got {self.strength}")
        if self.vector is not None:
            self._check_vector()
        if self.when is not None:
            self._check_when()

    def _check_when(self) -> None:
        w = self.when
        ok = isinstance(w, tuple) and len(w) == 2 and isinstance(w[0], int) and not isinstance(w[0], bool)
        if not ok or w[0] < 0 or not isinstance(w[1], (int, float)) or not math.isfinite(w[1]):
            raise SteeringError(f"{self.label or f'feature {self.feature}'}: a condition is (feature >= 0, finite "
                                f"threshold), got {w!r}")
        if self.when_unit not in UNITS:
            raise SteeringError(f"unknown threshold unit {self.when_unit!r}; use 'raw' or 'max'")
        object.__setattr__(self, "when", (int(w[0]), float(w[1])))

    def _check_vector(self) -> None:
        name = self.label or f"vector {self.feature}"
        if self.feature >= 0:
            raise SteeringError(f"{name}: a steering vector's key must be negative (features own 0, 1, ...)")
        if not self.vector or not all(isinstance(v, float) and math.isfinite(v) for v in self.vector):
            raise SteeringError(f"{name}: a steering vector must be a non-empty list of finite numbers")
        if self.method not in VECTOR_METHODS:
            raise SteeringError(f"{name}: a steering vector can be applied with {', '.join(VECTOR_METHODS)}, "
                                f"not {self.method!r} (clamping needs an SAE feature's activation)")
        if self.unit != "raw":
            raise SteeringError(f"{name}: a steering vector's strength is raw (a vector has no max activation)")

    @property
    def is_vector(self) -> bool:
        return self.vector is not None


@dataclass(frozen=True)
class SteeringConfig:
    features: tuple[SteerSpec, ...] = ()
    multiplier: float = 1.0
    skip_special: bool = True  # leave BOS / chat-template special tokens unsteered

    @property
    def active(self) -> tuple[SteerSpec, ...]:
        return tuple(s for s in self.features if s.enabled)


NO_STEERING = SteeringConfig()


def weighted_rows(spec: SteerSpec, members) -> tuple[SteerSpec, ...]:
    """A weighted feature set as steering rows: ``spec`` (strength, unit, method, ...) copied once per
    (feature, weight) member at strength x weight; labels get "(j of n)" when ``spec`` has one."""
    members = [(int(f), float(w)) for f, w in members]
    n = len(members)
    return tuple(replace(spec, feature=f, strength=spec.strength * w,
                         label=f"{spec.label} ({j + 1} of {n})" if spec.label and n > 1 else spec.label)
                 for j, (f, w) in enumerate(members))


def _value_unit(text: str) -> tuple[float, str]:
    """``8`` -> (8.0, 'raw'); ``0.3x`` -> (0.3, 'max')."""
    text = text.strip()
    if text.lower().endswith("x"):
        return float(text[:-1]), "max"
    return float(text), "raw"


def parse_steer(text: str) -> SteerSpec:
    """CLI form ``F=V[x][:add|clamp|orth|cap][@G>T[x]]``: ``12=8`` raw, ``12=10x`` ten times max activation,
    ``12=8x:add@5>0.3x`` only where feature 5 is above 0.3 x its max activation (``@5>1.5``: above 1.5 raw)."""
    try:
        lhs, rhs = text.split("=", 1)
        when = None
        when_unit = "raw"
        if "@" in rhs:
            rhs, cond = rhs.split("@", 1)
            g, t = cond.split(">", 1)
            t_val, when_unit = _value_unit(t)
            when = (int(g), t_val)
        method = "add"
        if ":" in rhs:
            rhs, method = rhs.rsplit(":", 1)
        value, unit = _value_unit(rhs)
        if method.strip().lower() not in METHOD_ALIASES:
            raise SteeringError(f"unknown method {method!r} in --steer {text!r}; use add, clamp, orth or cap")
        return SteerSpec(int(lhs), value, unit, METHOD_ALIASES[method.strip().lower()], when=when,
                         when_unit=when_unit)
    except SteeringError:
        raise
    except ValueError:
        raise SteeringError(
            f"bad --steer {text!r}: expected {STEER_SYNTAX}, e.g. 123=8x:clamp or 123=8x:add@5>0.3x"
        ) from None


@dataclass
class ResolvedSteer:
    spec: SteerSpec
    coefficient: float  # raw additive strength, clamp target, or orthogonal gain (after the multiplier)
    x_max: float | None  # the same as a multiple of max activation (add/clamp), if stats exist
    pct_norm: float | None  # |coefficient * W_dec[f]| as % of the hook's typical residual norm (add/clamp)
    weight: float = 1.0  # cap only: the fraction of the excess above the cap that is removed (the multiplier)

    def units(self) -> dict:
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
    usable = max_act is not None and math.isfinite(max_act) and max_act > 0
    if spec.method == "cap":
        full = max_act * dec_norm if (usable and dec_norm) else None
        cap = spec.strength * full if (spec.unit == "max" and full) else spec.strength
        return ResolvedSteer(spec, cap, cap / full if full else None,
                             100.0 * abs(cap) / typical_norm if typical_norm else None, multiplier)
    coef = (spec.strength * max_act if (spec.unit == "max" and usable) else spec.strength) * multiplier
    return ResolvedSteer(
        spec,
        coef,
        coef / max_act if usable else None,
        100.0 * abs(coef) * dec_norm / typical_norm if (typical_norm and dec_norm is not None) else None,
    )


def resolve_threshold(threshold: float, unit: str, max_act: float | None) -> float | None:
    """A condition's threshold in raw activation units: as given, or ``threshold`` x the condition feature's max
    activation ('max'); None when a 'max' threshold has no usable statistics."""
    if unit != "max":
        return float(threshold)
    usable = max_act is not None and math.isfinite(max_act) and max_act > 0
    return float(threshold) * max_act if usable else None
