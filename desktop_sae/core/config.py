"""TEMPORARY (replaced by the core-refactor branch's torch-free module)."""
from .generation import SamplingConfig  # noqa: F401
from .steering import NO_STEERING, SteerSpec, SteeringConfig, parse_steer, resolve_strength  # noqa: F401
