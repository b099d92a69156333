"""Small checks for values read from files (presets, SAE configs): readable quotes of hostile values in error
messages, and numbers that are really finite (a JSON integer can exceed the float range)."""

from __future__ import annotations

import math
import reprlib
from typing import TypeGuard

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def quote(value: object) -> str:
    """A short repr of a value from a file: huge numbers, long texts and deep nesting stay readable."""
    return _REPR.repr(value)


def cut(text: str, n: int = 200) -> str:
    """``text`` cut to ``n`` characters (library messages can quote whole damaged headers)."""
    return text if len(text) <= n else text[:n] + " …"


def is_finite(value: object) -> TypeGuard[float]:
    """True for an int or float (not a bool) with a finite float value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        return False
