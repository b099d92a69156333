"""Plain-language summaries of toy-model geometry, on hand-made weight matrices."""

import numpy as np

from desktop_sae.core.classroom.toy.describe import describe_geometry
from desktop_sae.core.classroom.toy.superposition import geometry


def _ring(degrees, norms=None):
    a = np.radians(np.asarray(degrees, dtype=float))
    r = np.ones(len(a)) if norms is None else np.asarray(norms, dtype=float)
    return np.stack([r * np.cos(a), r * np.sin(a)])


def test_pentagon_is_superposition():
    W = _ring(np.arange(5) * 72.0 + 3.0)
    assert describe_geometry(geometry(W), 5, sparsity=0.95) == (
        "5 of 5 features represented, ≈ 72° apart: a pentagon — superposition"
    )


def test_dense_keeps_the_two_most_important_at_90_degrees():
    W = _ring([10, 98, 40, 200, 300], norms=[1.0, 1.0, 0.05, 0.02, 0.0])
    assert describe_geometry(geometry(W), 5, sparsity=0.0) == (
        "only the 2 most important features represented, at 90°: no superposition (dense data)"
    )
    assert describe_geometry(geometry(W), 5, sparsity=0.9).endswith("no superposition")


def test_square_of_antipodal_pairs_and_other_shapes():
    W = _ring([0, 90, 180, 0, 270], norms=[1, 1, 1, 0.1, 1])
    assert describe_geometry(geometry(W), 5) == (
        "4 of 5 features represented, ≈ 90° apart: a square of 2 antipodal pairs (1↔3, 2↔5) — superposition"
    )
    W = _ring([0, 60, 180])
    assert describe_geometry(geometry(W), 3) == (
        "3 of 3 features represented; an antipodal pair pointing opposite ways (1↔3) — superposition"
    )
    W = _ring([0, 40, 100, 150])
    assert describe_geometry(geometry(W), 4) == (
        "4 of 4 features represented, nearest neighbours 40°–50° apart — superposition"
    )
    assert describe_geometry(geometry(_ring([0, 90], norms=[0.1, 0.2])), 2) == (
        "no feature represented yet (0 of 2): train longer"
    )
    assert describe_geometry(geometry(_ring([0, 90, 45], norms=[0.1, 1, 1])), 3) == (
        "only features 2 and 3 represented, at 45°: no superposition"
    )
