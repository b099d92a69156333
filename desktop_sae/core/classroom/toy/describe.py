"""Plain-language summaries of a toy model's geometry, for the toy lab and lessons.

``describe_geometry`` turns a ``superposition.Geometry`` into one sentence such as "5 of 5 features represented,
≈ 72° apart: a pentagon — superposition". Features are numbered from 1 (feature 1 is the most important), as the
lab's arrows are labelled.
"""

from __future__ import annotations

from collections.abc import Iterable

from .superposition import Geometry

POLYGONS = {
    3: "triangle",
    4: "square",
    5: "pentagon",
    6: "hexagon",
    7: "heptagon",
    8: "octagon",
    9: "nonagon",
    10: "decagon",
}
ORTHOGONAL_TOL = 15.0  # degrees from 90 that still read as "at 90°"


def polygon_name(k: int) -> str:
    return POLYGONS.get(k, f"{k}-sided polygon")


def _names(features: Iterable[int]) -> str:
    nums = [str(i + 1) for i in features]
    return nums[0] if len(nums) == 1 else ", ".join(nums[:-1]) + " and " + nums[-1]


def _pairs(pairs: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{a + 1}↔{b + 1}" for a, b in pairs)


def _pair_angle(g: Geometry) -> float:
    """Angle between the two represented features (their nearest angle is each other's)."""
    return float(g.nearest_angle[0])


def describe_geometry(g: Geometry, n: int, m: int = 2, sparsity: float | None = None) -> str:
    """One sentence: how many of the ``n`` features made it into ``m`` dimensions and how they are arranged."""
    rep = list(g.represented)
    k = len(rep)
    if k == 0:
        return f"no feature represented yet (0 of {n}): train longer"
    if k <= m:  # room for every represented feature: no superposition
        if k == n:
            head = f"all {n} features represented"
        elif rep == list(range(k)):
            head = (
                "only the most important feature represented"
                if k == 1
                else f"only the {k} most important features represented"
            )
        else:
            head = f"only feature{'s' if k > 1 else ''} {_names(rep)} represented"
        if k == 2:
            a = _pair_angle(g)
            head += f", at {90 if abs(a - 90) <= ORTHOGONAL_TOL else round(a)}°"
            if g.antipodal_pairs:
                head += " (an antipodal pair)"
        dense = " (dense data)" if sparsity is not None and sparsity < 0.5 else ""
        return f"{head}: no superposition{dense}"
    head = f"{k} of {n} features represented"
    if g.is_polygon:
        head += f", ≈ {round(360 / k)}° apart: a {polygon_name(k)}"  # the mean gap of any k directions
        if g.antipodal_pairs:
            p = len(g.antipodal_pairs)
            head += f" of {p} antipodal pair{'s' if p > 1 else ''} ({_pairs(g.antipodal_pairs)})"
    elif g.antipodal_pairs:
        p = len(g.antipodal_pairs)
        head += (
            f"; {'an antipodal pair' if p == 1 else f'{p} antipodal pairs'} pointing opposite ways "
            f"({_pairs(g.antipodal_pairs)})"
        )
    else:
        lo, hi = round(min(g.nearest_angle)), round(max(g.nearest_angle))
        head += f", nearest neighbours {lo}°" + ("" if lo == hi else f"–{hi}°") + " apart"
    return f"{head} — superposition"
