"""What a steering row is (``SteerSpec``: a feature or a vector, its strength, unit, method and condition), the
set of rows that steers the next answer (``SteeringConfig``), and the rows of a weighted feature set.

Imports neither torch nor anything heavy, so a GUI or a CLI parser can build and validate steering before the
engine loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..support.errors import SteeringError

METHODS = ("add", "clamp", "orth", "cap")
VECTOR_METHODS = ("add", "orth", "cap")  # methods that need only a direction, not an SAE feature's activation
UNITS = ("raw", "max")


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

    def __post_init__(self) -> None:
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
        assert w is not None  # only called when a condition is set
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


def weighted_rows(spec: SteerSpec, members: Iterable[tuple[int, float]]) -> tuple[SteerSpec, ...]:
    """A weighted feature set as steering rows: ``spec`` (strength, unit, method, ...) copied once per
    (feature, weight) member at strength x weight; labels get "(j of n)" when ``spec`` has one."""
    pairs = [(int(f), float(w)) for f, w in members]
    n = len(pairs)
    return tuple(replace(spec, feature=f, strength=spec.strength * w,
                         label=f"{spec.label} ({j + 1} of {n})" if spec.label and n > 1 else spec.label)
                 for j, (f, w) in enumerate(pairs))


