"""Steering math (docs/MATHS.md) at the tap, and its effect on generation."""

import numpy as np
import pytest
import torch

from desktop_sae.core.engine.sae_tap import SAETap
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.engine.session import Session
from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import FeatureStats, SAEConfig
from desktop_sae.core.steering.plan import plan_steering
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from desktop_sae.core.steering.strength import resolve_strength
from desktop_sae.core.steering.syntax import parse_steer
from desktop_sae.core.support.errors import SteeringError
from tiny import random_sae, tiny_lm


def steer(sae, *specs, multiplier=1.0, typical_norm=None):
    return plan_steering(SteeringConfig(tuple(specs), multiplier=multiplier), sae, typical_norm)


def apply(sae, plan, x, mask=None):
    tap = SAETap(sae, plan, top_k=4)
    tap.mask = mask
    with torch.no_grad():
        out = tap(x)
    return x if out is None else out, tap


@pytest.fixture
def x():
    return torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(0))


def orthonormal_sae(d_in=64, d_sae=32):
    """Encoder = decoder^T with orthonormal rows: a clamped feature re-encodes exactly to its target."""
    sae = SAE(SAEConfig(d_in, d_sae, "standard", hook_name="blocks.1.hook_resid_post"))
    q, _ = torch.linalg.qr(torch.randn(d_in, d_sae, generator=torch.Generator().manual_seed(5)))
    with torch.no_grad():
        sae.W_dec.copy_(q.T)
        sae.W_enc.copy_(q)
        sae.b_enc.fill_(0.01)
    return sae


def test_additive_adds_the_raw_decoder_row(x):
    sae = random_sae()
    out, _ = apply(sae, steer(sae, SteerSpec(7, 3.0), SteerSpec(9, -2.0)), x)
    with torch.no_grad():
        torch.testing.assert_close(out, x + 3.0 * sae.W_dec[7] - 2.0 * sae.W_dec[9])


def test_additive_zero_is_bit_identical(x):
    sae = random_sae()
    out, _ = apply(sae, steer(sae, SteerSpec(7, 0.0)), x)
    assert torch.equal(out, x)


def test_clamp_sets_reencoded_activation_and_keeps_error_term(x):
    sae = orthonormal_sae()
    f = 6
    with torch.no_grad():
        x = x + 4 * sae.W_dec[f]  # feature f is active on every token (the clamp replaces an active value)
        acts = sae.encode(x)
        assert (acts[..., f] > 0).all()
        error = x - sae.decode(acts)
        out, tap = apply(sae, steer(sae, SteerSpec(f, 5.0, method="clamp")), x)
        new_acts = sae.encode(out)
        torch.testing.assert_close(new_acts[..., f], torch.full_like(new_acts[..., f], 5.0), atol=1e-4, rtol=1e-4)
        clamped = acts.clone()
        clamped[..., f] = 5.0
        torch.testing.assert_close(out - sae.decode(clamped), error, atol=1e-4, rtol=1e-4)
        # what the tap reports is the steered activation
        top = dict(zip(tap.last.top_ids[0].tolist(), tap.last.top_vals[0].tolist()))
        assert top[f] == pytest.approx(5.0, abs=1e-4)


def test_clamp_to_zero_ablates(x):
    sae = orthonormal_sae()
    x = x * 3
    with torch.no_grad():
        f = int(sae.encode(x)[0, 0].argmax())
        out, _ = apply(sae, steer(sae, SteerSpec(f, 0.0, method="clamp")), x)
        assert float(sae.encode(out)[..., f].abs().max()) < 1e-4


def test_orthogonal(x):
    sae = random_sae()
    v = sae.W_dec[3].detach()
    u = v / v.norm()
    with torch.no_grad():
        same, _ = apply(sae, steer(sae, SteerSpec(3, 1.0, method="orth")), x)
        torch.testing.assert_close(same, x)
        gone, _ = apply(sae, steer(sae, SteerSpec(3, 0.0, method="orth")), x)
        torch.testing.assert_close(gone @ u, torch.zeros(1, 5), atol=1e-5, rtol=0)
        doubled, _ = apply(sae, steer(sae, SteerSpec(3, 2.0, method="orth")), x)
        torch.testing.assert_close(doubled @ u, 2 * (x @ u), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(doubled - (doubled @ u)[..., None] * u, x - (x @ u)[..., None] * u,
                                   atol=1e-5, rtol=1e-5)


def test_special_positions_are_left_unsteered(x):
    sae = random_sae()
    mask = torch.tensor([[0.0, 1, 1, 1, 1]])
    out, _ = apply(sae, steer(sae, SteerSpec(1, 10.0)), x, mask)
    assert torch.equal(out[0, 0], x[0, 0])
    assert not torch.allclose(out[0, 1:], x[0, 1:])


def test_units_and_multiplier():
    sae = random_sae()
    sae.stats = FeatureStats(np.full(256, 4.0, np.float32))
    plan = steer(sae, SteerSpec(2, 10, unit="max"), SteerSpec(5, 3.0, method="orth"), multiplier=0.5, typical_norm=8.0)
    add, orth = plan.resolved
    assert add.coefficient == pytest.approx(20.0)  # 10 x max (4) x multiplier 0.5
    assert add.x_max == pytest.approx(5.0)
    norm = float(sae.W_dec[2].detach().norm())
    assert add.pct_norm == pytest.approx(100 * 20.0 * norm / 8.0, rel=1e-5)
    assert orth.coefficient == pytest.approx(1 + 0.5 * (3.0 - 1))


def test_bad_steering_is_rejected_before_anything_runs():
    sae = random_sae()
    with pytest.raises(SteeringError, match="feature 256 does not exist: this SAE has features 0..255"):
        steer(sae, SteerSpec(256, 1.0))
    with pytest.raises(SteeringError, match="needs feature statistics"):
        steer(sae, SteerSpec(1, 2.0, unit="max"))
    with pytest.raises(SteeringError, match="needs an SAE"):
        plan_steering(SteeringConfig((SteerSpec(1, 1.0),)), None)
    with pytest.raises(SteeringError, match="finite"):
        SteerSpec(1, float("nan"))


@pytest.mark.parametrize("text,expected", [
    ("12=8", SteerSpec(12, 8.0)),
    ("12=10x", SteerSpec(12, 10.0, unit="max")),
    ("3=-2.5x:clamp", SteerSpec(3, -2.5, unit="max", method="clamp")),
    ("4=0.5:orthogonal", SteerSpec(4, 0.5, method="orth")),
])
def test_parse_steer(text, expected):
    assert parse_steer(text) == expected


@pytest.mark.parametrize("text", ["12", "x=3", "1=abc", "1=2:sideways"])
def test_parse_steer_rejects(text):
    with pytest.raises(SteeringError):
        parse_steer(text)


# --- through generation ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session():
    s = Session(tiny_lm())
    s.attach_sae(random_sae())
    return s


def test_strength_zero_gives_bit_identical_tokens_with_sampling(session):
    check_strength_zero_is_bit_identical(session)


def check_strength_zero_is_bit_identical(session):
    """Shared with tests/test_cuda.py (the same check on a CUDA session)."""
    sc = SamplingConfig(temperature=1.0, top_p=0.9, seed=123, max_new_tokens=24, frequency_penalty=0.0)
    plain = session.generate("hello world", sc)
    zero = session.generate("hello world", sc, SteeringConfig((SteerSpec(11, 0.0), SteerSpec(40, 0.0))))
    assert plain.answer_ids == zero.answer_ids and len(plain.answer_ids) > 5
    for a, b in zip(plain.events, zero.events):
        assert np.array_equal(a.top_vals, b.top_vals) and np.array_equal(a.top_ids, b.top_ids)


def test_steering_changes_the_answer(session):
    sc = SamplingConfig(temperature=0, max_new_tokens=16, frequency_penalty=0.0)
    plain = session.generate("hello world", sc)
    steered = session.generate("hello world", sc, SteeringConfig((SteerSpec(11, 40.0),)))
    assert plain.answer_ids != steered.answer_ids


def test_compare_uses_the_same_seed(session):
    sc = SamplingConfig(temperature=1.0, seed=None, max_new_tokens=12, frequency_penalty=0.0)
    steered, default = session.compare("hello world", sc, SteeringConfig((SteerSpec(11, 0.0),)))
    assert steered.run == "steered" and default.run == "default"
    assert steered.answer_ids == default.answer_ids  # strength 0: the two runs share one sampling stream


def test_large_additive_steer_along_unembedding_makes_the_token_appear():
    lm = tiny_lm()
    target = lm.tokenizer.convert_tokens_to_ids("Ġbridge") if "Ġbridge" in lm.tokenizer.get_vocab() else 150
    sae = random_sae(hook="blocks.2.hook_resid_post")
    with torch.no_grad():
        W_U = lm.model.lm_head.weight
        sae.W_dec[0] = W_U[target] / W_U[target].norm()
    s = Session(lm)
    s.attach_sae(sae)
    sc = SamplingConfig(temperature=0, max_new_tokens=10, frequency_penalty=0.0)
    assert s.generate("hello world", sc).answer_ids.count(target) == 0
    steered = s.generate("hello world", sc, SteeringConfig((SteerSpec(0, 200.0),)))
    assert steered.answer_ids.count(target) >= 5


@pytest.mark.parametrize("spec", [SteerSpec(7, 6.0), SteerSpec(3, 0.2, method="orth"),
                                  SteerSpec(9, 2.0, method="clamp")])
def test_reported_activations_are_those_of_the_steered_residual(x, spec):
    """The tap shifts pre-activations along precomputed encoder directions; it must equal a fresh encode."""
    sae = random_sae(arch="standard")
    mask = torch.tensor([[0.0, 1, 1, 1, 1]])
    out, tap = apply(sae, steer(sae, spec, SteerSpec(20, 1.5)), x, mask)
    with torch.no_grad():
        fresh = sae.encode(out)[0]
    vals, ids = fresh.topk(4, dim=-1)
    torch.testing.assert_close(tap.last.top_vals, vals, atol=1e-4, rtol=1e-4)


def test_topk_clamp_uses_the_topk_activation(x):
    """For a TopK SAE the clamp term uses a_f from the top-k encode (zero when f is outside the top k)."""
    sae = random_sae(arch="topk", k=8)
    with torch.no_grad():
        acts = sae.encode(x)
        on = int(acts[0, 2].argmax())
        off = int((acts[0, 2] == 0).nonzero()[0])
        out, _ = apply(sae, steer(sae, SteerSpec(on, 1.0, method="clamp"), SteerSpec(off, 1.0, method="clamp")), x)
        expected = (x + (1.0 - acts[..., on])[..., None] * sae.W_dec[on]
                    + (1.0 - acts[..., off])[..., None] * sae.W_dec[off])
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_resolve_strength_is_the_one_unit_formula():
    """The GUI's unit labels and the engine's plan use this function; check it without an SAE."""
    r = resolve_strength(SteerSpec(1, 2.0, unit="max"), 0.5, 10.0, 2.0, 40.0)
    assert (r.coefficient, r.x_max, r.pct_norm) == (10.0, 1.0, 50.0)
    raw = resolve_strength(SteerSpec(1, 3.0), 1.0, None, None, None)
    assert (raw.coefficient, raw.x_max, raw.pct_norm) == (3.0, None, None)
    assert resolve_strength(SteerSpec(1, 0.0, method="orth"), 0.0, 10.0, 2.0, 40.0).coefficient == 1.0


def test_an_orthogonal_gain_needs_no_statistics_whatever_its_unit():
    import tiny
    from desktop_sae.core.steering.plan import plan_steering
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

    sae = tiny.with_stats(tiny.random_sae())
    plan = plan_steering(SteeringConfig((SteerSpec(3, 0.5, "max", "orth"),)), sae, 10.0)
    assert plan.resolved[0].coefficient == pytest.approx(0.5)
