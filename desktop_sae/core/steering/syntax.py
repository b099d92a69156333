"""The text form of a steering row on the command line: ``FEATURE=VALUE[x][:method][@COND>THRESHOLD[x]]``, and
the method names (with their aliases) that presets and the CLI accept.
"""

from __future__ import annotations

from ..support.errors import SteeringError
from .specs import SteerSpec

METHOD_ALIASES = {"add": "add", "additive": "add", "clamp": "clamp", "orth": "orth", "orthogonal": "orth",
                  "cap": "cap", "projection_cap": "cap"}
STEER_SYNTAX = "FEATURE=VALUE[x][:add|clamp|orth|cap][@COND>THRESHOLD[x]]"


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


