"""Rainbow analogy: a 3-unit bottleneck blurs colours smoothly; a wide TopK-1 layer gives each colour a unit."""

import numpy as np
import pytest
import torch

from desktop_sae.core.classroom.toy.rainbow import RainbowConfig, spectra, train_rainbow, wavelength_to_rgb
from desktop_sae.core.classroom.toy.superposition import ToyError
from desktop_sae.core.support.errors import Cancelled

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def result():
    return train_rainbow(RainbowConfig(seed=0))


def test_sparse_layer_gives_each_colour_its_own_unit(result):
    r = result
    assert r.distinct_fraction >= 0.9, r.sparse_unit
    assert r.units_used >= 0.9 * r.config.colours
    assert ((r.sparse_acts > 0).sum(1) <= 1).all()  # TopK 1: at most one unit per colour
    assert r.sparse_error.mean() < 0.5 * r.dense_error.mean()
    assert r.dense_error.mean() > 0.05  # three numbers cannot hold sixteen colours


def test_bottleneck_codes_vary_smoothly_along_the_spectrum(result):
    c = result.codes
    assert c.shape == (16, 3)
    step = np.linalg.norm(np.diff(c, axis=0), axis=1)
    pair = np.linalg.norm(c[:, None] - c[None], axis=2)
    assert step.mean() < 0.5 * pair[np.triu_indices(len(c), 1)].mean()
    assert step.max() < 0.45 * pair.max()
    shuffled = c[np.random.default_rng(0).permutation(len(c))]  # the same measure on a scrambled order fails
    assert np.linalg.norm(np.diff(shuffled, axis=0), axis=1).mean() > step.mean() * 1.5


def test_inputs_and_display_colours():
    cfg = RainbowConfig(colours=12, bins=40)
    wl, centres, spec = spectra(cfg)
    assert spec.shape == (12, 40) and np.allclose(spec.max(1), 1.0, atol=0.05)
    assert np.all(np.diff(spec.argmax(1)) > 0)  # peaks move from violet to red
    assert wavelength_to_rgb(650.0) == (1.0, 0.0, 0.0)
    assert wavelength_to_rgb(530.0)[1] == 1.0 and wavelength_to_rgb(460.0)[2] == 1.0


def test_deterministic_cancel_and_validation():
    cfg = RainbowConfig(steps=60, seed=5)
    a, b = train_rainbow(cfg), train_rainbow(cfg)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.sparse_unit, b.sparse_unit)
    with pytest.raises(Cancelled):
        train_rainbow(cfg, cancelled=lambda: True)
    with pytest.raises(ToyError, match="units"):
        RainbowConfig(colours=20, units=10).validate()
