"""The contrastive finder: features ranked by how much more they fire on positive texts, and the mean-difference
vector; a planted feature on a synthetic SAE ranks first, and the bundled SAE's bridge feature is found from
bridge texts."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.session import Session
from desktop_sae.core.features.contrast import TextMeans, contrast, mean_difference, rank_features, text_means
from tiny import random_sae, tiny_lm, with_stats

POS = ["the bridge over the river", "a bridge of steel", "they crossed the bridge at night", "bridge bridge"]
NEG = ["the cat sat on the mat", "a quiet morning", "they ate some soup at night", "hello there friend"]


def test_ranking_and_mean_difference_by_hand():
    pos = TextMeans(np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0]]), np.array([[1, 0, 1], [1, 0, 1]], bool),
                    np.array([[1.0, 1.0], [3.0, 1.0]]))
    neg = TextMeans(np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]), np.array([[0, 1, 1], [0, 1, 1]], bool),
                    np.array([[0.0, 1.0], [0.0, 3.0]]))
    hits = rank_features(pos, neg, max_activation=np.array([4.0, 1.0, 2.0]))
    # diffs 2, -1, 1 over max 4, 1, 2 -> scores 0.5, -, 0.5: ties keep the lower id; negative scores are dropped
    assert [(h.feature, h.score) for h in hits] == [(0, 0.5), (2, 0.5)]
    assert hits[0].pos_mean == 2.0 and hits[0].neg_mean == 0.0 and hits[0].pos_frac == 1.0 and hits[0].neg_frac == 0
    v = mean_difference(pos, neg)
    assert v.values == (2.0, -1.0)


def test_a_planted_feature_ranks_first_and_the_vector_points_at_it():
    s = Session(tiny_lm())
    sae = with_stats(random_sae())
    s.attach_sae(sae)
    base_p, base_n = text_means(s, POS), text_means(s, NEG)
    u = torch.tensor(base_p.resid.mean(0) - base_n.resid.mean(0), dtype=torch.float32)
    u = u / u.norm()
    mid = float(((torch.tensor(base_p.resid.mean(0)) + torch.tensor(base_n.resid.mean(0))) / 2 - sae.b_dec.detach())
                @ u)
    planted = 123
    with torch.no_grad():  # a feature that reads the direction separating the two sets, loud enough to be in top-k
        sae.W_enc[:, planted] = 50 * u
        sae.b_enc[planted] = -50 * mid
    res = contrast(s, POS, NEG, top=10)
    assert res.hits[0].feature == planted
    assert res.hits[0].pos_mean > res.hits[0].neg_mean
    cos = float(torch.tensor(res.vector.values, dtype=torch.float32) @ u) / res.vector.norm
    assert cos == pytest.approx(1.0, abs=1e-4)
    assert res.n_pos == len(POS) and res.vector.hook == s.hook_name


def test_bad_input_is_refused():
    s = Session(tiny_lm())
    s.attach_sae(random_sae())
    with pytest.raises(ValueError, match="positive"):
        contrast(s, ["", "  "], NEG)
    with pytest.raises(ValueError, match="negative"):
        contrast(s, POS, [])


def test_the_bundled_bridge_feature_is_found_from_bridge_texts(bundled_lm):
    from desktop_sae.core.sae.formats import load_sae
    from desktop_sae.core.support.paths import default_sae_dir

    s = Session(bundled_lm)
    s.attach_sae(load_sae(default_sae_dir()))
    bridges = ["The Golden Gate Bridge spans the strait.", "We walked across the old stone bridge.",
               "The bridge was closed for repairs after the storm.", "Engineers inspected the suspension bridge."]
    other = ["We walked across the old stone square.", "The library was closed for repairs after the storm.",
             "Engineers inspected the new engine.", "The river flows quietly past the town."]
    res = contrast(s, bridges, other, top=5)
    # the bundled SAE's 'Bridge / bridge / bridges' feature
    assert 2107 in [h.feature for h in res.hits[:3]], [(h.feature, h.label) for h in res.hits]
