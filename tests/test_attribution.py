"""Attribution graphs on a tiny random Llama with random SAEs at two depths: the re-stated forward equals the model,
node effects and edges equal finite differences in every linearisation, edges add up to each node's effect, pruning
keeps paths to the target, and interventions equal a run of the real model with a hook."""

from __future__ import annotations

import math

import pytest
import torch

from desktop_sae.core.attribution.attribute import Settings, Target, attribute
from desktop_sae.core.attribution.depths import AttributionSAEError, depth_sae, ordered
from desktop_sae.core.attribution.graph import NodeKind
from desktop_sae.core.attribution.interventions import faithfulness, set_activations, spearman
from desktop_sae.core.attribution.llama_functional import (
    Linearisation,
    clean_pass,
    final_logits,
    read_weights,
    run_layers,
)
from desktop_sae.core.attribution.pruning import keep_by_share
from desktop_sae.core.engine.hooks import hooks
from desktop_sae.core.support.errors import Cancelled
from tiny import random_sae, tiny_model

IDS = torch.tensor([1, 5, 9, 40, 77, 3, 12, 200, 150, 33, 7])
ALL = Settings(node_threshold=1.0, edge_threshold=1.0, max_nodes=10**6)
FD_STEP = 1e-2  # central differences: error O(step²) on a float32 model
FD_TOL = 2e-4  # absolute, in logits (effects here are 0.01-1)


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", layers=3, seed=3)


@pytest.fixture(scope="module")
def weights(model):
    return read_weights(model)


@pytest.fixture(scope="module")
def saes():
    return [depth_sae(random_sae(hook=f"blocks.{layer}.hook_resid_post", seed=layer, k=8), f"L{layer}", 3, 64)
            for layer in (0, 1)]


@pytest.fixture(scope="module")
def target(weights):
    return Target(int(clean_pass(weights, IDS).logits.argmax()))


def _graph(weights, saes, target, settings=ALL):
    return attribute(weights, saes, IDS, target, [str(i) for i in IDS.tolist()], "t", settings=settings)


def test_restated_forward_equals_the_model(model, weights):
    cp = clean_pass(weights, IDS)
    ref = model(IDS[None]).logits[0, -1]
    assert torch.allclose(cp.logits, ref, atol=1e-4)
    for mode in Linearisation:  # linearised models agree with the live one at the clean point
        x, _ = run_layers(weights, cp.embeddings, 0, 3, cp.frozen, mode=mode)
        assert torch.allclose(final_logits(weights, x[-1], cp.frozen, mode), ref, atol=1e-4)


def _target_after(weights, cp, target, layer, position, delta, mode):
    x = cp.resid_post[layer].clone()
    x[position] += delta
    out, _ = run_layers(weights, x, layer + 1, weights.n_layers, cp.frozen, mode=mode)
    return float(target.value(final_logits(weights, out[-1], cp.frozen, mode)))


@pytest.mark.parametrize("mode", list(Linearisation))
def test_node_effects_equal_finite_differences(weights, saes, target, mode):
    g, state = _graph(weights, saes, target, Settings(1.0, 1.0, 10**6, mode))
    cp = state.clean
    checked = 0
    for n in g.features()[:6] + [n for n in g.nodes if n.kind is NodeKind.ERROR][:3]:
        dec = state.decomps[n.layer]
        if n.kind is NodeKind.FEATURE:
            r = int(((dec.positions == n.position) & (dec.features == n.feature)).nonzero()[0, 0])
            write = dec.acts[r] * dec.dec[r]
        else:
            write = dec.error[n.position]
        up = _target_after(weights, cp, target, n.layer, n.position, FD_STEP * write, mode)
        down = _target_after(weights, cp, target, n.layer, n.position, -FD_STEP * write, mode)
        assert (up - down) / (2 * FD_STEP) == pytest.approx(n.effect, abs=FD_TOL)
        checked += 1
    assert checked == 9


@pytest.mark.parametrize("mode", list(Linearisation))
def test_edges_add_up_to_each_nodes_effect(weights, saes, target, mode):
    g, _ = _graph(weights, saes, target, Settings(1.0, 1.0, 10**6, mode))
    out = [0.0] * len(g.nodes)
    for e in g.edges:
        out[e.source] += e.weight
    for i, n in enumerate(g.nodes):
        if n.kind is not NodeKind.TARGET:
            assert out[i] == pytest.approx(n.effect, rel=1e-4, abs=1e-5), n
    assert g.nodes[-1].kind is NodeKind.TARGET and g.nodes[-1].effect == pytest.approx(g.target_value)


def test_an_edge_equals_a_finite_difference(weights, saes, target):
    """w(u→v) for a layer-0 feature u and a layer-1 feature v: the change of v's activation when u's write is
    scaled, times v's decoder direction · the target's gradient (the frozen model, where it is exact to O(ε²))."""
    mode = Linearisation.FROZEN
    g, state = _graph(weights, saes, target, Settings(1.0, 1.0, 10**6, mode))
    cp, sae1 = state.clean, saes[1].sae
    edges = sorted((e for e in g.edges if g.nodes[e.source].kind is NodeKind.FEATURE
                    and g.nodes[e.target].kind is NodeKind.FEATURE), key=lambda e: -abs(e.weight))[:4]
    assert edges
    for e in edges:
        u, v = g.nodes[e.source], g.nodes[e.target]
        d0 = state.decomps[0]
        r = int(((d0.positions == u.position) & (d0.features == u.feature)).nonzero()[0, 0])
        write = d0.acts[r] * d0.dec[r]
        gain = float(sae1.decoder_directions(torch.tensor([v.feature]))[0] @ state.grads[1][v.position])

        def pre_v(eps, u=u, v=v, write=write):
            x = cp.resid_post[0].clone()
            x[u.position] += eps * write
            out, _ = run_layers(weights, x, 1, 2, cp.frozen, mode=mode)
            return float(sae1.input_pre_activations(out[v.position])[v.feature])

        fd = (pre_v(FD_STEP) - pre_v(-FD_STEP)) / (2 * FD_STEP) * gain
        assert fd == pytest.approx(e.weight, abs=FD_TOL)


def test_logit_difference_target(weights, saes, target):
    alt = Target(target.token_id, alt_id=(target.token_id + 1) % 300)
    g, _ = _graph(weights, saes, alt)
    logits = clean_pass(weights, IDS).logits
    assert g.target_value == pytest.approx(float(logits[alt.token_id] - logits[alt.alt_id]), abs=1e-5)


def test_pruning_keeps_paths_to_the_target(weights, saes, target):
    full, _ = _graph(weights, saes, target)
    g, _ = _graph(weights, saes, target, Settings(node_threshold=0.8, edge_threshold=0.9, max_nodes=30))
    feats = [n for n in g.nodes if n.kind is NodeKind.FEATURE]
    assert 0 < len(feats) < len(full.features())
    assert len(g.edges) < len(full.edges)
    # every feature and error node reaches the target through kept edges, and has an input
    reach = {len(g.nodes) - 1}
    for _ in range(len(g.nodes)):
        reach |= {e.source for e in g.edges if e.target in reach}
    for i, n in enumerate(g.nodes):
        if n.kind in (NodeKind.FEATURE, NodeKind.ERROR):
            assert i in reach, n
        if n.kind is NodeKind.FEATURE:
            assert g.incoming(i), n
    assert 0 < g.completeness <= 1 and 0 < g.replacement <= 1
    assert all(0 <= s.feature_share <= 1 for s in g.shares)


def test_keep_by_share():
    s = torch.tensor([5.0, 3.0, 1.0, 1.0])
    assert keep_by_share(s, 0.5).tolist() == [True, False, False, False]
    assert keep_by_share(s, 0.8).tolist() == [True, True, False, False]
    assert keep_by_share(s, 1.0).tolist() == [True, True, True, True]
    assert keep_by_share(s, 1.0, cap=2).tolist() == [True, True, False, False]
    with pytest.raises(ValueError):
        keep_by_share(s, 1.5)


def test_interventions_equal_a_hooked_run_of_the_real_model(model, weights, saes, target):
    g, state = _graph(weights, saes, target, Settings())
    nodes = g.features()[:4]
    results = set_activations(state, nodes, [0.0, 0.0, 2.0, 0.0])
    base = float(target.value(model(IDS[None]).logits[0, -1]))
    for n, new, res in zip(nodes, [0.0, 0.0, 2.0, 0.0], results):
        dec = state.decomps[n.layer]
        r = int(((dec.positions == n.position) & (dec.features == n.feature)).nonzero()[0, 0])
        delta = (new - float(dec.acts[r])) * dec.dec[r]

        def edit(x, delta=delta, p=n.position):
            x = x.clone()
            x[0, p] += delta
            return x

        with hooks(model, {f"blocks.{n.layer}.hook_resid_post": edit}):
            logits_after = model(IDS[None]).logits[0, -1]
        after = float(target.value(logits_after))
        assert res.actual == pytest.approx(after - base, abs=1e-4)
        assert res.top_after == int(logits_after.argmax())
        assert res.predicted == pytest.approx(-(1 - new / n.activation) * n.effect, rel=1e-4, abs=1e-6)
    same = set_activations(state, nodes[:1], [nodes[0].activation])[0]
    assert same.actual == pytest.approx(0.0, abs=1e-5) and same.predicted == pytest.approx(0.0, abs=1e-6)


def test_faithfulness_ranks_and_signs(weights, saes, target):
    g, state = _graph(weights, saes, target, Settings())
    f = faithfulness(state, g.features(), top=5)
    assert len(f.interventions) == 5
    assert -1 <= f.spearman <= 1 and 0 <= f.sign_agreement <= 1


def test_spearman():
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(spearman([1.0], [2.0]))


def test_stop_is_honoured(weights, saes, target):
    with pytest.raises(Cancelled):
        attribute(weights, saes, IDS, target, [""] * len(IDS), "t", cancelled=lambda: True)


def test_unusable_saes_are_refused_with_a_reason():
    with pytest.raises(AttributionSAEError, match="mlp_out"):
        depth_sae(random_sae(hook="blocks.1.hook_mlp_out"), "m", 3, 64)
    with pytest.raises(AttributionSAEError, match="width"):
        depth_sae(random_sae(d_in=32, hook="blocks.1.hook_resid_post"), "w", 3, 64)
    with pytest.raises(AttributionSAEError, match="outside"):
        depth_sae(random_sae(hook="blocks.7.hook_resid_post"), "o", 3, 64)
    with pytest.raises(AttributionSAEError, match="not linear"):
        depth_sae(random_sae(hook="blocks.1.hook_resid_post", normalize_activations="constant_norm_rescale"),
                  "n", 3, 64)
    a = depth_sae(random_sae(hook="blocks.1.hook_resid_post"), "a", 3, 64)
    b = depth_sae(random_sae(hook="blocks.2.hook_resid_pre"), "b", 3, 64)  # the same stream as layer 1's output
    with pytest.raises(AttributionSAEError, match="one per depth"):
        ordered([a, b])


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "gated"])
def test_other_architectures_attribute_exactly(weights, target, arch):
    saes = [depth_sae(random_sae(arch=arch, hook=f"blocks.{layer}.hook_resid_post", seed=layer), f"L{layer}", 3, 64)
            for layer in (0, 1)]
    g, _ = _graph(weights, saes, target)
    out = [0.0] * len(g.nodes)
    for e in g.edges:
        out[e.source] += e.weight
    assert any(n.kind is NodeKind.FEATURE for n in g.nodes)
    for i, n in enumerate(g.nodes):
        if n.kind is not NodeKind.TARGET:
            assert out[i] == pytest.approx(n.effect, rel=1e-4, abs=1e-5)


def test_nodes_only_settings_skip_edges(weights, saes, target):
    full, _ = _graph(weights, saes, target, Settings(max_nodes=20))
    bare, _ = _graph(weights, saes, target, Settings(max_nodes=20, edges=False))
    assert bare.edges == ()
    assert {n.key for n in full.nodes} <= {n.key for n in bare.nodes}  # pruning by edges only removes nodes
    assert [n.effect for n in bare.features()][:3] == [n.effect for n in full.features()][:3]
