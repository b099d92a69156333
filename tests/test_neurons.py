"""Picking a neuron that fires on a few unrelated texts, and reading MLP neurons from a tiny model."""

import numpy as np
import pytest
import torch

from desktop_sae.core.errors import UnsupportedArchitectureError
from desktop_sae.core.neurons import mlp_out_projection, neuron_max_activations, pick_mixed_neuron

torch.set_num_threads(1)


def test_picks_the_neuron_with_a_clear_split():
    acts = np.array([
        # n0: fires on everything   n1: texts 0 and 3 only   n2: text 2 only   n3: 0 and 3 but weak gap
        [1.0, 2.0, 0.1, 1.0],
        [0.9, 0.1, 0.1, 0.6],
        [1.0, 0.2, 2.0, 0.1],
        [0.8, 1.8, 0.0, 0.9],
    ])
    pick = pick_mixed_neuron(acts)
    assert pick.neuron == 1 and pick.fires_on == (0, 3)
    assert pick.relative[0] == pytest.approx(1.0) and pick.gap == pytest.approx(0.9 - 0.1)
    assert pick_mixed_neuron(np.zeros((4, 3))) is None
    assert pick_mixed_neuron(np.column_stack([acts, -np.ones(4)])).neuron == 1  # a never-positive neuron is ignored
    assert pick_mixed_neuron(acts[:, [0, 2]]) is None  # one fires everywhere, the other on one text only


@pytest.mark.parametrize("family,width", [("llama", 128), ("gpt2", 256), ("gpt_neox", 128)])
def test_reads_neurons_of_tiny_models(family, width):
    from tiny import tiny_model

    model = tiny_model(family)
    ids = [[1, 5, 6, 7], [1, 9, 10], [1, 5, 6, 7]]
    acts = neuron_max_activations(model, ids, layer=1)
    assert acts.shape == (3, width)
    assert np.array_equal(acts[0], acts[2]) and not np.array_equal(acts[0], acts[1])
    with pytest.raises(UnsupportedArchitectureError, match="out of range"):
        mlp_out_projection(model, 99)
    with pytest.raises(UnsupportedArchitectureError, match="supported"):
        mlp_out_projection(torch.nn.Linear(2, 2), 0)
