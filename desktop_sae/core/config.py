"""Plain settings shared by the CLI, the app and the engine: sampling, steering specs and the strength-unit rule.

Imports neither torch nor anything heavy, so a GUI or a CLI parser can build and validate settings before the
engine loads (docs/MATHS.md, "Steering", gives the maths behind the units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SteeringError

METHODS = ("add", "clamp", "orth")
VECTOR_METHODS = ("add", "orth")  # methods that need only a direction, not an SAE feature's activation
UNITS = ("raw", "max")
METHOD_ALIASES = {"add": "add", "additive": "add", "clamp": "clamp", "orth": "orth", "orthogonal": "orth"}


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
    method: str = "add"  # 'add' | 'clamp' | 'orth'
    enabled: bool = True
    label: str = ""
    # a steering vector instead of an SAE feature (Neuronpedia's custom vectors, a mean-difference vector): the
    # direction itself, in the hook's residual basis; ``feature`` is then a negative key (-1, -2, ...) that names
    # the row in the steering set, the strength a raw coefficient on this vector as stored
    vector: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise SteeringError(f"unknown steering method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.unit not in UNITS:
            raise SteeringError(f"unknown strength unit {self.unit!r}; use 'raw' or 'max'")
        if not math.isfinite(self.strength):
            raise SteeringError(f"feature {self.feature}: strength must be a finite number, got {self.strength}")
        if self.vector is not None:
            self._check_vector()

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


def parse_steer(text: str) -> SteerSpec:
    """CLI form ``F=V[x][:add|clamp|orth]``: ``12=8`` raw, ``12=10x`` ten times max activation."""
    try:
        lhs, rhs = text.split("=", 1)
        method = "add"
        if ":" in rhs:
            rhs, method = rhs.rsplit(":", 1)
        unit = "raw"
        rhs = rhs.strip()
        if rhs.lower().endswith("x"):
            unit, rhs = "max", rhs[:-1]
        if method.strip().lower() not in METHOD_ALIASES:
            raise SteeringError(f"unknown method {method!r} in --steer {text!r}; use add, clamp or orth")
        return SteerSpec(int(lhs), float(rhs), unit, METHOD_ALIASES[method.strip().lower()])
    except SteeringError:
        raise
    except ValueError:
        raise SteeringError(
            f"bad --steer {text!r}: expected FEATURE=VALUE[x][:add|clamp|orth], e.g. 123=8x:clamp"
        ) from None


@dataclass
class ResolvedSteer:
    spec: SteerSpec
    coefficient: float  # raw additive strength, clamp target, or orthogonal gain (after the multiplier)
    x_max: float | None  # the same as a multiple of max activation (add/clamp), if stats exist
    pct_norm: float | None  # |coefficient * W_dec[f]| as % of the hook's typical residual norm (add/clamp)

    def units(self) -> dict:
        return {"raw": self.coefficient, "x_max": self.x_max, "pct_norm": self.pct_norm}


def resolve_strength(spec: SteerSpec, multiplier: float, max_act: float | None, dec_norm: float | None,
                     typical_norm: float | None) -> ResolvedSteer:
    """One feature's strength after the global multiplier m, in all three units (the GUI shows these beside each
    slider). Additive and clamp strengths scale as s*m; an orthogonal gain c becomes 1 + m*(c - 1), so m = 0 is
    always "no steering". A 'max' strength is a multiple of the feature's max activation; without a usable max
    (missing, non-finite or <= 0) ``x_max`` is None and the strength stays raw."""
    if spec.method == "orth":
        return ResolvedSteer(spec, 1.0 + multiplier * (spec.strength - 1.0), None, None)
    usable = max_act is not None and math.isfinite(max_act) and max_act > 0
    coef = (spec.strength * max_act if (spec.unit == "max" and usable) else spec.strength) * multiplier
    return ResolvedSteer(
        spec,
        coef,
        coef / max_act if usable else None,
        100.0 * abs(coef) * dec_norm / typical_norm if (typical_norm and dec_norm is not None) else None,
    )
