"""The toy SAE finds the toy model's feature directions from its 2-D hidden vectors alone."""

import numpy as np
import pytest
import torch

from desktop_sae.core.classroom.toy.superposition import ToyConfig, ToyError, train_toy
from desktop_sae.core.classroom.toy.toy_sae import ToySAEConfig, recovery_score, train_toy_sae
from desktop_sae.core.support.errors import Cancelled

torch.set_num_threads(1)


@pytest.mark.parametrize("sparsity,seed", [(0.9, 0), (0.95, 1)])
def test_sae_recovers_the_pentagon_directions(sparsity, seed):
    toy = ToyConfig(n=5, m=2, sparsity=sparsity, seed=seed)
    W = train_toy(toy).W
    r = train_toy_sae(W, toy, ToySAEConfig(latents=10, seed=0))
    assert r.recovery.fraction >= 0.9, r.recovery.best_cosine
    assert min(r.recovery.best_cosine) >= 0.9
    assert len(set(r.recovery.best_latent)) == 5  # a different latent for each true direction
    assert r.fvu < 0.1 and r.l0 < 2.0
    assert np.allclose(np.linalg.norm(r.W_dec, axis=1), 1.0, atol=1e-5)


def test_recovery_score_on_hand_made_directions():
    ang = np.radians(np.arange(5) * 72.0)
    true = np.stack([np.cos(ang), np.sin(ang)])  # m x n
    rows = np.concatenate([true.T[[2, 0, 4]], [[-1.0, 0.0]]])  # three exact, one 36 degrees from two others
    rec = recovery_score(rows, true)
    assert rec.fraction == pytest.approx(0.6)
    assert rec.best_latent[:1] == (1,) and rec.best_latent[2] == 0 and rec.best_latent[4] == 2
    assert rec.best_cosine[0] == pytest.approx(1.0)
    assert rec.best_cosine[1] == pytest.approx(np.cos(np.radians(72.0)), abs=1e-9)  # nearest is 72 degrees off
    assert recovery_score(rows, true, among=[3]).fraction == 0.0
    assert recovery_score(rows * 5.0, true).fraction == pytest.approx(0.6)  # scale does not matter


def test_deterministic_and_snapshots_and_cancel():
    toy = ToyConfig(sparsity=0.95, seed=0, steps=100)
    W = train_toy(toy).W
    cfg = ToySAEConfig(steps=120, seed=2)
    snaps = []
    a = train_toy_sae(W, toy, cfg, partial=snaps.append, every=60)
    b = train_toy_sae(W, toy, cfg)
    assert np.array_equal(a.W_dec, b.W_dec)
    assert [s.step for s in snaps] == [60, 120] and np.array_equal(snaps[-1].W_dec, a.W_dec)
    with pytest.raises(Cancelled):
        train_toy_sae(W, toy, cfg, cancelled=lambda: True)
    with pytest.raises(ToyError, match="columns"):
        train_toy_sae(W[:, :4], toy, cfg)
