"""Each SAE architecture's encode/decode against a hand computation in numpy."""

import numpy as np
import pytest
import torch

from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import SAEConfig
from tiny import random_sae


def np_params(sae):
    return {n: getattr(sae, n).detach().double().numpy() for n in sae.tensor_names()}


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture
def x():
    return torch.randn(5, 64, generator=torch.Generator().manual_seed(1)).double()


def hand_pre(p, x, apply_b_dec=True):
    x_in = x - p["b_dec"] if apply_b_dec else x
    return x_in @ p["W_enc"] + p["b_enc"]


def test_standard_relu(x):
    sae = random_sae(arch="standard").double()
    p, xn = np_params(sae), x.numpy()
    expected = np.maximum(hand_pre(p, xn), 0)
    np.testing.assert_allclose(sae.encode(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sae.decode(sae.encode(x)).numpy(), expected @ p["W_dec"] + p["b_dec"],
                               rtol=1e-10, atol=1e-12)


def test_apply_b_dec_to_input_false(x):
    sae = random_sae(arch="standard", apply_b_dec_to_input=False).double()
    p, xn = np_params(sae), x.numpy()
    np.testing.assert_allclose(sae.encode(x).numpy(), np.maximum(hand_pre(p, xn, False), 0), rtol=1e-10, atol=1e-12)


def test_topk_keeps_k_largest(x):
    sae = random_sae(arch="topk", k=8).double()
    p, xn = np_params(sae), x.numpy()
    pre = hand_pre(p, xn)
    expected = np.zeros_like(pre)
    for i, row in enumerate(pre):
        top = np.argsort(row)[-8:]
        expected[i, top] = np.maximum(row[top], 0)
    acts = sae.encode(x).numpy()
    np.testing.assert_allclose(acts, expected, rtol=1e-10, atol=1e-12)
    assert ((acts > 0).sum(-1) <= 8).all()


def test_topk_rescale_by_decoder_norm(x):
    sae = random_sae(arch="topk", k=4, rescale_acts_by_decoder_norm=True).double()
    with torch.no_grad():
        sae.W_dec.mul_(torch.linspace(0.5, 2.0, 256, dtype=torch.float64)[:, None])
    p, xn = np_params(sae), x.numpy()
    norms = np.linalg.norm(p["W_dec"], axis=-1)
    pre = hand_pre(p, xn) * norms
    expected = np.zeros_like(pre)
    for i, row in enumerate(pre):
        top = np.argsort(row)[-4:]
        expected[i, top] = np.maximum(row[top], 0)
    acts = sae.encode(x)
    np.testing.assert_allclose(acts.numpy(), expected, rtol=1e-10, atol=1e-12)
    recon = (expected / norms) @ p["W_dec"] + p["b_dec"]
    np.testing.assert_allclose(sae.decode(acts).numpy(), recon, rtol=1e-10, atol=1e-12)


def test_jumprelu_threshold(x):
    sae = random_sae(arch="jumprelu").double()
    p, xn = np_params(sae), x.numpy()
    pre = hand_pre(p, xn)
    expected = pre * (pre > p["threshold"]) * (pre > 0)
    np.testing.assert_allclose(sae.encode(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert (sae.encode(x) > 0).any()


def test_gated(x):
    sae = random_sae(arch="gated").double()
    p, xn = np_params(sae), x.numpy()
    h = (xn - p["b_dec"]) @ p["W_enc"]
    expected = (h + p["b_gate"] > 0) * np.maximum(h * np.exp(p["r_mag"]) + p["b_mag"], 0)
    np.testing.assert_allclose(sae.encode(x).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_constant_norm_rescale_round_trip(x):
    sae = random_sae(arch="standard", normalize_activations="constant_norm_rescale").double()
    p, xn = np_params(sae), x.numpy()
    scale = np.sqrt(64) / np.linalg.norm(xn, axis=-1, keepdims=True)
    acts = np.maximum(hand_pre(p, xn * scale), 0)
    np.testing.assert_allclose(sae.encode(x).numpy(), acts, rtol=1e-9, atol=1e-12)
    recon, _ = sae(x)
    np.testing.assert_allclose(recon.numpy(), (acts @ p["W_dec"] + p["b_dec"]) / scale, rtol=1e-9, atol=1e-12)


def test_layer_norm_round_trip(x):
    sae = random_sae(arch="standard", normalize_activations="layer_norm").double()
    p, xn = np_params(sae), x.numpy()
    mu = xn.mean(-1, keepdims=True)
    sd = (xn - mu).std(-1, ddof=1, keepdims=True) + 1e-5
    acts = np.maximum(hand_pre(p, (xn - mu) / sd), 0)
    recon, got = sae(x)
    np.testing.assert_allclose(got.numpy(), acts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(recon.numpy(), (acts @ p["W_dec"] + p["b_dec"]) * sd + mu, rtol=1e-9, atol=1e-12)


def test_perfect_dictionary_reconstructs():
    """With an orthonormal dictionary and no biases, a ReLU SAE reconstructs non-negative combinations exactly."""
    sae = SAE(SAEConfig(16, 8, "standard")).double()
    q, _ = torch.linalg.qr(torch.randn(16, 8, dtype=torch.float64))
    with torch.no_grad():
        sae.W_dec.copy_(q.T)
        sae.W_enc.copy_(q)
    coeffs = torch.rand(3, 8, dtype=torch.float64)
    x = coeffs @ q.T
    recon, acts = sae(x)
    torch.testing.assert_close(acts, coeffs)
    torch.testing.assert_close(recon, x)


@pytest.mark.parametrize("bad", [dict(architecture="nope"), dict(architecture="topk", k=0),
                                 dict(normalize_activations="x")])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        SAEConfig(8, 16, **bad)


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu", "gated"])
def test_each_architecture_is_its_own_class(arch):
    from desktop_sae.core.sae.autoencoder import ARCHITECTURE_CLASSES

    sae = random_sae(arch=arch)
    assert type(sae) is ARCHITECTURE_CLASSES[arch] and isinstance(sae, SAE) and sae.architecture == arch
    assert set(sae.tensor_names()) == set(sae.expected_shapes())


@pytest.mark.parametrize("arch,rescale", [("standard", False), ("topk", False), ("topk", True), ("jumprelu", False),
                                          ("gated", False)])
def test_sparse_readouts_equal_the_dense_activations(x, arch, rescale):
    """The shortcuts an architecture may take (TopK: a feature is active iff it reaches the k-th pre-activation)
    give exactly what the dense activation vector says."""
    sae = random_sae(arch=arch, rescale_acts_by_decoder_norm=rescale).double()
    pre = sae.input_pre_activations(x)
    dense = sae.activation(pre)
    idx = torch.tensor([0, 3, 7, 11])
    memo: dict = {}
    torch.testing.assert_close(sae.selected_activations(pre, idx, memo), dense[..., idx])
    torch.testing.assert_close(sae.selected_activations(pre, idx[:2], memo), dense[..., idx[:2]])
    vals, ids, watched = sae.strongest(pre, 5, idx)
    torch.testing.assert_close(vals, dense.topk(5, dim=-1).values)
    torch.testing.assert_close(torch.gather(dense, -1, ids), vals)
    torch.testing.assert_close(watched, dense[..., idx])
    v, i = sae.encode_sparse(x)
    rebuilt = torch.zeros_like(dense).scatter_(-1, i, v)
    torch.testing.assert_close(rebuilt, sae.encode(x))
