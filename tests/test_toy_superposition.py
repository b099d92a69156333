"""Toy model of superposition: the known geometry on fixed seeds, determinism, snapshots, cancelling."""

import numpy as np
import pytest
import torch

from desktop_sae.core.classroom.toy.superposition import (
    ToyConfig,
    ToyError,
    angles_between,
    geometry,
    is_regular_polygon,
    train_toy,
)
from desktop_sae.core.support.errors import Cancelled

torch.set_num_threads(1)


@pytest.mark.parametrize("sparsity,seed", [(0.9, 0), (0.95, 0), (0.95, 1)])
def test_sparse_features_form_a_pentagon(sparsity, seed):
    r = train_toy(ToyConfig(n=5, m=2, sparsity=sparsity, seed=seed))
    g = geometry(r.W)
    assert g.represented == (0, 1, 2, 3, 4)
    assert min(g.norms) > 0.5
    assert all(abs(a - 72.0) <= 8.0 for a in g.nearest_angle), g.nearest_angle
    assert g.is_polygon


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_features_keep_the_two_most_important_orthogonal(seed):
    r = train_toy(ToyConfig(n=5, m=2, sparsity=0.0, seed=seed))
    g = geometry(r.W)
    assert g.represented == (0, 1)
    assert abs(angles_between(r.W, [0, 1])[0, 1] - 90.0) < 5.0
    assert not g.is_polygon


def test_same_seed_same_weights_and_other_seed_differs():
    cfg = ToyConfig(n=5, m=2, sparsity=0.9, steps=200, seed=3)
    a, b = train_toy(cfg), train_toy(cfg)
    c = train_toy(ToyConfig(n=5, m=2, sparsity=0.9, steps=200, seed=4))
    assert np.array_equal(a.W, b.W) and np.array_equal(a.losses, b.losses)
    assert not np.allclose(a.W, c.W)


def test_partial_snapshots_and_progress_arrive_during_training():
    snaps, fractions = [], []
    r = train_toy(ToyConfig(steps=120, seed=0), progress=lambda f, m: fractions.append(f), partial=snaps.append,
                  every=50)
    assert [s.step for s in snaps] == [50, 100, 120]
    assert fractions == pytest.approx([50 / 120, 100 / 120, 1.0])
    assert np.array_equal(snaps[-1].W, r.W)
    assert not np.array_equal(snaps[0].W, r.W)  # a copy taken at step 50, not a view of the live weights
    assert snaps[0].W.shape == (2, 5) and snaps[0].loss == r.losses[49]
    assert len(r.losses) == 120 and r.losses[-1] < r.losses[0]


def test_cancelling_raises_after_the_current_step():
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 30

    with pytest.raises(Cancelled):
        train_toy(ToyConfig(steps=1000), cancelled=cancelled)
    assert len(calls) == 31


def test_bad_config_is_refused():
    with pytest.raises(ToyError, match="sparsity"):
        train_toy(ToyConfig(sparsity=1.0))
    with pytest.raises(ToyError, match="n must be"):
        train_toy(ToyConfig(n=1, m=2))


def test_polygon_check_on_hand_made_geometry():
    ang = np.radians(np.arange(5) * 72.0)
    pentagon = np.stack([np.cos(ang), np.sin(ang)])
    assert is_regular_polygon(pentagon, [0, 1, 2, 3, 4])
    squashed = pentagon.copy()
    squashed[:, 1] = [np.cos(np.radians(40)), np.sin(np.radians(40))]
    assert not is_regular_polygon(squashed, [0, 1, 2, 3, 4])
    g = geometry(np.array([[1.0, -1.0, 0.1], [0.0, 0.01, 0.0]]))
    assert g.represented == (0, 1) and g.antipodal_pairs == ((0, 1),)


@pytest.mark.parametrize("seed", [0, 1])
def test_middle_sparsity_gives_two_antipodal_pairs(seed):
    g = geometry(train_toy(ToyConfig(n=5, m=2, sparsity=0.7, seed=seed)).W)
    assert len(g.represented) == 4 and 0 in g.represented and 1 in g.represented
    assert len(g.antipodal_pairs) == 2 and all(abs(a - 90.0) < 8.0 for a in g.nearest_angle)
